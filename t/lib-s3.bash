# lib-s3.bash: a single-node Ceph with its S3 gateway (radosgw) on
# 127.0.0.1 for the s3:// store tests (load after test_helper).
#
# need_s3                skip (fail in strict mode) where it cannot run.
# s3_start               one monitor, one OSD (memstore: in memory) and
#                        radosgw on free ports of 127.0.0.1, and an S3 user
#                        with a random key; exports
#                          AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
#                          AWS_REGION (us-east-1; radosgw takes any region
#                            in a signature), AWS_ENDPOINT_URL
#                            (http://127.0.0.1:PORT), S3_LOG (radosgw's
#                            log), S3_DIR (the cluster's directory).
#                        It takes seconds (3 to 4 here): call it from
#                        setup_file (one cluster per test file) and make a
#                        bucket per test. Where the tools are missing it
#                        skips (fails in strict mode) like need_s3.
# s3_bucket NAME         a new bucket (PUT /NAME; it must not exist); NAME
#                        as S3 wants it: 3 to 63 of [a-z0-9.-].
# s3_curl PATH [ARGS...] curl against $AWS_ENDPOINT_URL/PATH (PATH starts
#                        with / and may hold a query string, its parameters
#                        sorted and percent-encoded as SigV4 wants them),
#                        signed with the exported credentials at the time
#                        of the call; ARGS go to curl (-X, -T, -o, -H, ...).
# s3_list BUCKET [PREFIX]
#                        the keys in BUCKET (under PREFIX), one a line,
#                        sorted (ListObjectsV2, every page; pages of
#                        $S3_LIST_PAGE_KEYS keys when set, else radosgw's
#                        1000).
# s3_requests METHOD [RE]
#                        how many METHOD requests (any method for '*')
#                        radosgw has logged whose request URI matches the
#                        extended regex RE (all without RE). It counts
#                        since the cluster started: match on the test's
#                        bucket.
# s3_stop                stop the daemons and remove their data (the log
#                        stays).
# s3_stop_all [OWNER]    the same for every cluster of the file, or only
#                        those of OWNER (a test number, or "file").
#
# A cluster started in a test is stopped when the test ends, one started in
# setup_file when the file ends, even when a test fails; a file that
# defines its own teardown_file must call s3_stop_all in it.
#
# What radosgw wants of a client: path-style URLs (http://HOST:PORT/BUCKET/
# KEY: no DNS name is configured, so no virtual-host style); SigV4 in the
# Authorization header with an x-amz-content-sha256 header that is signed
# too: without it radosgw checks the signature against UNSIGNED-PAYLOAD
# while curl's CURLOPT_AWS_SIGV4 signs the hash of an empty body, and
# answers 403 SignatureDoesNotMatch. The header's value is the hex SHA-256
# of the body (checked: another value gives 400 XAmzContentSHA256Mismatch)
# or UNSIGNED-PAYLOAD. "If-None-Match: *" on a PUT creates only (412
# PreconditionFailed when the key exists).
#
# S3_LOG: radosgw's log at "debug rgw = 1", which holds one line per
# request once the request is done, among other lines:
#   ... beast: 0x...: 127.0.0.1 - USER [DATE] "METHOD URI HTTP/1.1" STATUS BYTES - "USER-AGENT" RANGE latency=...
# (URI as sent, with its query string; RANGE is the Range header or -).

S3_USER=cdt-test
# t/, for t/lib/s3-list.py wherever the test file is.
_s3_t_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

need_s3() {
	local missing
	missing=$(_s3_missing) || return 0
	case "$missing" in
	curl | python3) skip_or_fail "$missing is not installed" ;;
	*) skip_or_fail "$missing is not installed (apt-get install ceph-mon ceph-osd radosgw)" ;;
	esac
}

