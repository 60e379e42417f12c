#!/usr/bin/env bats
# Pack files: large adds write packs, gc packs loose chunks and rewrites dead packs.

load test_helper

packs() {
	find "$S/packs" -name '*.idx' | wc -l
}

loose() {
	find "$S/objects" -type f | wc -l
}

@test "a large add writes a pack and a small one loose objects" {
	init_store
	gen_bytes 1 5000000 > big
	echo small > small
	c add -q big
	[ "$(packs)" = 1 ]
	[ "$(loose)" = 0 ]
	c add -q small
	[ "$(loose)" = 1 ]
	c cat big > out
	cmp out big
	c cat small > out
	cmp out small
}

@test "a read of packed chunks looks for no loose copy, and a loose copy still stands in for a damaged packed one" {
	command -v strace > /dev/null || skip_or_fail "strace is not installed"
	init_store
	gen_bytes 3 3000000 > big
	c add -q big
	[ "$(packs)" = 1 ]
	traced -f -y -o "$T/cat.trace" -e trace=openat "$CDT" --store "$S" cat big > out
	cmp out big
	! grep '/objects>, "' "$T/cat.trace" || fail "cat looked for loose copies of packed chunks"
	# Every byte of the pack's objects damaged: a loose copy of each chunk
	# (as repair writes) is what reads.
	for p in "$S"/packs/*.pack; do
		python3 -c 'import sys
f = open(sys.argv[1], "r+b"); d = bytearray(f.read())
for i in range(64, len(d) - 64, 512): d[i] ^= 0xff
f.seek(0); f.write(d)' "$p"
	done
	run_split c fsck
	assert_status 4
	c repair --from big > /dev/null
	[ "$(loose)" -gt 0 ] || fail "repair wrote no loose copies"
	c cat big > out
	cmp out big
}

@test "gc moves loose chunks into a pack and merges small packs" {
	init_store
	for i in 1 2 3 4 5 6; do echo "file $i" > s$i; c add -q s$i; done
	gen_bytes 2 3000000 > b1
	gen_bytes 3 3000000 > b2
	c add -q b1
	c add -q b2
	[ "$(loose)" = 6 ]
	[ "$(packs)" = 2 ]
	run_split c gc
	assert_status 0
	assert_out_contains "packed 6 loose chunks"
	[ "$(loose)" = 0 ]
	[ "$(packs)" = 1 ]
	for f in s1 s6 b1 b2; do c cat $f > out; cmp out $f; done
	# A second gc has nothing to do.
	run_split c gc
	assert_status 0
	[ "$(packs)" = 1 ]
	assert_out_contains "removed 0 chunks"
}

@test "gc rewrites a pack whose chunks are mostly dead" {
	init_store
	gen_bytes 4 20000000 > big
	gen_bytes 5 20000000 > keep
	c add -q big keep
	c gc > /dev/null
	before=$(du -sb "$S/packs" | cut -f1)
	c rm -q big
	c gc > /dev/null
	after=$(du -sb "$S/packs" | cut -f1)
	[ "$after" -lt $((before * 6 / 10)) ]
	c cat keep > out
	cmp out keep
	c stats --json > st.json
	grep -q '"reclaimable_bytes":0,' st.json
}

@test "a pack without its index is indexed again by gc, then removed when nothing needs it" {
	init_store
	gen_bytes 6 3000000 > f
	gen_bytes 7 3000000 > g
	c add -q f
	ls "$S"/packs/*.idx > before
	c add -q g
	c rm -q g
	# g's pack loses its index, as a crash between the renames of a pack
	# and its index would leave it.
	ls "$S"/packs/*.idx > after
	p=$(comm -13 before after)
	[ -f "$p" ]
	rm "$p"
	run_split c gc
	assert_status 0
	assert_err_contains "index is missing; indexed again from the pack"
	assert_out_contains "indexed 1 pack again from its own objects"
	[ "$(find "$S/packs" -name '*.pack' | wc -l)" = 1 ]
	c cat f > out
	cmp out f
	run_split c fsck
	assert_status 0
}

@test "a pack file that does not match its name is said, and goes only when no live chunk needs it" {
	init_store
	gen_bytes 6 3000000 > f
	c add -q f
	p=$(find "$S/packs" -name '*.idx')
	bogus="$S/packs/pack-0000000000000000000000000000000000000000000000000000000000000000.pack"
	# A copy under another name: every chunk it holds is in the real pack.
	cp "${p%.idx}.pack" "$bogus"
	run_split c gc
	assert_status 0
	assert_err_contains "pack pack-0000000000000000000000000000000000000000000000000000000000000000: index is missing; pack trailer does not match its name; keeping it unless no live chunk needs it"
	[ ! -e "$bogus" ] || fail "a pack holding nothing names need was kept"
	c cat f > out
	cmp out f
	# The only copy, under a wrong name: its chunks are written to a new
	# pack first, and then it goes.
	mv "${p%.idx}.pack" "$bogus"
	rm "$p" "${p%.idx}.sketch"
	run_split c gc
	assert_status 0
	assert_err_contains "live chunks in it had no other good copy; written to pack"
	[ ! -e "$bogus" ] || fail "a pack whose chunks were saved elsewhere was kept"
	c cat f > out
	cmp out f
}

@test "a damaged byte in a pack is reported with name, offset and chunk" {
	init_store
	gen_bytes 7 3000000 > f
	echo other > g
	c add -q f g
	p=$(find "$S/packs" -name '*.pack')
	flip_byte "$p" 1000000
	run_split c cat f
	assert_status 1
	assert_one_line_err
	assert_err_contains "cannot read 'f' at offset"
	assert_err_contains "fails its CRC"
	run_split c cat g
	assert_status 0
}

@test "gc keeps a pack whose damaged chunk has no other copy" {
	init_store
	gen_bytes 8 3000000 > f
	gen_bytes 9 3000000 > g
	cat f g > both
	# One pack holding f's chunks and g's; then half of it dies.
	c add -q both
	c add -q f
	c rm -q both
	p=$(find "$S/packs" -name '*.pack')
	flip_byte "$p" 1000000
	run_split c gc
	assert_err_contains "no good copy exists"
	[ -e "$p" ]
	# f still fails loudly rather than losing its damaged chunk silently.
	run_split c cat f
	assert_status 1
}

# A store of $1 one-line files, each chunk in a pack of its own (what many
# small adds without gc leave), crafted from the one pack an add writes.
one_pack_per_chunk() {
	init_store --codec zlib
	mkdir src
	for i in $(seq 1 "$1"); do echo "file $i" > "src/f$i"; done
	c add -q -r src
	python3 "$BATS_TEST_DIRNAME/lib/split-packs.py" "$S/packs"
	rm -f "$S/packs/multi-pack-index" "$S/info/packs"
	# The next add lists the packs in info/ again.
	echo last > last
	c add -q last
	[ "$(packs)" = "$1" ] || fail "$(packs) packs, not $1"
}

# Run "$@" with at most $1 descriptors open.
limited() {
	local n=$1
	shift
	run_split bash -c 'ulimit -n "$0" && exec "$@"' "$n" "$@"
}

@test "a store of many packs is read with a bounded number of pack files open" {
	one_pack_per_chunk 300
	names=$(ls src | sed 's|^|src/|')
	cat $names > want
	# 300 packs, 64 descriptors: cat, fsck and verify read them all.
	limited 64 "$CDT" --store "$S" cat $names
	assert_status 0
	printf '%s\n' "$output" | cmp - want
	limited 64 "$CDT" --store "$S" fsck -j 4
	assert_status 0
	assert_out_contains "no problems found"
	limited 64 "$CDT" --store "$S" verify -j 4 $names
	assert_status 0
}

@test "restore of a store of many packs fits a low limit of open files" {
	one_pack_per_chunk 300
	limited 64 "$CDT" --store "$S" restore -q -j 2 src out
	assert_status 0
	diff -r src out
}

@test "push and pull of a store of many packs fit a low limit of open files" {
	one_pack_per_chunk 300
	names=$(ls src | sed 's|^|src/|')
	# shellcheck disable=SC2086 # one word a name
	cat $names > want
	# 300 packs, 40 descriptors: each side reads or writes them in turn.
	"$CDT" init -q --codec zlib "$T/pulled"
	limited 40 "$CDT" --store "$T/pulled" pull "$S"
	assert_status 0
	"$CDT" init -q --codec zlib "$T/pushed"
	limited 40 "$CDT" --store "$S" push "$T/pushed"
	assert_status 0
	for d in pulled pushed; do
		run_split "$CDT" --store "$T/$d" fsck
		assert_status 0
		# shellcheck disable=SC2086
		"$CDT" --store "$T/$d" cat $names | cmp - want
	done
}
