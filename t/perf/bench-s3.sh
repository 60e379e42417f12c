#!/bin/bash
# bench-s3.sh: cdt push of a backup series to a real S3 gateway (a
# single-node Ceph radosgw on 127.0.0.1, t/lib-s3.bash) against restic copy
# of the same series to the same gateway, and what each bucket then holds.
#
#   CDT=./cdt TEST_TOOL=build/test-tool bash t/perf/bench-s3.sh
#
# BENCH_S3_MB (default 256) sets the size of each of the three generations
# (generated text, each a few edits away from the one before). Target
# (remote.md): cdt push at least as fast as restic copy.
set -eu

: "${CDT:?set CDT to the cdt binary}"
: "${TEST_TOOL:?set TEST_TOOL to build/test-tool}"
MB=${BENCH_S3_MB:-256}
HERE=$(cd "$(dirname "$0")/.." && pwd)

for tool in ceph-mon ceph-osd radosgw restic curl python3; do
	if ! command -v "$tool" >/dev/null; then
		echo "bench-s3: skipped ($tool is missing: apt-get install ceph-mon ceph-osd radosgw restic)"
		exit 0
	fi
done

W=$(mktemp -d "${TMPDIR:-/tmp}/cdt-bench-s3.XXXXXX")
# What t/lib-s3.bash takes from bats.
BATS_FILE_TMPDIR=$W
fail() { echo "bench-s3: $*" >&2; return 1; }
skip_or_fail() { echo "bench-s3: skipped ($*)"; exit 0; }
# shellcheck source=../lib-s3.bash
. "$HERE/lib-s3.bash"
cleanup() {
	s3_stop_all > /dev/null 2>&1 || true
	rm -rf "$W"
}
trap cleanup EXIT INT TERM

now() { date +%s.%N; }
secs() { echo "$1 $2" | awk '{ printf "%.2f", $2 - $1 }'; }
mbps() { echo "$1 $2 $3" | awk '{ printf "%.0f", $1 / ($3 - $2) / 1e6 }'; }

# Three generations: each the one before with 20 edits of 4 KiB.
mkdir -p "$W/data"
"$TEST_TOOL" gen-text 7 "${MB}M" > "$W/data/gen1"
for g in 2 3; do
	cp "$W/data/gen$((g - 1))" "$W/data/gen$g"
	for i in $(seq 1 20); do
		"$TEST_TOOL" gen-random $((g * 100 + i)) 4096 |
			dd of="$W/data/gen$g" bs=4096 seek=$(( (i * 977 * g) % (MB * 256) )) \
			   conv=notrunc status=none
	done
done
BYTES=$(cat "$W/data"/gen* | wc -c)

"$CDT" init -q "$W/store"
for g in 1 2 3; do "$CDT" --store "$W/store" add -q --name "gen$g" "$W/data/gen$g"; done
export RESTIC_PASSWORD=bench
restic -q -r "$W/restic" init > /dev/null
for g in 1 2 3; do (cd "$W/data" && restic -q -r "$W/restic" backup "gen$g" > /dev/null); done
echo "bench-s3: 3 generations of ${MB} MiB of generated text ($(( BYTES / 1000000 )) MB in all), $(nproc) CPUs, radosgw on loopback"

s3_start > /dev/null
s3_bucket cdt-bench > /dev/null
s3_bucket restic-bench > /dev/null
"$CDT" init -q s3://cdt-bench/store

t0=$(now)
"$CDT" --cache "$W/cache" --store "$W/store" push s3://cdt-bench/store > "$W/push.out"
t1=$(now)
echo "$RESTIC_PASSWORD" > "$W/pw"
export RESTIC_PASSWORD=bench
t2=$(now)
restic -q -r "s3:$AWS_ENDPOINT_URL/restic-bench" init --from-repo "$W/restic" \
	--from-password-file "$W/pw" --copy-chunker-params > /dev/null
restic -q -r "s3:$AWS_ENDPOINT_URL/restic-bench" copy --from-repo "$W/restic" \
	--from-password-file "$W/pw" > /dev/null
t3=$(now)

size_of() {
	s3_curl "/$1?list-type=2" | python3 -c '
import re, sys
print(sum(int(x) for x in re.findall(r"<Size>(\d+)</Size>", sys.stdin.read())))'
}
CDT_SIZE=$(size_of cdt-bench)
RESTIC_SIZE=$(size_of restic-bench)
echo "push to S3:         cdt push $(secs "$t0" "$t1") s ($(mbps "$BYTES" "$t0" "$t1") MB/s of the series), restic copy $(secs "$t2" "$t3") s ($(mbps "$BYTES" "$t2" "$t3") MB/s): cdt $(echo "$t0 $t1 $t2 $t3" | awk '{ printf "%.2f", ($4 - $3) / ($2 - $1) }')x restic's speed (target: at least 1x)"
echo "bucket holds:       cdt $(( CDT_SIZE / 1000000 )) MB, restic $(( RESTIC_SIZE / 1000000 )) MB (first page of the listing: up to 1000 objects)"
# A second push with nothing new sends nothing.
t0=$(now)
"$CDT" --cache "$W/cache" --store "$W/store" push s3://cdt-bench/store > "$W/push2.out"
t1=$(now)
echo "push again:         $(secs "$t0" "$t1") s: $(tail -1 "$W/push2.out")"
