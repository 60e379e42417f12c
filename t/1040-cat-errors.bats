#!/usr/bin/env bats
# cat fails loudly: damage, missing names, and output errors.

load test_helper

@test "a missing name fails before any output" {
	init_store
	echo a > a
	c add -q a
	run_split c cat a nosuch
	assert_status 1
	assert_one_line_err
	assert_err_contains "no such name: 'nosuch'"
	[ -z "$output" ]
}

@test "a flipped byte in a chunk is reported with name, offset and chunk id" {
	init_store
	# Few chunks: stored loose (a larger file goes to a pack; see t/3200).
	gen_bytes 8 300000 > f
	echo intact > g
	c add -q f g
	# Damage the object of the second chunk.
	off=$("$TEST_TOOL" chunk fastcdc 32768 f | sed -n 2p | cut -d' ' -f1)
	len=$("$TEST_TOOL" chunk fastcdc 32768 f | sed -n 2p | cut -d' ' -f2)
	id=$(tail -c +$((off + 1)) f | head -c "$len" | sha256sum | cut -c1-64)
	obj="$S/objects/${id:0:2}/${id:2}"
	[ -f "$obj" ]
	flip_byte "$obj" 100
	run_split c cat f
	assert_status 1
	assert_one_line_err
	assert_err_contains "cannot read 'f' at offset $off: chunk $id ($len bytes)"
	# Unaffected files still restore.
	run_split c cat g
	assert_status 0
	[ "$output" = intact ]
	# cat -o leaves nothing behind on failure.
	run_split c cat -o out f
	assert_status 1
	[ ! -e out ]
	[ "$(ls -A | grep -c cdt)" = 0 ]
}

@test "a deleted chunk is reported as missing" {
	init_store
	gen_bytes 9 200000 > f
	c add -q f
	id=$(head -c "$("$TEST_TOOL" chunk fastcdc 32768 f | sed -n 1p | cut -d' ' -f2)" f | sha256sum | cut -c1-64)
	rm "$S/objects/${id:0:2}/${id:2}"
	run_split c cat f
	assert_status 1
	assert_err_contains "at offset 0: chunk $id"
	assert_err_contains "chunk is missing"
}

@test "a corrupt manifest is reported before any output" {
	init_store
	gen_bytes 10 200000 > f
	c add -q f
	m=$(find "$S/manifests" -type f)
	flip_byte "$m" 20
	run_split c cat f
	assert_status 1
	assert_one_line_err
	assert_err_contains "checksum"
	[ -z "$output" ]
}

@test "a full output device is an error" {
	[ -w /dev/full ] || skip_or_fail "/dev/full is not available"
	init_store
	gen_bytes 11 300000 > f
	c add -q f
	run_split c cat f
	assert_status 0
	"$CDT" --store "$S" cat f > /dev/full 2> err && fail "cat to /dev/full succeeded"
	grep -q "No space left on device" err
}

@test "a name entry that cannot be stat'ed is an I/O error, not a missing name" {
	command -v strace > /dev/null || skip_or_fail "strace is not installed"
	init_store
	echo hello > f
	c add -q f
	# Which fstat of cat is the one of the name's entry; then it fails with EIO.
	traced -f -y -o trace -e trace=%fstat "$CDT" --store "$S" cat f > /dev/null
	n=$(grep '^[0-9]* *[a-z0-9]*(' trace | grep -n 'names/f>' | head -n 1 | cut -d: -f1)
	[ -n "$n" ] || fail "cat never stat'ed the name's entry: $(cat trace)"
	run_split traced -f -o /dev/null -e trace=%fstat -e inject=%fstat:error=EIO:when="$n" \
		"$CDT" --store "$S" cat f
	assert_status 1
	assert_err_contains "Input/output error"
	case "$err" in
	*"no such name"*) fail "an I/O error said to be a missing name: $err" ;;
	esac
}
