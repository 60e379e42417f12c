#!/usr/bin/env bats
# Deltas: a new chunk similar to a stored one is stored against it, its
# base. Damage to a base reaches the files of its deltas, and is named,
# healed and collected like damage to any chunk; gc keeps what a live delta
# needs; sketches are derived data that fsck checks and gc writes again.

load test_helper
load lib-integrity

# v1: text; v2: v1 with a short edit every 10 KB, so that most of v2's new
# chunks differ from one of v1's by a few bytes.
make_versions() {
	"$TEST_TOOL" gen-text 11 300000 > v1
	near_copy v1 v2
}

# "CHUNK BASE PACKFILE OFFSET LENGTH" for each delta in the packs.
list_deltas() {
	python3 - "$S/packs" <<'EOF2'
import os, struct, sys
d = sys.argv[1]
for n in sorted(os.listdir(d)):
    if not n.endswith('.idx'):
        continue
    b = open(os.path.join(d, n), 'rb').read()
    if b[4] != 2:
        continue
    count = struct.unpack_from('<Q', b, 8)[0]
    ids, locs = 16 + 1024, 16 + 1024 + 32 * count
    pack = open(os.path.join(d, n[:-4] + '.pack'), 'rb').read()
    for i in range(count):
        off, ln, _, _, rlen = struct.unpack_from('<QIIII', b, locs + 24 * i)
        o = pack[off:off + ln]
        if rlen == 0 and o[4] == 2 and o[6] == 2:
            print(b[ids + 32 * i:ids + 32 * i + 32].hex(), o[20:52].hex(),
                  os.path.join(d, n[:-4] + '.pack'), off, ln)
EOF2
}

delta_store() {
	init_store --chunk-size 4K --frame-size 16K "$@"
	make_versions
	c add -q v1
	c add -q v2
}