# The first tool the cluster needs that is not there; status 1 when none is.
_s3_missing() {
	local t
	for t in ceph-mon ceph-osd radosgw radosgw-admin monmaptool ceph rados; do
		_s3_tool "$t" >/dev/null || { echo "$t"; return 0; }
	done
	for t in curl python3; do
		command -v "$t" >/dev/null || { echo "$t"; return 0; }
	done
	return 1
}

# The Ceph tools may be in /usr/sbin or /usr/bin, which a user's PATH may lack.
_s3_tool() {
	command -v "$1" 2>/dev/null && return 0
	local d
	for d in /usr/bin /usr/sbin; do
		[ -x "$d/$1" ] && echo "$d/$1" && return 0
	done
	return 1
}

# Which clusters a test or setup_file owns: its clusters stop at its end.
_s3_owner() {
	echo "${BATS_TEST_NUMBER:-file}"
}

# A port to try, in $_s3_port (not printed: a subshell would draw from its
# own copy of RANDOM, and a test seeds it to know the port).
_s3_pick_port() {
	_s3_port=$(( 20000 + (RANDOM * 32768 + RANDOM) % 40000 ))
}

# Whether PORT of 127.0.0.1 is free: a daemon that finds its port taken
# costs time (radosgw leaves watches behind that would stall the next one
# for 30 s), so a port is tried before a daemon gets it.
_s3_port_free() { # PORT
	python3 -c 'import socket, sys
s = socket.socket()
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)' "$1"
}

# The same before a start; $_s3_skip_port_check makes a test see what a
# daemon does with a taken port.
_s3_try_port() { # PORT
	[ -n "${_s3_skip_port_check:-}" ] || _s3_port_free "$1"
}

# Whether a daemon that failed on its way up (and is gone) did so for its
# port: it says so in its log, but may die before its last lines are
# written, so a port someone else has by now counts too.
_s3_died_for_port() { # LOG LINES RE PORT
	! _s3_port_free "$4" || _s3_logged "$1" "$2" "$3"
}

# The lines in FILE so far (0 when it is not there yet).
_s3_lines() { # FILE
	if [ -f "$1" ]; then
		wc -l < "$1"
	else
		echo 0
	fi
}

