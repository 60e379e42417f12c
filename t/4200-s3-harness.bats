#!/usr/bin/env bats
# The S3 gateway of the s3:// store tests (t/lib-s3.bash: Ceph's monitor,
# an in-memory OSD and radosgw on 127.0.0.1) does what the tests rely on,
# checked with curl alone.

load test_helper
load lib-s3

# One cluster for the file, as a file of client tests starts it.
setup_file() {
	if ! _s3_missing >/dev/null; then
		s3_start
		FILE_S3_DIR=$S3_DIR
		export FILE_S3_DIR
	fi
}

# Run s3_curl and keep its exit status, stdout and stderr apart.
run_s3() {
	run_split s3_curl "$@"
}

@test "the cluster starts in seconds and its gateway answers a signed request" {
	need_s3
	[ -n "${FILE_S3_DIR:-}" ] || fail "setup_file started no cluster"
	[[ "$AWS_ENDPOINT_URL" =~ ^http://127\.0\.0\.1:[0-9]+$ ]] || fail "endpoint: $AWS_ENDPOINT_URL"
	[[ "$AWS_ACCESS_KEY_ID" =~ ^[A-Z0-9]{20}$ ]] || fail "access key: $AWS_ACCESS_KEY_ID"
	[[ "$AWS_SECRET_ACCESS_KEY" =~ ^[A-Za-z0-9]{40}$ ]] || fail "secret: $AWS_SECRET_ACCESS_KEY"
	[ "$AWS_REGION" = us-east-1 ]
	[ -s "$S3_LOG" ]
	for n in mon.a osd.0 client.rgw; do
		_s3_alive "$S3_DIR" "$n" || fail "$n does not run"
	done
	ms=$(cat "$S3_DIR/start.ms")
	[ "$ms" -lt 45000 ] || fail "the cluster took $ms ms to start"
	# The list of the user's buckets, signed.
	run_s3 / -o got -w '%{http_code}'
	assert_status 0
	[ "$output" = 200 ] || fail "GET /: $output: $(cat got)"
	grep -q "<ID>$S3_USER</ID>" got || fail "not the test user's list: $(cat got)"
}

@test "an object PUT is read back byte-identically, whole and by range" {
	need_s3
	s3_bucket t2-objects
	gen_bytes 1 3000000 > big
	run_s3 /t2-objects/dir/big -T big -w '%{http_code}'
	assert_status 0
	[ "$output" = 200 ]
	run_s3 /t2-objects/dir/big -o got -w '%{http_code}'
	[ "$output" = 200 ]
	cmp big got
	run_s3 /t2-objects/dir/big -o part -D hdr -w '%{http_code}' -r 123456-234566
	[ "$output" = 206 ]
	tail -c +123457 big | head -c 111111 > want
	cmp want part
	grep -qi '^content-range: bytes 123456-234566/3000000' hdr
	run_s3 /t2-objects/dir/big -o part -w '%{http_code}' -r 2999990-
	[ "$output" = 206 ]
	tail -c 10 big > want
	cmp want part
	# The payload's SHA-256 in the header, as a client sends it, is checked.
	sum=$(sha256sum big | cut -c1-64)
	run_s3 /t2-objects/summed -T big -w '%{http_code}' -H "x-amz-content-sha256: $sum"
	[ "$output" = 200 ]
	run_s3 /t2-objects/summed -o got -w '%{http_code}'
	cmp big got
	echo other > other
	run_s3 /t2-objects/summed -T other -o body -w '%{http_code}' -H "x-amz-content-sha256: $sum"
	[ "$output" = 400 ] || fail "a wrong payload hash: $output"
	grep -q '<Code>XAmzContentSHA256Mismatch</Code>' body || fail "body: $(cat body)"
	run_s3 /t2-objects/summed -o got -w '%{http_code}'
	cmp big got
	# Not there: 404; deleted: gone.
	run_s3 /t2-objects/nosuch -o body -w '%{http_code}'
	[ "$output" = 404 ]
	grep -q '<Code>NoSuchKey</Code>' body
	run_s3 /t2-objects/summed -X DELETE -w '%{http_code}'
	[ "$output" = 204 ]
	run_s3 /t2-objects/summed -o /dev/null -w '%{http_code}'
	[ "$output" = 404 ]
}

@test "If-None-Match: * creates only: a PUT over an existing key gets 412 and changes nothing" {
	need_s3
	s3_bucket t3-create-only
	echo first > first
	echo second > second
	run_s3 /t3-create-only/k -T first -H 'If-None-Match: *' -w '%{http_code}'
	[ "$output" = 200 ]
	run_s3 /t3-create-only/k -T second -H 'If-None-Match: *' -o body -w '%{http_code}'
	assert_status 0
	[ "$output" = 412 ] || fail "a create-only PUT over a key: $output"
	grep -q '<Code>PreconditionFailed</Code>' body || fail "body: $(cat body)"
	run_s3 /t3-create-only/k -o got
	cmp first got
	# Without the header a PUT replaces.
	run_s3 /t3-create-only/k -T second -w '%{http_code}'
	[ "$output" = 200 ]
	run_s3 /t3-create-only/k -o got
	cmp second got
}

@test "a wrong secret gets 403 SignatureDoesNotMatch, and so does a request without the payload hash" {
	need_s3
	s3_bucket t4-auth
	echo data > f
	run_s3 /t4-auth/k -T f -w '%{http_code}'
	[ "$output" = 200 ]
	AWS_SECRET_ACCESS_KEY=wrong$AWS_SECRET_ACCESS_KEY run_s3 /t4-auth/k -o body -w '%{http_code}'
	[ "$output" = 403 ] || fail "a wrong secret: $output"
	grep -q '<Code>SignatureDoesNotMatch</Code>' body || fail "body: $(cat body)"
	AWS_SECRET_ACCESS_KEY=wrong$AWS_SECRET_ACCESS_KEY run_s3 /t4-auth/k -T /dev/null -o body -w '%{http_code}'
	[ "$output" = 403 ]
	run_s3 /t4-auth/k -o got
	cmp f got
	# Any region will do.
	AWS_REGION=eu-central-1 run_s3 /t4-auth/k -o got -w '%{http_code}'
	[ "$output" = 200 ]
	cmp f got
	AWS_ACCESS_KEY_ID=AKNOSUCHUSER000000000 run_s3 /t4-auth/k -o body -w '%{http_code}'
	[ "$output" = 403 ]
	grep -q '<Code>InvalidAccessKeyId</Code>' body || fail "body: $(cat body)"
	# No x-amz-content-sha256: curl signs the hash of an empty body,
	# radosgw checks against UNSIGNED-PAYLOAD.
	run_split curl -sS --aws-sigv4 "aws:amz:$AWS_REGION:s3" \
		--user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" -o body -w '%{http_code}' \
		"$AWS_ENDPOINT_URL/t4-auth/k"
	[ "$output" = 403 ]
	grep -q '<Code>SignatureDoesNotMatch</Code>' body || fail "body: $(cat body)"
	# Unsigned: no access.
	run_split curl -sS -o body -w '%{http_code}' "$AWS_ENDPOINT_URL/t4-auth/k"
	[ "$output" = 403 ]
	grep -q '<Code>AccessDenied</Code>' body || fail "body: $(cat body)"
}

@test "s3_list gives the keys sorted, under a prefix, over several pages" {
	need_s3
	s3_bucket t5-list
	echo x > f
	for k in packs/b.pack packs/a.pack packs/a.idx info/packs config 'names/sp%20ace' 'names/x%26y' \
		'names/%C3%A9t%C3%A9'; do
		run_s3 "/t5-list/$k" -T f -w '%{http_code}'
		[ "$output" = 200 ] || fail "PUT $k: $output"
	done
	s3_list t5-list > all
	printf '%s\n' config info/packs names/sp\ ace 'names/x&y' names/été packs/a.idx packs/a.pack \
		packs/b.pack > want
	diff want all
	s3_list t5-list packs/ > got
	printf '%s\n' packs/a.idx packs/a.pack packs/b.pack > want
	diff want got
	s3_list t5-list 'names/x&' > got
	[ "$(cat got)" = 'names/x&y' ]
	s3_list t5-list 'names/é' > got
	[ "$(cat got)" = names/été ]
	s3_list t5-list nothing/ > got
	[ ! -s got ]
	S3_LIST_PAGE_KEYS=2 s3_list t5-list > paged
	diff all paged
	[ "$(s3_requests GET '^/t5-list\?continuation-token=')" = 3 ]
	S3_LIST_PAGE_KEYS=1 s3_list t5-list packs/a > got
	printf '%s\n' packs/a.idx packs/a.pack > want
	diff want got
	# A bucket that is not there is an error.
	run_split s3_list t5-nosuch
	[ "$status" -ne 0 ]
	assert_err_contains NoSuchBucket
}

@test "s3_bucket makes a new bucket and refuses a bad name or one that exists" {
	need_s3
	s3_bucket t6-bucket
	run_s3 /t6-bucket -I -o /dev/null -w '%{http_code}'
	[ "$output" = 200 ]
	run_split s3_bucket t6-bucket
	[ "$status" = 1 ]
	assert_err_contains "bucket 't6-bucket' exists already"
	run_split s3_bucket Upper
	[ "$status" = 1 ]
	assert_err_contains "'Upper' is not a bucket name"
	run_split s3_bucket ab
	[ "$status" = 1 ]
}

@test "s3_requests counts requests by method and path" {
	need_s3
	s3_bucket t7-count
	[ "$(s3_requests PUT '^/t7-count/')" = 0 ]
	[ "$(s3_requests PUT '^/t7-count$')" = 1 ]
	echo x > f
	for i in 1 2 3; do
		s3_curl "/t7-count/packs/p$i.pack" -T f
		s3_curl "/t7-count/packs/p$i.idx" -T f
	done
	s3_curl /t7-count/info/packs -T f
	s3_curl /t7-count/packs/p1.pack -o /dev/null
	s3_curl /t7-count/packs/p1.pack -o /dev/null -r 0-0
	s3_curl /t7-count/packs/p1.pack -T f -H 'If-None-Match: *' -o /dev/null
	s3_curl /t7-count/nosuch -o /dev/null
	[ "$(s3_requests PUT '^/t7-count/packs/.*\.pack$')" = 4 ]
	[ "$(s3_requests PUT '^/t7-count/')" = 8 ]
	[ "$(s3_requests GET '^/t7-count/packs/p1\.pack$')" = 2 ]
	[ "$(s3_requests GET '^/t7-count/')" = 3 ]
	[ "$(s3_requests '*' '^/t7-count/')" = 11 ]
	[ "$(s3_requests DELETE '^/t7-count')" = 0 ]
	# Requests of several connections at once are all counted.
	for i in 1 2 3 4 5 6; do
		s3_curl "/t7-count/par/$i" -T f &
	done
	wait
	[ "$(s3_requests PUT '^/t7-count/par/')" = 6 ]
}

@test "taken ports make s3_start try others, and s3_stop leaves no process and no data" {
	need_s3
	# The gateway's port is drawn first, then the monitor's: take both
	# (with a seed of this run's, as another run of this file may hold
	# the ports of a fixed one).
	for seed in $(( $$ % 30000 )) $((RANDOM)) $((RANDOM)) $((RANDOM)); do
		RANDOM=$seed
		_s3_pick_port
		taken_rgw=$_s3_port
		_s3_pick_port
		taken_mon=$_s3_port
		[ "$taken_rgw" != "$taken_mon" ] || continue
		python3 -c 'import socket, sys, time
ss = []
for p in sys.argv[1:3]:
    s = socket.socket()
    s.bind(("127.0.0.1", int(p)))
    s.listen()
    ss.append(s)
open(sys.argv[3], "w").close()
time.sleep(120)' "$taken_rgw" "$taken_mon" "$T/listening" 2>/dev/null 3>&- &
		holder=$!
		for _ in $(seq 1 100); do
			[ -e "$T/listening" ] && break
			_s3_gone "$holder" && break
			sleep 0.05
		done
		[ -e "$T/listening" ] && break
		kill "$holder" 2>/dev/null || true
	done
	[ -e "$T/listening" ] || fail "cannot take two ports"
	_s3_port_free "$taken_rgw" && { kill "$holder"; fail "port $taken_rgw is free"; }
	_s3_port_free "$taken_mon" && { kill "$holder"; fail "port $taken_mon is free"; }
	# The daemons find them taken, not the check before.
	_s3_skip_port_check=1
	RANDOM=$seed
	s3_start || { kill "$holder"; false; }
	kill "$holder"
	# radosgw was started twice (a daemon that dies at once may not write
	# why: its log is written behind it).
	[ "$(grep -c 'process radosgw, pid' "$S3_DIR/log/client.rgw.log")" = 2 ]
	ms=$(cat "$S3_DIR/start.ms")
	[ "$ms" -lt 30000 ] || fail "starting took $ms ms"
	[ "$S3_DIR" != "$FILE_S3_DIR" ]
	[ "${AWS_ENDPOINT_URL##*:}" != "$taken_rgw" ]
	grep -q "^mon host = \[v2:127.0.0.1:[0-9]*\]$" "$S3_DIR/ceph.conf"
	if grep -q "^mon host = \[v2:127.0.0.1:$taken_mon\]$" "$S3_DIR/ceph.conf"; then
		fail "the monitor has the taken port $taken_mon"
	fi
	s3_bucket t8-ports
	echo hi > f
	run_s3 /t8-ports/f -T f -w '%{http_code}'
	[ "$output" = 200 ]
	pids=$(cat "$S3_DIR"/run/*.pid)
	[ "$(echo "$pids" | wc -l)" = 3 ]
	# Even a stopped daemon goes.
	kill -STOP "$(cat "$S3_DIR/run/osd.0.pid")"
	t0=$(date +%s%N)
	s3_stop
	[ $(( ($(date +%s%N) - t0) / 1000000 )) -lt 5000 ] || fail "stopping took seconds"
	for p in $pids; do
		_s3_gone "$p" || fail "process $p is still there"
	done
	[ ! -e "$S3_DIR/mon" ] && [ ! -e "$S3_DIR/osd" ]
	# The other cluster of the file still serves.
	_s3_alive "$FILE_S3_DIR" client.rgw
}

@test "a cluster left running by a test is stopped when the test ends (1/2)" {
	need_s3
	s3_start
	cat "$S3_DIR"/run/*.pid > "$BATS_FILE_TMPDIR/left-ceph"
}

@test "a cluster left running by a test is stopped when the test ends (2/2)" {
	[ -s "$BATS_FILE_TMPDIR/left-ceph" ] || skip "the test before did not run"
	[ "$(wc -l < "$BATS_FILE_TMPDIR/left-ceph")" = 3 ]
	for p in $(cat "$BATS_FILE_TMPDIR/left-ceph"); do
		_s3_gone "$p" || fail "process $p is still there"
	done
	# Not the file's.
	for n in mon.a osd.0 client.rgw; do
		_s3_alive "$FILE_S3_DIR" "$n" || fail "$n of the file's cluster is gone"
	done
}
