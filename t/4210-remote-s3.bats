#!/usr/bin/env bats
# Stores on S3-compatible object storage, against a real Ceph radosgw on
# 127.0.0.1: init, push, pull, reading, a second push that sends no pack,
# pushes killed at every step and rerun, and a wrong secret.

load test_helper
load lib-s3

setup_file() {
	load test_helper
	load lib-s3
	need_s3
	s3_start
}

# A source store with two generations of a tree: one large file changed a
# little between them, a link, a directory, a name with a space.
source_store() {
	init_store
	mkdir -p src/sub
	gen_bytes 21 3000000 > src/big
	printf 'one\n' > "src/sub/a b"
	ln -s big src/link
	c add -q -r --prefix gen1 src
	printf 'changed' | dd of=src/big bs=1 seek=1500000 conv=notrunc status=none
	printf 'two\n' > src/new
	c add -q -r --prefix gen2 src
}

# A fresh bucket for the test, and a store in it.
bucket() {
	B=cdt-t$BATS_TEST_NUMBER-$RANDOM
	s3_bucket "$B"
	U=s3://$B/store
	"$CDT" init -q "$U"
}

# Every name of store $1 is in store $2 with the same bytes.
same_names() {
	"$CDT" --store "$1" ls -l > "$T/a.ls"
	"$CDT" --cache "$T/cache-check" --store "$2" ls -l > "$T/b.ls"
	cmp "$T/a.ls" "$T/b.ls" || fail "names differ: $(diff "$T/a.ls" "$T/b.ls")"
	for n in $("$CDT" --store "$1" ls -t f); do
		"$CDT" --cache "$T/cache-check" --store "$2" cat "$n" | cmp - <("$CDT" --store "$1" cat "$n") ||
			fail "$n differs"
	done
}

@test "push to a bucket, pull into an empty store: fsck clean, every name the same; a second push sends no pack" {
	source_store
	bucket
	run_split "$CDT" --cache "$T/cache" --store "$S" push "$U"
	assert_status 0
	assert_out_contains "copied 11 names"
	assert_out_contains "sent 1 pack"
	# Read in place, and pulled into an empty store.
	same_names "$S" "$U"
	"$CDT" init -q "$T/copy"
	run_split "$CDT" --cache "$T/cache2" --store "$T/copy" pull "$U"
	assert_status 0
	run_split "$CDT" --store "$T/copy" fsck
	assert_status 0
	same_names "$S" "$T/copy"
	run_split "$CDT" --cache "$T/cache" --store "$U" verify --all
	assert_status 0
	run_split "$CDT" --cache "$T/cache-fsck" --store "$U" fsck
	assert_status 0
	assert_out_contains "no problems found"
	# Nothing new: no pack, no name sent.
	puts=$(s3_requests PUT "/$B/store/packs/")
	run_split "$CDT" --cache "$T/cache" --store "$S" push "$U"
	assert_status 0
	assert_out_contains "copied 0 names"
	assert_out_contains "sent 0 packs"
	[ "$(s3_requests PUT "/$B/store/packs/")" = "$puts" ] || fail "a pack was sent again"
	# A new generation sends only what it added.
	printf 'three\n' > src/third
	c add -q -r --prefix gen3 src
	run_split "$CDT" --cache "$T/cache" --store "$S" push "$U" gen3
	assert_status 0
	assert_out_contains "sent 1 pack"
	same_names "$S" "$U"
}

@test "a push killed at any step of sending and run again leaves the bucket consistent and complete" {
	source_store
	bucket
	for point in publish-pack publish-packs-listed publish-manifests publish-names \
		     publish-tables info; do
		CDT_TEST_CRASH=$point run_split "$CDT" --cache "$T/cache" --store "$S" push "$U" gen1
		[ "$status" -ne 0 ] || fail "push did not stop at $point"
		# What a reader sees is whole: every name it lists reads back.
		run_split "$CDT" --cache "$T/reader" --store "$U" verify --all
		[ "$status" = 0 ] || [ -z "$("$CDT" --cache "$T/reader" --store "$U" ls)" ] ||
			fail "after a kill at $point: $err"
	done
	run_split "$CDT" --cache "$T/cache" --store "$S" push "$U"
	assert_status 0
	same_names "$S" "$U"
	"$CDT" init -q "$T/copy"
	"$CDT" --cache "$T/cache3" --store "$T/copy" pull "$U"
	run_split "$CDT" --store "$T/copy" fsck
	assert_status 0
}

@test "a wrong secret, a missing bucket and a second init are clear errors" {
	source_store
	bucket
	AWS_SECRET_ACCESS_KEY=wrong run_split "$CDT" --cache "$T/cache" --store "$S" push "$U"
	assert_status 1
	assert_one_line_err
	assert_err_contains "access denied (HTTP 403 SignatureDoesNotMatch)"
	AWS_SECRET_ACCESS_KEY= run_split "$CDT" --cache "$T/cache" --store "$U" ls
	assert_status 1
	assert_err_contains "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
	run_split "$CDT" init "$U"
	assert_status 1
	assert_err_contains "is already a cdt store"
	run_split "$CDT" init "s3://no-such-bucket-$RANDOM/x"
	assert_status 1
	assert_one_line_err
	assert_err_contains "NoSuchBucket"
	run_split "$CDT" --cache "$T/cache" --store "$U" add src/new
	assert_status 1
	assert_err_contains "written only by push and pull"
}

