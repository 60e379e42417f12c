#!/usr/bin/env bats
# cdt fsck: output, exit status, options, and what it must leave alone.

load test_helper
load lib-integrity

@test "fsck of an intact store exits 0 and says what it checked" {
	make_fixture
	run_split c fsck
	assert_status 0
	assert_out_contains "checked 4 names, 3 manifests, 18 chunks (68.4 KiB read, "
	assert_out_contains "and 3 reference tables in "
	assert_out_contains "no problems found"
	[ -z "$err" ] || fail "unexpected stderr (not a terminal, so no progress): $err"
}

@test "fsck counts directories and links among the names it checked" {
	init_store
	mkdir -p t/d/empty
	echo x > t/d/f
	ln -s d/f t/link
	c add -q -r t
	run_split c fsck
	assert_status 0
	# t, t/d, t/d/empty, t/d/f, t/link
	assert_out_contains "checked 5 names, 1 manifest, "
}

@test "fsck of an empty store exits 0" {
	init_store
	run_split c fsck
	assert_status 0
	assert_out_contains "checked 0 names, 0 manifests, 0 chunks"
	assert_out_contains "no problems found"
}

@test "fsck --json prints one object per problem and a summary" {
	make_fixture
	rm "$(obj_path "$B1")"
	run_split c fsck --json
	assert_status 4
	first=$(printf '%s\n' "$output" | head -n 1)
	[ "$first" = "{\"type\":\"problem\",\"kind\":\"chunk-missing\",\"object\":\"$B1\",\"detail\":\"chunk is missing\",\"names\":[\"b\"]}" ] ||
		fail "unexpected problem line: $first"
	assert_out_contains "{\"type\":\"summary\",\"names\":4,\"manifests\":3,\"chunks\":18,\"chunks_read\":17,"
	assert_out_contains "\"problems\":1,\"garbage\":0,"
	assert_out_contains "\"exit\":4,\"kinds\":{\"chunk-missing\":1}}"
}

@test "the exit status adds up the kinds of problem found" {
	make_fixture
	rm "$(obj_path "$A0")"
	flip_byte "$S/names/c" 30
	"$TEST_TOOL" ref-add "$S" "$A0" "$(file_id src/b)"
	run_split c fsck
	assert_status $((4 + 16 + 32))
	assert_out_contains "3 problems (name-corrupt 1, chunk-missing 1, refs-stale 1): exit status 52"
}

@test "fsck --quick does not read chunk data" {
	make_fixture
	flip_byte "$(obj_path "$A1")" 100
	run_split c fsck --quick
	assert_status 0
	assert_out_contains "18 chunks (data not read)"
	run_split c fsck
	assert_status 4
}

@test "fsck changes nothing in a damaged store" {
	make_fixture
	flip_byte "$(obj_path "$A1")" 100
	rm "$(table_of src/b)"
	echo x > "$S/tmp/name-1-0000000000000000"
	before=$(store_snapshot)
	run_split c fsck -v
	assert_status 36
	[ "$(store_snapshot)" = "$before" ] || fail "fsck changed the store"
}

@test "fsck --rebuild-refs keeps an intact store intact" {
	make_fixture
	run_split c fsck --rebuild-refs
	assert_status 0
	assert_out_contains "rebuilt references: 1 table written, 3 removed; 0 name records added, 0 removed"
	[ "$(ls "$S/refs/chunks" | wc -l)" -eq 1 ]
	assert_fsck_clean
	assert_all_restore
}

@test "fsck --rebuild-refs drops references to manifests that are gone" {
	make_fixture
	"$TEST_TOOL" ref-add "$S" "$A0" "$(printf 'gone' | sha256sum | cut -c1-64)"
	run_split c fsck -v
	assert_status 0
	assert_out_contains "garbage-ref $A0: reference to manifest "
	run_split c fsck --rebuild-refs -v
	assert_status 0
	case "$output" in *garbage-ref*) fail "dead reference survived the rebuild" ;; esac
}

@test "fsck --rebuild-refs keeps the references of an unreadable manifest" {
	make_fixture
	flip_byte "$(manifest_path src/b)" 60
	run_split c fsck --rebuild-refs -v
	assert_status 8
	case "$output" in *garbage-chunk*) fail "chunks of the damaged manifest became garbage: $output" ;; esac
	run_split c fsck -v
	assert_status 8
	case "$output" in *garbage-chunk*) fail "chunks of the damaged manifest became garbage: $output" ;; esac
}

