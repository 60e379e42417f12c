#!/usr/bin/env bats
# cdt verify: reading stored files as cat would, and comparing with local files.

load test_helper
load lib-integrity

@test "verify of intact names exits 0 quietly" {
	make_fixture
	run_split c verify a b
	assert_status 0
	assert_out_contains "verified 2 names, 39.1 KiB in "
	assert_out_contains "all intact"
	run_split c verify c
	assert_status 0
	[ -z "$output" ] || fail "unexpected output: $output"
}

@test "verify --all -v lists every name" {
	make_fixture
	run_split c verify --all -v
	assert_status 0
	assert_out_contains "ok 'a' (20000 bytes)"
	assert_out_contains "ok 'copy/a' (20000 bytes)"
	assert_out_contains "verified 4 names,"
}

@test "verify reports every damaged range and goes on past damage" {
	make_fixture
	rm "$(obj_path "$A1")" "$(obj_path "$A2")"
	flip_byte "$(obj_path "$A4")" 50
	run_split c verify a b
	assert_status 1
	assert_out_contains "damaged 'a': 11808 of 20000 bytes cannot be read"
	assert_out_contains "  bytes 4096-12287 (2 chunks from $A1): chunk is missing"
	assert_out_contains "  bytes 16384-19999 (chunk $A4): content does not match its id"
	assert_out_contains "verified 2 names,"
	assert_out_contains "1 damaged"
	case "$output" in *"'b'"*) fail "intact b reported: $output" ;; esac
}

@test "verify --all --json gives ranges per name" {
	make_fixture
	rm "$(obj_path "$B1")"
	run_split c verify --all --json
	assert_status 1
	assert_out_contains "{\"type\":\"name\",\"name\":\"b\",\"size\":20000,\"status\":\"damaged\",\"bad_bytes\":4096,\"ranges\":[{\"offset\":4096,\"length\":4096,\"chunks\":1,\"first_chunk\":\"$B1\",\"reason\":\"chunk is missing\",\"damage\":true}]}"
	assert_out_contains "{\"type\":\"name\",\"name\":\"a\",\"size\":20000,\"status\":\"ok\",\"bad_bytes\":0,\"ranges\":[]}"
	assert_out_contains "{\"type\":\"summary\",\"names\":4,\"damaged\":1,\"bytes\":90000,\"bad_bytes\":4096,"
}

@test "verify reports a damaged manifest and a damaged name entry" {
	make_fixture
	flip_byte "$(manifest_path src/b)" 20
	flip_byte "$S/names/c" 30
	run_split c verify --all
	assert_status 1
	assert_out_contains "damaged 'b': 20000 of 20000 bytes cannot be read"
	assert_out_contains "  bytes 0-19999: manifest $(file_id src/b): manifest checksum does not match its contents"
	assert_out_contains "damaged 'c': cannot be read"
	assert_out_contains "  all bytes: name entry checksum does not match its contents"
}

@test "verify changes nothing" {
	make_fixture
	rm "$(obj_path "$A0")"
	before=$(store_snapshot)
	run_split c verify --all
	assert_status 1
	[ "$(store_snapshot)" = "$before" ]
}

@test "verify --against says whether a local file is the stored one" {
	make_fixture
	run_split c verify --against src/a a
	assert_status 0
	assert_out_contains "'src/a' is identical to 'a' (20000 bytes)"
	cp src/a changed
	flip_byte changed 12345
	run_split c verify --against changed a
	assert_status 1
	assert_out_contains "'changed' differs from 'a' at byte 12345"
	head -c 9000 src/a > short
	run_split c verify --against short a
	assert_status 1
	assert_out_contains "'short' differs from 'a' at byte 9000"
	cat src/a src/b > long
	run_split c verify --against long a
	assert_status 1
	assert_out_contains "'long' differs from 'a' at byte 20000"
	run_split c verify --against - a < changed
	assert_status 1
	assert_out_contains "'standard input' differs from 'a' at byte 12345"
	: > empty
	run_split c verify --against empty a
	assert_status 1
	assert_out_contains "'empty' differs from 'a' at byte 0"
}

@test "verify --against does not need the store's chunk data" {
	make_fixture
	rm "$(obj_path "$A1")"
	run_split c verify --against src/a a
	assert_status 0
	cp src/a changed
	flip_byte changed 5000
	run_split c verify --against changed a
	assert_status 1
	assert_out_contains "'changed' differs from 'a' in bytes 4096-8191 (the stored chunk there is damaged, so the exact byte is unknown)"
}

