#!/bin/sh
# gen-images.sh: a series of ext4 images of real files, each edited in place from the one before.
#
#   sh t/perf/gen-images.sh OUTDIR
#
# Builds OUTDIR/img1.img .. imgN.img (N = IMAGES, default 5), each of
# IMAGE_SIZE (default 256M, which leaves room for 4 generations of growth),
# without mounting anything:
#
#   img1  mke2fs -t ext4 -b 4096 -d TREE, where TREE holds files copied from
#         the SOURCES directories (default below), each up to its byte budget,
#         chosen in an order seeded by SEED (default 20261201);
#   imgK  a copy of img(K-1) changed with debugfs, as a file system in use
#         changes: of the files present, about 1% are removed, 4% rewritten
#         with 1 to 3 insertions of 1 to 16 bytes (removed and written again,
#         so they get new blocks), 1% rewritten with 200 to 20,000 bytes of
#         text appended, and 2% get 1 to 16 bytes overwritten in place (in
#         their own blocks, found with debugfs's `blocks`); then about
#         ADD_MB (default 5) MB of files not yet used from the same sources
#         are added.
#
# Every image passes `e2fsck -fn`. mke2fs and debugfs get a fixed UUID,
# hash seed and time (E2FSPROGS_FAKE_TIME), so on one machine the same
# sources give the same images; OUTDIR/images.txt lists image, bytes and
# SHA-256, OUTDIR/sources.txt the source files used (SHA-256, size, path).
# Needs python3, mke2fs, debugfs and e2fsck (e2fsprogs 1.47 was used).
set -eu
export LC_ALL=C
umask 022

if [ $# -ne 1 ]; then
	echo "usage: gen-images.sh OUTDIR" >&2
	exit 2
fi
mkdir -p "$1"
OUT=$(cd "$1" && pwd)
IMAGES=${IMAGES:-5}
IMAGE_SIZE=${IMAGE_SIZE:-256M}
SEED=${SEED:-20261201}
ADD_MB=${ADD_MB:-5}
# label:directory:budget in MB
SOURCES=${SOURCES:-bin:/usr/bin:40 locale:/usr/share/locale:25 vim:/usr/share/vim:25 perl:/usr/share/perl:15 man:/usr/share/man:20}
export E2FSPROGS_FAKE_TIME=1700000000
UUID=6364742d-696d-6167-6573-000000000001
HASH_SEED=6364742d-696d-6167-6573-000000000002

for tool in python3 mke2fs debugfs e2fsck; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "gen-images: needs $tool" >&2
		exit 1
	fi
done

W=$OUT/work
rm -rf "$W" "$OUT"/img*.img "$OUT/images.txt"
mkdir -p "$W/tree"
trap 'rm -rf "$W"' EXIT
trap 'exit 130' INT TERM

# Step 1: choose and copy the base tree; the rest of the sources is the pool
# new files come from.
# shellcheck disable=SC2086 # one argument per source
PYTHONDONTWRITEBYTECODE=1 python3 - "$W" "$OUT" "$SEED" $SOURCES <<'PY'
import hashlib, os, stat, sys
work, out, seed = sys.argv[1], sys.argv[2], sys.argv[3]
MAXF = 8 << 20
def key(label, rel):
    return hashlib.sha256(f"{seed}:{label}:{rel}".encode()).digest()
base, pool = [], []
for spec in sys.argv[4:]:
    label, root, budget = spec.split(":")
    budget = int(budget) * 10**6
    files = []
    for dp, dns, fns in os.walk(root):
        dns.sort()
        for f in sorted(fns):
            p = os.path.join(dp, f)
            try:
                st = os.lstat(p)
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode) and 0 < st.st_size <= MAXF and os.access(p, os.R_OK):
                files.append(os.path.relpath(p, root))
    files.sort(key=lambda r: key(label, r))
    used = 0
    for rel in files:
        (base if used < budget else pool).append((label, root, rel))
        if used < budget:
            used += os.path.getsize(os.path.join(root, rel))
