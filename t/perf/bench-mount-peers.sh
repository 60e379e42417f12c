#!/bin/sh
# bench-mount-peers.sh: reads through cdt mount and casync mount of the same file, side by side.
#
#   make bench-mount-peers
#   CDT=./cdt TEST_TOOL=build/test-tool sh t/perf/bench-mount-peers.sh
#
# Both tools store gen1.tar .. gen5.tar of the benchmark series (the output
# of gen-series.sh) with their default settings: cdt in one store (cdt init;
# cdt add --name genN.tar), casync in one chunk store (casync make of a
# directory holding genN.tar, an archive index: casync mount takes archives
# only, not blob indexes). Then, for each tool in turn and on a fresh mount
# each time (an empty chunk cache, no page cache of the mounted file):
#
#   random      READS buffered 4 KiB preads (no O_DIRECT: through the page
#               cache, as an application reads) at random byte offsets of
#               gen5.tar (most of them touch two pages), the same offsets
#               (seed) for both tools, in one thread; reads/s and MB/s
#   sequential  cat of the whole gen5.tar to /dev/null; MB/s
#
# each "cold" (as root the page cache is dropped before the mount, so the
# store's files come from the disk) and "warm" (every file of the store was
# read just before the mount, so they come from the page cache). Without
# root only warm figures are taken. The tools take turns within each of
# ROUNDS rounds; the figures are medians over the rounds, and the ratio is
# cdt's over casync's.
#
# Environment:
#   BENCH_DATA   the series (default /tmp/cdtbench/data)
#   BENCH_DIR    scratch directory (default ${TMPDIR:-/tmp}/cdt-bench-mount-peers);
#                the stores are kept there and reused while the series, the
#                settings of a new cdt store and casync's version stay the
#                same (delete the directory to start over, e.g. after a
#                change to how cdt add stores chunks)
#   BENCH_READS  random reads per run (default 3000)
#   BENCH_ROUNDS rounds (default 3)
#   BENCH_SEED   seed of the random offsets (default 1)
#   BENCH_TOOLS  "cdt casync" by default; "cdt" alone for a quick look
#   BENCH_CDT_OPTS  -o options for cdt mount (default: none, its defaults)
#   BENCH_CDT_INIT  options for cdt init (default: none; e.g. "--frame-size 64K"
#                to see what frames cost random reads)
#   BENCH_OUT    key=value results (default BENCH_DIR/mount-peers-results.txt)
#
# MB is 10^6 bytes.
set -eu
export LC_ALL=C

: "${CDT:?set CDT to the cdt binary (make bench-mount-peers does)}"
: "${TEST_TOOL:?set TEST_TOOL to build/test-tool (make bench-mount-peers does)}"
DATA=${BENCH_DATA:-/tmp/cdtbench/data}
BENCH_DIR=${BENCH_DIR:-${TMPDIR:-/tmp}/cdt-bench-mount-peers}
READS=${BENCH_READS:-3000}
ROUNDS=${BENCH_ROUNDS:-3}
SEED=${BENCH_SEED:-1}
TOOLS=${BENCH_TOOLS:-cdt casync}
CDT_OPTS=${BENCH_CDT_OPTS:-}
CDT_INIT=${BENCH_CDT_INIT:-}

say() { echo "bench-mount-peers: $*"; }

if [ ! -c /dev/fuse ] || ! command -v fusermount3 >/dev/null; then
	say "skipped (no /dev/fuse or fusermount3)"
	exit 0
fi
for g in 1 2 3 4 5; do
	if [ ! -f "$DATA/gen$g.tar" ]; then
		say "skipped ($DATA/gen$g.tar is missing: make the series with gen-series.sh)"
		exit 0
	fi
done
case " $TOOLS " in
*" casync "*)
	if ! command -v casync >/dev/null; then
		say "casync is not installed: cdt alone"
		TOOLS=cdt
	fi ;;