@test "a near copy is stored as deltas, restores exactly, and makes the store smaller" {
	delta_store
	n=$(list_deltas | wc -l)
	[ "$n" -ge 10 ] || fail "only $n deltas"
	c cat v2 | cmp - v2
	c cat v1 | cmp - v1
	assert_fsck_clean
	c stats --json > st.json
	python3 - st.json "$n" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
assert s["delta_chunks"] == int(sys.argv[2]), s
assert 0 < s["delta_stored_bytes"] < s["delta_raw_bytes"] / 4, s
assert s["saved_by_deltas"] == s["delta_raw_bytes"] - s["delta_stored_bytes"], s
assert s["logical_bytes"] + s["base_bytes"] == s["stored_bytes"] + s["saved_by_dedup"] + \
    s["saved_by_compression"] + s["saved_by_deltas"], s
PY
	ls "$S"/packs/*.sketch > /dev/null
	with=$(du -sb "$S" | cut -f1)
	# The same without deltas: no sketches, no deltas, a larger store.
	rm -rf "$S"
	init_store --chunk-size 4K --frame-size 16K --no-deltas
	c add -q v1
	c add --json v2 > add.json
	grep -q '"delta_chunks":0,' add.json || fail "$(cat add.json)"
	[ -z "$(list_deltas)" ] || fail "a store without deltas holds some"
	! ls "$S"/packs/*.sketch 2> /dev/null || fail "a store without deltas has sketches"
	without=$(du -sb "$S" | cut -f1)
	[ "$with" -lt "$without" ] || fail "deltas: $with bytes, none: $without"
	grep -q '^deltas' "$S/config" && fail "--no-deltas wrote a deltas line"
	true
}

@test "a damaged base is named with the files of its deltas, and healed from a good copy" {
	delta_store
	set -- $(list_deltas | head -1)
	base=$2
	set -- $(packed_object "$base")
	[ -n "${1:-}" ] || fail "the base is not packed"
	flip_byte "$1" $(($2 + $3 / 2))
	run_split c fsck
	assert_status 4
	# v1's own chunk, and v2's delta on it, each with the file they affect.
	assert_out_contains "chunk-corrupt $base"
	assert_out_contains "its base chunk $base cannot be read"
	assert_out_contains "affects 'v2'"
	assert_out_contains "affects 'v1'"
	run_split c cat v2
	assert_status 1
	assert_err_contains "error: cannot read 'v2'"
	run_split c repair --from v1 --from v2
	assert_status 0
	assert_fsck_clean
	c cat v1 | cmp - v1
	c cat v2 | cmp - v2
}

@test "a damaged delta is named for its file only, and healed from a good copy" {
	delta_store
	set -- $(list_deltas | head -1)
	chunk=$1
	flip_byte "$3" $(($4 + $5 - 3))
	run_split c fsck
	assert_status 4
	assert_out_contains "chunk-corrupt $chunk"
	assert_out_contains "affects 'v2'"
	c cat v1 | cmp - v1
	run_split c repair --from v2
	assert_status 0
	assert_fsck_clean
	c cat v2 | cmp - v2
}

@test "gc keeps the bases live deltas need, and frees them with the last delta" {
	delta_store
	c rm -q v1
	run_split c gc
	assert_status 0
	c cat v2 | cmp - v2
	assert_fsck_clean
	c stats --json > st.json
	python3 - st.json <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
assert s["base_chunks"] > 0 and s["base_bytes"] > 0, s
assert s["garbage_chunks"] == 0 or s["dead_packed_bytes"] > 0, s
PY
	# Every delta still has its base in the store, stored whole.
	list_deltas | while read -r chunk base rest; do
		packed_object "$base" | grep -q . || fail "base $base of $chunk is gone"
	done
	c rm -q v2
	run_split c gc
	assert_status 0
	c stats --json > st.json
	grep -q '"stored_bytes":0,' st.json || fail "$(cat st.json)"
	[ -z "$(ls "$S/packs")" ] || fail "left in packs: $(ls "$S/packs")"
}

@test "a damaged, lost or orphaned sketch is reported, and gc or repair puts it right" {
	init_store --chunk-size 4K --frame-size 16K
	make_versions
	c add -q v1
	sk=$(ls "$S"/packs/*.sketch)
	flip_byte "$sk" 60
	run_split c fsck
	assert_status 4
	assert_out_contains "sketch-corrupt packs/$(basename "$sk")"
	assert_out_contains "checksum does not match"
	run_split c gc
	assert_status 0
	assert_err_contains "its sketch was missing or damaged; written again from its chunks"
	assert_fsck_clean
	rm "$sk"
	run_split c fsck
	assert_status 4
	assert_out_contains "sketch-corrupt packs/$(basename "$sk")"
	assert_out_contains "it is missing"
	run_split c repair
	assert_status 0
	assert_out_contains "wrote the missing or damaged sketch packs/$(basename "$sk") again"
	[ -f "$sk" ]
	assert_fsck_clean
	# A sketch whose pack is gone is garbage, and gc removes it.
	cp "$sk" "$S/packs/pack-$(printf '%064d' 0).sketch"
	run_split c fsck
	assert_status 0
	assert_out_contains "garbage-pack 1"
	run_split c gc
	assert_status 0
	[ ! -e "$S/packs/pack-$(printf '%064d' 0).sketch" ]
	# The next version finds its bases through the sketch written again.
	c add --json v2 > add.json
	python3 -c 'import json,sys; d = json.load(open(sys.argv[1])); assert d["delta_chunks"] > 0, d' add.json
	c cat v2 | cmp - v2
}

@test "a pack of deltas whose bases are in another pack is indexed again when its index is lost" {
	delta_store
	set -- $(list_deltas | head -1)
	bpack=$(packed_object "$2" | cut -d' ' -f1)
	[ "$3" != "$bpack" ] || skip "the first delta's base is in its own pack"
	rm "${3%.pack}.idx"
	run_split c fsck
	assert_status 4
	run_split c gc
	assert_status 0
	assert_out_contains "indexed 1 pack again"
	c cat v2 | cmp - v2
	assert_fsck_clean
}

@test "a pack indexed again gets its sketch with its index, so a kill after leaves no problem" {
	delta_store
	set -- $(list_deltas | head -1)
	rm "${3%.pack}.idx" "${3%.pack}.sketch"
	"$TEST_TOOL" gen-text 13 200000 > other
	c add -q other
	c rm -q other
	# Stopped and killed after the packs are checked, before the sketches are.
	CDT_TEST_PAUSE=repack "$CDT" --store "$S" gc > gc.out 2> gc.err &
	pid=$!
	wait_stopped $pid
	kill -KILL $pid
	wait $pid || true
	[ -e "${3%.pack}.idx" ] || fail "the pack was not indexed again"
	[ -e "${3%.pack}.sketch" ] || fail "the pack indexed again has no sketch"
	run_split c fsck
	assert_status 0
	c cat v2 | cmp - v2
}

@test "gc killed in the middle of rewriting packs of frames and deltas loses nothing" {
	delta_store
	"$TEST_TOOL" gen-text 12 200000 > other
	c add -q other
	c rm -q v1
	CDT_TEST_PAUSE=repack "$CDT" --store "$S" gc > gc.out 2> gc.err &
	pid=$!
	wait_stopped $pid
	kill -KILL $pid
	wait $pid || true
	c cat v2 | cmp - v2
	c cat other | cmp - other
	run_split c fsck
	assert_status 0
	run_split c gc
	assert_status 0
	c cat v2 | cmp - v2
	c cat other | cmp - other
	assert_fsck_clean
}

@test "a base read back from the input that changed meanwhile is not used" {
	init_store --chunk-size 4K --frame-size 16K
	# Rounds of 8 MiB: the later rounds' chunks resemble the first round's.
	"$TEST_TOOL" gen-text 13 9000000 > big
	python3 - big <<'EOF2'
import sys
b = bytearray(open(sys.argv[1], 'rb').read())
head = b[:2000000]
for i in range(0, len(head), 5000):
    head[i:i + 4] = b'EDIT'
open(sys.argv[1], 'ab').write(head)
EOF2
	cp big expected
	CDT_TEST_PAUSE=delta-base "$CDT" --store "$S" add --json big > add.json 2> add.err &
	pid=$!
	wait_stopped $pid
	# The first round's bytes change a little on disk after they were read
	# and stored: still similar enough for a delta against them to pay.
	python3 - big <<'EOF2'
import sys
f = open(sys.argv[1], 'r+b')
b = bytearray(f.read(3000000))
for i in range(0, len(b), 1500):
    b[i] ^= 0x20
f.seek(0)
f.write(b)
EOF2
	kill -CONT $pid
	wait $pid
	c cat big | cmp - expected
	assert_fsck_clean
}

@test "deltas on a damaged base are healed with the base, from a file holding the base only" {
	delta_store
	set -- $(list_deltas | head -1)
	chunk=$1 base=$2
	set -- $(packed_object "$base")
	flip_byte "$1" $(($2 + $3 / 2))
	# v1 holds the bases, not v2's deltas: once the bases are back, the
	# deltas read again, and the damaged pack can be rewritten.
	run_split c repair --from v1
	assert_status 0
	assert_out_contains "restored chunk $base"
	[[ "$output" != *"restored chunk $chunk"* ]] || fail "the delta was written: $output"
	assert_out_contains "healthy again: 'v1'"
	assert_out_contains "healthy again: 'v2'"
	assert_out_contains "rewrote damaged pack"
	assert_out_contains "more good again with their bases; 2 names healthy again, 0 still damaged"
	assert_fsck_clean
	c cat v1 | cmp - v1
	c cat v2 | cmp - v2
}

@test "gc after repair keeps the whole copies of chunks whose deltas lost their base, and warns of nothing" {
	delta_store
	c rm -q v1
	set -- $(list_deltas | head -1)
	base=$2
	set -- $(packed_object "$base")
	flip_byte "$1" $(($2 + $3 / 2))
	run_split c repair --from v2
	assert_status 0
	assert_fsck_clean
	run_split c gc -v
	assert_status 0
	[[ "$err" != *"found nowhere"* ]] || fail "gc: $err"
	[[ "$err" != *warning* ]] || fail "gc: $err"
	c cat v2 | cmp - v2
	assert_fsck_clean
}
