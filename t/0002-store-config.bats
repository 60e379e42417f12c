#!/usr/bin/env bats
# A store's config is checked before anything is read or written.

load test_helper

@test "a store of a newer format version is refused by name" {
	init_store
	sed -i 's/^format 3$/format 4/' "$S/config"
	run_split c ls
	assert_status 1
	assert_one_line_err
	assert_err_contains "store format 4 is newer than this cdt supports (3)"
}

@test "an edited config fails its checksum" {
	init_store
	sed -i 's/^chunk-size 32768$/chunk-size 65536/' "$S/config"
	run_split c ls
	assert_status 1
	assert_one_line_err
	assert_err_contains "corrupt config"
	assert_err_contains "checksum"
}

@test "a truncated or garbage config is corrupt, and add changes nothing" {
	init_store
	echo x > f
	head -c 40 "$S/config" > "$T/short"
	cp "$T/short" "$S/config"
	before=$(store_snapshot)
	run_split c add f
	assert_status 1
	assert_one_line_err
	assert_err_contains "corrupt config"
	[ "$(store_snapshot)" = "$before" ]
	head -c 100000 /dev/urandom > "$S/config"
	run_split c ls
	assert_status 1
	assert_one_line_err
	assert_err_contains "corrupt config"
}

@test "a missing store directory part is reported" {
	init_store
	rmdir "$S/refs"
	ln -s /tmp "$S/refs"
	run_split c ls
	assert_status 1
	assert_one_line_err
	assert_err_contains "'refs' is missing or not a directory"
}
