#!/usr/bin/env bats
# The order of syncs and renames that makes a committed name survive a power cut.

load test_helper

trace_add() {
	command -v strace > /dev/null || skip_or_fail "strace is not installed"
	traced -f -y -o trace.log -e trace=openat,syncfs,fsync,rename,renameat,renameat2 \
		"$CDT" --store "$S" add -q "$@"
}

@test "a large add syncs its pack before showing it and each step before the next" {
	init_store
	gen_bytes 1 5000000 > big
	trace_add --name dir/sub/big big
	python3 "$BATS_TEST_DIRNAME/lib/check-order.py" trace.log > result || { cat result; false; }
	grep -q "chunks synced before visible" result
}

@test "a small add orders loose objects the same way" {
	init_store
	echo small > small
	trace_add small
	python3 "$BATS_TEST_DIRNAME/lib/check-order.py" trace.log > result || { cat result; false; }
	grep -q "chunks synced before visible" result
}

@test "the checker catches a rename that comes before its sync" {
	init_store
	gen_bytes 2 5000000 > big
	trace_add big
	# Move the first syncfs to the end: the order is then wrong.
	awk '/syncfs\(/ && !moved { held = $0; moved = 1; next } { print } END { print held }' \
		trace.log > broken.log
	run python3 "$BATS_TEST_DIRNAME/lib/check-order.py" broken.log
	[ "$status" -eq 1 ]
	[[ "$output" == violation:* ]]
}
