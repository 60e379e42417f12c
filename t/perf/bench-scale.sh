#!/bin/sh
# bench-scale.sh: cdt on a store of millions of chunks against a small one: speed, lookups, ls, gc, memory, inodes.
#
#   make bench-scale                       (or make bench BENCH_SCALE=1)
#   CDT=./cdt TEST_TOOL=build/test-tool sh t/perf/bench-scale.sh
#
# The big store holds SCALE_GIB GiB of generated, incompressible data
# (test-tool gen-random, fixed seeds) in SCALE_FILES files, added one file
# per cdt add into a store made with `cdt init --chunker fixed --chunk-size
# 4K`: 8 GiB is 2,097,152 chunks. A small store made the same way holds
# SMALL_MIB. Both then get the same probes (PROBE_MIB of new data each, a
# different seed per run): add of new data, add of the same data again, cat.
# The ratio big/small of those rates is the figure to watch (target: 0.8 or
# more). Then: cdt_chunk_has() per absent and present id (test-tool lookup)
# with the multi-pack index as add left it, moved aside, and after gc; fsck
# --quick (when cdt has fsck) and gc, with nothing to do and after removing
# one of the files; a third store of LS_NAMES small files for ls; peak RSS of
# every command; files and inodes against the number of chunks.
#
# Environment:
#   SCALE_DIR    scratch directory (default ${TMPDIR:-/tmp}/cdt-scale); removed
#                at the end unless SCALE_KEEP=1 (then the data is reused)
#   SCALE_GIB    size of the big store's data in GiB (default 8); SCALE_MIB
#                overrides it for quick runs
#   SCALE_FILES  files the big data is split into (default 8)
#   SMALL_MIB    the small store's data (default 256)
#   PROBE_MIB    new data added per run to each store (default 256)
#   SCALE_RUNS   runs of each probe step (default 3; the median is reported)
#   LOOKUPS      ids per lookup measurement (default 1000000)
#   LS_NAMES     files in the ls store (default 100000; 0 skips it), in
#                LS_DIRS directories (default 10), added by LS_JOBS parallel
#                cdt add processes (default 8)
#   BENCH_OUT    key=value results (default $SCALE_DIR/scale-results.txt)
#
# Peak RSS comes from test-tool rusage: wait4()'s ru_maxrss, the figure GNU
# time's %M reports. It includes the pages of the mapped pack indexes and
# multi-pack index a command touched: file-backed, shared with the page cache
# and reclaimable, but counted. So rusage also samples /proc/PID/status every
# 10 ms and reports the largest anonymous (RssAnon) and file-backed (RssFile)
# parts; memory that grows with the store shows in one or the other. Inputs
# are read once before each timed step, so they come from the page cache when
# the machine has the memory.
set -eu
export LC_ALL=C

: "${CDT:?set CDT to the cdt binary (make bench-scale does)}"
: "${TEST_TOOL:?set TEST_TOOL to build/test-tool (make bench-scale does)}"
SCALE_DIR=${SCALE_DIR:-${TMPDIR:-/tmp}/cdt-scale}
SCALE_GIB=${SCALE_GIB:-8}
SCALE_MIB=${SCALE_MIB:-$((SCALE_GIB * 1024))}
SCALE_FILES=${SCALE_FILES:-8}
SMALL_MIB=${SMALL_MIB:-256}
PROBE_MIB=${PROBE_MIB:-256}
SCALE_RUNS=${SCALE_RUNS:-3}
LOOKUPS=${LOOKUPS:-1000000}
LS_NAMES=${LS_NAMES:-100000}
LS_DIRS=${LS_DIRS:-10}
LS_JOBS=${LS_JOBS:-8}
SCALE_KEEP=${SCALE_KEEP:-0}
INIT="--chunker fixed --chunk-size 4K"
CHUNK=4096

die() {
	echo "bench-scale: $*" >&2
	exit 1
}

