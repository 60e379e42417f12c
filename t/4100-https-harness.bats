#!/usr/bin/env bats
# The HTTPS servers of the remote-store tests (t/lib-https.bash) do what the
# tests rely on, checked with curl alone.

load test_helper
load lib-https

# One server for the whole file, as a file of client tests may start it.
setup_file() {
	if _https_nginx >/dev/null && command -v openssl >/dev/null; then
		mkdir "$BATS_FILE_TMPDIR/shared"
		echo shared > "$BATS_FILE_TMPDIR/shared/f"
		https_start "$BATS_FILE_TMPDIR/shared"
		FILE_HTTPS_URL=$HTTPS_URL FILE_HTTPS_LOG=$HTTPS_LOG
		export FILE_HTTPS_URL FILE_HTTPS_LOG
	fi
}

# curl trusting the test certificate, quiet but for errors.
hcurl() {
	curl -sS --cacert "$HTTPS_CA" "$@"
}

# Run curl and keep its exit status, stdout and stderr apart.
run_curl() {
	run_split hcurl "$@"
}

@test "nginx serves a file byte-identically over HTTP/2 and TLS" {
	need_https
	mkdir srv
	gen_bytes 1 3000000 > srv/big
	https_start srv
	run_curl --http2 -o got -w '%{http_code} %{http_version}' "$HTTPS_URL/big"
	assert_status 0
	[ "$output" = "200 2" ] || fail "curl says: $output"
	cmp srv/big got
	# The log says so too.
	tail -n 1 "$HTTPS_LOG" > line
	read -r method uri code bytes proto range < line
	[ "$method $uri $code $bytes $proto $range" = 'GET /big 200 3000000 HTTP/2.0 "-"' ] ||
		fail "log line: $(cat line)"
}

