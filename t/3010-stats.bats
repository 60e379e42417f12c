#!/usr/bin/env bats
# cdt stats: counts and ratios.

load test_helper

@test "stats counts names, content and savings" {
	init_store
	gen_bytes 1 1000000 > r
	"$TEST_TOOL" gen-text 1 1000000 > t
	c add -q r t
	c add -q --name r2 r
	c stats --json > out.json
	python3 - out.json <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
assert s["names"] == 3 and s["manifests"] == 2, s
assert s["logical_bytes"] == 3000000, s
assert s["unique_bytes"] == 2000000, s
assert abs(s["dedup_ratio"] - 1.5) < 1e-3, s
assert s["compression_ratio"] > 1.2, s
assert s["reclaimable_bytes"] == 0 and s["missing_chunks"] == 0, s
PY
	c rm -q t
	c stats --json > out.json
	python3 - out.json <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
assert s["reclaimable_bytes"] > 0 and s["garbage_chunks"] > 0, s
PY
}

@test "stats in human form names every figure" {
	init_store
	echo x > f
	c add -q f
	run_split c stats
	assert_status 0
	for k in names manifests chunks "logical bytes" "unique bytes" "stored bytes" \
		"dedup ratio" "compression ratio" "reclaimable bytes"; do
		assert_out_contains "$k"
	done
}

# Sum of the byte counts gc -n -v gives for each item.
gc_would_free() {
	c gc -n -v > gc.out
	sed -n 's/^would remove .* (\([0-9]*\) bytes)$/\1/p' gc.out | awk '{ s += $1 } END { print s + 0 }'
}

@test "fsck, gc and stats agree on what is garbage and what gc would free" {
	init_store
	gen_bytes 1 9000000 > big
	gen_bytes 2 600000 > small
	c add -q big small
	c gc > /dev/null	# one pack holds both
	c rm -q small		# under a fifth of the pack is dead: gc leaves it
	# A directory and a file left in tmp/ by a writer that died.
	mkdir -p "$S/tmp/pack-dir"
	head -c 5000 /dev/zero > "$S/tmp/pack-dir/x"
	head -c 3000 /dev/zero > "$S/tmp/obj-1"
	c stats --json > st.json
	want=$(gc_would_free)
	python3 - st.json "$want" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
assert s["reclaimable_bytes"] == int(sys.argv[2]), (s, sys.argv[2])
assert s["dead_packed_bytes"] > 500000, s
assert s["temporary_files"] == 2, s
PY
	run_split c fsck -v
	assert_status 0
	assert_out_contains "garbage-tmp tmp/pack-dir: directory left by a writer"
	assert_out_contains "garbage-tmp tmp/obj-1: file left by a writer"
	c gc > /dev/null
	# What gc removed is gone from every report.
	run_split c fsck -v
	assert_status 0
	case "$output" in *garbage-tmp*) fail "tmp garbage left: $output" ;; esac
	[ "$(gc_would_free)" = 0 ]
	c stats --json > st.json
	grep -q '"reclaimable_bytes":0,' st.json
	c cat big > out
	cmp out big
}

# Run `cdt stats` with the last of its CALL system calls on directory DIR
# (strace -P: the calls that name it or a file descriptor of it) whose
# traced line matches PATTERN failing with EIO (the last: the one stats
# makes to count). Only calls on DIR are counted: how many listings of
# packs/ come before depends on how recently packs/ changed (a listing
# within 2 seconds of a change is made again), so a count over all calls
# is not the same from one run to the next.
stats_failing_last() {
	local call=$1 dir=$2 pattern=$3 n
	traced -f -y -o "$T/count.trace" -P "$dir" -e trace="$call" "$CDT" --store "$S" stats \
		> /dev/null
	n=$(grep "^[0-9]* *$call(" "$T/count.trace" | grep -n -- "$pattern" | tail -n 1 | cut -d: -f1)
	[ -n "$n" ] || fail "no $call call of stats on $dir matches $pattern"
	run_split traced -f -o /dev/null -P "$dir" -e trace="$call" \
		-e inject="$call":error=EIO:when="$n" "$CDT" --store "$S" stats
}

