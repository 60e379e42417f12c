#!/usr/bin/env bats
# gc --recompress: a store of format 1 (zlib, one object per chunk) is
# converted in place to format 2 (zstd, frames, deltas), through add's own
# pipeline; a kill at any moment leaves a valid store and a rerun finishes
# the conversion. --level N stores every live chunk again at that level.

load test_helper
load lib-integrity

# A format-1 store with v1, v2 (v1 with an edit every 10 KB: deltas once
# converted), a random file and a small one (loose objects).
format1_store() {
	init_store --codec zlib --chunk-size 4K
	grep -qx 'format 1' "$S/config"
	"$TEST_TOOL" gen-text 11 300000 > v1
	near_copy v1 v2
	gen_bytes 3 200000 > r
	"$TEST_TOOL" gen-text 4 9000 > small
	c add -q v1
	c add -q v2
	c add -q r
	c add -q small
}

assert_all_restore() {
	local n
	for n in v1 v2 r small; do
		c cat "$n" > out || fail "cannot restore $n"
		cmp out "$n" || fail "$n differs"
	done
}

# Converted: format 2 with zstd, frames and deltas; only packs of version
# 2 whose objects are zstd (or raw); nothing loose.
assert_converted() {
	grep -qx 'format 2' "$S/config" || fail "$(cat "$S/config")"
	grep -qx 'codec zstd' "$S/config" || fail "$(cat "$S/config")"
	grep -qx 'frame-size 262144' "$S/config" || fail "$(cat "$S/config")"
	grep -qx 'deltas 1' "$S/config" || fail "$(cat "$S/config")"
	pack_summary > summary
	read -r line < summary
	case "$line" in
	*" v1=0 "*" codecs=2 loose=0"|*" v1=0 "*" codecs=0,2 loose=0") ;;
	*) fail "not converted: $line" ;;
	esac
}

@test "gc --recompress converts a format-1 store to format 2 with frames and deltas" {
	format1_store
	grep -qx 'chunk-size 4096' "$S/config"
	before=$(du -sb "$S" | cut -f1)
	run_split c gc --recompress
	assert_status 0
	assert_out_contains "wrote the config of format 2"
	assert_converted
	grep -qx 'chunk-size 4096' "$S/config" || fail "chunker changed"
	line=$(cat summary)
	frames=$(echo "$line" | sed 's/.*frames=\([0-9]*\).*/\1/')
	deltas=$(echo "$line" | sed 's/.*deltas=\([0-9]*\).*/\1/')
	[ "$frames" -gt 0 ] || fail "no frames: $line"
	[ "$deltas" -ge 10 ] || fail "too few deltas: $line"
	ls "$S"/packs/*.sketch > /dev/null
	after=$(du -sb "$S" | cut -f1)
	[ "$after" -lt "$before" ] || fail "store grew: $before -> $after"
	assert_all_restore
	assert_fsck_clean
	# The names and manifests are the ones the store had.
	c ls > names
	printf 'r\nsmall\nv1\nv2\n' > want
	cmp want names
	run_split c verify --all
	assert_status 0
}

@test "a second gc --recompress finds nothing to convert and keeps every pack" {
	format1_store
	c gc --recompress > /dev/null
	ls "$S/packs" > packs.before
	run_split c gc --recompress
	assert_status 0
	assert_out_contains "converted 0 chunks"
	assert_out_contains "removed 0 old packs"
	ls "$S/packs" > packs.after
	cmp packs.before packs.after
	assert_all_restore
}

@test "gc --recompress --dry-run says what it would convert and changes nothing" {
	format1_store
	store_snapshot > before
	run_split c gc --recompress --dry-run
	assert_status 0
	assert_out_contains "would write the config of format 2"
	assert_out_contains "would convert "
	case "$output" in *"would convert 0 chunks"*) fail "nothing to convert: $output" ;; esac
	store_snapshot > after
	cmp before after
}

@test "a store made in the current format has nothing to convert" {
	init_store --chunk-size 4K
	"$TEST_TOOL" gen-text 5 400000 > f
	c add -q f
	cp "$S/config" config.before
	ls "$S/packs" > packs.before
	run_split c gc --recompress
	assert_status 0
	assert_out_contains "converted 0 chunks"
	cmp config.before "$S/config"
	ls "$S/packs" > packs.after
	cmp packs.before packs.after
}

@test "gc --level 19 stores every live chunk again and keeps the configured level" {
	init_store --chunk-size 4K
	"$TEST_TOOL" gen-text 6 600000 > f
	c add -q f
	cp "$S/config" config.before
	ls "$S/packs" | sort > packs.before
	run_split c gc --level 19
	assert_status 0
	cmp config.before "$S/config"
	ls "$S/packs" | sort > packs.after
	[ -z "$(comm -12 packs.before packs.after | grep '\.pack$')" ] || fail "a pack was kept"
	c cat f | cmp - f
	assert_fsck_clean
}

# A line of gc's output: "converted N chunks ..." gives N.
converted_chunks() {
	sed -n 's/^converted \([0-9]*\) chunks.*/\1/p' <<< "$output"
}

stats_field() {
	c stats --json | python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"
}

