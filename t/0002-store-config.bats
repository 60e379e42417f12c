#!/usr/bin/env bats
# A store's config is checked before anything is read or written.

load test_helper

@test "a store of a newer format version is refused by name" {
	init_store
	sed -i 's/^format 4$/format 5/' "$S/config"
	run_split c ls
	assert_status 1
	assert_one_line_err
	assert_err_contains "store format 5 is newer than this cdt supports (4)"
}

@test "an edited config fails its checksum" {
	init_store
	rm "$S/config.copy"
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
	cp "$T/short" "$S/config.copy"
	before=$(store_snapshot)
	run_split c add f
	assert_status 1
	assert_one_line_err
	assert_err_contains "corrupt config"
	[ "$(store_snapshot)" = "$before" ]
	head -c 100000 /dev/urandom > "$S/config"
	rm "$S/config.copy"
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

@test "a damaged config with a whole copy: read through the copy, reported, written back by repair" {
	init_store
	printf 'some bytes\n' > f
	c add -q f
	cp "$S/config" "$T/config.good"
	cmp "$S/config" "$S/config.copy"
	sed -i 's/^level 3$/level 4/' "$S/config"
	run_split c cat f
	assert_status 0
	[ "$output" = "some bytes" ]
	assert_one_line_err
	assert_err_contains "damaged config (config checksum does not match its contents): using its copy 'config.copy' (run 'cdt repair')"
	run_split c fsck
	assert_status 64
	assert_out_contains "config-corrupt config: config checksum does not match its contents; its copy config.copy is whole and stands in for it"
	assert_out_contains "affects no stored name"
	run_split c repair
	assert_status 0
	assert_out_contains "restored the config from its copy config.copy"
	cmp "$S/config" "$T/config.good"
	cmp "$S/config.copy" "$T/config.good"
	run_split c fsck
	assert_status 0
	[ -z "$err" ]
	run_split c cat f
	assert_status 0
	[ -z "$err" ]
}

@test "the config's copy: made by the next writer, never by a reader; a damaged one reported and written again" {
	init_store
	printf 'x\n' > f
	rm "$S/config.copy"
	c ls > /dev/null
	c cat f 2>/dev/null || true
	c fsck > /dev/null
	[ ! -e "$S/config.copy" ]
	c add -q f
	cmp "$S/config" "$S/config.copy"
	printf 'garbage\n' > "$S/config.copy"
	run_split c fsck
	assert_status 64
	assert_out_contains "config-corrupt config.copy: the config's copy is damaged ("
	assert_out_contains "): the next add, gc or repair writes it again"
	c ls > /dev/null
	[ "$(cat "$S/config.copy")" = garbage ]
	c gc > /dev/null
	cmp "$S/config" "$S/config.copy"
	c fsck > /dev/null
}

@test "a config damaged and its copy too: refused; a copy of another store's format is not used" {
	init_store
	printf 'x\n' > f
	c add -q f
	sed -i 's/^level 3$/level 4/' "$S/config" "$S/config.copy"
	run_split c ls
	assert_status 1
	assert_one_line_err
	assert_err_contains "corrupt config"
	run_split c fsck
	assert_status 64
	assert_out_contains "no command but fsck can use the store"
}

@test "gc --recompress changes the config and its copy with it" {
	S=$T/z1
	c init -q --codec zlib "$S"
	printf 'x\n' > f
	c add -q f
	grep -q '^format 1$' "$S/config"
	cmp "$S/config" "$S/config.copy"
	c gc --recompress > /dev/null
	grep -q '^format 2$' "$S/config"
	cmp "$S/config" "$S/config.copy"
	c fsck > /dev/null
}

@test "a copy of the config out of date (a change cut short) is no problem, and the next writer brings it up" {
	S=$T/z2
	c init -q --codec zlib "$S"
	printf 'x\n' > f
	c add -q f
	cp "$S/config" "$T/old-config"
	c gc --recompress > /dev/null
	# As gc --recompress killed between the config and its copy leaves them.
	cp "$T/old-config" "$S/config.copy"
	run_split c fsck
	assert_status 0
	c add -q f
	cmp "$S/config" "$S/config.copy"
}

@test "a copy of another store's config does not stand in for a damaged one, and repair leaves the config as it is" {
	init_store
	printf 'some bytes\n' > f
	c add -q f
	cp "$S/config" "$T/config.good"
	c init -q --chunk-size 4K --content-id sha256 "$T/other"
	cp "$T/other/config.copy" "$S/config.copy"
	printf 'torn\n' >> "$S/config"
	id=$(sed -n 's/^store-id //p' "$T/config.good")
	other=$(sed -n 's/^store-id //p' "$T/other/config")
	before=$(store_snapshot)
	run_split c cat f
	assert_status 1
	assert_one_line_err
	assert_err_contains "corrupt config: config has text after its checksum; its copy 'config.copy' is another store's (store-id $other, not $id)"
	run_split c repair
	assert_status 1
	[ "$(store_snapshot)" = "$before" ] || fail "repair changed the store"
	run_split c fsck
	assert_status 64
	assert_out_contains "its copy 'config.copy' is another store's"
	# A digit of the config's own id damaged is damage: its copy stands in.
	cp "$T/config.good" "$S/config.copy"
	case $id in 0*) d=1 ;; *) d=0 ;; esac
	sed "s/^store-id ./store-id $d/" "$T/config.good" > "$S/config"
	run_split c cat f
	assert_status 0
	[ "$output" = "some bytes" ]
	assert_err_contains "using its copy 'config.copy'"
	c repair > /dev/null
	cmp "$T/config.good" "$S/config"
}

