# lib-https.bash: HTTPS servers on 127.0.0.1 for the remote-store tests
# (load after test_helper).
#
# https_start DIR        nginx serving DIR read-only over TLS and HTTP/2;
#                        exports HTTPS_URL, HTTPS_CA, HTTPS_LOG, HTTPS_PID.
#                        $HTTPS_URL/fail503/... answers 503, and
#                        $HTTPS_URL/notfound/... 404, for every request.
#                        (No location fails only once: nginx keeps no state
#                        between requests.)
# https_stall            SIGSTOP every nginx process; https_resume: SIGCONT.
# https_stop             stop it.
# https_requests [RE]    requests whose URI matches the extended regex RE
#                        (all without RE) in the access log: their count;
# https_bytes_sent [RE]  their body bytes sent. Both first make sure nginx
#                        has logged every request it finished (waiting up
#                        to 5 s, so call them after https_resume).
# bad_https_start DIR MODE
#                        t/lib/bad-https.py serving DIR with fault MODE
#                        (none, truncate, flip, slow); exports BAD_HTTPS_URL,
#                        BAD_HTTPS_LOG, BAD_HTTPS_PID.  bad_https_stop stops it.
#
# Both trust the certificate $HTTPS_CA (made once per test file). A server
# started in a test is stopped when the test ends, one started in
# setup_file when the file ends, even when a test fails; a file that
# defines its own teardown_file must call https_stop_all in it.
#
# Access log: one line per request, fields separated by one space:
#   METHOD REQUEST_URI STATUS BODY_BYTES_SENT PROTOCOL "RANGE"
# (the request URI as sent, with its query string, so it has no spaces;
# RANGE is the Range request header, "-" when there was none; PROTOCOL is
# HTTP/2.0 for HTTP/2).

# Skip (fail in strict mode) where the servers cannot run.
need_https() {
	_https_nginx >/dev/null || skip_or_fail "nginx is not installed (apt-get install nginx-light)" || return 1
	command -v openssl >/dev/null || skip_or_fail "openssl is not installed" || return 1
	command -v curl >/dev/null || skip_or_fail "curl is not installed" || return 1
}

need_bad_https() {
	command -v python3 >/dev/null || skip_or_fail "python3 is not installed" || return 1
	command -v openssl >/dev/null || skip_or_fail "openssl is not installed" || return 1
	command -v curl >/dev/null || skip_or_fail "curl is not installed" || return 1
}

# nginx lives in /usr/sbin, which a user's PATH may lack.
_https_nginx() {
	command -v nginx 2>/dev/null && return 0
	[ -x /usr/sbin/nginx ] && echo /usr/sbin/nginx
}

# The test file's certificate for 127.0.0.1 and localhost, made once.
_https_cert() {
	HTTPS_CA="$BATS_FILE_TMPDIR/https-cert.pem"
	HTTPS_KEY="$BATS_FILE_TMPDIR/https-key.pem"
	export HTTPS_CA HTTPS_KEY
	[ -s "$HTTPS_CA" ] && [ -s "$HTTPS_KEY" ] && return 0
	local d
	d=$(mktemp -d "$BATS_FILE_TMPDIR/cert.XXXXXX")
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-keyout "$d/key.pem" -out "$d/cert.pem" -days 30 -subj "/CN=localhost" \
		-addext "subjectAltName=IP:127.0.0.1,DNS:localhost" 2>"$d/err" ||
		fail "openssl cannot make a certificate: $(cat "$d/err")" || return 1
	mv "$d/key.pem" "$HTTPS_KEY" && mv "$d/cert.pem" "$HTTPS_CA" && rm -rf "$d"
}

# Which servers a test or setup_file owns: its servers are stopped at its end.
_https_owner() {
	echo "${BATS_TEST_NUMBER:-file}"
}

_https_config() { # PREFIX PORT ROOT
	local user=
	# A root master would run its workers as nobody, who cannot read the
	# test's directories (mktemp makes them 0700).
	[ "$(id -u)" = 0 ] && user="user root $(id -gn);"
	cat <<EOF
# nginx for the cdt tests; every path under this prefix.
$user
daemon on;
worker_processes 1;
pid $1/nginx.pid;
error_log $1/error.log info;

events {
	worker_connections 256;
}

http {
	default_type application/octet-stream;
	log_format cdt '\$request_method \$request_uri \$status \$body_bytes_sent \$server_protocol "\$http_range"';
	access_log $1/access.log cdt;
	client_body_temp_path $1/tmp/body;
	proxy_temp_path $1/tmp/proxy;
	fastcgi_temp_path $1/tmp/fastcgi;
	uwsgi_temp_path $1/tmp/uwsgi;
	scgi_temp_path $1/tmp/scgi;
	server_tokens off;
	keepalive_timeout 30s;

	server {
		listen 127.0.0.1:$2 ssl http2;
		server_name localhost;
		ssl_certificate $HTTPS_CA;
		ssl_certificate_key $HTTPS_KEY;
		ssl_protocols TLSv1.2 TLSv1.3;
		root $3;
		autoindex off;

		location / {
		}
		location /fail503/ {
			return 503;
		}
		location /notfound/ {
			return 404;
		}
		# Asked by the counters before they read the log (not logged).
		location = /.cdt-test-sync {
			access_log off;
			return 204;
		}
	}
}
EOF
}

