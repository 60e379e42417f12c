#!/bin/sh
# bench-mount.sh: cdt mount against cdt cat, random reads cold and warm, and
# the server's memory with a large and a small cache.
#
#   CDT=./cdt TEST_TOOL=build/test-tool sh t/perf/bench-mount.sh
#
# BENCH_MOUNT_MB (default 256) sets the file size, BENCH_MOUNT_READS (default
# 5000) the number of random reads. As root the page cache is dropped before
# each cold figure; otherwise "cold" means only that cdt's chunk cache is empty.
set -eu

: "${CDT:?set CDT to the cdt binary}"
: "${TEST_TOOL:?set TEST_TOOL to build/test-tool}"
MB=${BENCH_MOUNT_MB:-256}
READS=${BENCH_MOUNT_READS:-5000}

if [ ! -c /dev/fuse ] || ! command -v fusermount3 >/dev/null; then
	echo "bench-mount: skipped (no /dev/fuse or fusermount3)"
	exit 0
fi
if ! "$CDT" help mount >/dev/null 2>&1; then
	echo "bench-mount: skipped (cdt has no mount command)"
	exit 0
fi

W=$(mktemp -d "${TMPDIR:-/tmp}/cdt-bench-mount.XXXXXX")
PIDS=
cleanup() {
	fusermount3 -u "$W/mnt" 2>/dev/null || true
	for p in $PIDS; do wait "$p" 2>/dev/null || true; done
	rm -rf "$W"
}
trap cleanup EXIT INT TERM

drop_caches() {
	sync
	if [ "$(id -u)" = 0 ]; then
		echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
	fi
}

now() { date +%s.%N; }
mbps() { echo "$1 $2 $3" | awk '{ printf "%.0f", $1 / ($3 - $2) / 1e6 }'; }

# Start a foreground server with options $1; its pid goes to $SERVER.
start_server() {
	mkdir -p "$W/mnt"
	"$CDT" --store "$W/store" mount -f -o "$1" "$W/mnt" 2>>"$W/server.err" &
	SERVER=$!
	PIDS="$PIDS $SERVER"
	i=0
	until awk -v m="$W/mnt" '$2 == m { f = 1 } END { exit !f }' /proc/mounts; do
		i=$((i + 1))
		[ $i -lt 100 ] || { echo "bench-mount: mount failed: $(cat "$W/server.err")" >&2; exit 1; }
		sleep 0.1
	done
}

stop_server() {
	fusermount3 -u "$W/mnt"
	wait "$SERVER" || true
}

hwm_kb() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }

"$CDT" init -q "$W/store"
"$TEST_TOOL" gen-text 42 "${MB}M" > "$W/file"
"$CDT" --store "$W/store" add -q --name file "$W/file"
BYTES=$(stat -c %s "$W/file")
rm "$W/file"
echo "bench-mount: ${MB} MiB of generated text (compressible), $(nproc) CPUs"

# Sequential: cdt cat once to warm the store's pages, then cdt cat and the
# mount (a fresh server each time: an empty chunk cache) in turn, three
# times; the medians.
"$CDT" --store "$W/store" cat file > /dev/null
: > "$W/seq.cat"
: > "$W/seq.mnt"
for r in 1 2 3; do
	t0=$(now); "$CDT" --store "$W/store" cat file > /dev/null; t1=$(now)
	echo "$(mbps "$BYTES" "$t0" "$t1")" >> "$W/seq.cat"
	start_server cache_size=64M
	t0=$(now); cat "$W/mnt/file" > /dev/null; t1=$(now)
	echo "$(mbps "$BYTES" "$t0" "$t1")" >> "$W/seq.mnt"
	stop_server
done
CAT=$(sort -n "$W/seq.cat" | sed -n 2p)
MNT=$(sort -n "$W/seq.mnt" | sed -n 2p)
echo "sequential read:    cdt cat $CAT MB/s, mount $MNT MB/s, medians of 3 ($(echo "$MNT $CAT" | awk '{ printf "%.0f", 100 * $1 / $2 }')% of cdt cat)"

# Random 4 KiB reads with O_DIRECT (the kernel's page cache answers none):
# cold with an empty chunk cache, warm with the same offsets again.
start_server cache_size=1G
drop_caches
COLD=$(TEST_PREAD_DIRECT=1 "$TEST_TOOL" pread "$W/mnt/file" - 1 "$READS" 4096)
WARM=$(TEST_PREAD_DIRECT=1 "$TEST_TOOL" pread "$W/mnt/file" - 1 "$READS" 4096)
WARM4=$(TEST_PREAD_DIRECT=1 "$TEST_TOOL" pread "$W/mnt/file" - 1 "$READS" 4096 4)
stop_server
echo "random 4 KiB reads: cold $COLD, warm $WARM, warm with 4 threads $WARM4"

# Memory: the whole file read twice (sequential, then random) with each limit.
for cache in 1G 16M; do
	start_server "cache_size=$cache"
	cat "$W/mnt/file" > /dev/null
	TEST_PREAD_DIRECT=1 "$TEST_TOOL" pread "$W/mnt/file" - 2 "$READS" 65536 > /dev/null
	echo "server memory:      cache_size=$cache: VmHWM $(( $(hwm_kb "$SERVER") / 1024 )) MiB"
	stop_server
done
if [ -s "$W/server.err" ]; then
	echo "bench-mount: the server reported:" >&2
	cat "$W/server.err" >&2
	exit 1
fi
