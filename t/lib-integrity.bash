# lib-integrity.bash: helpers for the fsck, verify and repair tests (2xxx):
# a small store with known files, paths of their stored objects, and ways to
# damage them. Load after test_helper.

# SHA-256 (hex) of LEN bytes of FILE at OFFSET: the id of that chunk.
piece_id() {
	tail -c +"$(($2 + 1))" "$1" | head -c "$3" | sha256sum | cut -c1-64
}

# Path of the object, manifest or name record for an id.
obj_path() {
	echo "$S/objects/${1:0:2}/${1:2}"
}

file_id() {
	content_id "$1"
}

manifest_path() {
	local id
	id=$(file_id "$1")
	echo "$S/manifests/${id:0:2}/${id:2}"
}

nameref_table() {	# NAME: the table holding the name record of NAME
	local t
	t=$("$TEST_TOOL" namerefs "$S" | awk -F'\t' -v n="$1" '$3 == n { print $1 }')
	[ -n "$t" ] || fail "no name record of $1"
	echo "$S/refs/$t"
}

# The stored fixture, in a fixed-size (4 KiB) store so that chunk k of a
# file is its bytes [4096k, 4096k + 4096):
#   a       20000 random bytes (4 blocks and a 3616-byte tail)
#   copy/a  the same content under a second name
#   b       20000 other random bytes
#   c       30000 bytes of text (stored compressed)
# $A0..$A4 are the ids of a's chunks, $B1 the id of b's second chunk.
make_fixture() {
	init_store --chunker fixed --chunk-size 4K ${FIXTURE_CODEC:+--codec "$FIXTURE_CODEC"}
	mkdir -p src/copy
	gen_bytes 1 20000 > src/a
	cp src/a src/copy/a
	gen_bytes 2 20000 > src/b
	"$TEST_TOOL" gen-text 3 30000 > src/c
	# One add per file: each is a batch of a few chunks, stored as loose
	# objects (one add of all four would put them in one pack).
	(cd src && c add -q a && c add -q copy/a && c add -q b && c add -q c) ||
		fail "cannot add the fixture"
	A0=$(piece_id src/a 0 4096)
	A1=$(piece_id src/a 4096 4096)
	A2=$(piece_id src/a 8192 4096)
	A4=$(piece_id src/a 16384 3616)
	B1=$(piece_id src/b 4096 4096)
}

# Every stored name restores byte-identical to its source.
assert_all_restore() {
	local n
	for n in a copy/a b c; do
		run_split c cat -o "$T/out" "$n"
		assert_status 0
		cmp -s "$T/out" "src/$n" || fail "'$n' does not restore identical"
	done
}

# These names restore identical; cat of the others fails with a message.
assert_restore_only() {
	local n ok
	for n in a copy/a b c; do
		ok=0
		for m in "$@"; do [ "$m" = "$n" ] && ok=1; done
		run_split c cat "$n"
		if [ $ok = 1 ]; then
			assert_status 0
			c cat -o "$T/out" "$n" && cmp -s "$T/out" "src/$n" ||
				fail "'$n' does not restore identical"
		else
			[ "$status" -eq 1 ] || fail "cat of damaged '$n' exited $status"
			assert_err_contains "error: cannot read '$n'"
		fi
	done
}

# fsck finds nothing wrong (garbage allowed).
assert_fsck_clean() {
	run_split c fsck
	assert_status 0
	assert_out_contains "no problems found"
}

# The reference table (path) that holds pairs of the manifest of FILE.
table_of() {
	python3 - "$S/refs/chunks" "$(file_id "$1")" <<'EOF2'
import os, sys
d, m = sys.argv[1], bytes.fromhex(sys.argv[2])
for n in sorted(os.listdir(d)):
    b = open(os.path.join(d, n), 'rb').read()
    if b[4] == 1:
        recs = b[16:-32]
        found = any(recs[i + 32:i + 64] == m for i in range(0, len(recs), 64))
    else:
        # version 2: the manifest ids follow the records
        count, nman = int.from_bytes(b[8:16], 'little'), int.from_bytes(b[16:20], 'little')
        mans = b[24 + 36 * count:24 + 36 * count + 32 * nman]
        found = any(mans[i:i + 32] == m for i in range(0, len(mans), 32))
    if found:
        print(os.path.join(d, n))
        break
EOF2
}