@test "verify reports a chunk that fails to read as an error, not as damage" {
	command -v strace > /dev/null || skip_or_fail "strace is not installed"
	make_fixture
	mv "$(obj_path "$A4")" A4
	# Every read of A1 fails with EIO; A4 is missing, which is damage.
	eio_a1() {
		run_split traced -f -o /dev/null -P "$(obj_path "$A1")" -e trace=read \
			-e inject=read:error=EIO "$CDT" --store "$S" "$@"
	}
	eio_a1 verify a b
	assert_status 1
	[ "$err" = "error: cannot read 'a', bytes 4096-8191 (chunk $A1): cannot read chunk: Input/output error" ] ||
		fail "stderr: $err"
	assert_out_contains "damaged 'a': 3616 of 20000 bytes cannot be read"
	assert_out_contains "  bytes 16384-19999 (chunk $A4): chunk is missing"
	assert_out_contains ": 1 damaged"
	[[ $output != *4096-8191* ]] || fail "an I/O error called damage: $output"
	mv A4 "$(obj_path "$A4")"
	eio_a1 verify copy/a b
	assert_status 1
	[[ $output != *damaged* ]] || fail "an I/O error called damage: $output"
	assert_out_contains ": 1 could not be read"
	eio_a1 verify --json copy/a
	assert_status 1
	assert_out_contains "\"status\":\"unreadable\",\"bad_bytes\":0,"
	assert_out_contains "\"reason\":\"cannot read chunk: Input/output error\",\"damage\":false}"
	# --against reads the stored chunk to find the byte that differs.
	cp src/a changed
	flip_byte changed 5000
	eio_a1 verify --against changed a
	assert_status 1
	[ "$err" = "error: cannot read 'a' at offset 4096: chunk $A1: cannot read chunk: Input/output error" ] ||
		fail "stderr: $err"
	[[ $output != *damaged* ]] || fail "an I/O error called damage: $output"
}

@test "verify of a directory of names checks every file under it" {
	init_store --chunker fixed --chunk-size 4K
	mkdir -p t/d/empty
	gen_bytes 1 20000 > t/d/f
	gen_bytes 2 20000 > t/g
	ln -s d/f t/link
	c add -q -r --prefix gen1 t
	gen_bytes 3 20000 > other
	c add -q --name gen2/other other
	run_split c verify -v gen1/
	assert_status 0
	assert_out_contains "ok 'gen1/t/d/f' (20000 bytes)"
	assert_out_contains "ok 'gen1/t/g' (20000 bytes)"
	assert_out_contains "verified 2 names, 39.1 KiB in "
	case "$output" in *gen2*) fail "verified outside the prefix: $output" ;; esac
	# A damaged chunk of one file under the prefix fails it.
	damage_chunk "$(piece_id t/g 4096 4096)"
	run_split c verify gen1/t gen2/other
	assert_status 1
	assert_out_contains "damaged 'gen1/t/g': 4096 of 20000 bytes cannot be read"
	assert_out_contains "verified 3 names,"
	assert_out_contains "1 damaged"
	# A missing name is an error before anything is read.
	run_split c verify gen1 gen3
	assert_status 1
	assert_err_contains "no such name: 'gen3'"
	[ -z "$output" ] || fail "read before failing: $output"
}

@test "verify refuses bad usage and unknown names" {
	make_fixture
	run_split c verify
	assert_status 2
	run_split c verify --all a
	assert_status 2
	run_split c verify --against src/a a b
	assert_status 2
	run_split c verify --against src/a --all
	assert_status 2
	run_split c verify nope
	assert_status 1
	assert_err_contains "no such name: 'nope'"
	run_split c verify --against missing-file a
	assert_status 1
	assert_err_contains "cannot open 'missing-file'"
}

@test "cat and verify read past their read-ahead rounds in order" {
	# 64 KiB blocks: a round reads 128 chunks (8 MiB) ahead, so 20 MiB is
	# three rounds, and chunks 5 and 300 lie in the first and the third.
	init_store --chunker fixed --chunk-size 64K --frame-size 0	# a chunk per object
	gen_bytes 7 20971520 > big
	c add -q big
	X=$(piece_id big 327680 65536)
	Y=$(piece_id big 19660800 65536)
	damage_chunk "$Y"
	# Binary output: kept in its file, not in $output.
	status=0
	c cat -j 2 big > out 2> "$T/.err" || status=$?
	err=$(cat "$T/.err")
	output=
	assert_status 1
	assert_one_line_err
	assert_err_contains "cannot read 'big' at offset 19660800: chunk $Y (65536 bytes): "
	# Everything before the damage came out, in order.
	head -c 19660800 big > want
	cmp want out
	damage_chunk "$X"
	run_split c verify -j 2 big
	assert_status 1
	assert_out_contains "damaged 'big': 131072 of 20971520 bytes cannot be read"
	assert_out_contains "  bytes 327680-393215 (chunk $X): "
	assert_out_contains "  bytes 19660800-19726335 (chunk $Y): "
}

@test "a damaged name entry given as NAME is reported as damaged, and the other names verified" {
	make_fixture
	flip_byte "$S/names/c" 30
	run_split c verify c a
	assert_status 1
	assert_out_contains "damaged 'c': cannot be read"
	assert_out_contains "  all bytes: name entry checksum does not match its contents"
	assert_out_contains "verified 2 names, 19.5 KiB in "
	assert_out_contains ": 1 damaged"
	run_split c verify --json c
	assert_status 1
	assert_out_contains "{\"type\":\"name\",\"name\":\"c\",\"size\":null,\"status\":\"damaged\",\"bad_bytes\":0,\"ranges\":[{\"offset\":0,\"length\":0,\"chunks\":0,\"first_chunk\":null,\"reason\":\"name entry checksum does not match its contents\",\"damage\":true}]}"
	assert_out_contains "{\"type\":\"summary\",\"names\":1,\"damaged\":1,"
	# A directory of names whose own entry is damaged: its names are still read.
	(cd src && c add -q -r copy)
	flip_byte "$S/names/copy/$(printf '\001')dir" 30
	rm "$(obj_path "$A1")"
	run_split c verify copy
	assert_status 1
	assert_out_contains "damaged 'copy': cannot be read"
	assert_out_contains "damaged 'copy/a': 4096 of 20000 bytes cannot be read"
}