esac
ROOT=$(id -u)

mkdir -p "$BENCH_DIR"
BENCH_DIR=$(cd "$BENCH_DIR" && pwd)
BENCH_OUT=${BENCH_OUT:-$BENCH_DIR/mount-peers-results.txt}
MNT=$BENCH_DIR/mnt
R=$BENCH_DIR/runs
rm -rf "$R"
mkdir -p "$MNT" "$R"
SERVER=
cleanup() {
	if [ -n "$SERVER" ]; then
		fusermount3 -u "$MNT" 2>/dev/null || true
		wait "$SERVER" 2>/dev/null || true
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

FILE_BYTES=$(stat -c %s "$DATA/gen5.tar")

# --- the stores --------------------------------------------------------------

# Stores are reused when made from the same series with the same store
# settings (what a fresh cdt init writes, less its store id) and the same
# casync: not every build of cdt needs new stores.
settings() {
	d=$BENCH_DIR/settings.$$
	rm -rf "$d"
	"$CDT" init -q $CDT_INIT "$d"
	grep -v -e '^#' -e '^store-id ' -e '^checksum ' "$d/config" | tr '\n' ' '
	rm -rf "$d"
}
STAMP="$(cat "$DATA/gen.sha256" 2>/dev/null || ls -l "$DATA"/gen?.tar) $(settings) $(casync --version 2>/dev/null || true)"
if [ "$(cat "$BENCH_DIR/stamp" 2>/dev/null)" != "$STAMP" ]; then
	say "making the stores in $BENCH_DIR (once)"
	rm -rf "$BENCH_DIR/cdt" "$BENCH_DIR/casync" "$BENCH_DIR/stamp"
	"$CDT" init -q $CDT_INIT "$BENCH_DIR/cdt"
	for g in 1 2 3 4 5; do
		"$CDT" --store "$BENCH_DIR/cdt" add -q --name "gen$g.tar" "$DATA/gen$g.tar"
	done
	if command -v casync >/dev/null; then
		mkdir -p "$BENCH_DIR/casync/tree"
		for g in 1 2 3 4 5; do
			d=$BENCH_DIR/casync/tree/gen$g
			mkdir -p "$d"
			ln "$DATA/gen$g.tar" "$d/" 2>/dev/null || cp "$DATA/gen$g.tar" "$d/"
			casync make --store="$BENCH_DIR/casync/default.castr" \
				"$BENCH_DIR/casync/gen$g.caidx" "$d" >/dev/null
			rm -rf "$d"
		done
	fi
	echo "$STAMP" > "$BENCH_DIR/stamp"
fi

# --- mounting ------------------------------------------------------------------

mounted() { awk -v m="$MNT" '$2 == m { f = 1 } END { exit !f }' /proc/mounts; }

# mount_fresh TOOL: a new server for TOOL on $MNT, in the foreground ($SERVER).
mount_fresh() {
	case $1 in
	cdt) "$CDT" --store "$BENCH_DIR/cdt" mount -f ${CDT_OPTS:+-o "$CDT_OPTS"} "$MNT" \
		2>>"$R/server.err" & ;;
	casync) casync mount --store="$BENCH_DIR/casync/default.castr" \
		"$BENCH_DIR/casync/gen5.caidx" "$MNT" >/dev/null 2>>"$R/casync.err" & ;;
	esac
	SERVER=$!
	i=0
	until mounted && [ -f "$MNT/gen5.tar" ]; do
		i=$((i + 1))
		if [ $i -ge 300 ]; then
			say "$1 mount failed: $(cat "$R/server.err" "$R/casync.err" 2>/dev/null)" >&2
			exit 1
		fi
		sleep 0.1
	done
}

unmount() {
	fusermount3 -u "$MNT"
	wait "$SERVER" || true
	SERVER=
}