val=
for v in SCALE_MIB SCALE_FILES SMALL_MIB PROBE_MIB SCALE_RUNS LOOKUPS LS_NAMES LS_DIRS LS_JOBS; do
	eval "val=\$$v"
	case $val in
	'' | *[!0-9]*) die "$v must be a number, not '$val'" ;;
	esac
done
if [ "$SCALE_FILES" -lt 1 ] || [ "$SCALE_RUNS" -lt 1 ] || [ "$LS_DIRS" -lt 1 ] || [ "$LS_JOBS" -lt 1 ]; then
	die "SCALE_FILES, SCALE_RUNS, LS_DIRS and LS_JOBS must be at least 1"
fi
FILE_MIB=$((SCALE_MIB / SCALE_FILES))
[ "$FILE_MIB" -ge 1 ] || die "SCALE_MIB ($SCALE_MIB) must be at least SCALE_FILES ($SCALE_FILES)"
BIG_BYTES=$((FILE_MIB * SCALE_FILES * 1048576))

mkdir -p "$SCALE_DIR"
SCALE_DIR=$(cd "$SCALE_DIR" && pwd)
BENCH_OUT=${BENCH_OUT:-$SCALE_DIR/scale-results.txt}
DATA=$SCALE_DIR/data
W=$SCALE_DIR/work
BIG=$SCALE_DIR/big
SMALL=$SCALE_DIR/small
LSS=$SCALE_DIR/ls-store
TREE=$SCALE_DIR/ls-tree

cleanup() {
	rm -rf "$W" "$BIG" "$SMALL" "$LSS"
	if [ "$SCALE_KEEP" != 1 ]; then
		rm -rf "$DATA" "$TREE"
	fi
}
rm -rf "$W" "$BIG" "$SMALL" "$LSS"
mkdir -p "$W"
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- room --------------------------------------------------------------------

# What the run needs at its peak, in KiB: the data and the big store (the data
# does not compress), the probes three times (data, big store, small store),
# the small store, and for ls about 16 KiB of blocks per name (tree, name,
# manifest, reference record, chunk) and 5 inodes.
have_data_kb=$(du -s -k "$DATA" 2>/dev/null | cut -f1 || echo 0)
have_tree_kb=$(du -s -k "$TREE" 2>/dev/null | cut -f1 || echo 0)
need_kb=$(( (2 * SCALE_MIB + 2 * SMALL_MIB + 3 * SCALE_RUNS * PROBE_MIB) * 1024 * 21 / 20 +
	LS_NAMES * 16 + 1048576 - ${have_data_kb:-0} - ${have_tree_kb:-0} ))
avail_kb=$(df -P -k "$SCALE_DIR" | awk 'NR == 2 { print $4 }')
if [ "$avail_kb" -lt "$need_kb" ]; then
	die "not enough disk space in $SCALE_DIR: $((avail_kb / 1048576)) GiB free," \
		"about $((need_kb / 1048576 + 1)) GiB needed for SCALE_MIB=$SCALE_MIB" \
		"(lower SCALE_GIB, or set SCALE_DIR elsewhere)"
fi
need_inodes=$((LS_NAMES * 5 + 100000))
avail_inodes=$(df -P -i "$SCALE_DIR" | awk 'NR == 2 { print $4 }')
case $avail_inodes in
'' | *[!0-9]*) ;;	# file systems without inode counts
*) [ "$avail_inodes" -ge "$need_inodes" ] ||
	die "not enough free inodes in $SCALE_DIR: $avail_inodes, about $need_inodes needed (lower LS_NAMES)" ;;
esac

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)

# --- helpers -----------------------------------------------------------------

now() {
	date +%s.%N
}

# m KEY CMD...: run CMD (stdout to $OUT, /dev/null unless set) and append
# "wall user sys maxrss_kb anon_kb file_kb" to $W/m_KEY.
OUT=/dev/null
m() {
	m_key=$1
	shift
	"$TEST_TOOL" rusage "$W/ru" "$@" >"$OUT" || die "failed: $*"
	cat "$W/ru" >>"$W/m_$m_key"
}

