#!/usr/bin/env bats
# contrib/nightly-ingest.sh, the example cron job: what it stores, logs and exits with.

load test_helper

NIGHTLY=$(cd "$BATS_TEST_DIRNAME/.." && pwd)/contrib/nightly-ingest.sh

@test "nightly-ingest stores a directory under the dated prefix and logs a summary" {
	init_store
	mkdir -p dumps/sub
	gen_bytes 1 100000 >dumps/db.sql
	echo x >"dumps/sub/users list.csv"
	CDT_NIGHTLY_DATE=2024-05-01 run_split sh "$NIGHTLY" "$S" dumps
	assert_status 0
	assert_out_contains "stored nightly/2024-05-01/dumps/db.sql (100000 bytes,"
	assert_out_contains "done: 2 files, 100002 bytes read,"
	[ -z "$err" ] || fail "unexpected stderr: $err"
	run_split c ls -t f nightly/2024-05-01
	assert_status 0
	printf '%s\n' nightly/2024-05-01/dumps/db.sql "nightly/2024-05-01/dumps/sub/users list.csv" >want
	printf '%s\n' "$output" >got
	diff -u want got
	c cat nightly/2024-05-01/dumps/db.sql >restored
	cmp dumps/db.sql restored
}

@test "nightly-ingest takes the store and source from the environment, and can be re-run" {
	init_store
	mkdir dumps
	echo data >dumps/a
	CDT_STORE=$S CDT_NIGHTLY_SOURCE=dumps CDT_NIGHTLY_DATE=2024-05-02 run_split sh "$NIGHTLY"
	assert_status 0
	CDT_STORE=$S CDT_NIGHTLY_SOURCE=dumps CDT_NIGHTLY_DATE=2024-05-02 run_split sh "$NIGHTLY"
	assert_status 0
	assert_out_contains "done: 1 file, 5 bytes read, 0 bytes stored new"
}

@test "nightly-ingest fails on an empty source, a missing store and bad usage" {
	init_store
	mkdir empty dumps
	echo data >dumps/a
	run_split sh "$NIGHTLY" "$S" empty
	assert_status 1
	assert_err_contains "no files found in 'empty'"
	run_split sh "$NIGHTLY" "$T/nostore" dumps
	assert_status 1
	assert_err_contains "cdt add failed (exit status 1)"
	run_split sh "$NIGHTLY" "$S" missing
	assert_status 1
	assert_err_contains "is not a directory"
	run_split sh "$NIGHTLY" "$S"
	assert_status 2
	assert_err_contains "no source"
	CDT_NIGHTLY_DATE=yesterday run_split sh "$NIGHTLY" "$S" dumps
	assert_status 2
	run_split sh "$NIGHTLY" a b c
	assert_status 2
	run_split c ls
	assert_status 0
	[ -z "$output" ] || fail "something was stored: $output"
}

@test "nightly-ingest passes on exit status 3 when cdt add skipped some paths" {
	init_store
	mkdir dumps
	echo data >dumps/a
	# A cdt whose add stored one file and skipped another, as add reports it.
	cat >fake-cdt <<'SH'
#!/bin/sh
printf 'nightly/2024-05-03/dumps/a\t5\t5\t%064d\n' 0
echo "error: skipping 'dumps/secret': cannot open: Permission denied" >&2
exit 3
SH
	chmod +x fake-cdt
	CDT=$T/fake-cdt CDT_NIGHTLY_DATE=2024-05-03 run_split sh "$NIGHTLY" "$S" dumps
	assert_status 3
	assert_out_contains "stored nightly/2024-05-03/dumps/a (5 bytes, 5 new)"
	assert_err_contains "skipping 'dumps/secret'"
	assert_err_contains "some paths were skipped (named above); stored 1 file, 5 bytes read"
}
