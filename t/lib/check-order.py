#!/usr/bin/env python3
# check-order.py: read an `strace -f -y` log of one `cdt add` and check that
# it orders its writes as Documentation/technical/durability.md says:
# data durable before it is visible, and each metadata step durable before
# the next one points at it. Prints what it checked; exits 1 on a violation.
import re
import sys

# strace -f splits a call that another thread interrupts into an
# "<unfinished ...>" line and a "<... call resumed>" line: joined again here.
lines, pending = [], {}
for line in open(sys.argv[1]):
    line = line.strip()
    m = re.match(r'(\d+)\s+(.*)', line)
    pid, rest = (m.group(1), m.group(2)) if m else ('', line)
    if rest.endswith('<unfinished ...>'):
        pending[pid] = rest[:-len('<unfinished ...>')].rstrip()
        continue
    r = re.match(r'<\.\.\. \w+ resumed>\s?(.*)', rest)
    if r and pid in pending:
        rest = pending.pop(pid) + r.group(1)
    lines.append(rest)

events = []
for line in lines:
    m = re.match(r'(\w+)\((.*)\)\s+=\s+(-?\d+)(<([^>]*)>)?', line)
    if not m or m.group(3).startswith('-'):
        continue
    call, args = m.group(1), m.group(2)
    paths = re.findall(r'<([^>]*)>', args)
    names = re.findall(r'"([^"]*)"', args)
    events.append((call, paths, names))

def fail(msg):
    print("violation: " + msg)
    sys.exit(1)

def idx(pred, start=0):
    for i in range(start, len(events)):
        if pred(events[i]):
            return i
    return None

def last(pred):
    r = None
    for i, e in enumerate(events):
        if pred(e):
            r = i
    return r

def renamed_into(sub):
    return lambda e: e[0].startswith('rename') and len(e[1]) >= 2 and sub in e[1][1]

syncs = [i for i, e in enumerate(events) if e[0] == 'syncfs']
checked = []

# 1. Every pack and loose object becomes visible only after a syncfs that
#    follows the creation of its temporary file.
for i, e in enumerate(events):
    if renamed_into('/packs')(e) or renamed_into('/objects')(e):
        tmpname = e[2][0]
        made = idx(lambda x: x[0] == 'openat' and x[2] and x[2][0] == tmpname)
        if made is None:
            fail("no creation seen for " + tmpname)
        if not any(made < s < i for s in syncs):
            fail("chunk data renamed into place without a sync after writing it: " + tmpname)
        checked.append("chunks synced before visible")

# 2. Chunks and references are durable before the manifest is.
man = idx(renamed_into('/manifests'))
if man is None:
    fail("no manifest written")
for sub in ('/packs', '/objects', '/refs/chunks'):
    j = last(renamed_into(sub))
    if j is not None and j > man:
        fail(sub + " renamed after the manifest")
    if j is not None and not any(j < s < man for s in syncs):
        fail("no sync between " + sub + " and the manifest")
checked.append("chunks and references synced before the manifest")

def renamed_name(e):
    return renamed_into('/names')(e) and '/refs/names' not in e[1][1] and '/info' not in e[1][1]

def renamed_info(dirsuffix, name=None):
    """A rename into info/ (or info/names/), of `name` if given."""
    return lambda e: (e[0].startswith('rename') and len(e[1]) >= 2 and
                      e[1][1].endswith(dirsuffix) and (name is None or e[2][1] == name))

def durable_by(i, tmpname):
    """Is the file renamed at event i durable before it: synced itself after it
    was created, or a syncfs between its creation and the rename?"""
    made = idx(lambda x: x[0] == 'openat' and x[2] and x[2][0] == tmpname)
    if made is None:
        return False
    if any(made < s < i for s in syncs):
        return True
    fs = last(lambda x: x[0] == 'fsync' and x[1] and x[1][0].endswith('/' + tmpname))
    return fs is not None and made < fs < i

def synced_between(j, k, dirpath):
    """A syncfs, or an fsync of dirpath, between events j and k."""
    if any(j < s < k for s in syncs):
        return True
    d = idx(lambda x: x[0] == 'fsync' and x[1] and x[1][0] == dirpath, j)
    return d is not None and d < k

# 3. Every manifest and name record is durable before a name that points at
#    it: a syncfs (a group commit) or its directory's fsync between its
#    rename and the name's. (A record renamed before its manifest is durable
#    is only garbage if a crash comes between: records never prove a use.)
mans = [i for i, e in enumerate(events) if renamed_into('/manifests')(e)]
# Name records: a table per group commit, renamed into place.
nrefs = [i for i, e in enumerate(events) if renamed_into('/refs/names')(e)]
names = [i for i, e in enumerate(events) if renamed_name(e)]
if not nrefs or not names:
    fail("missing name record or name")
for m in mans:
    for r in names:
        if r > m and not synced_between(m, r, events[m][1][1]):
            fail("manifest not durable before a name renamed after it")
for r in nrefs:
    for n in names:
        if n > r and not synced_between(r, n, events[r][1][1]):
            fail("name record not durable before a name renamed after it")
if max(nrefs) > max(names) or (mans and max(mans) > min(names)):
    fail("manifest, name record and name out of order")
checked.append("manifest durable before the name record, record before the name")

# 4. Name record and name entry files are durable before they are renamed,
#    and their renames are made durable (directory fsync, or a final syncfs).
for r in nrefs + names:
    tmpname = events[r][2][0]
    if not durable_by(r, tmpname):
        fail("file not synced before its rename: " + tmpname)
    if not synced_between(r, len(events), events[r][1][1]):
        fail("rename not made durable: " + tmpname)
checked.append("name record and name synced, then their renames")

# 5. Server info (info/): info/packs is written again after each new pack
#    index and before any name renamed after it; each name's table in
#    info/names/ and then info/prefixes after the name; all of it made
#    durable by a later syncfs (it is never synced on its own).
info_packs = [i for i, e in enumerate(events) if renamed_info('/info', 'packs')(e)]
tables = [i for i, e in enumerate(events) if renamed_info('/info/names')(e)]
prefixes = [i for i, e in enumerate(events) if renamed_info('/info', 'prefixes')(e)]
for i, e in enumerate(events):
    if renamed_into('/packs')(e) and e[2][1].endswith('.idx'):
        j = next((k for k in info_packs if k > i), None)
        if j is None:
            fail("info/packs not written after pack " + e[2][1])
        if any(i < n < j for n in names):
            fail("a name renamed before info/packs lists pack " + e[2][1])
for n in names:
    t = next((k for k in tables if k > n), None)
    if t is None or not any(k > t for k in prefixes):
        fail("no table of info/names/ and info/prefixes written after a name")
for k in info_packs + tables + prefixes:
    if not any(s > k for s in syncs):
        fail("info/ renamed after the last sync: " + events[k][2][1])
checked.append("info/packs after each pack, info/names/ and info/prefixes after the names, synced")

for c in sorted(set(checked)):
    print("ok: " + c)