# med KEY FIELD: median of field FIELD (1 wall, 2 user, 3 sys, 4 maxrss_kb,
# 5 anon_kb, 6 file_kb) of KEY's runs.
med() {
	awk -v f="$2" '{ print $f }' "$W/m_$1" | sort -g |
		awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# top KEY FIELD: the largest value of field FIELD over KEY's runs.
top() {
	awk -v f="$2" 'NR == 1 || $f > x { x = $f } END { print x }' "$W/m_$1"
}

# mib_rss KEY [FIELD]: largest peak RSS (or FIELD 5 anon, 6 file) of KEY's runs, in MiB.
mib_rss() {
	awk -v f="${2:-4}" '$f > x { x = $f } END { printf "%.1f", x / 1024 }' "$W/m_$1"
}

mbps() {
	awk -v b="$1" -v t="$2" 'BEGIN { printf "%.1f", (t > 0 ? b / t / 1e6 : 0) }'
}

ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'
}

hum() {
	awk -v b="$1" 'BEGIN { if (b >= 1073741824) printf "%.2f GiB", b / 1073741824; else printf "%.1f MiB", b / 1048576 }'
}

# stat_json STORE KEY: a number from cdt stats --json.
stat_json() {
	"$CDT" --store "$1" stats --json | sed -n "s/.*\"$2\":\([0-9]*\).*/\1/p"
}

npacks() {
	find "$1/packs" -name 'pack-*.idx' | wc -l | tr -d ' '
}

nfiles() {
	find "$1" -type f | wc -l | tr -d ' '
}

inodes_used() {
	df -P -i "$SCALE_DIR" | awk 'NR == 2 { print $3 }'
}

# lookup STORE PREFIX: test-tool lookup, its figures saved as PREFIX_<key>.
lookup() {
	"$TEST_TOOL" lookup "$1" "$LOOKUPS" >"$W/lookup" || die "test-tool lookup failed on $1"
	sed "s/^\([a-z_]*\) /$2_\1=/" "$W/lookup" >>"$W/lookups"
}

# lk PREFIX KEY: a figure saved by lookup.
lk() {
	sed -n "s/^$1_$2=//p" "$W/lookups"
}

# oneline FILE: its lines joined with "; ".
oneline() {
	awk '{ printf "%s%s", (NR > 1 ? "; " : ""), $0 } END { print "" }' "$1"
}

warm() {
	cat "$@" >/dev/null
}

# --- data --------------------------------------------------------------------

params="scale 1 files=$SCALE_FILES file_mib=$FILE_MIB small=$SMALL_MIB probe=$PROBE_MIB runs=$SCALE_RUNS"
if [ "$(cat "$DATA/params" 2>/dev/null)" != "$params" ]; then
	echo "generating $((SCALE_MIB + SMALL_MIB + SCALE_RUNS * PROBE_MIB)) MiB of data in $DATA ..." >&2
	rm -rf "$DATA"
	mkdir -p "$DATA"
	k=1
	while [ "$k" -le "$SCALE_FILES" ]; do
		"$TEST_TOOL" gen-random $((100 + k)) "${FILE_MIB}M" >"$DATA/big-$k.bin"
		k=$((k + 1))
	done
	"$TEST_TOOL" gen-random 50 "${SMALL_MIB}M" >"$DATA/small.bin"
	r=1
	while [ "$r" -le "$SCALE_RUNS" ]; do
		"$TEST_TOOL" gen-random $((900 + r)) "${PROBE_MIB}M" >"$DATA/probe-$r.bin"
		r=$((r + 1))
	done
	echo "$params" >"$DATA/params"
fi
PROBE_BYTES=$((PROBE_MIB * 1048576))
FILE_BYTES=$((FILE_MIB * 1048576))
: >"$W/lookups"

# --- small store -------------------------------------------------------------