_s3_random() { # COUNT CHARS
	local s
	s=$(head -c 300 /dev/urandom | tr -dc "$2")
	while [ ${#s} -lt "$1" ]; do
		s="$s$(head -c 300 /dev/urandom | tr -dc "$2")"
	done
	echo "${s:0:$1}"
}

_s3_config() { # DIR MON_PORT RGW_PORT FSID
	local d=$1 asok
	# The admin socket's path must fit in a sockaddr_un.
	asok="$d/run/\$name.asok"
	[ ${#d} -le 80 ] || asok=
	cat <<EOF
# A single-node Ceph for the cdt tests: every path under $d.
[global]
fsid = $4
mon host = [v2:127.0.0.1:$2]
public addr = 127.0.0.1
ms bind msgr1 = false
# A monitor whose port is taken fails at once (it would try again for 10 s).
ms bind retry count = 1
auth cluster required = none
auth service required = none
auth client required = none
# Daemons ask for a secure connection to the monitor, which needs cephx.
ms mon client mode = crc secure
run dir = $d/run
admin socket = $asok
# The pid files are the tests' (_s3_run).
pid file =
log file = $d/log/\$name.log
log to stderr = false
err to stderr = false
mon cluster log file = $d/log/cluster.log
crash dir = $d/crash
keyring = $d/keyring
mon data = $d/mon/\$name
osd data = $d/osd/\$name
rgw data = $d/rgw/\$name
mon data avail warn = 0
mon data avail crit = 0
mon allow pool size one = true
mon max pg per osd = 1000
mon warn on pool no redundancy = false
paxos propose interval = 0.1
osd objectstore = memstore
memstore device bytes = 1073741824
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
osd op num shards = 2
osd op num threads per shard = 1

[client.rgw]
rgw frontends = beast endpoint=127.0.0.1:$3
rgw thread pool size = 16
rgw enable gc threads = false
rgw enable lc threads = false
rgw enable quota threads = false
rgw run sync thread = false
rgw dynamic resharding = false
# One line per request in the log (the beast access line).
debug rgw = 1/1
EOF
}

# ceph, the command-line client, bounded in time.
_s3_ceph() {
	timeout 30 "$(_s3_tool ceph)" -c "$S3_DIR/ceph.conf" --connect-timeout 20 "$@"
}

# Run daemon NAME of cluster DIR in the background, in the foreground as
# Ceph sees it (-f): its pid is known at once, where a forking daemon
# writes its pid file when it likes. Its stderr goes to log/NAME.err.
_s3_run() { # DIR NAME COMMAND...
	local d=$1 name=$2
	shift 2
	# 3>&-: bats waits for every holder of fd 3 to exit.
	"$@" -f </dev/null >/dev/null 2>"$d/log/$name.err" 3>&- &
	echo $! > "$d/run/$name.pid"
	# No "Killed" notice from bash when it is stopped.
	disown $!
	# Until it has run the daemon, the child is a shell that _s3_alive
	# would not know.
	for _ in $(seq 1 100); do
		_s3_alive "$d" "$name" && return 0
		_s3_gone "$(cat "$d/run/$name.pid")" && return 0
		sleep 0.02
	done
	fail "$name did not start: pid $(cat "$d/run/$name.pid")"
}

# The lines of FILE after its first LINES.
_s3_since() { # FILE LINES
	tail -n +$(($2 + 1)) "$1" 2>/dev/null
}

# Whether a line after the first LINES of log FILE matches RE, waiting up to
# 2 s for it: a daemon that fails may still be writing its log as it exits.
_s3_logged() { # FILE LINES RE
	for _ in $(seq 1 40); do
		_s3_since "$1" "$2" | grep -q -- "$3" && return 0
		sleep 0.05
	done
	return 1
}

# Start the monitor on a free port: a port found taken makes it try another
# (with a fresh monitor store, as the port is in the monitor map).
_s3_start_mon() { # DIR FSID RGW_PORT
	local d=$1 port lines
	for _ in $(seq 1 20); do
		_s3_pick_port
		port=$_s3_port
		[ "$port" != "$3" ] || continue
		_s3_try_port "$port" || continue
		rm -rf "$d/mon" "$d/monmap"
		mkdir -p "$d/mon/mon.a"
		_s3_config "$d" "$port" "$3" "$2" > "$d/ceph.conf"
		"$(_s3_tool monmaptool)" --create --addv a "[v2:127.0.0.1:$port]" --fsid "$2" \
			"$d/monmap" >/dev/null 2>"$d/start.err" ||
			fail "monmaptool failed: $(cat "$d/start.err")" || return 1
		"$(_s3_tool ceph-mon)" -c "$d/ceph.conf" -i a --mkfs --monmap "$d/monmap" \
			2>"$d/start.err" 3>&- </dev/null >/dev/null ||
			fail "ceph-mon --mkfs failed: $(cat "$d/start.err")" || return 1
		lines=$(_s3_lines "$d/log/mon.a.log")
		_s3_run "$d" mon.a "$(_s3_tool ceph-mon)" -c "$d/ceph.conf" -i a || return 1
		# Up once it leads (of one); not by a look at the port, which may
		# be someone else's.
		for _ in $(seq 1 400); do
			_s3_since "$d/log/mon.a.log" "$lines" | grep -q 'mon\.a is new leader' &&
				_s3_alive "$d" mon.a && return 0
			_s3_alive "$d" mon.a || break
			sleep 0.05
		done
		_s3_kill "$d" mon.a
		_s3_died_for_port "$d/log/mon.a.log" "$lines" 'unable to bind monitor' "$port" || break
	done
	fail "ceph-mon did not start: $(cat "$d/log/mon.a.err"); $(tail -n 5 "$d/log/mon.a.log" 2>/dev/null)"
}

_s3_start_osd() { # DIR
	local d=$1 uuid id
	uuid=$(cat /proc/sys/kernel/random/uuid)
	id=$(_s3_ceph osd new "$uuid" 2>"$d/start.err") ||
		fail "ceph osd new failed: $(cat "$d/start.err")" || return 1
	[ "$id" = 0 ] || fail "ceph osd new made osd '$id', not 0" || return 1
	mkdir -p "$d/osd/osd.0"
	"$(_s3_tool ceph-osd)" -c "$d/ceph.conf" -i 0 --mkfs --osd-uuid "$uuid" \
		2>"$d/start.err" 3>&- </dev/null >/dev/null ||
		fail "ceph-osd --mkfs failed: $(cat "$d/start.err")" || return 1
	_s3_run "$d" osd.0 "$(_s3_tool ceph-osd)" -c "$d/ceph.conf" -i 0 || return 1
	for _ in $(seq 1 150); do
		_s3_alive "$d" osd.0 || break
		_s3_ceph osd stat > "$d/osd.stat" 2>&1 || true
		grep -q ' 1 up' "$d/osd.stat" && return 0
		sleep 0.2
	done
	fail "osd.0 is not up: $(cat "$d/osd.stat"); $(tail -n 5 "$d/log/osd.0.log" 2>/dev/null)"
}

# Start radosgw on a free port, a taken one making it try another; the
# port in $_s3_rgw_port.
_s3_start_rgw() { # DIR
	local d=$1 port code lines
	port=$(sed -n 's/^rgw frontends = beast endpoint=127\.0\.0\.1:\([0-9]*\)$/\1/p' "$d/ceph.conf")
	for _ in $(seq 1 20); do
		if ! _s3_try_port "$port"; then
			_s3_pick_port
			port=$_s3_port
			sed -i "s/^rgw frontends = .*/rgw frontends = beast endpoint=127.0.0.1:$port/" "$d/ceph.conf"
			continue
		fi
		lines=$(_s3_lines "$d/log/client.rgw.log")
		_s3_run "$d" client.rgw "$(_s3_tool radosgw)" -c "$d/ceph.conf" -n client.rgw || return 1
		code=
		# It makes its pools, starts its frontend, then registers (with
		# the manager there is not); a frontend that cannot bind stops it.
		# Only then is the port asked, which may be someone else's.
		for _ in $(seq 1 600); do
			_s3_alive "$d" client.rgw || break
			_s3_since "$d/log/client.rgw.log" "$lines" > "$d/rgw.new"
			grep -q 'failed to bind address' "$d/rgw.new" && break
			if grep -q 'service_daemon_register' "$d/rgw.new"; then
				code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 \
					"http://127.0.0.1:$port/" 2>/dev/null) || true
				[ "$code" = 200 ] && break
			fi
			sleep 0.05
		done
		if [ "$code" = 200 ] && _s3_alive "$d" client.rgw; then
			_s3_rgw_port=$port
			return 0
		fi
		# It exits at once when its port is taken (by someone faster).
		_s3_kill "$d" client.rgw
		_s3_died_for_port "$d/log/client.rgw.log" "$lines" \
			'failed to bind address .*Address already in use' "$port" || break
		_s3_drop_watchers "$d" || return 1
		_s3_pick_port
		port=$_s3_port
		sed -i "s/^rgw frontends = .*/rgw frontends = beast endpoint=127.0.0.1:$port/" "$d/ceph.conf"
	done
	fail "radosgw does not answer on port $port ($code): $(cat "$d/log/client.rgw.err"); $(tail -n 5 "$d/log/client.rgw.log" 2>/dev/null)"
}

# A radosgw that exits on a failed start leaves its watches on the control
# objects, and every change of metadata (a user, a bucket) then waits 30 s
# for it to answer. With no radosgw running, every watcher there is such a
# one: the blocklist drops its watches at once.
_s3_drop_watchers() { # DIR
	local d=$1 i addr
	for i in $(seq 0 7); do
		timeout 30 "$(_s3_tool rados)" -c "$d/ceph.conf" -p default.rgw.control \
			listwatchers "notify.$i" 2>/dev/null || true
	done | sed -n 's/^watcher=\([^ ]*\) .*/\1/p' | sort -u > "$d/watchers"
	while read -r addr; do
		_s3_ceph osd blocklist add "$addr" >/dev/null 2>"$d/start.err" ||
			fail "cannot drop the watches of $addr: $(cat "$d/start.err")" || return 1
	done < "$d/watchers"
}

s3_start() {
	local d t0
	need_s3 || return 1
	t0=$(date +%s%N)
	d=$(mktemp -d "$BATS_FILE_TMPDIR/ceph.XXXXXX")
	mkdir -p "$d/run" "$d/log" "$d/crash" "$d/rgw/client.rgw"
	_s3_owner > "$d/owner"
	S3_DIR=$d
	export S3_DIR
	# What did start is stopped on a failure (bats may not run
	# teardown_file after a failed setup_file).
	_s3_start_dir "$d" || { _s3_stop_dir "$d"; return 1; }
	echo $(( ($(date +%s%N) - t0) / 1000000 )) > "$d/start.ms"
}

_s3_start_dir() { # DIR
	local d=$1 fsid
	fsid=$(cat /proc/sys/kernel/random/uuid)
	_s3_pick_port
	_s3_start_mon "$d" "$fsid" "$_s3_port" || return 1
	_s3_start_osd "$d" || return 1
	_s3_start_rgw "$d" || return 1

	AWS_ACCESS_KEY_ID=$(_s3_random 20 'A-Z0-9')
	AWS_SECRET_ACCESS_KEY=$(_s3_random 40 'A-Za-z0-9')
	AWS_REGION=us-east-1
	AWS_ENDPOINT_URL="http://127.0.0.1:$_s3_rgw_port"
	S3_LOG="$d/log/client.rgw.log"
	export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_REGION AWS_ENDPOINT_URL S3_LOG
	timeout 60 "$(_s3_tool radosgw-admin)" -c "$d/ceph.conf" user create --uid="$S3_USER" \
		--display-name="cdt tests" --access-key="$AWS_ACCESS_KEY_ID" \
		--secret="$AWS_SECRET_ACCESS_KEY" >/dev/null 2>"$d/start.err" 3>&- ||
		fail "radosgw-admin user create failed: $(cat "$d/start.err")" || return 1

	# The first bucket and object make radosgw create its index and data
	# pools, which takes seconds: done here, not in a test's first request.
	_s3_warm_up
}

_s3_warm_up() {
	local b=cdt-warm-up code
	code=$(s3_curl "/$b" -o "$S3_DIR/start.err" -w '%{http_code}' -X PUT) || true
	[ "$code" = 200 ] || fail "radosgw cannot make a bucket ($code): $(cat "$S3_DIR/start.err")" || return 1
	code=$(s3_curl "/$b/o" -o "$S3_DIR/start.err" -w '%{http_code}' -X PUT --data-binary warm) || true
	[ "$code" = 200 ] || fail "radosgw cannot store an object ($code): $(cat "$S3_DIR/start.err")" || return 1
	s3_curl "/$b/o" -o /dev/null -X DELETE || true
	s3_curl "/$b" -o /dev/null -X DELETE || true
}

# Whether daemon NAME (mon.a, osd.0, client.rgw) of cluster DIR runs: its
# pid file names a live process started with this cluster's configuration
# (the pid may have been reused since).
_s3_alive() { # DIR NAME
	local pid s
	pid=$(cat "$1/run/$2.pid" 2>/dev/null) || return 1
	[ -n "$pid" ] || return 1
	s=$(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null) || return 1
	[ -n "$s" ] && [ "$s" != Z ] || return 1
	tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$1/ceph.conf"
}

# Whether process PID is gone (a zombie counts as gone: it no longer serves).
_s3_gone() { # PID
	local s
	s=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 0
	[ -z "$s" ] || [ "$s" = Z ]
}

# Kill daemon NAME of cluster DIR. Its data goes with it, so nothing is
# gained by a clean stop (an OSD waits seconds for the monitor to hear it).
_s3_kill() { # DIR NAME
	local pid
	_s3_alive "$1" "$2" || return 0
	pid=$(cat "$1/run/$2.pid")
	kill -KILL "$pid" 2>/dev/null || true
	for _ in $(seq 1 200); do
		_s3_gone "$pid" && return 0
		sleep 0.05
	done
	fail "$2 (pid $pid) does not die"
}

# Stop cluster DIR and remove its data; its log stays.
_s3_stop_dir() { # DIR
	local rc=0
	_s3_kill "$1" client.rgw || rc=1
	_s3_kill "$1" osd.0 || rc=1
	_s3_kill "$1" mon.a || rc=1
	[ "$rc" = 0 ] || return 1
	rm -rf "$1/mon" "$1/osd" "$1/rgw" "$1/run" "$1/monmap"
}

s3_stop() {
	[ -n "${S3_DIR:-}" ] || return 0
	_s3_stop_dir "$S3_DIR"
}

# Every cluster this file started, or with an owner (a test number or
# "file") only that owner's.
s3_stop_all() {
	local d rc=0
	for d in "$BATS_FILE_TMPDIR"/ceph.*; do
		[ -d "$d" ] || continue
		if [ -n "${1:-}" ] && [ "$(cat "$d/owner" 2>/dev/null)" != "$1" ]; then
			continue
		fi
		_s3_stop_dir "$d" || rc=1
	done
	return $rc
}

s3_curl() {
	local path=$1 a
	local -a sha=(-H 'x-amz-content-sha256: UNSIGNED-PAYLOAD')
	[ -n "${AWS_ENDPOINT_URL:-}" ] || fail "s3_curl: no gateway: call s3_start first" || return 1
	case "$path" in
	/*) ;;
	*) fail "s3_curl: '$path' does not start with /" || return 1 ;;
	esac
	shift
	for a in "$@"; do
		case "$a" in
		[Xx]-[Aa][Mm][Zz]-[Cc][Oo][Nn][Tt][Ee][Nn][Tt]-[Ss][Hh][Aa]256:*) sha=() ;;
		esac
	done
	curl -sS --max-time 60 --aws-sigv4 "aws:amz:$AWS_REGION:s3" \
		--user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
		"${sha[@]}" \
		"$@" "$AWS_ENDPOINT_URL$path"
}

s3_bucket() {
	local name=$1 code out
	[[ "$name" =~ ^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$ ]] ||
		fail "s3_bucket: '$name' is not a bucket name (3 to 63 of a-z 0-9 . -)" || return 1
	# radosgw answers 200 to a PUT of a bucket its user already has.
	code=$(s3_curl "/$name" -o /dev/null -w '%{http_code}' -I) || true
	[ "$code" = 404 ] || fail "s3_bucket: bucket '$name' exists already ($code)" || return 1
	out=$(mktemp "$BATS_FILE_TMPDIR/s3-out.XXXXXX")
	code=$(s3_curl "/$name" -o "$out" -w '%{http_code}' -X PUT) || true
	if [ "$code" != 200 ]; then
		fail "cannot make bucket '$name' ($code): $(cat "$out")"
		rm -f "$out"
		return 1
	fi
	rm -f "$out"
}

# STRING percent-encoded as SigV4 wants in a query: all but A-Z a-z 0-9 - _ . ~
# (byte by byte, so UTF-8 becomes its bytes).
_s3_quote() {
	local LC_ALL=C
	local s=$1 out='' c h i
	for ((i = 0; i < ${#s}; i++)); do
		c=${s:i:1}
		case "$c" in
		[A-Za-z0-9._~-]) out+=$c ;;
		*) printf -v h '%%%02X' "'$c"; out+=$h ;;
		esac
	done
	echo "$out"
}

s3_list() {
	local bucket=$1 prefix=${2:-} token='' q page keys rc
	[ -n "$bucket" ] || fail "usage: s3_list BUCKET [PREFIX]" || return 1
	page=$(mktemp "$BATS_FILE_TMPDIR/s3-list.XXXXXX")
	keys=$(mktemp "$BATS_FILE_TMPDIR/s3-keys.XXXXXX")
	while :; do
		# Parameters sorted by name, as the signature wants them.
		q=
		[ -z "$token" ] || q="continuation-token=$(_s3_quote "$token")&"
		q="${q}list-type=2"
		[ -z "${S3_LIST_PAGE_KEYS:-}" ] || q="$q&max-keys=$S3_LIST_PAGE_KEYS"
		[ -z "$prefix" ] || q="$q&prefix=$(_s3_quote "$prefix")"
		rc=0
		s3_curl "/$bucket?$q" -o "$page" || rc=$?
		[ "$rc" = 0 ] || break
		rc=0
		token=$(python3 "$_s3_t_dir/lib/s3-list.py" "$page" "$keys") || rc=$?
		[ "$rc" = 0 ] || break
		[ -n "$token" ] || break
	done
	[ "$rc" = 0 ] && LC_ALL=C sort "$keys"
	rm -f "$page" "$keys"
	return $rc
}

# Every request before this one has its log line: a request radosgw has
# logged once the one before it was answered (radosgw logs a request when
# it is done, just after its answer is sent).
_s3_log_settle() {
	local tag
	[ -n "${AWS_ENDPOINT_URL:-}" ] || fail "no gateway: call s3_start first" || return 1
	tag="cdt-sync=$RANDOM$RANDOM"
	curl -s -o /dev/null --max-time 10 "$AWS_ENDPOINT_URL/?$tag" || true
	for _ in $(seq 1 100); do
		grep -qF "\"GET /?$tag " "$S3_LOG" && return 0
		sleep 0.05
	done
	fail "radosgw did not log request /?$tag in $S3_LOG"
}

s3_requests() {
	local method=${1:?usage: s3_requests METHOD [REGEX]} re=${2:-}
	_s3_log_settle || return 1
	# The regex through the environment: awk -v would take its backslashes
	# as escapes first, each awk its own way (gawk makes \? a bare ?).
	sed -n 's/^.* beast: [^"]*"\([A-Z]*\) \([^ ]*\) HTTP\/[0-9.]*" \([0-9]*\) .*$/\1 \2 \3/p' "$S3_LOG" |
		S3_RE=$re awk -v m="$method" '
			$2 ~ /^\/\?cdt-sync=/ { next }
			(m == "*" || $1 == m) && $2 ~ ENVIRON["S3_RE"] { n++ }
			END { print n + 0 }'
}

# A test's clusters stop with it (after the teardown before, which the copy
# below keeps), and the file's with the file.
if ! declare -F _s3_helper_teardown >/dev/null; then
	if declare -F teardown >/dev/null; then
		eval "$(declare -f teardown | sed '1s/^teardown /_s3_helper_teardown /')"
	else
		_s3_helper_teardown() { :; }
	fi
fi
teardown() {
	local rc=0
	s3_stop_all "$(_s3_owner)" || rc=1
	_s3_helper_teardown || rc=1
	return $rc
}

if ! declare -F _s3_helper_teardown_file >/dev/null; then
	if declare -F teardown_file >/dev/null; then
		eval "$(declare -f teardown_file | sed '1s/^teardown_file /_s3_helper_teardown_file /')"
	else
		_s3_helper_teardown_file() { :; }
	fi
fi
teardown_file() {
	local rc=0
	s3_stop_all || rc=1
	_s3_helper_teardown_file || rc=1
	return $rc
}
