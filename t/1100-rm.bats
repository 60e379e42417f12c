#!/usr/bin/env bats
# cdt rm: removing names, prefixes, and what becomes reclaimable.

load test_helper

@test "rm removes a name and keeps content other names use" {
	init_store
	gen_bytes 1 500000 > f
	c add -q --name a f
	c add -q --name b f
	run_split c rm a
	assert_status 0
	assert_out_contains "removed a"
	assert_out_contains "0 manifests dropped"
	[ "$(c ls)" = b ]
	c cat b > out
	cmp out f
}

@test "rm of the last name drops the manifest and reports reclaimable chunks" {
	init_store
	gen_bytes 2 500000 > f
	c add -q f
	run_split c rm f
	assert_status 0
	assert_out_contains "1 manifest dropped"
	[ "$(find "$S/manifests" -type f | wc -l)" = 0 ]
	[ -z "$(c ls)" ]
}

@test "a missing name is an error and nothing is removed" {
	init_store
	echo x > f
	c add -q --name a f
	before=$(store_snapshot)
	run_split c rm a nosuch
	assert_status 1
	assert_one_line_err
	assert_err_contains "no such name: 'nosuch'"
	[ "$(store_snapshot)" = "$before" ]
	run_split c rm --ignore-missing a nosuch
	assert_status 0
	[ -z "$(c ls)" ]
}

@test "rm -r removes a whole prefix" {
	init_store
	echo x > f
	for n in d/a d/b/c d/b/d e; do c add -q --name "$n" f; done
	run_split c rm d/b
	assert_status 1
	assert_err_contains "no such name"
	run_split c rm -r d/
	assert_status 0
	[ "$(c ls)" = e ]
	# Empty directories of names go too.
	[ ! -e "$S/names/d" ]
}

@test "rm --dry-run changes nothing" {
	init_store
	echo x > f
	c add -q f
	before=$(store_snapshot)
	run_split c rm -n f
	assert_status 0
	assert_out_contains "would remove f"
	[ "$(store_snapshot)" = "$before" ]
}

@test "a replaced name does not keep its old content alive after rm of others" {
	init_store
	echo one > f
	c add -q --name n f
	c add -q --name m f
	echo two > f
	c add -q --name n f
	# n moved to new content; removing m drops the old manifest.
	run_split c rm m
	assert_status 0
	assert_out_contains "1 manifest dropped"
	c cat n > out
	[ "$(cat out)" = two ]
}

@test "a damaged name entry can still be removed" {
	init_store
	echo x > f
	c add -q --name bad f
	echo garbage > "$S/names/bad"
	run_split c rm bad
	assert_status 0
	assert_err_contains "removing damaged name 'bad'"
	[ -z "$(c ls)" ]
}