r=1
while [ "$r" -le "$SCALE_RUNS" ]; do
	echo "small store, run $r of $SCALE_RUNS ..." >&2
	rm -rf "$SMALL"
	# shellcheck disable=SC2086 # INIT is a list of options
	"$CDT" init -q $INIT "$SMALL"
	warm "$DATA/small.bin" "$DATA/probe-$r.bin"
	m small_base "$CDT" --store "$SMALL" add -q --name base "$DATA/small.bin"
	m small_add_new "$CDT" --store "$SMALL" add -q --name "probe/$r" "$DATA/probe-$r.bin"
	m small_add_known "$CDT" --store "$SMALL" add -q --name "again/$r" "$DATA/probe-$r.bin"
	m small_cat "$CDT" --store "$SMALL" cat "probe/$r"
	r=$((r + 1))
done
"$CDT" --store "$SMALL" cat "probe/$SCALE_RUNS" | cmp -s - "$DATA/probe-$SCALE_RUNS.bin" ||
	die "the small store does not restore probe-$SCALE_RUNS.bin identically"
SMALL_CHUNKS=$(stat_json "$SMALL" chunks)
SMALL_PACKS=$(npacks "$SMALL")
SMALL_BLOCKS=$(du -s -B1 "$SMALL" | cut -f1)
echo "lookups in the small store ..." >&2
lookup "$SMALL" small
rm -rf "$SMALL"

# --- big store ---------------------------------------------------------------

INODES_BEFORE=$(inodes_used)
# shellcheck disable=SC2086
"$CDT" init -q $INIT "$BIG"
k=1
while [ "$k" -le "$SCALE_FILES" ]; do
	echo "big store: adding file $k of $SCALE_FILES ($FILE_MIB MiB) ..." >&2
	warm "$DATA/big-$k.bin"
	m "big_add_$k" "$CDT" --store "$BIG" add -q --name "big/$k" "$DATA/big-$k.bin"
	cat "$W/m_big_add_$k" >>"$W/m_big_add"
	k=$((k + 1))
done
INODES_AFTER=$(inodes_used)
OUT=$W/out
m big_stats "$CDT" --store "$BIG" stats --json
OUT=/dev/null
BIG_CHUNKS=$(sed -n 's/.*"chunks":\([0-9]*\).*/\1/p' "$W/out")
BIG_PACKS=$(npacks "$BIG")
BIG_FILES=$(nfiles "$BIG")
BIG_LOOSE=$(nfiles "$BIG/objects")
BIG_APPARENT=$(du -s -B1 --apparent-size "$BIG" | cut -f1)
BIG_BLOCKS=$(du -s -B1 "$BIG" | cut -f1)
BIG_MIDX=$(stat -c %s "$BIG/packs/multi-pack-index" 2>/dev/null || echo 0)
BIG_IDX=$(find "$BIG/packs" -name 'pack-*.idx' -exec stat -c %s {} + | awk '{ s += $1 } END { print s + 0 }')

echo "lookups in the big store ..." >&2
lookup "$BIG" big
if [ -f "$BIG/packs/multi-pack-index" ]; then
	mv "$BIG/packs/multi-pack-index" "$W/multi-pack-index"
	lookup "$BIG" nomidx
	mv "$W/multi-pack-index" "$BIG/packs/multi-pack-index"
fi

r=1
while [ "$r" -le "$SCALE_RUNS" ]; do
	echo "big store, run $r of $SCALE_RUNS ..." >&2
	warm "$DATA/probe-$r.bin"
	m big_add_new "$CDT" --store "$BIG" add -q --name "probe/$r" "$DATA/probe-$r.bin"
	m big_add_known "$CDT" --store "$BIG" add -q --name "again/$r" "$DATA/probe-$r.bin"
	m big_cat "$CDT" --store "$BIG" cat "probe/$r"
	r=$((r + 1))
done
"$CDT" --store "$BIG" cat "probe/$SCALE_RUNS" | cmp -s - "$DATA/probe-$SCALE_RUNS.bin" ||
	die "the big store does not restore probe-$SCALE_RUNS.bin identically"
echo "big store: cat of the first file ..." >&2
m big_cat_first "$CDT" --store "$BIG" cat big/1
"$CDT" --store "$BIG" cat big/1 | cmp -s - "$DATA/big-1.bin" ||
	die "the big store does not restore big-1.bin identically"

