#!/bin/sh
# bench-remote.sh: a store read over HTTPS (nginx on 127.0.0.1, TLS,
# HTTP/2) against the same store read locally: cdt cat cold (empty cache)
# and warm, and random 4 KiB reads through cdt mount with a warm cache.
#
#   CDT=./cdt TEST_TOOL=build/test-tool sh t/perf/bench-remote.sh
#
# BENCH_REMOTE_MB (default 512) sets the file size, BENCH_REMOTE_READS
# (default 5000) the number of random reads. Targets (remote.md): remote
# cat at least half of local cat; warm random reads within 2x of local.
set -eu

: "${CDT:?set CDT to the cdt binary}"
: "${TEST_TOOL:?set TEST_TOOL to build/test-tool}"
MB=${BENCH_REMOTE_MB:-512}
READS=${BENCH_REMOTE_READS:-5000}
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

if [ ! -x "$NGINX" ] || ! command -v openssl >/dev/null; then
	echo "bench-remote: skipped (nginx or openssl is missing: apt-get install nginx-light openssl)"
	exit 0
fi
if ! "$CDT" --store https://127.0.0.1:1/x ls 2>&1 | grep -qv "built without remote stores"; then
	echo "bench-remote: skipped (cdt was built without remote stores)"
	exit 0
fi

W=$(mktemp -d "${TMPDIR:-/tmp}/cdt-bench-remote.XXXXXX")
cleanup() {
	fusermount3 -u "$W/mnt" 2>/dev/null || true
	[ -f "$W/nginx.pid" ] && kill "$(cat "$W/nginx.pid")" 2>/dev/null || true
	rm -rf "$W"
}
trap cleanup EXIT INT TERM

now() { date +%s.%N; }
mbps() { echo "$1 $2 $3" | awk '{ printf "%.0f", $1 / ($3 - $2) / 1e6 }'; }
pct() { echo "$1 $2" | awk '{ printf "%.0f", 100 * $1 / $2 }'; }

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
	-keyout "$W/key.pem" -out "$W/cert.pem" -subj /CN=localhost \
	-addext "subjectAltName=IP:127.0.0.1,DNS:localhost" 2>/dev/null
PORT=$(( 20000 + $$ % 20000 ))
user=
[ "$(id -u)" = 0 ] && user="user root $(id -gn);"
cat > "$W/nginx.conf" <<EOF
$user
worker_processes 2;
pid $W/nginx.pid;
error_log $W/error.log;
events {}
http {
  access_log off;
  client_body_temp_path $W; proxy_temp_path $W; fastcgi_temp_path $W;
  uwsgi_temp_path $W; scgi_temp_path $W;
  server {
    listen 127.0.0.1:$PORT ssl http2;
    ssl_certificate $W/cert.pem; ssl_certificate_key $W/key.pem;
    root $W;
  }
}
EOF
"$NGINX" -p "$W" -c "$W/nginx.conf" -e "$W/error.log"
export CDT_CA_BUNDLE="$W/cert.pem"
URL="https://127.0.0.1:$PORT/store"

"$CDT" init -q "$W/store"
"$TEST_TOOL" gen-text 42 "${MB}M" > "$W/file"
"$CDT" --store "$W/store" add -q --name file "$W/file"
BYTES=$(stat -c %s "$W/file")
rm "$W/file"
echo "bench-remote: ${MB} MiB of generated text (compressible), $(nproc) CPUs, nginx over TLS and HTTP/2 on loopback"

# Sequential: local cat (store in the page cache), then remote cat with an
# empty cache and with a warm one; medians of 3.
"$CDT" --store "$W/store" cat file > /dev/null
: > "$W/local"; : > "$W/cold"; : > "$W/warm"
for r in 1 2 3; do
	t0=$(now); "$CDT" --store "$W/store" cat file > /dev/null; t1=$(now)
	mbps "$BYTES" "$t0" "$t1" >> "$W/local"; echo >> "$W/local"
	rm -rf "$W/cache"
	t0=$(now); "$CDT" --cache "$W/cache" --store "$URL" cat file > /dev/null; t1=$(now)
	mbps "$BYTES" "$t0" "$t1" >> "$W/cold"; echo >> "$W/cold"
	t0=$(now); "$CDT" --cache "$W/cache" --store "$URL" cat file > /dev/null; t1=$(now)
	mbps "$BYTES" "$t0" "$t1" >> "$W/warm"; echo >> "$W/warm"
done
LOCAL=$(sort -n "$W/local" | grep . | sed -n 2p)
COLD=$(sort -n "$W/cold" | grep . | sed -n 2p)
WARM=$(sort -n "$W/warm" | grep . | sed -n 2p)
echo "cat to /dev/null:   local $LOCAL MB/s; over HTTPS cold $COLD MB/s ($(pct "$COLD" "$LOCAL")% of local; target 50%), warm $WARM MB/s ($(pct "$WARM" "$LOCAL")%)"

# Random 4 KiB reads with O_DIRECT through a view: local, then remote with
# the cache warm (the cat above filled it).
if [ -c /dev/fuse ] && command -v fusermount3 >/dev/null && "$CDT" help mount >/dev/null 2>&1; then
	mkdir -p "$W/mnt"
	"$CDT" --store "$W/store" mount "$W/mnt"
	TEST_PREAD_DIRECT=1 "$TEST_TOOL" pread "$W/mnt/file" - 1 "$READS" 4096 > /dev/null
	RL=$(TEST_PREAD_DIRECT=1 "$TEST_TOOL" pread "$W/mnt/file" - 1 "$READS" 4096)
	fusermount3 -u "$W/mnt"
	"$CDT" --cache "$W/cache" --store "$URL" mount "$W/mnt"
	TEST_PREAD_DIRECT=1 "$TEST_TOOL" pread "$W/mnt/file" - 1 "$READS" 4096 > /dev/null
	RR=$(TEST_PREAD_DIRECT=1 "$TEST_TOOL" pread "$W/mnt/file" - 1 "$READS" 4096)
	fusermount3 -u "$W/mnt"
	echo "random 4 KiB reads, warm: local view $RL; view of the remote store $RR (target: within 2x)"
else
	echo "random 4 KiB reads: skipped (no FUSE)"
fi