# A port to try, in $_https_port (not printed: a subshell would draw
# from its own copy of RANDOM, and a test seeds it to know the port).
_https_pick_port() {
	_https_port=$(( 20000 + (RANDOM * 32768 + RANDOM) % 40000 ))
}

https_start() {
	local root=$1 nginx prefix port rc=1
	[ -d "$root" ] || fail "https_start: '$root' is not a directory" || return 1
	root=$(cd "$root" && pwd -P)
	need_https || return 1
	nginx=$(_https_nginx)
	_https_cert || return 1
	prefix=$(mktemp -d "$BATS_FILE_TMPDIR/nginx.XXXXXX")
	mkdir -p "$prefix/tmp"
	_https_owner > "$prefix/owner"
	# A port taken by someone else makes nginx fail at once: try another.
	for _ in $(seq 1 20); do
		_https_pick_port
		port=$_https_port
		_https_config "$prefix" "$port" "$root" > "$prefix/nginx.conf"
		: > "$prefix/start.err"
		rc=0
		# 3>&-: bats waits for every holder of fd 3 to exit.
		"$nginx" -p "$prefix" -c "$prefix/nginx.conf" -e "$prefix/error.log" \
			2>"$prefix/start.err" 3>&- </dev/null >/dev/null || rc=$?
		[ "$rc" = 0 ] && break
		grep -q 'Address already in use' "$prefix/start.err" || break
	done
	[ "$rc" = 0 ] || fail "nginx did not start: $(cat "$prefix/start.err")" || return 1

	HTTPS_URL="https://127.0.0.1:$port"
	HTTPS_LOG="$prefix/access.log"
	HTTPS_PREFIX="$prefix"
	export HTTPS_URL HTTPS_LOG HTTPS_PREFIX
	for _ in $(seq 1 100); do
		HTTPS_PID=$(cat "$prefix/nginx.pid" 2>/dev/null) && [ -n "$HTTPS_PID" ] && break
		sleep 0.05
	done
	export HTTPS_PID
	[ -n "$HTTPS_PID" ] || fail "nginx wrote no pid file in $prefix" || return 1
	for _ in $(seq 1 100); do
		[ "$(_https_sync_code)" = 204 ] && return 0
		sleep 0.05
	done
	fail "nginx at $HTTPS_URL does not answer: $(cat "$prefix/error.log")"
}

_https_sync_code() {
	curl -s -o /dev/null -w '%{http_code}' --max-time 5 --cacert "$HTTPS_CA" \
		"$HTTPS_URL/.cdt-test-sync" 2>/dev/null
}

# The master and its workers (its children: read from /proc, as a
# minimal system has no pgrep).
_https_pids() { # MASTER
	local f line rest
	echo "$1"
	for f in /proc/[0-9]*/stat; do
		{ read -r line < "$f"; } 2>/dev/null || continue
		# pid (comm) state ppid ...: comm may hold spaces and parentheses.
		rest=${line##*) }
		rest=${rest#* }
		[ "${rest%% *}" = "$1" ] && echo "${line%% *}"
	done
	return 0
}

https_stall() {
	[ -n "${HTTPS_PID:-}" ] || fail "https_stall: no server" || return 1
	# The master first, so it starts no new worker meanwhile.
	local p
	for p in $(_https_pids "$HTTPS_PID"); do
		kill -STOP "$p"
	done
}

https_resume() {
	[ -n "${HTTPS_PID:-}" ] || fail "https_resume: no server" || return 1
	local p
	for p in $(_https_pids "$HTTPS_PID") ; do
		kill -CONT "$p"
	done
}

# Whether process $1 is gone (a zombie counts as gone: it no longer serves).
_https_gone() {
	local s
	s=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 0
	[ -z "$s" ] || [ "$s" = Z ]
}

_https_kill_all() { # PREFIX: stop the nginx whose prefix it is
	local prefix=$1 master pids p
	master=$(cat "$prefix/nginx.pid" 2>/dev/null) || return 0
	[ -n "$master" ] || return 0
	# Only our nginx: the pid may have been reused since.
	tr '\0' ' ' < "/proc/$master/cmdline" 2>/dev/null | grep -qF -- "$prefix" || return 0
	pids=$(_https_pids "$master")
	# A stalled server takes SIGTERM only once continued.
	# shellcheck disable=SC2086 # a list of pids
	kill -CONT $pids 2>/dev/null || true
	kill -TERM "$master" 2>/dev/null || true
	for _ in $(seq 1 100); do
		_https_gone "$master" && break
		sleep 0.05
	done
	for p in $pids; do
		_https_gone "$p" || kill -KILL "$p" 2>/dev/null || true
	done
	rm -f "$prefix/nginx.pid"
}

https_stop() {
	[ -n "${HTTPS_PREFIX:-}" ] || return 0
	_https_kill_all "$HTTPS_PREFIX"
	unset HTTPS_PID
}

# Every server (nginx and bad-https) this file started, or with an owner
# (a test number or "file") only that owner's.
https_stop_all() {
	local d
	for d in "$BATS_FILE_TMPDIR"/nginx.* "$BATS_FILE_TMPDIR"/bad-https.*; do
		[ -d "$d" ] || continue
		if [ -n "${1:-}" ] && [ "$(cat "$d/owner" 2>/dev/null)" != "$1" ]; then
			continue
		fi
		case "$d" in
		*/nginx.*) _https_kill_all "$d" ;;
		*) _bad_https_kill "$d" ;;
		esac
	done
}