with open(os.path.join(out, "sources.txt"), "w") as lst:
    for label, root, rel in base:
        src = os.path.join(root, rel)
        with open(src, "rb") as f:
            b = f.read()
        dst = os.path.join(work, "tree", label, rel)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        with open(dst, "wb") as f:
            f.write(b)
        os.chmod(dst, 0o644)
        lst.write(f"{hashlib.sha256(b).hexdigest()} {len(b)} {src}\n")
with open(os.path.join(work, "pool"), "w") as f:
    for label, root, rel in pool:
        f.write(f"{label}\t{root}\t{rel}\n")
PY
# Fixed times, so that the inodes mke2fs writes do not depend on the copy.
find "$W/tree" -exec touch -h -d @1700000000 {} +

mke2fs -q -F -t ext4 -b 4096 -U "$UUID" -E "hash_seed=$HASH_SEED,root_owner=0:0" \
	-d "$W/tree" "$OUT/img1.img" "$IMAGE_SIZE"
# mke2fs -d copies each inode's ctime, which touch cannot set: fix it too.
(cd "$W/tree" && find . -mindepth 1) | sed 's,^\.\(.*\),sif "\1" ctime @1700000000,' >"$W/ctime.cmds"
debugfs -w -f "$W/ctime.cmds" "$OUT/img1.img" >/dev/null 2>"$W/ctime.err"
if grep -v '^debugfs ' "$W/ctime.err" | grep -q .; then
	head -n 5 "$W/ctime.err" >&2
	exit 1
fi
e2fsck -fn "$OUT/img1.img" >"$W/fsck.out" 2>&1 || { cat "$W/fsck.out" >&2; exit 1; }

# Step 2: each later image is the one before, edited. The python part
# chooses the edits, keeps TREE equal to the image's files, and drives
# debugfs (blocks of files to overwrite in place, then one command file).
g=2
while [ "$g" -le "$IMAGES" ]; do
	cp "$OUT/img$((g - 1)).img" "$OUT/img$g.img"
	PYTHONDONTWRITEBYTECODE=1 python3 - "$W" "$OUT/img$g.img" "$SEED" "$g" "$ADD_MB" <<'PY'
import os, random, subprocess, sys
work, img, seed, g, add_mb = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
rng = random.Random(seed * 1000 + g)
tree = os.path.join(work, "tree")
files = []
for dp, dns, fns in os.walk(tree):
    dns.sort()
    for f in sorted(fns):
        files.append(os.path.relpath(os.path.join(dp, f), tree))
files.sort()
n = len(files)
def rd(r):
    with open(os.path.join(tree, r), "rb") as f:
        return f.read()
def wr(r, b):
    p = os.path.join(tree, r)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, "wb") as f:
        f.write(b)
    os.utime(p, (1700000000, 1700000000))
picked = rng.sample(files, round(0.08 * n))
k1, k2, k3 = round(0.01 * n), round(0.05 * n), round(0.06 * n)
dele, ins, app, inplace = picked[:k1], picked[k1:k2], picked[k2:k3], picked[k3:]
cmds = []
for r in dele:
    cmds.append(f"rm /{r}")
    os.unlink(os.path.join(tree, r))
for r in ins:
    b = bytearray(rd(r))
    for _ in range(rng.randint(1, 3)):
        off = rng.randint(0, len(b))
        b[off:off] = rng.randbytes(rng.randint(1, 16))
    wr(r, bytes(b))
    cmds += [f"rm /{r}", f"write {os.path.join(tree, r)} /{r}"]
WORDS = ("mount umount fsck resize journal extent inode block group bitmap "
         "check repair error warning info debug open close read write sync").split()
for r in app:
    want, lines = rng.randint(200, 20000), []
    while sum(len(l) for l in lines) < want:
        lines.append(f"{rng.randint(0, 10**9):09d} " + " ".join(rng.choice(WORDS) for _ in range(8)) + "\n")
    wr(r, rd(r) + "".join(lines).encode())
    cmds += [f"rm /{r}", f"write {os.path.join(tree, r)} /{r}"]
