#!/usr/bin/env bats
# gc against damaged derived data: whatever an index or a record says, a name
# that restored before gc restores after it, or gc refuses and says why.

load test_helper
load lib-integrity

# A store of 34 packs under a multi-pack index, a few loose chunks, shared
# data, and garbage (removed names) for gc to collect. Built once per file.
setup_file() {
	export FIX="$BATS_FILE_TMPDIR/fixture"
	mkdir -p "$FIX/src"
	cd "$FIX"
	"$CDT" init -q --chunk-size 4K store
	"$TEST_TOOL" gen-random 999 200000 > shared
	for i in $(seq 1 34); do
		{ "$TEST_TOOL" gen-random "$i" 90000; head -c $((i * 4000)) shared; } > "src/f$i"
		"$CDT" --store store add -q --name "f$i" "src/f$i"
	done
	for i in 1 2 3; do
		"$TEST_TOOL" gen-random $((100 + i)) 20000 > "src/small$i"
		"$CDT" --store store add -q --name "small$i" "src/small$i"
	done
	[ -f store/packs/multi-pack-index ]
	"$CDT" --store store rm -q f5 f17 small2
}

setup() {
	T=$(mktemp -d "${BATS_TMPDIR:-/tmp}/cdt-test.XXXXXX")
	S="$T/store"
	cd "$T"
	cp -a "$FIX/store" "$S"
	ln -s "$FIX/src" src
	names=$(ls src)
}

# Flip bit $3 of the byte at offset $2 of file $1.
flip_bit() {
	python3 - "$1" "$2" "$3" <<'EOF'
import sys
path, off, bit = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
b = bytearray(open(path, 'rb').read())
b[off] ^= 1 << bit
open(path, 'wb').write(b)
EOF
}

# Flip bit BIT of a pseudo-random byte (from SEED) within the id table of
# pack index PATH, for each PATH SEED BIT given: one Python for them all.
flip_idx_ids() {
	python3 - "$@" <<'EOF'
import random, struct, sys
args = sys.argv[1:]
for k in range(0, len(args), 3):
    path, seed, bit = args[k], args[k + 1], int(args[k + 2])
    random.seed(seed)
    b = bytearray(open(path, 'rb').read())
    n = struct.unpack_from('<Q', b, 8)[0]
    b[16 + 1024 + random.randrange(32 * n)] ^= 1 << bit
    open(path, 'wb').write(b)
EOF
}

# Names that restore byte-identical now, one per line: one cat of them
# all, name by name only when that fails.
restoring() {
	local n
	# shellcheck disable=SC2086 # the names hold no blanks
	if c cat $names > out.$$ 2>/dev/null && (cd src && cat $names) | cmp -s - out.$$; then
		printf '%s\n' $names
		rm -f out.$$
		return
	fi
	for n in $names; do
		if c cat "$n" > out.$$ 2>/dev/null && cmp -s out.$$ "src/$n"; then
			echo "$n"
		fi
	done
	rm -f out.$$
}

# Run gc twice; every name in $1 (a list) must restore after each run,
# unless gc refused, saying why.
gc_keeps() {
	local before=$1 run n
	for run in 1 2; do
		run_split c gc
		if [ "$status" != 0 ]; then
			[ "$status" = 1 ] || fail "gc exited $status: $err"
			case "$err" in
			*"not collecting garbage:"*|*"could not be indexed"*) ;;
			*) fail "gc failed without saying why: $err" ;;
			esac
		fi
		# One cat of them all; name by name only to say which failed.
		if ! { c cat $before > out 2>cat.err && (cd src && cat $before) | cmp -s - out; }; then
			for n in $before; do
				c cat "$n" > out 2>cat.err ||
					fail "after gc run $run, '$n' no longer restores: $(cat cat.err); gc said: $err"
				cmp -s out "src/$n" || fail "after gc run $run, '$n' restores other bytes"
			done
		fi
	done
}

# The names of $names that are stored, one per line, in that order.
all_live() {
	local n
	c ls > all.ls
	for n in $names; do
		grep -qFx "$n" all.ls && echo "$n"
	done
}