@test "the certificate is for 127.0.0.1 and localhost, and nothing trusts it unasked" {
	need_https
	mkdir srv
	echo hello > srv/f
	https_start srv
	port=${HTTPS_URL##*:}
	run_curl -o got "https://localhost:$port/f"
	assert_status 0
	cmp srv/f got
	run_split curl -sS -o /dev/null "$HTTPS_URL/f"
	assert_status 60
}

@test "a port already taken makes https_start try another" {
	need_https
	mkdir srv
	RANDOM=4100
	_https_pick_port
	taken=$_https_port
	python3 -c 'import socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen()
open(sys.argv[2], "w").close()
time.sleep(60)' "$taken" "$T/listening" 3>&- &
	holder=$!
	for _ in $(seq 1 100); do
		[ -e "$T/listening" ] && break
		sleep 0.05
	done
	[ -e "$T/listening" ] || { kill "$holder"; fail "cannot take port $taken"; }
	RANDOM=4100
	https_start srv || { kill "$holder"; false; }
	kill "$holder"
	[ "${HTTPS_URL##*:}" != "$taken" ]
	echo hi > srv/f
	run_curl -o got "$HTTPS_URL/f"
	assert_status 0
	cmp srv/f got
}

@test "a Range request gets exactly its bytes, as 206, and the log has the Range header" {
	need_https
	mkdir srv
	gen_bytes 2 1000000 > srv/f
	https_start srv
	run_curl -o part -D hdr -w '%{http_code}' -r 123456-234566 "$HTTPS_URL/f"
	assert_status 0
	[ "$output" = 206 ]
	tail -c +123457 srv/f | head -c 111111 > want
	cmp want part
	grep -qi '^content-range: bytes 123456-234566/1000000' hdr
	tail -n 1 "$HTTPS_LOG" > line
	[ "$(cat line)" = 'GET /f 206 111111 HTTP/2.0 "bytes=123456-234566"' ] ||
		fail "log line: $(cat line)"
	# Past the end: 416.
	run_curl -o /dev/null -w '%{http_code}' -r 2000000-2000010 "$HTTPS_URL/f"
	[ "$output" = 416 ]
}

@test "the counters count requests and body bytes by URI" {
	need_https
	mkdir -p srv/packs
	gen_bytes 3 500000 > srv/packs/a.pack
	gen_bytes 4 70000 > srv/packs/a.idx
	echo config > srv/config
	https_start srv
	[ "$(https_requests)" = 0 ]
	[ "$(https_bytes_sent)" = 0 ]
	hcurl -o /dev/null "$HTTPS_URL/config"
	hcurl -o /dev/null "$HTTPS_URL/packs/a.idx"
	hcurl -o /dev/null -r 0-99999 "$HTTPS_URL/packs/a.pack"
	hcurl -o /dev/null -r 400000- "$HTTPS_URL/packs/a.pack"
	hcurl -o /dev/null "$HTTPS_URL/packs/a.pack"
	hcurl -o /dev/null "$HTTPS_URL/nosuch" || true
	[ "$(https_requests)" = 6 ]
	[ "$(https_requests '\.pack$')" = 3 ]
	[ "$(https_bytes_sent '\.pack$')" = $((100000 + 100000 + 500000)) ]
	[ "$(https_bytes_sent '^/packs/')" = $((700000 + 70000)) ]
	[ "$(https_requests '^/config$')" = 1 ]
	[ "$(https_bytes_sent '^/config$')" = 7 ]
	[ "$(https_requests 'nothing-matches')" = 0 ]
	# Requests of several connections at once are all counted.
	for _ in 1 2 3 4; do
		hcurl -o /dev/null "$HTTPS_URL/packs/a.idx" &
	done
	wait
	[ "$(https_requests 'a\.idx$')" = 5 ]
	[ "$(https_bytes_sent 'a\.idx$')" = 350000 ]
}

@test "the fault locations answer 503 and 404, and the server is read-only" {
	need_https
	mkdir srv
	echo data > srv/f
	https_start srv
	run_curl -o /dev/null -w '%{http_code}' "$HTTPS_URL/fail503/f"
	[ "$output" = 503 ]
	run_curl -o /dev/null -w '%{http_code}' -r 0-1 "$HTTPS_URL/fail503/f"
	[ "$output" = 503 ]
	run_curl -o /dev/null -w '%{http_code}' "$HTTPS_URL/notfound/f"
	[ "$output" = 404 ]
	run_curl -o /dev/null -w '%{http_code}' "$HTTPS_URL/nosuch"
	[ "$output" = 404 ]
	# No directory listings.
	run_curl -o /dev/null -w '%{http_code}' "$HTTPS_URL/"
	[ "$output" = 403 ]
	run_curl -o /dev/null -w '%{http_code}' -X PUT --data-binary new "$HTTPS_URL/f"
	[ "$output" = 405 ]
	run_curl -o /dev/null -w '%{http_code}' -X DELETE "$HTTPS_URL/f"
	[ "$output" = 405 ]
	[ "$(cat srv/f)" = data ]
	[ "$(https_requests '^/fail503/')" = 2 ]
}

@test "a stalled server times the client out, and serves again once resumed" {
	need_https
	mkdir srv
	gen_bytes 5 100000 > srv/f
	https_start srv
	https_stall
	for p in $(_https_pids "$HTTPS_PID"); do
		[ "$(awk '{ print $3 }' "/proc/$p/stat")" = T ] || fail "process $p is not stopped"
	done
	start=$SECONDS
	run_curl -o got --max-time 2 "$HTTPS_URL/f"
	assert_status 28
	[ $((SECONDS - start)) -le 5 ]
	https_resume
	run_curl -o got --max-time 10 "$HTTPS_URL/f"
	assert_status 0
	cmp srv/f got
}

@test "https_stop leaves no nginx process, even a stalled one" {
	need_https
	mkdir srv
	https_start srv
	pids=$(_https_pids "$HTTPS_PID")
	[ "$(echo "$pids" | wc -l)" -ge 2 ] || fail "no worker: $pids"
	https_stall
	https_stop
	for p in $pids; do
		_https_gone "$p" || fail "process $p is still there"
	done
}

@test "a server left running by a test is stopped when the test ends (1/2)" {
	need_https
	mkdir srv
	https_start srv
	_https_pids "$HTTPS_PID" > "$BATS_FILE_TMPDIR/left-nginx"
	bad_https_start srv none
	echo "$BAD_HTTPS_PID" > "$BATS_FILE_TMPDIR/left-bad"
}

@test "a server left running by a test is stopped when the test ends (2/2)" {
	[ -s "$BATS_FILE_TMPDIR/left-nginx" ] || skip "the test before did not run"
	for p in $(cat "$BATS_FILE_TMPDIR/left-nginx" "$BATS_FILE_TMPDIR/left-bad"); do
		_https_gone "$p" || fail "process $p is still there"
	done
}

@test "a server started by setup_file serves every test of the file (1/2)" {
	need_https
	[ -n "${FILE_HTTPS_URL:-}" ] || fail "setup_file started no server"
	HTTPS_URL=$FILE_HTTPS_URL HTTPS_LOG=$FILE_HTTPS_LOG
	run_curl -o got "$HTTPS_URL/f"
	assert_status 0
	[ "$(cat got)" = shared ]
}

@test "a server started by setup_file serves every test of the file (2/2)" {
	need_https
	HTTPS_URL=$FILE_HTTPS_URL HTTPS_LOG=$FILE_HTTPS_LOG
	run_curl -o got "$HTTPS_URL/f"
	assert_status 0
	[ "$(https_requests '^/f$')" = 2 ]
}

@test "bad-https.py without a fault serves whole files and single ranges" {
	need_bad_https
	mkdir srv srv/sub
	gen_bytes 6 300000 > srv/sub/f
	bad_https_start srv none
	run_split curl -sS --cacert "$HTTPS_CA" -o got -w '%{http_code}' "$BAD_HTTPS_URL/sub/f"
	assert_status 0
	[ "$output" = 200 ]
	cmp srv/sub/f got
	run_split curl -sS --cacert "$HTTPS_CA" -o part -D hdr -w '%{http_code}' -r 1000-1999 "$BAD_HTTPS_URL/sub/f"
	[ "$output" = 206 ]
	tail -c +1001 srv/sub/f | head -c 1000 > want
	cmp want part
	grep -qi '^content-range: bytes 1000-1999/300000' hdr
	run_split curl -sS --cacert "$HTTPS_CA" -o part -w '%{http_code}' -r 299990- "$BAD_HTTPS_URL/sub/f"
	[ "$output" = 206 ]
	tail -c 10 srv/sub/f > want
	cmp want part
	# A range that runs past the end is cut at the end.
	run_split curl -sS --cacert "$HTTPS_CA" -o part -w '%{http_code}' -r 299000-400000 "$BAD_HTTPS_URL/sub/f"
	[ "$output" = 206 ]
	tail -c 1000 srv/sub/f > want
	cmp want part
	run_split curl -sS --cacert "$HTTPS_CA" -o /dev/null -D hdr -w '%{http_code}' -r 300000-300001 "$BAD_HTTPS_URL/sub/f"
	[ "$output" = 416 ]
	grep -qi '^content-range: bytes \*/300000' hdr
	run_split curl -sS --cacert "$HTTPS_CA" -o /dev/null -w '%{http_code}' "$BAD_HTTPS_URL/sub/nosuch"
	[ "$output" = 404 ]
	# Nothing outside the directory.
	echo secret > outside
	run_split curl -sS --cacert "$HTTPS_CA" --path-as-is -o /dev/null -w '%{http_code}' "$BAD_HTTPS_URL/../outside"
	[ "$output" = 404 ]
	run_split curl -sS --cacert "$HTTPS_CA" -o /dev/null -w '%{http_code}' "$BAD_HTTPS_URL/%2e%2e/outside"
	[ "$output" = 404 ]
}

@test "bad-https.py truncate: the full Content-Length, half the body, then a close" {
	need_bad_https
	mkdir srv
	gen_bytes 7 200000 > srv/f
	bad_https_start srv truncate
	run_split curl -sS --cacert "$HTTPS_CA" -o got -D hdr "$BAD_HTTPS_URL/f"
	assert_status 18
	grep -qi '^content-length: 200000' hdr
	[ "$(stat -c %s got)" = 100000 ]
	head -c 100000 srv/f | cmp - got
	run_split curl -sS --cacert "$HTTPS_CA" -o got -r 0-9999 "$BAD_HTTPS_URL/f"
	assert_status 18
	[ "$(stat -c %s got)" = 5000 ]
}

@test "bad-https.py flip: every body has one bit flipped, and only one" {
	need_bad_https
	mkdir srv
	gen_bytes 8 200000 > srv/f
	bad_https_start srv flip
	run_split curl -sS --cacert "$HTTPS_CA" -o got "$BAD_HTTPS_URL/f"
	assert_status 0
	run cmp srv/f got
	[ "$status" = 1 ]
	cmp -l srv/f got > diffs || true
	[ "$(wc -l < diffs)" = 1 ]
	read -r at a b < diffs
	[ "$at" = 100001 ]
	# cmp -l prints the bytes in octal.
	[ $(( 8#$a ^ 8#$b )) = 1 ]
	run_split curl -sS --cacert "$HTTPS_CA" -o part -r 5000-5999 "$BAD_HTTPS_URL/f"
	assert_status 0
	tail -c +5001 srv/f | head -c 1000 > want
	cmp -l want part > diffs || true
	[ "$(wc -l < diffs)" = 1 ]
}

@test "bad-https.py slow: the headers come, then nothing" {
	need_bad_https
	mkdir srv
	gen_bytes 9 1000 > srv/f
	bad_https_start srv slow
	start=$SECONDS
	run_split curl -sS --cacert "$HTTPS_CA" -o got -D hdr --max-time 2 "$BAD_HTTPS_URL/f"
	assert_status 28
	[ $((SECONDS - start)) -le 5 ]
	grep -q '^HTTP/1.1 200' hdr
	[ ! -s got ]
	# It still takes other connections meanwhile.
	run_split curl -sS --cacert "$HTTPS_CA" -I --max-time 5 "$BAD_HTTPS_URL/f"
	assert_status 0
}