@test "stats that cannot list chunks or manifests fails and says so, never undercounts" {
	command -v strace > /dev/null || skip_or_fail "strace is not installed"
	init_store
	echo one > one
	c add -q one
	stats_failing_last getdents64 "$(find "$S/objects" -mindepth 1 -type d)" .
	assert_status 1
	[ "$err" = "error: cannot list stored chunks: Input/output error" ] || fail "stderr: $err"
	[ -z "$output" ] || fail "figures printed: $output"
	stats_failing_last getdents64 "$(find "$S/manifests" -mindepth 1 -type d)" .
	assert_status 1
	[ "$err" = "error: cannot list manifests: Input/output error" ] || fail "stderr: $err"
	[ -z "$output" ] || fail "figures printed: $output"
}

@test "stats that cannot read names/ or refs/ fails, never shows metadata bytes short" {
	command -v strace > /dev/null || skip_or_fail "strace is not installed"
	init_store
	echo one > one
	c add -q one
	stats_failing_last openat "$S/names" '/names>, "\."'
	assert_status 1
	[ "$err" = "error: cannot count the bytes of names/: Input/output error" ] || fail "stderr: $err"
	[ -z "$output" ] || fail "figures printed: $output"
	stats_failing_last openat "$S/refs" '/refs>, "names"'
	assert_status 1
	[ "$err" = "error: cannot count the bytes of refs/: Input/output error" ] || fail "stderr: $err"
	[ -z "$output" ] || fail "figures printed: $output"
	# The reference tables are counted too.
	stats_failing_last openat "$S/refs" '/refs>, "chunks"'
	assert_status 1
	[ "$err" = "error: cannot read the reference tables: Input/output error" ] || fail "stderr: $err"
	[ -z "$output" ] || fail "figures printed: $output"
}

@test "a name entry that fails to read makes stats fail on an I/O error, not on damage, with no figures" {
	command -v strace > /dev/null || skip_or_fail "strace is not installed"
	init_store
	mkdir -p src/d
	echo one > src/d/one
	echo two > src/two
	(cd src && c add -q -r d two)
	# Every read of the entry of d/one fails.
	eio_name() {
		run_split traced -f -o /dev/null -P "$S/names/d/one" -e trace=read \
			-e inject=read:error=EIO "$CDT" --store "$S" "$@"
	}
	for args in "stats" "stats --json" "stats d" "stats two"; do
		eio_name $args
		assert_status 1
		[ "$err" = "error: name 'd/one': cannot read name entry: Input/output error" ] ||
			fail "$args: stderr: $err"
		[ -z "$output" ] || fail "$args: figures printed: $output"
	done
	# rm -n counts what removing frees the same way.
	eio_name rm -n two
	assert_status 1
	assert_err_contains "error: cannot tell what removing would free: Input/output error"
	[[ $err != *damaged* ]] || fail "an entry that could not be read was called damaged: $err"
}

@test "a damaged name makes what gc would free not known, as gc refuses to run" {
	init_store
	echo kept > k
	echo only > o
	c add -q k
	c add -q --name bad o
	echo garbage > "$S/names/bad"
	run_split c gc -n
	assert_status 1
	assert_err_contains "not collecting garbage"
	# The manifest and chunk of bad are no garbage to count.
	run_split c stats
	assert_status 1
	assert_err_contains "name 'bad' is damaged"
	assert_out_contains "reclaimable bytes  not known (names or manifests are damaged; run 'cdt fsck')"
	c stats --json > st.json && fail "stats --json exited 0"
	python3 - st.json <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
for k in ("reclaimable_bytes", "dead_packed_bytes", "garbage_chunks", "dead_manifests"):
    assert s[k] is None, (k, s)
assert s["names"] == 1 and s["logical_bytes"] == 5, s
PY
}