# The log line of a request is written when nginx finishes it, which may be
# just after the client has its last byte. A request to the one worker,
# answered only once that worker is done with what it was doing, makes
# sure every earlier request is logged.
_https_log_settle() {
	[ -n "${HTTPS_URL:-}" ] || fail "no server: call https_start first" || return 1
	_https_sync_code >/dev/null || true
}

# The regex goes through the environment: awk -v would take its
# backslashes as escapes first, each awk its own way (gawk makes \? a bare ?).
https_requests() {
	_https_log_settle || return 1
	HTTPS_RE=${1:-} awk '$2 ~ ENVIRON["HTTPS_RE"] { n++ } END { print n + 0 }' "$HTTPS_LOG"
}

https_bytes_sent() {
	_https_log_settle || return 1
	HTTPS_RE=${1:-} awk '$2 ~ ENVIRON["HTTPS_RE"] { n += $4 } END { printf "%d\n", n }' "$HTTPS_LOG"
}

bad_https_start() {
	local root=$1 mode=$2 dir
	[ -d "$root" ] || fail "bad_https_start: '$root' is not a directory" || return 1
	need_bad_https || return 1
	_https_cert || return 1
	dir=$(mktemp -d "$BATS_FILE_TMPDIR/bad-https.XXXXXX")
	_https_owner > "$dir/owner"
	python3 "$BATS_TEST_DIRNAME/lib/bad-https.py" --root "$root" --cert "$HTTPS_CA" \
		--key "$HTTPS_KEY" --port-file "$dir/port" --fault "$mode" \
		</dev/null >/dev/null 2>"$dir/log" 3>&- &
	echo $! > "$dir/pid"
	BAD_HTTPS_PID=$!
	BAD_HTTPS_LOG="$dir/log"
	BAD_HTTPS_DIR="$dir"
	export BAD_HTTPS_PID BAD_HTTPS_LOG BAD_HTTPS_DIR
	for _ in $(seq 1 200); do
		[ -s "$dir/port" ] && break
		_https_gone "$BAD_HTTPS_PID" && break
		sleep 0.05
	done
	[ -s "$dir/port" ] || fail "bad-https.py did not start: $(cat "$dir/log")" || return 1
	BAD_HTTPS_URL="https://127.0.0.1:$(cat "$dir/port")"
	export BAD_HTTPS_URL
}

_bad_https_kill() { # DIR
	local pid
	pid=$(cat "$1/pid" 2>/dev/null) || return 0
	tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$1/port" || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for _ in $(seq 1 100); do
		_https_gone "$pid" && break
		sleep 0.05
	done
	_https_gone "$pid" || kill -KILL "$pid" 2>/dev/null || true
	rm -f "$1/pid"
}

bad_https_stop() {
	[ -n "${BAD_HTTPS_DIR:-}" ] || return 0
	_bad_https_kill "$BAD_HTTPS_DIR"
	unset BAD_HTTPS_PID BAD_HTTPS_URL
}

# A test's servers stop with it (after test_helper's teardown, which the
# copy below keeps), and the file's with the file.
if ! declare -F _https_helper_teardown >/dev/null; then
	if declare -F teardown >/dev/null; then
		eval "$(declare -f teardown | sed '1s/^teardown /_https_helper_teardown /')"
	else
		_https_helper_teardown() { :; }
	fi
fi
teardown() {
	https_stop_all "$(_https_owner)"
	_https_helper_teardown
}

teardown_file() {
	https_stop_all
}