# In place: the file keeps its blocks; the bytes change in the image itself.
edits = []
for r in inplace:
    size = os.path.getsize(os.path.join(tree, r))
    ln = min(rng.randint(1, 16), size)
    edits.append((r, rng.randint(0, size - ln), rng.randbytes(ln)))
if edits:
    req = "".join(f"blocks /{r}\n" for r, _, _ in edits)
    res = subprocess.run(["debugfs", "-f", "-", img], input=req.encode(), capture_output=True, check=True)
    blocks = [l.split() for l in res.stdout.decode().splitlines() if not l.startswith("debugfs")]
    if len(blocks) != len(edits):
        sys.exit(f"debugfs blocks: {len(blocks)} answers for {len(edits)} files")
    # A file with holes (debugfs writes runs of zero blocks as holes) lists
    # fewer blocks than it has: leave it alone rather than guess.
    kept = [(e, bl) for e, bl in zip(edits, blocks)
            if len(bl) == (os.path.getsize(os.path.join(tree, e[0])) + 4095) // 4096]
    inplace = [e[0] for e, _ in kept]
    with open(img, "r+b") as f:
        for (r, off, data), bl in kept:
            b = bytearray(rd(r))
            b[off:off + len(data)] = data
            wr(r, bytes(b))
            for i in range(len(data)):
                blk = int(bl[(off + i) // 4096])
                f.seek(blk * 4096 + (off + i) % 4096)
                f.write(data[i:i + 1])
# New files from the pool, about add_mb MB.
pool = [l.rstrip("\n").split("\t") for l in open(os.path.join(work, "pool"))]
used, added = 0, 0
dirs = set()
for d in files:
    parts = d.split("/")
    for i in range(1, len(parts)):
        dirs.add("/".join(parts[:i]))
while pool and added < add_mb * 10**6:
    label, root, rel = pool.pop(0)
    used += 1
    with open(os.path.join(root, rel), "rb") as f:
        b = f.read()
    r = os.path.join(label, rel)
    if os.path.exists(os.path.join(tree, r)):
        continue
    parts = r.split("/")
    for i in range(1, len(parts)):
        d = "/".join(parts[:i])
        if d not in dirs:
            dirs.add(d)
            cmds.append(f"mkdir /{d}")
    wr(r, b)
    cmds.append(f"write {os.path.join(tree, r)} /{r}")
    added += len(b)
with open(os.path.join(work, "pool"), "w") as f:
    for e in pool:
        f.write("\t".join(e) + "\n")
res = subprocess.run(["debugfs", "-w", "-f", "-", img], input=("\n".join(cmds) + "\n").encode(),
                     capture_output=True, check=True)
errs = [l for l in res.stderr.decode().splitlines() if l and not l.startswith("debugfs ")]
if errs:
    sys.exit("debugfs: " + "; ".join(errs[:5]))
print(f"img{g}: {len(dele)} removed, {len(ins)} with insertions, {len(app)} appended, "
      f"{len(inplace)} overwritten in place, {added} bytes in new files", file=sys.stderr)
PY
	e2fsck -fn "$OUT/img$g.img" >"$W/fsck.out" 2>&1 || { cat "$W/fsck.out" >&2; exit 1; }
	g=$((g + 1))
done

# Check the last image against the tree it should hold.
for img in "$OUT"/img*.img; do
	printf '%s %s %s\n' "${img##*/}" "$(stat -c %s "$img")" \
		"$(sha256sum "$img" | cut -d' ' -f1)" >>"$OUT/images.txt"
done
rm -rf "$W/check"
mkdir "$W/check"
debugfs -R "rdump / $W/check" "$OUT/img$IMAGES.img" >/dev/null 2>&1
rm -rf "$W/check/lost+found"
if ! diff -rq "$W/tree" "$W/check" >"$W/diff"; then
	echo "gen-images: img$IMAGES.img does not hold the files it should:" >&2
	head -n 5 "$W/diff" >&2
	exit 1
fi
echo "$(wc -l <"$OUT/sources.txt") source files, $(awk '{ s += $2 } END { print s }' "$OUT/sources.txt") bytes"
cat "$OUT/images.txt"
