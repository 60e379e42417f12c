#!/usr/bin/env python3
"""compare-trees.py: does tree B hold what tree A holds, as cp -a would copy it?

Usage: compare-trees.py [--no-owner] [--no-setid] [--xattrs] A B

Walks both trees without following symbolic links and compares, for every
path (the roots included): the type, the mode, the owner (unless
--no-owner), the modification time to the nanosecond (not for symbolic
links' targets), the content of regular files, the target of symbolic
links, which names are hard links to one file, and with --xattrs the
user.* extended attributes. Prints one line per difference; exit status 1
if there is any, 0 if not. Paths are bytes: any name works.
"""
import os
import stat
import sys


def walk(root):
    out = {}

    def visit(rel):
        path = os.path.join(root, rel) if rel else root
        st = os.lstat(path)
        out[rel] = (path, st)
        if stat.S_ISDIR(st.st_mode):
            for name in sorted(os.listdir(path)):
                visit(os.path.join(rel, name) if rel else name)

    visit(b"")
    return out


def user_xattrs(path):
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return {}
    return {n: os.getxattr(path, n, follow_symlinks=False)
            for n in names if n.startswith("user.")}


def content(path):
    with open(path, "rb") as f:
        return f.read()


def main(argv):
    opts = {"--no-owner": False, "--no-setid": False, "--xattrs": False}
    args = []
    for a in argv[1:]:
        if a in opts:
            opts[a] = True
        else:
            args.append(a)
    if len(args) != 2:
        sys.stderr.write(__doc__)
        return 2
    a, b = (os.fsencode(x) for x in args)
    ta, tb = walk(a), walk(b)
    diffs = []

    def d(rel, what):
        diffs.append("%s: %s" % (os.fsdecode(rel) or ".", what))

    for rel in sorted(set(ta) | set(tb)):
        if rel not in tb:
            d(rel, "missing")
            continue
        if rel not in ta:
            d(rel, "extra")
            continue
        (pa, sa), (pb, sb) = ta[rel], tb[rel]
        if stat.S_IFMT(sa.st_mode) != stat.S_IFMT(sb.st_mode):
            d(rel, "type %o != %o" % (stat.S_IFMT(sa.st_mode), stat.S_IFMT(sb.st_mode)))
            continue
        if not stat.S_ISLNK(sa.st_mode):
            ma = stat.S_IMODE(sa.st_mode)
            if opts["--no-setid"]:
                ma &= 0o1777
            if ma != stat.S_IMODE(sb.st_mode):
                d(rel, "mode %o != %o" % (ma, stat.S_IMODE(sb.st_mode)))
        if not opts["--no-owner"] and (sa.st_uid, sa.st_gid) != (sb.st_uid, sb.st_gid):
            d(rel, "owner %d:%d != %d:%d" % (sa.st_uid, sa.st_gid, sb.st_uid, sb.st_gid))
        if sa.st_mtime_ns != sb.st_mtime_ns:
            d(rel, "mtime %d != %d" % (sa.st_mtime_ns, sb.st_mtime_ns))
        if stat.S_ISREG(sa.st_mode) and content(pa) != content(pb):
            d(rel, "content differs")
        if stat.S_ISLNK(sa.st_mode) and os.readlink(pa) != os.readlink(pb):
            d(rel, "link target %r != %r" % (os.readlink(pa), os.readlink(pb)))
        if opts["--xattrs"] and user_xattrs(pa) != user_xattrs(pb):
            d(rel, "xattrs %r != %r" % (user_xattrs(pa), user_xattrs(pb)))

    # Hard links: the same names share a file in both trees.
    def groups(t):
        by_ino = {}
        for rel, (_, st) in t.items():
            if stat.S_ISREG(st.st_mode):
                by_ino.setdefault((st.st_dev, st.st_ino), []).append(rel)
        return sorted(sorted(g) for g in by_ino.values() if len(g) > 1)

    ga, gb = groups(ta), groups(tb)
    if ga != gb:
        diffs.append("hard links differ: %r != %r" % (ga, gb))
    for line in diffs:
        print(line)
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