if "$CDT" fsck -h >/dev/null 2>&1; then
	echo "big store: fsck --quick ..." >&2
	m big_fsck "$CDT" --store "$BIG" fsck --quick
	HAVE_FSCK=1
else
	HAVE_FSCK=0
fi

echo "big store: gc ..." >&2
OUT=$W/out
m big_gc1 "$CDT" --store "$BIG" gc
GC1_OUT=$(oneline "$W/out")
m big_gc2 "$CDT" --store "$BIG" gc
GC2_OUT=$(oneline "$W/out")
OUT=/dev/null
m big_rm "$CDT" --store "$BIG" rm -q "big/$SCALE_FILES"
OUT=$W/out
m big_gc3 "$CDT" --store "$BIG" gc
GC3_OUT=$(oneline "$W/out")
OUT=/dev/null
GC_PACKS=$(npacks "$BIG")
echo "lookups in the big store after gc ..." >&2
lookup "$BIG" gc
rm -rf "$BIG"

# --- ls of many names --------------------------------------------------------

if [ "$LS_NAMES" -gt 0 ]; then
	if [ "$(cat "$TREE/params" 2>/dev/null)" != "ls 1 names=$LS_NAMES dirs=$LS_DIRS" ]; then
		echo "generating $LS_NAMES small files in $TREE ..." >&2
		rm -rf "$TREE"
		mkdir -p "$TREE"
		# Distinct text of 64 to 2047 bytes per file; names d00/f0000000.txt, ...
		(cd "$TREE" && awk -v n="$LS_NAMES" -v dirs="$LS_DIRS" 'BEGIN {
			for (d = 0; d < dirs; d++)
				system(sprintf("mkdir -p d%02d", d))
			base = ""
			for (j = 0; length(base) < 4096; j++)
				base = base sprintf("%d %d ", j, j * 7919 % 1000003)
			for (i = 0; i < n; i++) {
				f = sprintf("d%02d/f%07d.txt", i % dirs, i)
				len = 64 + (i * 7919) % 1984
				s = sprintf("file %d of %d\n", i, n)
				printf "%s%s\n", s, substr(base, 1 + i % 1024, len - 1 - length(s)) > f
				close(f)
			}
		}')
		echo "ls 1 names=$LS_NAMES dirs=$LS_DIRS" >"$TREE/params"
	fi
	# shellcheck disable=SC2086
	"$CDT" init -q $INIT "$LSS"
	echo "ls store: adding $LS_NAMES files with $LS_JOBS parallel cdt add ..." >&2
	per=$(( (LS_NAMES + LS_JOBS - 1) / LS_JOBS ))
	t0=$(now)
	(cd "$TREE" && find d* -type f | sort | xargs -n "$per" -P "$LS_JOBS" "$CDT" --store "$LSS" add -q) ||
		die "adding the ls tree failed"
	t1=$(now)
	LS_BUILD_S=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
	LS_FILES_LOOSE=$(nfiles "$LSS")
	LS_LOOSE=$(nfiles "$LSS/objects")
	r=1
	while [ "$r" -le "$SCALE_RUNS" ]; do
		m ls "$CDT" --store "$LSS" ls
		m ls_l "$CDT" --store "$LSS" ls -l
		m ls_dir "$CDT" --store "$LSS" ls d00
		r=$((r + 1))
	done
	LS_COUNT=$("$CDT" --store "$LSS" ls | wc -l | tr -d ' ')
	LS_DIR_COUNT=$("$CDT" --store "$LSS" ls d00 | wc -l | tr -d ' ')
	[ "$LS_COUNT" -eq "$LS_NAMES" ] || die "ls listed $LS_COUNT names, not $LS_NAMES"
	m ls_gc "$CDT" --store "$LSS" gc
	LS_FILES_PACKED=$(nfiles "$LSS")
	LS_GC_PACKS=$(npacks "$LSS")
	rm -rf "$LSS"
fi

# --- report ------------------------------------------------------------------

LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)
FSTYPE=$(stat -f -c %T "$SCALE_DIR")
CPUS=$(nproc)
LEVEL=6

S_NEW=$(mbps "$PROBE_BYTES" "$(med small_add_new 1)")
S_KNOWN=$(mbps "$PROBE_BYTES" "$(med small_add_known 1)")
S_CAT=$(mbps "$PROBE_BYTES" "$(med small_cat 1)")
B_NEW=$(mbps "$PROBE_BYTES" "$(med big_add_new 1)")
B_KNOWN=$(mbps "$PROBE_BYTES" "$(med big_add_known 1)")
B_CAT=$(mbps "$PROBE_BYTES" "$(med big_cat 1)")
B_CAT_FIRST=$(mbps "$FILE_BYTES" "$(med big_cat_first 1)")
S_BASE=$(mbps "$((SMALL_MIB * 1048576))" "$(med small_base 1)")

row3() {
	printf '%-26s %8s %8s %7s %8s %10s %8s\n' "$@"
}
# cpu KEY: median user + median system seconds of KEY's runs.
cpu() {
	awk -v u="$(med "$1" 2)" -v s="$(med "$1" 3)" 'BEGIN { printf "%.2f", u + s }'
}
row() {
	printf '%-34s %9s %7s %7s %9s %7s %7s\n' "$@"
}
rowm() {
	row "$1" "$(med "$2" 1)" "$(med "$2" 2)" "$(med "$2" 3)" "$(mib_rss "$2")" \
		"$(mib_rss "$2" 5)" "$(mib_rss "$2" 6)"
}
lrow() {
	printf '%-34s %6s %7s %10s %10s %10s %10s\n' "$1" "$(lk "$2" packs)" "$(lk "$2" packs_in_midx)" \
		"$(lk "$2" absent_has_first_ns)" "$(lk "$2" absent_has_ns)" "$(lk "$2" absent_packs_ns)" \
		"$(lk "$2" present_has_ns)"
}

