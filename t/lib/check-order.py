#!/usr/bin/env python3
# check-order.py: read an `strace -f -y` log of one `cdt add` and check that
# it orders its writes as Documentation/technical/durability.md says:
# data durable before it is visible, and each metadata step durable before
# the next one points at it. Prints what it checked; exits 1 on a violation.
import re
import sys

events = []
for line in open(sys.argv[1]):
    line = re.sub(r'^\d+\s+', '', line.strip())
    m = re.match(r'(\w+)\((.*)\)\s+=\s+(-?\d+)', line)
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

# 3. The manifest's directory is synced before the name record and the name.
mdir = idx(lambda e: e[0] == 'fsync' and e[1] and '/manifests/' in e[1][0], man)
nref = idx(renamed_into('/refs/names'), man)
name = idx(renamed_into('/names'), man)
while name is not None and '/refs/names' in events[name][1][1]:
    name = idx(renamed_into('/names'), name + 1)
if mdir is None or nref is None or name is None:
    fail("missing manifest fsync, name record or name")
if not (mdir < nref < name):
    fail("manifest directory sync, name record and name out of order")
checked.append("manifest durable before the name record, record before the name")

# 4. Name record and name entry files are synced before they are renamed,
#    and their directories after.
for r in (nref, name):
    tmpname = events[r][2][0]
    fs = last(lambda e: e[0] == 'fsync' and e[1] and e[1][0].endswith('/' + tmpname))
    if fs is None or fs > r:
        fail("file not synced before its rename: " + tmpname)
    d = idx(lambda e: e[0] == 'fsync' and e[1] and e[1][0] == events[r][1][1], r)
    if d is None:
        fail("directory not synced after the rename of " + tmpname)
checked.append("name record and name synced, then their directories")

for c in sorted(set(checked)):
    print("ok: " + c)