@test "a push killed between the names and the tables of its cache lists nothing the bucket lacks, and a rerun sends it" {
	source_store
	bucket
	"$CDT" --cache "$T/cache" --store "$S" push "$U" gen1/src/big gen1/src/link
	# The rest of gen1: killed in the cache after its names are in place
	# and before its table follows them, so nothing of it was sent.
	CDT_TEST_CRASH=info run_split "$CDT" --cache "$T/cache" --store "$S" push "$U" gen1
	[ "$status" -ne 0 ] || fail "push did not stop at info"
	# Read through the same cache: only what the bucket holds.
	"$CDT" --cache "$T/cache" --store "$U" ls > "$T/got"
	printf '%s\n' gen1/src/big gen1/src/link > "$T/want"
	cmp "$T/want" "$T/got" || fail "the cache lists names the bucket lacks: $(cat "$T/got")"
	run_split "$CDT" --cache "$T/cache" --store "$S" push "$U"
	assert_status 0
	assert_out_contains "copied 9 names"
	same_names "$S" "$U"
	run_split "$CDT" --cache "$T/cache-fsck" --store "$U" fsck
	assert_status 0
}

@test "init writes the config's copy before the config; push writes it where it is missing or differs" {
	source_store
	bucket
	s3_requests PUT "/$B/" > /dev/null	# the log holds every request so far
	grep -o "\"PUT /$B/store/config[^ ]*" "$S3_LOG" > puts
	printf '"PUT /%s/store/config.copy\n"PUT /%s/store/config\n' "$B" "$B" > want
	diff want puts
	s3_curl "/$B/store/config" -f -o config
	s3_curl "/$B/store/config.copy" -f -o copy
	cmp config copy
	# A bucket made before copies: a reader leaves it so, a push writes it.
	s3_curl "/$B/store/config.copy" -f -X DELETE
	"$CDT" --cache "$T/cache" --store "$U" ls > /dev/null
	[ "$(s3_curl "/$B/store/config.copy" -o /dev/null -w '%{http_code}')" = 404 ]
	run_split "$CDT" --cache "$T/cache" --store "$S" push "$U" gen1/src/link
	assert_status 0
	[ -z "$err" ]
	s3_curl "/$B/store/config.copy" -f -o copy
	cmp config copy
	# One that differs is written again, even by a push that copies nothing.
	printf 'garbage\n' > garbage
	s3_curl "/$B/store/config.copy" -f -X PUT -T garbage
	run_split "$CDT" --cache "$T/cache" --store "$S" push "$U" gen1/src/link
	assert_status 0
	assert_out_contains "copied 0 names"
	s3_curl "/$B/store/config.copy" -f -o copy
	cmp config copy
}

@test "a bucket whose config is damaged is read through its copy; push into it is refused and sends nothing" {
	source_store
	bucket
	"$CDT" --cache "$T/cache" --store "$S" push "$U" gen1 > /dev/null
	s3_curl "/$B/store/config" -f -o config
	sed 's/^level 3$/level 4/' config > bad
	s3_curl "/$B/store/config" -f -X PUT -T bad
	run_split "$CDT" --cache "$T/reader" --store "$U" cat gen1/src/big
	assert_status 0
	"$CDT" --store "$S" cat gen1/src/big | cmp "$T/.out" -
	assert_one_line_err
	assert_err_contains "has a damaged config (config checksum does not match its contents): using its copy 'config.copy'"
	puts=$(s3_requests PUT "/$B/")
	run_split "$CDT" --cache "$T/cache" --store "$S" push "$U"
	assert_status 1
	assert_err_contains "its config is damaged (config checksum does not match its contents); put its copy 'config.copy' back as 'config' first"
	[ "$(wc -l < "$T/.err")" = 2 ] || fail "not a warning and one error: $err"
	[ "$(s3_requests PUT "/$B/")" = "$puts" ] || fail "the refused push sent something"
	# Both damaged: refused as before.
	s3_curl "/$B/store/config.copy" -f -X PUT -T bad
	run_split "$CDT" --cache "$T/reader2" --store "$U" ls
	assert_status 1
	assert_one_line_err
	assert_err_contains "config checksum does not match its contents"
	# The config put back: the push goes on where the refused one stopped.
	s3_curl "/$B/store/config" -f -X PUT -T config
	s3_curl "/$B/store/config.copy" -f -X PUT -T config
	run_split "$CDT" --cache "$T/cache" --store "$S" push "$U"
	assert_status 0
	[ -z "$err" ]
	same_names "$S" "$U"
}