{
	echo "cdt bench-scale: $("$CDT" --version)"
	echo "machine: $CPUS CPUs, $(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) RAM," \
		"$FSTYPE in $SCALE_DIR"
	echo "load:    1/5/15-minute load average $LOAD_START before, $LOAD_END after"
	echo "stores:  cdt init $INIT (level $LEVEL); data from test-tool gen-random (incompressible)"
	echo "big:     $SCALE_FILES files of $FILE_MIB MiB = $(hum "$BIG_BYTES"), $BIG_CHUNKS chunks," \
		"$BIG_PACKS packs, $(hum "$BIG_APPARENT") ($(hum "$BIG_BLOCKS") on disk)"
	echo "         pack indexes $(hum "$BIG_IDX"), multi-pack index $(hum "$BIG_MIDX")"
	echo "small:   $SMALL_MIB MiB + $PROBE_MIB MiB probe: $SMALL_CHUNKS chunks, $SMALL_PACKS packs, $(hum "$SMALL_BLOCKS") on disk"
	echo "probes:  $PROBE_MIB MiB of new data per run, $SCALE_RUNS runs, medians"
	echo
	row3 "probe step (MB/s)" "small" "big" "big/sm" "CPU s/b" "RSS small" "RSS big"
	row3 "add, new data" "$S_NEW" "$B_NEW" "$(ratio "$B_NEW" "$S_NEW")" \
		"$(ratio "$(cpu small_add_new)" "$(cpu big_add_new)")" \
		"$(mib_rss small_add_new)" "$(mib_rss big_add_new)"
	row3 "add, data already stored" "$S_KNOWN" "$B_KNOWN" "$(ratio "$B_KNOWN" "$S_KNOWN")" \
		"$(ratio "$(cpu small_add_known)" "$(cpu big_add_known)")" \
		"$(mib_rss small_add_known)" "$(mib_rss big_add_known)"
	row3 "cat to /dev/null" "$S_CAT" "$B_CAT" "$(ratio "$B_CAT" "$S_CAT")" \
		"$(ratio "$(cpu small_cat)" "$(cpu big_cat)")" \
		"$(mib_rss small_cat)" "$(mib_rss big_cat)"
	echo "(target: big/small 0.80 or more. CPU s/b: CPU seconds (user + system) in the small"
	echo " store over those in the big one, the same ratio measured in CPU time, which other"
	echo " load on the machine disturbs less than wall time; RSS: peak of the runs, MiB)"
	echo
	printf 'add of each big file (MB/s, as the store grows):'
	k=1
	while [ "$k" -le "$SCALE_FILES" ]; do
		printf ' %s' "$(mbps "$FILE_BYTES" "$(med "big_add_$k" 1)")"
		k=$((k + 1))
	done
	echo
	echo "small store base ($SMALL_MIB MiB): $S_BASE MB/s; cat of the first big file: $B_CAT_FIRST MB/s"
	echo
	printf '%-34s %6s %7s %10s %10s %10s %10s\n' "lookup, ns per id" "packs" "in midx" \
		"absent 1st" "absent" "packs only" "present"
	lrow "small store" small
	lrow "big store, as add left it" big
	if [ -n "$(lk nomidx packs)" ]; then
		lrow "big store, multi-pack index aside" nomidx
	fi
	lrow "big store after rm and gc" gc
	echo "(cdt_chunk_has: a stat of the loose object, then the packs; 1st: first pass in a fresh"
	echo " process; packs only: cdt_chunk_locate; $LOOKUPS ids each; present: ids from the packs)"
	echo
	row "command (big store unless said)" "seconds" "user" "sys" "RSS MiB" "anon" "file"
	k=1
	while [ "$k" -le "$SCALE_FILES" ]; do
		rowm "add $FILE_MIB MiB file $k" "big_add_$k"
		k=$((k + 1))
	done
	rowm "stats" big_stats
	if [ "$HAVE_FSCK" = 1 ]; then
		rowm "fsck --quick" big_fsck
	fi
	rowm "gc, first after the adds" big_gc1
	rowm "gc, nothing to do" big_gc2
	rowm "rm of 1/$SCALE_FILES of the data" big_rm
	rowm "gc after that rm" big_gc3
	rowm "cat of file 1 ($FILE_MIB MiB)" big_cat_first
	if [ "$LS_NAMES" -gt 0 ]; then
		rowm "ls, $LS_NAMES names" ls
		rowm "ls -l, $LS_NAMES names" ls_l
		rowm "ls d00 ($LS_DIR_COUNT names)" ls_dir
		rowm "gc of the ls store (packs loose)" ls_gc
	fi
	echo "(RSS: peak resident set; anon, file: its anonymous and file-backed parts, sampled)"
	if [ "$HAVE_FSCK" = 0 ]; then
		echo "(fsck: this cdt has no fsck command; not measured)"
	fi
	echo "gc, first:       $GC1_OUT"
	echo "gc, nothing:     $GC2_OUT"
	echo "gc after rm:     $GC3_OUT ($GC_PACKS packs left)"
	echo
	echo "inodes: big store $BIG_FILES files ($BIG_LOOSE loose objects) for $BIG_CHUNKS chunks;" \
		"df -i grew by $((INODES_AFTER - INODES_BEFORE)) (other jobs share the file system)"
	echo "        as loose objects the chunks alone would take $BIG_CHUNKS inodes" \
		"($(ratio "$BIG_CHUNKS" "$BIG_FILES") chunks per file of the store)"
	if [ "$LS_NAMES" -gt 0 ]; then
		echo "ls store: $LS_NAMES files added in $LS_BUILD_S s by $LS_JOBS parallel cdt add;" \
			"$LS_FILES_LOOSE files ($LS_LOOSE loose objects), $LS_FILES_PACKED after gc ($LS_GC_PACKS packs)"
	fi
} | tee "$W/report"

