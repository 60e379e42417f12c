#!/usr/bin/env bats
# A full disk: a clear error, a consistent store, and the next add works once there is room.

load test_helper

small_fs() {
	[ "$(id -u)" = 0 ] || skip_or_fail "mounting a small file system needs root"
	mkdir -p "$T/$1"
	mount -t tmpfs -o "size=$2" tmpfs "$T/$1" 2>/dev/null ||
		skip_or_fail "cannot mount a tmpfs here"
}

teardown() {
	for m in small out; do
		mountpoint -q "$T/$m" 2>/dev/null && umount "$T/$m"
	done
	cd /
	[ -n "${T:-}" ] && rm -rf "$T"
}

@test "an add that fills the disk fails clearly and leaves the store consistent" {
	small_fs small 24m
	S="$T/small/store"
	init_store
	gen_bytes 1 4000000 > first
	c add -q first
	gen_bytes 2 40000000 > huge
	run_split c add huge
	assert_status 1
	assert_err_contains "No space left on device"
	# Nothing half-written: no temporary files, the earlier file intact.
	[ -z "$(ls -A "$S/tmp")" ] || fail "left in tmp: $(ls "$S/tmp")"
	[ "$(c ls)" = first ]
	c cat first | cmp - first
	c stats --json > st.json
	grep -q '"missing_chunks":0' st.json
	# With room again, the next add works.
	gen_bytes 3 2000000 > next
	run_split c add next
	assert_status 0
	c cat next | cmp - next
}

@test "a name that no longer fits fails without touching the old one" {
	small_fs small 8m
	S="$T/small/store"
	init_store
	gen_bytes 4 1000000 > f
	c add -q --name keep f
	# Fill the file system to the last block.
	dd if=/dev/zero of="$T/small/filler" bs=64k 2>/dev/null || true
	gen_bytes 5 3000000 > g
	run_split c add --name keep g
	assert_status 1
	assert_err_contains "No space left on device"
	rm "$T/small/filler"
	c cat keep | cmp - f
	[ -z "$(ls -A "$S/tmp")" ]
}

@test "cat -o to a full disk fails loudly and leaves no partial file" {
	init_store
	gen_bytes 6 4000000 > f
	c add -q f
	small_fs out 1m
	run_split c cat -o "$T/out/f" f
	assert_status 1
	assert_one_line_err
	assert_err_contains "No space left on device"
	[ -z "$(ls -A "$T/out")" ] || fail "left: $(ls -A "$T/out")"
}
