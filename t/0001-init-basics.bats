#!/usr/bin/env bats
# cdt init, store discovery, and the global command-line behaviour.

load test_helper

@test "init creates a store with the default parameters" {
	run_split "$CDT" init "$S"
	assert_status 0
	assert_out_contains "fastcdc, 32768-byte chunks, zstd level 3"
	[ -f "$S/config" ]
	grep -qx 'format 4' "$S/config"
	grep -qx 'codec zstd' "$S/config"
	grep -qx 'chunker fastcdc' "$S/config"
	for d in objects manifests names refs tmp; do [ -d "$S/$d" ]; done
}

@test "init --content-id chooses the store's content ids (and so its format)" {
	run_split "$CDT" init -q --content-id sha256 "$S"
	assert_status 0
	grep -qx 'format 2' "$S/config"
	rm -rf "$S"
	run_split "$CDT" init -q --codec zlib "$S"
	grep -qx 'format 1' "$S/config"
	rm -rf "$S"
	run_split "$CDT" init -q --codec zlib --content-id tree "$S"
	grep -qx 'format 4' "$S/config"
	grep -qx 'codec zlib' "$S/config"
	rm -rf "$S"
	run_split "$CDT" init -q --content-id md5 "$S"
	assert_status 2
	assert_err_contains "unknown content id 'md5' (tree or sha256)"
	[ ! -e "$S" ]
}

@test "init records chunker, chunk size and level" {
	run_split "$CDT" init --chunker fixed --chunk-size 4K --level 9 "$S"
	assert_status 0
	grep -qx 'chunker fixed' "$S/config"
	grep -qx 'chunk-size 4096' "$S/config"
	grep -qx 'level 9' "$S/config"
}

@test "init refuses an existing store and a non-empty directory" {
	init_store
	run_split "$CDT" init "$S"
	assert_status 1
	assert_err_contains "already a cdt store"
	mkdir other && echo x > other/file
	run_split "$CDT" init other
	assert_status 1
	assert_err_contains "not empty"
}

@test "init rejects bad parameters with a usage error" {
	run_split "$CDT" init --chunk-size 3000 "$S"
	assert_status 2
	assert_err_contains "power of two"
	run_split "$CDT" init --chunker rabin "$S"
	assert_status 2
	run_split "$CDT" init --level 20 "$S"
	assert_status 2
	assert_err_contains "zstd level must be a number from 1 to 19, not '20'"
	run_split "$CDT" init --codec zlib --level 13 "$S"
	assert_status 2
	assert_err_contains "zlib level must be a number from 0 to 12, not '13'"
	run_split "$CDT" init --codec lz4 "$S"
	assert_status 2
	assert_err_contains "unknown codec 'lz4' (zstd or zlib)"
	[ ! -e "$S" ]
}

@test "without --store the store is found in a .cdt directory above" {
	mkdir -p proj/a/b
	(cd proj && "$CDT" init -q)
	echo hello > proj/a/b/f
	cd proj/a/b
	run_split "$CDT" add --name f f
	assert_status 0
	run_split "$CDT" ls
	assert_status 0
	[ "$output" = f ]
}

@test "CDT_STORE chooses the store and --store overrides it" {
	"$CDT" init -q one
	"$CDT" init -q two
	echo data > f
	CDT_STORE=one run_split "$CDT" add f
	assert_status 0
	CDT_STORE=one run_split "$CDT" --store two ls
	assert_status 0
	[ -z "$output" ]
	CDT_STORE=one run_split "$CDT" ls
	[ "$output" = f ]
}

@test "a command without a store fails with one line" {
	run_split "$CDT" ls
	assert_status 1
	assert_one_line_err
	assert_err_contains "no cdt store found"
}

@test "a directory that is not a store is refused" {
	mkdir notastore
	run_split "$CDT" --store notastore ls
	assert_status 1
	assert_one_line_err
	assert_err_contains "not a cdt store"
}

@test "unknown commands and options are usage errors" {
	run_split "$CDT" frobnicate
	assert_status 2
	assert_err_contains "not a cdt command"
	init_store
	run_split c ls --bogus
	assert_status 2
	assert_err_contains "unknown option '--bogus'"
	run_split c cat -x
	assert_status 2
	assert_err_contains "unknown option '-x'"
	run_split c cat -o
	assert_status 2
	assert_err_contains "needs a value"
}

@test "help is available for the tool and every command" {
	run_split "$CDT" --help
	assert_status 0
	assert_out_contains "commands:"
	for cmd in init add cat ls; do
		run_split "$CDT" $cmd -h
		assert_status 0
		assert_out_contains "usage: cdt $cmd"
		run_split "$CDT" help $cmd
		assert_status 0
		assert_out_contains "usage: cdt $cmd"
	done
	run_split "$CDT" --version
	assert_status 0
	assert_out_contains "cdt version"
}

@test "init without a directory creates the store CDT_STORE names" {
	CDT_STORE="$T/envstore" run_split "$CDT" init -q
	assert_status 0
	[ -f "$T/envstore/config" ]
	[ ! -e .cdt ]
}