@test "one flipped bit in an id of every pack index" {
	live=$(all_live)
	i=0
	set --
	for idx in "$S"/packs/*.idx; do
		i=$((i + 1))
		set -- "$@" "$idx" "$i" $((i % 8))
	done
	flip_idx_ids "$@"
	gc_keeps "$live"
	[ "$status" = 0 ] || fail "gc did not index the packs again: $err"
	[ "$(restoring)" = "$live" ]
	run_split c fsck
	assert_status 0
}

@test "one flipped bit anywhere in one pack index at a time" {
	live=$(all_live)
	set -- "$S"/packs/*.idx
	for k in 1 2 3 4 5 6; do
		idx=$(ls "$S"/packs/*.idx | sed -n "$((k * 5 % $(ls "$S"/packs/*.idx | wc -l) + 1))p")
		size=$(stat -c %s "$idx")
		off=$(python3 -c "import random; random.seed($k); print(random.randrange($size))")
		flip_bit "$idx" "$off" $((k % 8))
		gc_keeps "$live"
		[ "$status" = 0 ] || fail "gc did not index the pack again: $err"
	done
	[ "$(restoring)" = "$live" ]
	run_split c fsck
	assert_status 0
}

@test "one flipped bit in an id of the multi-pack index, or anywhere in it" {
	live=$(all_live)
	m="$S/packs/multi-pack-index"
	n=$(python3 -c "import struct; d=open('$m','rb').read(); print(struct.unpack_from('<Q', d, 16)[0])")
	p=$(python3 -c "import struct; d=open('$m','rb').read(); print(struct.unpack_from('<I', d, 8)[0])")
	flip_bit "$m" $((24 + 32 * p + 1024 + 32 * (n / 2) + 3)) 5
	# Reads miss nothing even now.
	[ "$(restoring)" = "$live" ]
	gc_keeps "$live"
	[ "$status" = 0 ]
	run_split c fsck
	assert_status 0
	# Again from the fixture, a bit anywhere in it.
	rm -rf "$S"
	cp -a "$FIX/store" "$S"
	flip_bit "$m" $(($(stat -c %s "$m") / 3)) 1
	gc_keeps "$live"
	[ "$status" = 0 ]
	run_split c fsck
	assert_status 0
}

@test "every pack index deleted, then the index of the one pack gc left" {
	live=$(all_live)
	rm "$S"/packs/*.idx
	run_split c gc
	assert_status 0
	assert_out_contains "indexed 34 packs again from their own objects"
	gc_keeps "$live"
	[ "$status" = 0 ] || fail "gc did not index the packs again: $err"
	rm "$(ls "$S"/packs/*.idx | head -n 1)"
	gc_keeps "$live"
	[ "$status" = 0 ]
	[ "$(restoring)" = "$live" ]
	run_split c fsck
	assert_status 0
}

@test "missing, emptied, damaged and misleading name records" {
	live=$(all_live)
	# Tables of records gone, emptied and damaged; a record of f1 under another manifest.
	tables=$(find "$S/refs/names" -type f -name '*.rec' | sort)
	[ "$(printf '%s\n' "$tables" | wc -l)" -ge 3 ] || fail "too few tables: $tables"
	rm "$(printf '%s\n' "$tables" | sed -n 1p)"
	: > "$(printf '%s\n' "$tables" | sed -n 2p)"
	flip_bit "$(printf '%s\n' "$tables" | sed -n 3p)" 40 0
	"$TEST_TOOL" namerefs "$S" "$(content_id src/f9)" f1
	gc_keeps "$live"
	[ "$status" = 0 ]
	# gc drops the unusable tables and the misleading record.
	[ "$(find "$S/refs/names" -type f -size 0 | wc -l)" = 0 ]
	! "$TEST_TOOL" namerefs "$S" | grep -q "	bad	"
	! "$TEST_TOOL" namerefs "$S" | grep -q "	f1$"
	# Then every record.
	rm -r "$S/refs/names"
	gc_keeps "$live"
	[ "$status" = 0 ]
	[ "$(restoring)" = "$live" ]
}

@test "truncated manifests: a live one makes gc refuse, a dead one is garbage" {
	live=$(all_live)
	# The manifest of a removed name: nothing needs it.
	dead=$(content_id src/f5)
	truncate -s 100 "$S/manifests/${dead:0:2}/${dead:2}"
	gc_keeps "$live"
	[ "$status" = 0 ]
	# The manifest of f9: gc cannot tell what is live, and says so.
	m=$(content_id src/f9)
	truncate -s 1000 "$S/manifests/${m:0:2}/${m:2}"
	before=$(restoring)
	run_split c gc
	assert_status 1
	assert_err_contains "manifest $m, used by stored names, cannot be read"
	assert_err_contains "not collecting garbage: 1 damaged name or manifest make it unknown what is live"
	gc_keeps "$before"
}

@test "everything at once: indexes, records and the multi-pack index" {
	live=$(all_live)
	i=0
	set --
	for idx in "$S"/packs/*.idx; do
		i=$((i + 1))
		case $((i % 3)) in
		0) rm "$idx" ;;
		1) set -- "$@" "$idx" "$i" 0 ;;
		esac
	done
	flip_idx_ids "$@"
	rm -f "$S/packs/multi-pack-index"
	find "$S/refs/names" -type f | sed -n '1~2p' | xargs rm
	gc_keeps "$live"
	[ "$status" = 0 ]
	[ "$(restoring)" = "$live" ]
	# Name records are not gc's to write: a rebuild puts them back.
	run_split c fsck --rebuild-refs
	assert_status 0
}

@test "a damaged pack that cannot be indexed goes when no live chunk needs it, and stays when one does" {
	rm -rf "$S"
	"$CDT" init -q --chunk-size 8K "$S"
	gen_bytes 41 400000 > a
	gen_bytes 42 300000 > b
	c add -q a
	c add -q b
	pack_b=$(ls -t "$S"/packs/*.pack | head -1)
	# What a gc stopped between removing a dead pack's index and the pack
	# leaves, with a damaged byte in it: it cannot be indexed again.
	c rm -q b
	flip_byte "$pack_b" 150000
	rm "${pack_b%.pack}.idx"
	run_split c gc
	assert_status 0
	[ ! -e "$pack_b" ] || fail "the dead pack was kept"
	c cat a | cmp - a
	c fsck > /dev/null
	# The same damage to a pack a live name needs: kept, and gc says so.
	c add -q b
	pack_b=$(ls -t "$S"/packs/*.pack | head -1)
	flip_byte "$pack_b" 150000
	rm "${pack_b%.pack}.idx"
	run_split c gc
	assert_status 1
	assert_err_contains "could not be indexed"
	[ -e "$pack_b" ] || fail "a pack live names need was removed"
	run_split c repair --from b
	c cat b | cmp - b
}

# damage_copy WHICH CHUNK NEWPACK: flip a byte of chunk CHUNK's copy in
# NEWPACK (WHICH=new) or in every other pack (WHICH=old).
damage_copy() {
	local pack off len done=0
	while read -r pack off len; do
		if { [ "$1" = new ] && [ "$pack" = "$3" ]; } ||
		   { [ "$1" = old ] && [ "$pack" != "$3" ]; }; then
			flip_byte "$pack" "$((off + 40))"
			done=1
		fi
	done < <(packed_copies "$2")
	[ "$done" = 1 ] || fail "no copy of chunk $2 in the $1 pack"
}

# survives_damaged_copy WHICH CHUNK NEWPACK: from the store saved in two/,
# damage one copy (damage_copy), then gc: 'a' restores before and after.
survives_damaged_copy() {
	rm -rf "$S"
	cp -a two "$S"
	damage_copy "$1" "$2" "$3"
	c cat a | cmp - a
	run_split c gc
	assert_status 0
	c cat a > out 2> cat.err ||
		fail "chunk $2 damaged in the $1 pack: after gc, 'a' no longer restores: $(cat cat.err); gc said: $err"
	cmp out a
}

@test "a pack with nothing marked keeps the good copy of a live chunk whose marked copy is damaged" {
	rm -rf "$S"
	"$CDT" init -q --chunker fixed --chunk-size 4K "$S"
	gen_bytes 51 300000 > a
	gen_bytes 52 300000 > b
	c add -q a
	c add -q b
	cp "$S"/packs/pack-* .
	# What a gc killed after its new pack was durable, before it removed
	# the packs it replaces, leaves: two packed copies of every chunk.
	c gc > /dev/null
	[ "$(ls "$S"/packs/*.pack | wc -l)" -eq 1 ] || fail "gc left $(ls "$S"/packs)"
	new=$(ls "$S"/packs/*.pack)
	cp -n pack-* "$S"/packs/
	cp -a "$S" two
	chunk=$(head -c 4096 a | sha256sum | cut -c1-64)
	# One copy damaged, in the new pack, then in an old one: whichever of
	# the two lookups find (and gc marks), the good one must stay.
	for which in new old; do
		survives_damaged_copy "$which" "$chunk" "$new"
	done
}

@test "a pack with nothing marked that fails to read keeps the copy of a live chunk whose marked copy is damaged" {
	command -v strace > /dev/null || skip_or_fail "strace is not installed"
	rm -rf "$S"
	"$CDT" init -q --chunker fixed --chunk-size 4K "$S"
	gen_bytes 51 300000 > a
	gen_bytes 52 300000 > b
	c add -q a
	c add -q b
	cp "$S"/packs/pack-* .
	# Two packed copies of every chunk, as a gc killed before it removed
	# the packs it replaced leaves them.
	c gc > /dev/null
	new=$(ls "$S"/packs/*.pack)
	cp -n pack-* "$S"/packs/
	cp -a "$S" two
	chunk=$(head -c 4096 a | sha256sum | cut -c1-64)
	# One copy damaged, and every read of the packs holding the other
	# fails while gc runs: that copy stays, whichever one gc marked.
	for which in new old; do
		rm -rf "$S"
		cp -a two "$S"
		damage_copy "$which" "$chunk" "$new"
		other=()
		for p in "$S"/packs/*.pack; do
			{ [ "$which" = new ] && [ "$p" != "$new" ]; } ||
			{ [ "$which" = old ] && [ "$p" = "$new" ]; } && other+=(-P "$p")
		done
		run_split traced -f -o /dev/null "${other[@]}" -e trace=pread64 \
			-e inject=pread64:error=EIO "$CDT" --store "$S" gc
		c cat a > out 2> cat.err ||
			fail "the $which copy damaged, the other unreadable: after gc, 'a' no longer restores: $(cat cat.err); gc said: $err"
		cmp out a
	done
}

@test "a pack gc rewrites keeps its copy of a live chunk whose marked copy elsewhere is damaged" {
	rm -rf "$S"
	"$CDT" init -q --chunker fixed --chunk-size 4K "$S"
	gen_bytes 61 300000 > a
	gen_bytes 62 300000 > d
	gen_bytes 63 300000 > b
	c add -q a d		# one pack: a's chunks, and d's, which die below
	c add -q b
	cp "$S"/packs/pack-* .
	c rm -q d
	c gc > /dev/null
	[ "$(ls "$S"/packs/*.pack | wc -l)" -eq 1 ] || fail "gc left $(ls "$S"/packs)"
	new=$(ls "$S"/packs/*.pack)
	# What a killed gc leaves: the old packs beside the new one. The old
	# pack of a and d has dead objects, so the next gc rewrites it.
	cp -n pack-* "$S"/packs/
	cp -a "$S" two
	for n in 0 1 2 3 4; do
		chunk=$(dd if=a bs=4096 skip=$n count=1 status=none | sha256sum | cut -c1-64)
		for which in new old; do
			survives_damaged_copy "$which" "$chunk" "$new"
		done
	done
}

@test "a pack that fails to read while gc indexes it again stays, though the live chunks are found elsewhere" {
	command -v strace > /dev/null || skip_or_fail "strace is not installed"
	rm -rf "$S"
	"$CDT" init -q --chunker fixed --chunk-size 4K "$S"
	gen_bytes 51 300000 > a
	gen_bytes 52 300000 > b
	c add -q a
	c add -q b
	cp "$S"/packs/pack-* .
	# Two packed copies of every chunk, as a gc killed before it removed
	# the packs it replaced leaves them; the old packs' indexes are gone.
	c gc > /dev/null
	new=$(ls "$S"/packs/*.pack)
	cp -n pack-*.pack "$S"/packs/
	chunk=$(head -c 4096 a | sha256sum | cut -c1-64)
	damage_copy new "$chunk" "$new"
	# Every read of the old packs fails while gc runs: what they hold is
	# not known, and one of them holds the only good copy of a chunk.
	old=()
	for p in "$S"/packs/*.pack; do
		[ "$p" = "$new" ] || old+=(-P "$p")
	done
	[ "${#old[@]}" -gt 0 ] || fail "no old pack"
	run_split traced -f -o /dev/null "${old[@]}" -e trace=pread64,read \
		-e inject=pread64,read:error=EIO "$CDT" --store "$S" gc
	assert_status 1
	assert_err_contains "index is missing; cannot read pack file: Input/output error; keeping it: what it holds is not known"
	for p in "${old[@]}"; do
		[ "$p" = -P ] || [ -e "$p" ] || fail "gc removed $p, which it could not read; gc said: $err"
	done
	# Readable again: the next gc indexes them, and keeps the good copy.
	run_split c gc
	c cat a > out 2> cat.err ||
		fail "after gc, 'a' no longer restores: $(cat cat.err); gc said: $err"
	cmp out a
}

@test "a damaged pack that cannot be indexed gives up the only good copy of a live chunk before it goes" {
	rm -rf "$S"
	"$CDT" init -q --chunker fixed --chunk-size 4K "$S"
	gen_bytes 71 300000 > a
	gen_bytes 72 300000 > b
	c add -q a
	old=$(ls "$S"/packs/*.pack)
	cp "$old" .
	c add -q b
	c gc > /dev/null
	[ "$(ls "$S"/packs/*.pack | wc -l)" -eq 1 ] || fail "gc left $(ls "$S"/packs)"
	new=$(ls "$S"/packs/*.pack)
	# What a gc stopped between removing the old pack's index and the
	# pack leaves, damaged near its end: it cannot be indexed again. Its
	# first chunks are good, and their marked copies in the new pack are
	# damaged.
	cp "$(basename "$old")" "$S"/packs/
	size=$(stat -c %s "$old")
	flip_byte "$old" "$((size - 2000))"
	chunk=$(head -c 4096 a | sha256sum | cut -c1-64)
	damage_copy new "$chunk" "$new"
	run_split c gc
	assert_status 0
	assert_err_contains "no other good copy"
	[ ! -e "$old" ] || fail "the damaged pack was kept, its good chunks saved"
	c cat a > out 2> cat.err ||
		fail "after gc, 'a' no longer restores: $(cat cat.err); gc said: $err"
	cmp out a
	c cat b | cmp - b
	# The next gc keeps a good copy, whichever one it marks.
	run_split c gc
	c cat a > out 2> cat.err ||
		fail "after a second gc, 'a' no longer restores: $(cat cat.err); gc said: $err"
	cmp out a
}

@test "a damaged pack that cannot be indexed stays while a live chunk it may hold past its damage has no good copy" {
	rm -rf "$S"
	"$CDT" init -q --chunker fixed --chunk-size 4K "$S"
	gen_bytes 73 300000 > a
	gen_bytes 74 300000 > b
	c add -q a
	old=$(ls "$S"/packs/*.pack)
	cp "$old" .
	c add -q b
	c gc > /dev/null
	new=$(ls "$S"/packs/*.pack)
	# The old pack back without its index, damaged near its start: a read
	# of it stops there. A chunk of 'a' far past the damage has its marked
	# copy, in the new pack, damaged too: the old pack holds its only good copy.
	cp "$(basename "$old")" "$S"/packs/
	flip_byte "$old" 2000
	chunk=$(dd if=a bs=4096 skip=60 count=1 status=none | sha256sum | cut -c1-64)
	damage_copy new "$chunk" "$new"
	run_split c gc
	assert_status 1
	assert_err_contains "cannot be indexed; keeping it: live chunk "
	assert_err_contains " has no good copy elsewhere"
	[ -e "$old" ] || fail "the damaged pack that may hold the only good copy was removed"
	# Repaired from the file, the chunk is good again, and the pack goes.
	run_split c repair --from a
	assert_status 0
	run_split c gc
	assert_status 0
	[ ! -e "$old" ] || fail "the damaged pack stayed once nothing live needed it"
	c cat a | cmp - a
	c cat b | cmp - b
}

# The objects of pack $1 (its index must be there), "offset length" in pack order.
pack_objects() {
	python3 - "${1%.pack}.idx" <<'EOF2'
import struct, sys
b = open(sys.argv[1], 'rb').read()
count = struct.unpack_from('<Q', b, 8)[0]
loc = 24 if b[4] == 2 else 16
locs = 16 + 1024 + 32 * count
for off, ln in sorted({struct.unpack_from('<QI', b, locs + loc * i) for i in range(count)}):
    print(off, ln)
EOF2
}

@test "a damaged pack that cannot be indexed gives up the good chunks past its damage, never a false one" {
	rm -rf "$S"
	"$CDT" init -q --chunker fixed --chunk-size 4K "$S"
	gen_bytes 81 300000 > before
	gen_bytes 82 300000 > in
	"$TEST_TOOL" gen-text 83 300000 > after
	c add -q before in after
	pack=$(ls "$S"/packs/*.pack)
	# Two frames a file, in the order given: 64 chunks and 10 of each.
	pack_objects "$pack" > objects
	[ "$(wc -l < objects)" = 6 ] || fail "the pack holds other objects: $(cat objects)"
	rm "${pack%.pack}.idx"
	# The first frame of 'in' damaged in its header; in its payload, a
	# header that does not decode and one of a raw chunk that runs into
	# the next frame: a search past the damage must take neither as an
	# object, nor miss the frame the second one covers.
	python3 - "$pack" $(sed -n '3p;4p' objects) <<'EOF2'
import struct, sys
path, in1, _, in2 = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
b = bytearray(open(path, 'rb').read())
b[in1 + 8:in1 + 12] = b'\xff\xff\x00\x00'
b[in1 + 5000:in1 + 5012] = b'CDTC\x01\x02\x00\x00' + struct.pack('<I', 4096)
b[in2 - 100:in2 - 88] = b'CDTC\x01\x00\x00\x00' + struct.pack('<I', 4096)
open(path, 'wb').write(b)
EOF2
	# A dry run reads the pack as gc does, and says what gc would do.
	store_snapshot > before.snap
	run_split c gc -n -v
	assert_status 1
	assert_err_contains "158 live chunks in it have no other good copy; gc would write them to a new pack"
	assert_err_contains "cannot be indexed; gc would keep it: live chunk "
	assert_err_contains "1 pack could not be indexed and would be kept as it is"
	! grep -q "would remove pack\|gc would index it again" "$T/.out" "$T/.err" ||
		fail "the dry run says gc would remove or index the pack: $output $err"
	store_snapshot > after.snap
	cmp before.snap after.snap
	run_split c gc
	# The chunks of that frame are lost: the pack stays for repair.
	assert_status 1
	assert_err_contains "158 live chunks in it had no other good copy; written to pack"
	[ -e "$pack" ] || fail "the damaged pack holding the only copy of live chunks was removed"
	c cat before > out
	cmp out before
	c cat after > out 2> cat.err || fail "'after' no longer restores: $(cat cat.err); gc said: $err"
	cmp out after
	# fsck: the 64 chunks of the damaged frame, all of 'in', and nothing else.
	run_split c fsck
	assert_status 4
	[ "$(grep -c "^chunk-missing .*: chunk is missing; affects 'in'$" "$T/.out")" = 64 ] ||
		fail "fsck does not report the 64 chunks of 'in' alone: $output"
	! grep -q "'before'\|'after'" "$T/.out" || fail "fsck reports other files: $output"
	# Once 'in' is repaired from its file, the damaged pack goes.
	run_split c repair --from in
	assert_status 0
	run_split c gc
	assert_status 0
	[ ! -e "$pack" ] || fail "the damaged pack stayed once nothing live needed it: $err"
	for f in before in after; do
		c cat "$f" > out
		cmp out "$f"
	done
}

@test "a damaged pack that cannot be indexed gives up the object a damaged length ran over" {
	rm -rf "$S"
	"$CDT" init -q --chunker fixed --chunk-size 4K --frame-size 0 "$S"
	gen_bytes 84 200000 > a
	gen_bytes 85 100000 > b
	c add -q a b
	pack=$(ls "$S"/packs/*.pack)
	pack_objects "$pack" > objects
	rm "${pack%.pack}.idx"
	# The last chunk of 'a' is shorter than 4 KiB: stored raw, its length
	# made 4 KiB runs it over the start of the first chunk of 'b'.
	python3 - "$pack" $(sed -n '49p' objects) <<'EOF2'
import struct, sys
path, off, length = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
b = bytearray(open(path, 'rb').read())
assert b[off:off + 6] == b'CDTC\x01\x00' and length < 4108
struct.pack_into('<I', b, off + 8, 4096)
open(path, 'wb').write(b)
EOF2
	run_split c gc
	assert_status 1
	assert_err_contains "73 live chunks in it had no other good copy; written to pack"
	c cat b > out
	cmp out b
	run_split c fsck
	assert_status 4
	[ "$(grep -c "^chunk-missing .*: chunk is missing; affects 'a'$" "$T/.out")" = 1 ] ||
		fail "fsck does not report the one chunk of 'a' alone: $output"
}

@test "gc -n says of a damaged pack that cannot be indexed what gc would do, having read it" {
	rm -rf "$S"
	"$CDT" init -q --chunk-size 8K "$S"
	gen_bytes 91 400000 > a
	gen_bytes 92 300000 > b
	c add -q a
	c add -q b
	pack_b=$(ls -t "$S"/packs/*.pack | head -1)
	name=$(basename "${pack_b%.pack}")
	c rm -q b
	flip_byte "$pack_b" 150000
	rm "${pack_b%.pack}.idx"
	store_snapshot > before.snap
	run_split c gc -n -v
	assert_status 0
	assert_out_contains "would remove pack no live chunk needs (it cannot be indexed) $name"
	assert_err_contains "pack $name: index is missing; "
	assert_err_contains "; gc would keep it unless no live chunk needs it"
	store_snapshot > after.snap
	cmp before.snap after.snap
	run_split c gc -v
	assert_status 0
	assert_out_contains "removing pack no live chunk needs (it cannot be indexed) $name"
	[ ! -e "$pack_b" ]
	c cat a | cmp - a
}

@test "the pack a damaged pack's live chunks are written to is not written again by the same gc" {
	rm -rf "$S"
	"$CDT" init -q --chunker fixed --chunk-size 4K "$S"
	gen_bytes 93 200000 > a
	c add -q a
	pack=$(ls "$S"/packs/*.pack)
	# Without its index and damaged in its middle: the chunks on either
	# side of the damage are saved to a new pack, the one it covers is lost.
	flip_byte "$pack" 100000
	rm "${pack%.pack}.idx"
	run_split c gc
	assert_status 1
	assert_err_contains "48 live chunks in it had no other good copy; written to pack"
	assert_out_contains "packed 0 loose chunks; wrote 1 pack, removed 0"
	[ "$(ls "$S"/packs/*.idx | wc -l)" = 1 ] || fail "packs: $(ls "$S"/packs)"
	[ -e "$pack" ] || fail "the damaged pack that may hold a lost chunk was removed"
	# The next gc keeps them where they are.
	run_split c gc
	assert_status 1
	[[ "$output" != *wrote* ]] || fail "the second gc wrote again: $output"
}

@test "a pack without an index whose only damage is its checksum keeps every chunk through gc" {
	rm -rf "$S"
	"$CDT" init -q --chunker fixed --chunk-size 4K "$S"
	gen_bytes 94 200000 > a
	c add -q a
	pack=$(ls "$S"/packs/*.pack)
	# Every object reads good; only the pack's trailing checksum fails.
	flip_bit "$pack" $(($(stat -c %s "$pack") - 5)) 3
	rm "${pack%.pack}.idx"
	run_split c gc
	c cat a > out 2> cat.err || fail "after gc, 'a' no longer restores: $(cat cat.err); gc said: $err"
	cmp out a
	assert_status 0
	assert_err_contains "cannot be indexed, yet all 49 of its chunks read good: written again whole under its own name"
	[ -e "$pack" ] || fail "the pack written again whole was removed"
	run_split c fsck
	assert_status 0
}

@test "gc -n says what gc does of packs without an index whose delta bases are in each other" {
	rm -rf "$S"
	"$CDT" init -q --chunk-size 4K --frame-size 16K "$S"
	"$TEST_TOOL" gen-text 7 200000 > v1
	python3 -c "
b = bytearray(open('v1', 'rb').read())
for i in range(0, len(b), 5000):
    b[i] = ord('X')
open('v2', 'wb').write(b)"
	c add -q v1
	c add -q v2	# deltas on chunks of v1's pack
	rm "$S"/packs/*.idx
	rm -f "$S"/packs/multi-pack-index
	before=$(store_snapshot)
	run_split c gc -n
	assert_status 0
	[ "$(grep -c 'gc would index it again from the pack' <<< "$err")" = 2 ] || fail "$err"
	case "$err" in *"found nowhere"*|*"would keep"*|*error*) fail "said: $err" ;; esac
	[ "$(store_snapshot)" = "$before" ]
	# What gc then does.
	run_split c gc
	assert_status 0
	assert_err_contains "indexed again from the pack"
	assert_fsck_clean
	c cat -o out v2
	cmp out v2
}