{
	echo "# cdt bench-scale results ($(date -u +%Y-%m-%dT%H:%M:%SZ)); MB = 10^6 bytes, seconds, RSS in KiB"
	echo "version=$("$CDT" --version | sed 's/^cdt version //')"
	echo "cpus=$CPUS"
	echo "fs=$FSTYPE"
	echo "load_start=$LOAD_START"
	echo "load_end=$LOAD_END"
	echo "init=$INIT"
	echo "chunk_size=$CHUNK"
	echo "runs=$SCALE_RUNS"
	echo "big_files=$SCALE_FILES"
	echo "big_file_bytes=$FILE_BYTES"
	echo "big_bytes=$BIG_BYTES"
	echo "big_chunks=$BIG_CHUNKS"
	echo "big_packs=$BIG_PACKS"
	echo "big_store_apparent=$BIG_APPARENT"
	echo "big_store_blocks=$BIG_BLOCKS"
	echo "big_pack_index_bytes=$BIG_IDX"
	echo "big_midx_bytes=$BIG_MIDX"
	echo "big_store_files=$BIG_FILES"
	echo "big_loose_objects=$BIG_LOOSE"
	echo "big_inodes_delta=$((INODES_AFTER - INODES_BEFORE))"
	echo "small_bytes=$((SMALL_MIB * 1048576))"
	echo "small_chunks=$SMALL_CHUNKS"
	echo "small_packs=$SMALL_PACKS"
	echo "probe_bytes=$PROBE_BYTES"
	echo "small_add_new_mbps=$S_NEW"
	echo "big_add_new_mbps=$B_NEW"
	echo "add_new_ratio=$(ratio "$B_NEW" "$S_NEW")"
	echo "small_add_known_mbps=$S_KNOWN"
	echo "big_add_known_mbps=$B_KNOWN"
	echo "add_known_ratio=$(ratio "$B_KNOWN" "$S_KNOWN")"
	echo "small_cat_mbps=$S_CAT"
	echo "big_cat_mbps=$B_CAT"
	echo "cat_ratio=$(ratio "$B_CAT" "$S_CAT")"
	echo "add_new_cpu_ratio=$(ratio "$(cpu small_add_new)" "$(cpu big_add_new)")"
	echo "add_known_cpu_ratio=$(ratio "$(cpu small_add_known)" "$(cpu big_add_known)")"
	echo "cat_cpu_ratio=$(ratio "$(cpu small_cat)" "$(cpu big_cat)")"
	echo "big_cat_first_mbps=$B_CAT_FIRST"
	echo "small_base_mbps=$S_BASE"
	k=1
	while [ "$k" -le "$SCALE_FILES" ]; do
		echo "big_add_${k}_mbps=$(mbps "$FILE_BYTES" "$(med "big_add_$k" 1)")"
		k=$((k + 1))
	done
	for key in small_base small_add_new small_add_known small_cat big_add big_add_new big_add_known \
		big_cat big_cat_first big_stats big_fsck big_gc1 big_gc2 big_rm big_gc3 ls ls_l ls_dir ls_gc; do
		if [ -s "$W/m_$key" ]; then
			echo "${key}_s=$(med "$key" 1)"
			echo "${key}_user_s=$(med "$key" 2)"
			echo "${key}_sys_s=$(med "$key" 3)"
			echo "${key}_rss_kb=$(top "$key" 4)"
			echo "${key}_anon_kb=$(top "$key" 5)"
			echo "${key}_file_kb=$(top "$key" 6)"
		fi
	done
	cat "$W/lookups"
	echo "have_fsck=$HAVE_FSCK"
	echo "gc_packs_after_rm=$GC_PACKS"
	if [ "$LS_NAMES" -gt 0 ]; then
		echo "ls_names=$LS_NAMES"
		echo "ls_dir_names=$LS_DIR_COUNT"
		echo "ls_build_s=$LS_BUILD_S"
		echo "ls_store_files=$LS_FILES_LOOSE"
		echo "ls_loose_objects=$LS_LOOSE"
		echo "ls_store_files_after_gc=$LS_FILES_PACKED"
	fi
} >"$BENCH_OUT"
echo
echo "results: $BENCH_OUT"
