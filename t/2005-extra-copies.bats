#!/usr/bin/env bats
# Damage that another copy covers, and healing by adding a file again.

load test_helper

@test "a damaged loose copy does not hide a good packed one, and gc drops it" {
	init_store
	gen_bytes 3 200000 > f
	c add -q f
	cp -a "$S/objects" saved
	c gc > /dev/null
	o=$(cd saved && find . -type f | head -n 1)
	mkdir -p "$S/objects/$(dirname "$o")"
	cp "saved/$o" "$S/objects/$o"
	flip_byte "$S/objects/$o" 50
	c cat f > out
	cmp out f
	run_split c fsck -v
	assert_status 0
	assert_out_contains "loose copy is damaged"
	c gc > /dev/null
	[ -z "$(find "$S/objects" -type f)" ]
	run_split c fsck -v
	assert_status 0
	[[ "$output" != *"loose copy is damaged"* ]]
}

@test "adding a file again heals its damaged manifest" {
	init_store
	gen_bytes 4 3000000 > f
	c add -q f
	m=$(find "$S/manifests" -type f)
	flip_byte "$m" 20
	run_split c cat f
	assert_status 1
	run_split c add --name f f
	assert_status 0
	assert_err_contains "is damaged; replacing it"
	c cat f > out
	cmp out f
	run_split c fsck
	assert_status 0
}