@test "fsck --rebuild-refs killed part way leaves nothing worse, and a rerun finishes" {
	make_fixture
	"$TEST_TOOL" ref-add "$S" "$B1" "$(file_id src/a)"
	before=$(c fsck 2>/dev/null | sed -n 's/^\([a-z-]*\) .*/\1/p' | sort -u)
	# Killed just after writing its first fresh table.
	CDT_TEST_CRASH=refs run_split c fsck --rebuild-refs
	[ "$status" -ne 0 ]
	run_split c fsck
	assert_status 32
	after=$(printf '%s\n' "$output" | sed -n 's/^\([a-z-]*\) .*/\1/p' | sort -u)
	[ "$after" = "$before" ] || fail "problems changed from '$before' to '$after'"
	assert_all_restore
	run_split c fsck --rebuild-refs
	assert_status 0
	assert_fsck_clean
}

@test "fsck --rebuild-refs keeps the references of a manifest no name uses yet, which an add uses again" {
	init_store
	gen_bytes 11 700000 > f1
	gen_bytes 12 500000 > f2
	"$TEST_TOOL" gen-text 13 200000 > f3
	# Killed after the manifests and their name records are in place,
	# before the first name is.
	CDT_TEST_CRASH=name run_split c add f1 f2 f3
	assert_status 137
	[ "$(find "$S/names" -type f | wc -l)" = 0 ] || fail "a name was installed"
	[ "$(find "$S/manifests" -type f | wc -l)" = 3 ] || fail "the manifests are not in place"
	run_split c fsck --rebuild-refs
	assert_status 0
	# The same files again: their manifests are found stored, so the add
	# writes no references of them; the rebuilt tables must hold them.
	c add -q f1 f2 f3
	run_split c fsck -v
	assert_status 0
	assert_out_contains "no problems found"
	for f in f1 f2 f3; do
		c cat -o out "$f"
		cmp -s out "$f" || fail "'$f' does not restore identical"
	done
	# And a second rebuild of the named store changes nothing that fsck sees.
	run_split c fsck --rebuild-refs
	assert_status 0
	assert_fsck_clean
}

@test "fsck --rebuild-refs keeps the references of an unreadable manifest no name uses" {
	init_store
	gen_bytes 21 300000 > f1
	gen_bytes 22 200000 > f2
	CDT_TEST_CRASH=name run_split c add f1 f2
	assert_status 137
	flip_byte "$(manifest_path f2)" 60
	c fsck -v > before || fail "fsck of the killed add failed"
	grep '^garbage-ref ' before | sort > refs-before
	grep -q "reference to manifest $(file_id f2)" refs-before ||
		fail "no references of the damaged manifest: $(cat before)"
	# The readable manifest's pairs written again, the damaged one's carried over.
	run_split c fsck --rebuild-refs -v
	assert_status 0
	grep '^garbage-ref ' <<< "$output" | sort > refs-after
	cmp -s refs-before refs-after ||
		fail "references changed: $(diff refs-before refs-after)"
	# Adding the files again heals the damaged manifest and names both.
	c add -q f1 f2 2> add.err
	grep -q "manifest $(file_id f2) is damaged" add.err || fail "no heal: $(cat add.err)"
	assert_fsck_clean
	for f in f1 f2; do
		c cat -o out "$f"
		cmp -s out "$f" || fail "'$f' does not restore identical"
	done
}

@test "fsck rejects arguments and bad options" {
	init_store
	run_split c fsck extra
	assert_status 2
	assert_err_contains "unexpected argument 'extra'"
	run_split c fsck --bogus
	assert_status 2
	run_split c fsck -j 0
	assert_status 2
}

@test "fsck waits for no reader but respects a writer's exclusive lock" {
	command -v flock >/dev/null || skip_or_fail "flock(1) is not installed"
	make_fixture
	CDT_LOCK_NOWAIT=1 run_split flock -x "$S/lock" "$CDT" --store "$S" fsck
	assert_status 1
	assert_err_contains "is locked by another cdt process"
	# A concurrent add (shared lock) does not stop it.
	CDT_LOCK_NOWAIT=1 run_split flock -s "$S/lock" "$CDT" --store "$S" fsck
	assert_status 0
}
