#!/usr/bin/env bats
# Round trips: what add stores, cat gives back byte for byte.

load test_helper

@test "files of many sizes restore byte-identical" {
	init_store
	for n in 0 1 100 16383 16384 16385 65535 65536 65537 262144 262145 1000000 5000000; do
		gen_bytes $n $n > "r$n"
		"$TEST_TOOL" gen-text $n $n > "t$n"
	done
	run_split c add r* t*
	assert_status 0
	for f in r* t*; do
		c cat "$f" > out
		cmp out "$f"
	done
}

@test "a file of many rounds of chunks restores byte-identical, whatever the number of readers" {
	init_store
	# 40 MB: rounds of reading end at their count of chunks or at their
	# bytes (8 MiB), whichever comes first; both happen here.
	gen_bytes 7 40000000 > big
	c add -q big
	for j in 1 2 5; do
		c cat -j $j big > out
		cmp out big
	done
	c cat -o restored big
	cmp restored big
	c verify big > /dev/null
}

@test "cat of several names concatenates them in order" {
	init_store
	echo one > a; echo two > b; echo three > c
	c add -q a b c
	c cat c a b > out
	printf 'three\none\ntwo\n' > want
	cmp out want
}

@test "an empty file is stored with no chunks" {
	init_store
	: > empty
	run_split c add empty
	assert_status 0
	run_split c ls -l
	assert_status 0
	assert_out_contains "            0 "
	c cat empty > out
	[ ! -s out ]
	c cat -o restored empty
	[ -f restored ] && [ ! -s restored ]
}

@test "cat -o restores mode and modification time atomically" {
	init_store
	gen_bytes 7 300000 > f
	chmod 0640 f
	touch -d '2020-02-03 04:05:06.123456789' f
	c add -q f
	run_split c cat -o out f
	assert_status 0
	cmp out f
	[ "$(stat -c %a out)" = 640 ]
	[ "$(stat -c %Y.%y out)" = "$(stat -c %Y.%y f)" ]
	# No temporary file is left next to the output.
	[ "$(ls -A | grep -c cdt)" = 0 ]
}

@test "a multi-GiB sparse file round-trips and is restored sparse" {
	init_store
	truncate -s 2200M sparse
	printf 'head' | dd of=sparse conv=notrunc status=none
	gen_bytes 5 100000 | dd of=sparse bs=1M seek=1500 conv=notrunc status=none
	printf 'tail' | dd of=sparse bs=1 seek=$((2200 * 1024 * 1024 - 4)) conv=notrunc status=none
	run_split c add sparse
	assert_status 0
	c cat -o restored sparse
	cmp restored sparse
	# Holes: the restored file uses far fewer blocks than its size.
	[ "$(du -k restored | cut -f1)" -lt 10000 ]
	# Zero chunks are stored once: the store stays small.
	[ "$(du -sk "$S" | cut -f1)" -lt 10000 ]
}

@test "stdin is stored under --name" {
	init_store
	"$TEST_TOOL" gen-text 3 200000 > f
	run_split c add --name from-stdin - < f
	assert_status 0
	assert_out_contains "added from-stdin"
	c cat from-stdin > out
	cmp out f
	# Through a pipe, not only a regular file on stdin.
	cat f | c add -q --name piped -
	c cat piped > out2
	cmp out2 f
}

@test "a read-only source file is stored with its mode" {
	init_store
	echo secret > ro
	chmod 0444 ro
	run_split c add ro
	assert_status 0
	run_split c ls -l ro
	case "$output" in -r--r--r--*) ;; *) fail "mode not recorded: $output" ;; esac
}

@test "fixed-size chunking stores blocks of the block size" {
	"$CDT" init -q --chunker fixed --chunk-size 4K "$S"
	gen_bytes 11 40000 > f
	c add -q f
	c cat f > out
	cmp out f
	run_split c ls -l f
	# 40000 bytes in 4 KiB blocks: 10 chunks.
	case "$output" in *" 10 "*) ;; *) fail "expected 10 chunks: $output" ;; esac
}

@test "zlib level 0 stores chunks uncompressed and still restores" {
	"$CDT" init -q --codec zlib --level 0 "$S"
	"$TEST_TOOL" gen-text 1 500000 > f
	c add -q f
	c cat f > out
	cmp out f
	# Raw objects: the store is at least as big as the data.
	[ "$(du -sbk "$S/objects" | cut -f1)" -ge 488 ]
}

@test "stores written with one deflate implementation read with the other" {
	[ -x "${CDT_OTHER_DEFLATE:-}" ] || skip_or_fail "CDT_OTHER_DEFLATE not built"
	init_store --codec zlib
	"$TEST_TOOL" gen-text 9 3000000 > a
	gen_bytes 9 1000000 > b
	c add -q a
	"$CDT_OTHER_DEFLATE" --store "$S" add -q b
	"$CDT_OTHER_DEFLATE" --store "$S" cat a > a.out
	c cat b > b.out
	cmp a a.out
	cmp b b.out
	"$CDT_OTHER_DEFLATE" --version > v
	"$CDT" --version > w
	! cmp -s v w
}

@test "cat -o drops set-id bits when it cannot restore the owner" {
	init_store
	echo prog > f
	chmod 6755 f
	c add -q f
	c cat -o same f
	# Same owner (the user running the test): the bits stay.
	[ "$(stat -c %a same)" = 6755 ]
	chown 12345:12345 f
	c add -q --name other f
	c cat -o restored other
	[ "$(stat -c %a restored)" = 755 ]
}

@test "files under /proc, whose size reads as 0, are stored without a change warning" {
	init_store
	[ -r /proc/version ] && [ -r /proc/self/status ] || skip_or_fail "no /proc"
	cat /proc/version > want
	run_split c add --name version /proc/version
	assert_status 0
	[ -z "$err" ] || fail "unexpected stderr: $err"
	c cat version > got
	cmp want got
	run_split c add -q --name status /proc/self/status
	assert_status 0
	[ -z "$err" ] || fail "unexpected stderr: $err"
	c cat status > got
	grep -q '^Name:' got
}

@test "started with standard input, output or error closed, cdt opens no store file in their place" {
	command -v strace > /dev/null || skip_or_fail "strace is not installed"
	init_store
	gen_bytes 3 300000 > f
	echo kept > k
	c add -q --name x k
	# Every file opened as 0, 1 or 2 must be /dev/null, standing in for them
	# (the loader's libraries, and what a sanitizer reads of /proc before
	# main, are closed again before cdt starts).
	traced -f -o trace -e trace=openat,open "$CDT" --store "$S" add f 0<&- 1>&- 2>&- || true
	grep -E '= [012]$' trace | grep -v -E '"/dev/null"|\.so|ld\.so|"/proc/self/' > taken || true
	[ ! -s taken ] || fail "opened in place of a standard descriptor: $(cat taken)"
	c cat f | cmp - f
	# A closed standard input is no empty file: the name stays as it was.
	run_split bash -c 'exec "$0" "$@" <&-' "$CDT" --store "$S" add --name x -
	assert_status 1
	assert_err_contains "cannot read 'standard input'"
	[ "$(c cat x)" = kept ]
	run_split c fsck
	assert_status 0
}