# Rewrite the raw object at PATH as a well-formed object of its first LEN bytes.
shorten_object() {
	python3 - "$1" "$2" <<'EOF2'
import struct, sys
path, n = sys.argv[1], int(sys.argv[2])
b = open(path, 'rb').read()
assert b[:4] == b'CDTC' and b[5] == 0, 'not a raw object'
open(path, 'wb').write(b[:8] + struct.pack('<I', n) + b[12:12 + n])
EOF2
}

# "PACKFILE OFFSET LENGTH" of every packed copy of the object for ID, a
# line each, packs in name order.
packed_copies() {
	python3 - "$S/packs" "$1" <<'EOF2'
import os, struct, sys
d, want = sys.argv[1], bytes.fromhex(sys.argv[2])
for n in sorted(os.listdir(d)):
    if not n.endswith('.idx'):
        continue
    b = open(os.path.join(d, n), 'rb').read()
    count = struct.unpack_from('<Q', b, 8)[0]
    loc = 24 if b[4] == 2 else 16
    ids = 16 + 1024
    locs = ids + 32 * count
    for i in range(count):
        if b[ids + 32 * i:ids + 32 * i + 32] == want:
            off, ln, _ = struct.unpack_from('<QII', b, locs + loc * i)
            print(os.path.join(d, n[:-4] + '.pack'), off, ln)
EOF2
}

# The first of them, if any.
packed_object() {
	packed_copies "$1" | head -n 1
}

# Invert a byte inside the stored object of chunk ID, loose or packed.
damage_chunk() {
	local p
	p=$(obj_path "$1")
	if [ -f "$p" ]; then
		flip_byte "$p" 100
		return
	fi
	set -- $(packed_object "$1")
	[ -n "${1:-}" ] || fail "chunk is stored nowhere"
	flip_byte "$1" $(($2 + 20))
}

# What the packs and objects/ hold, as one line of key=value:
# packs, v1 (packs of version 1), frames, deltas, codecs (the object
# codecs met, sorted), loose (loose objects).
pack_summary() {
	python3 - "$S" <<'EOF2'
import os, struct, sys
s = sys.argv[1]
d = os.path.join(s, 'packs')
packs = v1 = frames = deltas = 0
codecs = set()
for n in sorted(os.listdir(d)):
    if not n.endswith('.idx'):
        continue
    packs += 1
    b = open(os.path.join(d, n), 'rb').read()
    ver = b[4]
    v1 += ver == 1
    count = struct.unpack_from('<Q', b, 8)[0]
    locs, size = 16 + 1024 + 32 * count, 16 if ver == 1 else 24
    pack = open(os.path.join(d, n[:-4] + '.pack'), 'rb').read()
    seen = set()
    for i in range(count):
        off = struct.unpack_from('<Q', b, locs + size * i)[0]
        if off in seen:
            continue
        seen.add(off)
        o = pack[off:off + 8]
        codecs.add(o[5])
        if o[4] == 2 and o[6] == 1:
            frames += 1
        if o[4] == 2 and o[6] == 2:
            deltas += 1
loose = sum(len(f) for _, _, f in os.walk(os.path.join(s, 'objects')))
print('packs=%d v1=%d frames=%d deltas=%d codecs=%s loose=%d' % (
    packs, v1, frames, deltas, ','.join(str(c) for c in sorted(codecs)), loose))
EOF2
}

# near_copy SRC DST: SRC with a short edit every 10 KB, so that most of
# DST's chunks differ from one of SRC's by a few bytes (deltas).
near_copy() {
	python3 - "$1" "$2" <<'EOF2'
import sys
b = open(sys.argv[1], 'rb').read()
out, k = bytearray(), 0
for i in range(0, len(b), 10000):
    out += b[i:i + 10000]
    out += b'<edit %d>' % k
    k += 1
open(sys.argv[2], 'wb').write(out)
EOF2
}
