#!/usr/bin/env bats
# A killed add loses nothing committed; concurrent adds are safe.

load test_helper

@test "an add killed at any commit point leaves earlier files intact and the new one absent" {
	for point in objects refs manifest name; do
		rm -rf "$S"
		init_store
		gen_bytes 1 2000000 > old
		c add -q old
		gen_bytes 2 3000000 > new
		CDT_TEST_CRASH=$point run_split c add new
		[ "$status" -eq 137 ] || fail "$point: expected SIGKILL, got $status"
		c ls > names
		[ "$(cat names)" = old ] || fail "$point: names after crash: $(cat names)"
		c cat old > out
		cmp out old
		# Adding again completes the interrupted file.
		c add -q new
		c cat new > out
		cmp out new
	done
}

@test "a crash leaves only temporary files behind" {
	init_store
	gen_bytes 3 3000000 > f
	CDT_TEST_CRASH=manifest run_split c add f
	[ "$status" -eq 137 ]
	# The manifest temp file is the only leftover besides the chunk data.
	[ "$(find "$S/manifests" -type f | wc -l)" = 0 ]
	[ "$(find "$S/names" -type f | wc -l)" = 0 ]
	[ "$(find "$S/tmp" -type f | wc -l)" -ge 1 ]
}

@test "two adds of overlapping data at once both succeed" {
	init_store
	gen_bytes 4 6000000 > shared
	{ cat shared; gen_bytes 5 2000000; } > a
	{ gen_bytes 6 2000000; cat shared; } > b
	for i in 1 2 3; do
		c add -q --name "a$i" a &
		p1=$!
		c add -q --name "b$i" b &
		p2=$!
		wait $p1
		wait $p2
	done
	for i in 1 2 3; do
		c cat "a$i" > out; cmp out a
		c cat "b$i" > out; cmp out b
	done
	[ "$(find "$S/tmp" -type f | wc -l)" = 0 ]
}

@test "many small files added by parallel processes all restore" {
	init_store
	mkdir src
	for i in $(seq 1 40); do gen_bytes $i $((i * 5000)) > src/f$i; done
	for j in 1 2 3 4; do
		c add -q --prefix "p$j" src/f* &
	done
	wait
	for j in 1 2 3 4; do
		for i in 1 17 40; do
			c cat "p$j/f$i" > out
			cmp out src/f$i
		done
	done
	[ "$(c ls | wc -l)" = 160 ]
}