# Every file of TOOL's store into the page cache; or, cold, none of anything.
warm_store() {
	find "$BENCH_DIR/$1" -type f -exec cat {} + > /dev/null
}
drop_caches() {
	sync
	echo 3 > /proc/sys/vm/drop_caches
}

now() { date +%s.%N; }

# --- the runs ------------------------------------------------------------------

TEMPS=warm
[ "$ROOT" = 0 ] && TEMPS="cold warm"
say "$(( FILE_BYTES / 1000000 )) MB gen5.tar, $READS random 4 KiB reads per run, $ROUNDS rounds, $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
say "tools: $TOOLS; cdt init ${CDT_INIT:-(defaults)}; cdt mount -o '${CDT_OPTS:-(defaults)}'"

# Correctness first (untimed): the same bytes as the input, both tools.
for t in $TOOLS; do
	mount_fresh "$t"
	"$TEST_TOOL" pread "$MNT/gen5.tar" "$DATA/gen5.tar" "$SEED" 300 4096 > /dev/null ||
		{ say "$t: the mount reads wrong bytes" >&2; exit 1; }
	unmount
done

r=1
while [ $r -le "$ROUNDS" ]; do
	for temp in $TEMPS; do
		for t in $TOOLS; do
			if [ "$temp" = cold ]; then drop_caches; else warm_store "$t"; fi
			mount_fresh "$t"
			"$TEST_TOOL" pread "$MNT/gen5.tar" - "$SEED" "$READS" 4096 > "$R/pread.out" ||
				{ say "$t: random reads failed" >&2; exit 1; }
			awk '{ print $1 }' "$R/pread.out" >> "$R/$t.random.$temp"
			unmount

			if [ "$temp" = cold ]; then drop_caches; else warm_store "$t"; fi
			mount_fresh "$t"
			t0=$(now)
			cat "$MNT/gen5.tar" > /dev/null
			t1=$(now)
			echo "$FILE_BYTES $t0 $t1" | awk '{ printf "%.1f\n", $1 / ($3 - $2) / 1e6 }' \
				>> "$R/$t.seq.$temp"
			unmount
		done
	done
	r=$((r + 1))
done

median() { sort -n "$1" | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
runs() { tr '\n' ' ' < "$1" | sed 's/ $//'; }

: > "$BENCH_OUT"
for temp in $TEMPS; do
	for t in $TOOLS; do
		rr=$(median "$R/$t.random.$temp")
		sq=$(median "$R/$t.seq.$temp")
		mbr=$(echo "$rr" | awk '{ printf "%.1f", $1 * 4096 / 1e6 }')
		printf '%-7s %-5s random 4 KiB: %6s reads/s (%5s MB/s)   sequential: %6s MB/s   runs: %s | %s\n' \
			"$t" "$temp" "$rr" "$mbr" "$sq" "$(runs "$R/$t.random.$temp")" "$(runs "$R/$t.seq.$temp")"
		{
			echo "${t}_random_${temp}_reads_per_s=$rr"
			echo "${t}_seq_${temp}_MBps=$sq"
		} >> "$BENCH_OUT"
	done
	if [ "$TOOLS" = "cdt casync" ]; then
		ratio_r=$(echo "$(median "$R/cdt.random.$temp") $(median "$R/casync.random.$temp")" | awk '{ printf "%.2f", $1 / $2 }')
		ratio_s=$(echo "$(median "$R/cdt.seq.$temp") $(median "$R/casync.seq.$temp")" | awk '{ printf "%.2f", $1 / $2 }')
		echo "cdt/casync $temp: random ${ratio_r}x, sequential ${ratio_s}x"
		{
			echo "ratio_random_${temp}=$ratio_r"
			echo "ratio_seq_${temp}=$ratio_s"
		} >> "$BENCH_OUT"
	fi
done
if [ -s "$R/server.err" ]; then
	say "cdt mount reported:" >&2
	cat "$R/server.err" >&2
	exit 1
fi