@test "an add that waited for the lock while gc --recompress changed the config does not put the old config in the copy" {
	command -v flock >/dev/null || skip_or_fail "flock(1) is not installed"
	c init -q --codec zlib "$S"
	printf 'x\n' > f
	c add -q f
	# The config gc --recompress writes (a clone of the store converted).
	cp -a "$S" "$T/converted"
	"$CDT" --store "$T/converted" gc --recompress > /dev/null
	grep -q '^format 2$' "$T/converted/config"
	mkfifo go
	flock -x "$S/lock" sh -c ': > held; cat go > /dev/null' &
	holder=$!
	for _ in $(seq 1 500); do [ -e held ] && break; sleep 0.01; done
	printf 'y\n' > g
	c add -q g 2> add.err &
	adder=$!
	for _ in $(seq 1 500); do grep -q waiting add.err && break; sleep 0.01; done
	grep -q waiting add.err || fail "add never waited for the lock"
	# What gc --recompress leaves while the add waits: the new config and its copy.
	cp "$T/converted/config" "$S/config"
	cp "$T/converted/config" "$S/config.copy"
	echo > go
	wait "$holder"
	wait "$adder"
	cmp "$T/converted/config" "$S/config"
	cmp "$S/config" "$S/config.copy" || fail "the copy is now: $(cat "$S/config.copy")"
	run_split c fsck
	assert_status 0
}

@test "a FIFO in place of the config's copy is not waited on: readers, fsck and writers go on" {
	init_store
	printf 'x\n' > f
	c add -q f
	cp "$S/config" "$T/config.good"
	rm "$S/config.copy"
	mkfifo "$S/config.copy"
	run_split timeout 10 "$CDT" --store "$S" fsck
	assert_status 1
	assert_out_contains "config.copy"
	# The config damaged: no copy to stand in, refused at once.
	printf 'torn\n' >> "$S/config"
	run_split timeout 10 "$CDT" --store "$S" cat f
	assert_status 1
	assert_one_line_err
	assert_err_contains "corrupt config: config has text after its checksum"
	cp "$T/config.good" "$S/config"
	run_split timeout 10 "$CDT" --store "$S" add -q f
	assert_status 0
	[ -f "$S/config.copy" ]
	cmp "$S/config" "$S/config.copy"
}
