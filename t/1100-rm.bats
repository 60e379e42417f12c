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

@test "rm whose dropped manifest fails to read says what gc frees is not known" {
	command -v strace > /dev/null || skip_or_fail "strace is not installed"
	init_store
	gen_bytes 2 500000 > f
	echo other > g
	c add -q f g
	m=$(content_id f)
	# Every read of f's manifest fails with EIO.
	eio_manifest() {
		run_split traced -f -o /dev/null -P "$S/manifests/${m:0:2}/${m:2}" \
			-e trace=read,pread64 -e inject=read,pread64:error=EIO "$CDT" --store "$S" "$@"
	}
	eio_manifest rm -n f
	assert_status 1
	assert_err_contains "error: cannot tell what removing would free: Input/output error"
	[[ $output != *"would free"* ]] || fail "a figure for what could not be counted: $output"
	eio_manifest rm f
	assert_status 0
	[ "$err" = "warning: cannot count what dropping manifest $m frees: Input/output error" ] ||
		fail "stderr: $err"
	assert_out_contains "1 name removed, 1 manifest dropped; what 'cdt gc' can reclaim is not known (1 manifest could not be read)"
	[[ $output != *"0 B"* ]] || fail "a figure for what could not be counted: $output"
	[ ! -e "$S/manifests/${m:0:2}/${m:2}" ] || fail "the manifest no name uses is kept"
	[ "$(c cat g)" = other ]
}

@test "rm leaves its mark on info/ until the tables it wrote are durable" {
	command -v strace > /dev/null || skip_or_fail "strace is not installed"
	init_store
	echo x > f
	c add -q --name d/a f
	c add -q --name d/b f
	traced -f -o trace.log -e trace=syncfs,fsync,renameat,renameat2,unlinkat \
		"$CDT" --store "$S" rm d/a
	[ "$(c ls d)" = d/b ]
	# The mark (info/changing-*) goes last, after a syncfs that follows
	# the last table renamed into place.
	u=$(grep -n 'unlinkat([0-9]*, "changing-' trace.log | tail -n 1 | cut -d: -f1)
	[ -n "$u" ] || fail "no mark removed: $(cat trace.log)"
	r=$(head -n "$u" trace.log | grep -n 'renameat' | tail -n 1 | cut -d: -f1)
	y=$(head -n "$u" trace.log | grep -n 'syncfs(' | tail -n 1 | cut -d: -f1)
	[ -n "$r" ] || fail "no table written: $(cat trace.log)"
	[ -n "$y" ] && [ "$y" -gt "$r" ] || fail "the mark went before the tables were synced: $(cat trace.log)"
	c fsck >/dev/null
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

# rm -n's byte count of what gc would free.
rm_n_frees() {
	c rm -n "$@" > rm.out
	sed -n "s/^.* would free \([0-9]*\) bytes .* after 'cdt gc'\$/\1/p" rm.out
}

@test "rm -n says what removing would free, counting only chunks no kept name needs" {
	init_store --frame-size 0
	gen_bytes 1 400000 > a
	gen_bytes 2 300000 > b
	c add -q --name g1/a a
	c add -q --name g1/b b
	c add -q --name g2/a a
	c add -q --name g2/c a
	c gc > /dev/null
	run_split c rm -n -r g1
	assert_status 0
	[ "$(printf '%s\n' "$output" | head -2)" = "would remove g1/a
would remove g1/b" ] || fail "$output"
	assert_out_contains "2 names would be removed, 1 manifest dropped; would free "
	# a is kept by g2: only b's chunks would be freed, as stats g1 counts them.
	c stats --json g1 > g1.json
	freed=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["freed_bytes"])' g1.json)
	[ "$(rm_n_frees -r g1)" = "$freed" ]
	[ "$freed" -gt 300000 ]
	# A name given twice is counted once; two of a's three names free nothing.
	[ "$(rm_n_frees g2/a g2/c g2/a)" = 0 ]
	run_split c rm -n g2/a g2/c g2/a
	[ "$(printf '%s\n' "$output" | grep -c '^would remove')" = 2 ] || fail "$output"
	assert_out_contains "2 names would be removed, 0 manifests dropped; would free 0 bytes (0 B) in 0 chunks"
	# All three free a, and with g1/b everything.
	c stats --json > all.json
	stored=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["stored_bytes"])' all.json)
	[ "$(rm_n_frees -r g1 g2)" = "$stored" ]
	# What rm -n said is what gc frees after rm.
	c rm -q -r g1
	c gc -v > gc.out
	[ "$(sed -n 's/^removing .* (\([0-9]*\) bytes)$/\1/p' gc.out | awk '{ s += $1 } END { print s + 0 }')" = "$freed" ]
	c cat g2/a | cmp - a
}

@test "rm -n counts every name rm would remove: directories and links too" {
	init_store
	mkdir -p t/d/empty
	echo x > t/d/f
	ln -s d/f t/link
	c add -q -r --prefix g t
	run_split c rm -n -r g
	assert_status 0
	[ "$(printf '%s\n' "$output" | grep -c '^would remove')" = 5 ] || fail "$output"
	assert_out_contains "5 names would be removed, 1 manifest dropped"
	run_split c rm -r g
	assert_status 0
	assert_out_contains "5 names removed, 1 manifest dropped"
}

@test "rm -n -q prints nothing, and a damaged name leaves what would be freed unknown" {
	init_store
	echo x > f
	c add -q --name a f
	c add -q --name b f
	run_split c rm -n -q a
	assert_status 0
	[ -z "$output$err" ] || fail "printed: $output $err"
	echo garbage > "$S/names/b"
	run_split c rm -n a
	assert_status 1
	assert_out_contains "would remove a"
	assert_err_contains "name 'b' is damaged"
	assert_err_contains "cannot tell what removing would free"
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

@test "rm of a stored directory needs -r; rm -r removes it with everything under it" {
	init_store
	mkdir -p tree/empty tree/sub
	echo x > tree/sub/f
	ln -s sub/f tree/link
	c add -q -r tree
	run_split c rm tree/empty
	assert_status 1
	assert_err_contains "'tree/empty': it is a directory (use -r)"
	[ "$(c ls -t d | wc -l)" = 3 ]
	run_split c rm tree/link
	assert_status 0
	[ "$(c ls -t l)" = "" ]
	c rm -q -r tree/empty
	[ "$(c ls tree | tr '\n' ' ')" = "tree tree/sub tree/sub/f " ]
	c rm -q -r tree
	[ -z "$(c ls)" ]
	[ -z "$(find "$S/names" -mindepth 1)" ]
}