@test "gc --level N at the store's own level stores each chunk once and keeps its frames" {
	# The pack written again holds the same bytes, so it has the old
	# pack's name: it must count as the new form, not as an old pack
	# whose chunks are all stored again, one object each.
	init_store --chunk-size 4K
	"$TEST_TOOL" gen-text 12 400000 > f
	c add -q f
	chunks=$(stats_field chunks)
	pack_summary > before
	run_split c gc --level 3
	assert_status 0
	[ "$(converted_chunks)" = "$chunks" ] || fail "$chunks chunks, but: $output"
	pack_summary > after
	cmp before after || fail "$(cat before) -> $(cat after)"
	c cat f | cmp - f
	assert_fsck_clean
}

@test "gc --level N stores a chunk shared across a batch commit once, with the deltas of an add" {
	# Each content's new chunks are committed as a pack of their own, in
	# add and in the conversion alike: the conversion's first pack is
	# the add's, name and all, and the second content's chunks take it
	# as stored, and as the bases of their deltas.
	export CDT_TEST_BATCH_BYTES=50000
	init_store --chunk-size 4K --frame-size 16K
	"$TEST_TOOL" gen-text 11 600000 > v1
	near_copy v1 v2
	c add -q v1
	c add -q v2
	[ "$(ls "$S"/packs/*.pack | wc -l)" -eq 2 ] || fail "$(ls "$S"/packs)"
	chunks=$(stats_field chunks)
	deltas=$(stats_field delta_chunks)
	[ "$deltas" -ge 10 ] || fail "only $deltas deltas"
	run_split c gc --level 3
	assert_status 0
	[ "$(converted_chunks)" = "$chunks" ] || fail "$chunks chunks, but: $output"
	[ "$(stats_field chunks)" = "$chunks" ] || fail "chunks: $chunks -> $(stats_field chunks)"
	[ "$(stats_field delta_chunks)" = "$deltas" ] ||
		fail "deltas: $deltas -> $(stats_field delta_chunks)"
	c cat v1 | cmp - v1
	c cat v2 | cmp - v2
	assert_fsck_clean
}

@test "gc --recompress refuses a level outside zstd's range with one line" {
	format1_store
	store_snapshot > before
	run_split c gc --recompress --level 20
	assert_status 2
	assert_err_contains "--level takes a zstd level, 1 to 19"
	run_split c gc --level x
	assert_status 2
	store_snapshot > after
	cmp before after
}

@test "gc --recompress refuses a store whose live chunks are missing, and changes no pack" {
	format1_store
	c gc --recompress > /dev/null
	# Convert a second time at another level, with a chunk lost.
	rm -f "$S"/packs/*.idx
	ls "$S/packs" > packs.before
	find "$S/packs" -name '*.pack' | head -n 1 | xargs truncate -s 100
	run_split c gc --level 5
	[ "$status" -ne 0 ] || fail "converted a store with missing chunks"
	assert_err_contains "not converting"
	ls "$S/packs" > packs.after
	cmp packs.before packs.after
}

# Kill a gc --recompress stopped at pause point $1; the store checks clean,
# every name restores, and a rerun completes the conversion.
kill_at() {
	format1_store
	CDT_TEST_PAUSE=$1 "$CDT" --store "$S" gc --recompress > gc.out 2> gc.err &
	pid=$!
	wait_stopped $pid
	kill -KILL $pid
	wait $pid || true
	# New packs are there, and so are the old ones.
	pack_summary > mid
	grep -q ' v1=[1-9]' mid || fail "old packs already gone: $(cat mid)"
	assert_all_restore
	run_split c fsck
	assert_status 0
	run_split c gc --recompress
	assert_status 0
	assert_converted
	assert_all_restore
	assert_fsck_clean
}

@test "gc --recompress killed after its first new pack is committed loses nothing; a rerun completes it" {
	kill_at recompress
}

@test "gc --recompress killed before it removes the old packs loses nothing; a rerun completes it" {
	kill_at recompress-remove
}

@test "gc --recompress killed at random moments loses nothing; a rerun completes it" {
	format1_store
	cp -a "$S" pristine
	kills=0
	for i in $(seq 1 ${CDT_RECOMPRESS_KILLS:-12}); do
		# Start again from format 1 now and then, so kills land early too.
		if [ $((i % 4)) = 1 ]; then
			rm -rf "$S"
			cp -a pristine "$S"
		fi
		"$CDT" --store "$S" gc --recompress > /dev/null 2>&1 &
		p=$!
		sleep "$(printf '0.%03d' $((RANDOM % 150)))"
		kill -9 $p 2> /dev/null && kills=$((kills + 1))
		wait $p 2> /dev/null || true
		run_split c fsck
		# A kill between a pack and the list of packs leaves info/ stale:
		# derived data fsck reports (exit 32), which the next gc writes again.
		if [ "$status" -eq 32 ] &&
		   [ -z "$(grep -E '^[a-z]+-[a-z-]+ ' <<< "$output" | grep -v '^info-stale ')" ]; then
			status=0
		fi
		[ "$status" -eq 0 ] || fail "fsck after kill $i: $output $err"
		assert_all_restore
	done
	echo "# $kills of ${CDT_RECOMPRESS_KILLS:-12} runs killed" >&3
	run_split c gc --recompress
	assert_status 0
	assert_converted
	assert_all_restore
	assert_fsck_clean
}
