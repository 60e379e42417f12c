#!/bin/sh
# bench-peers.sh: cdt, borg, restic, casync, bup and zbackup side by side on the same backup series.
#
#   contrib/bench-peers.sh [DATA_DIR]            (default /tmp/cdtbench/data)
#   CDT=./cdt RUNS=1 sh contrib/bench-peers.sh /tmp/cdtbench/data
#
# DATA_DIR holds gen1.tar .. gen5.tar and random/rand1.bin, random/rand2.bin
# (an identical copy), as written by gen-series.sh; GENS and DUP (below) run
# it on another series instead, such as the release archives of
# t/perf/gen-releases.sh:
#
#   GENS="$(cd /tmp/cdt-defaults/releases && ls rel*.tar | tr '\n' ' ')" DUP=0 \
#       RUNS=1 CDT=$PWD/cdt sh contrib/bench-peers.sh /tmp/cdt-defaults/releases
#
# cdt is always measured;
# borg, restic, casync, bup and zbackup are measured when found on PATH, each
# with its default settings, and skipped (saying so) otherwise. This script
# installs nothing.
#
# For every tool, RUNS times and each time in a fresh repository (with the
# default GENS; otherwise the first of GENS, the rest and the last):
#   first       store gen1.tar
#   later       store gen2.tar .. gen5.tar, one command (one archive,
#               snapshot or name) per generation; timed together
#   store       du -sb of the repository after the five generations (and,
#               as a check, the bytes of its regular files alone, which
#               leaves out directories, and the blocks allocated, du -sB1)
#   restore     restore gen5.tar into a regular file in an empty directory
#               (checked against the input's SHA-256 afterwards, untimed)
#   to null     write gen5.tar to /dev/null, the tool's own cost without
#               the disk's (cdt cat, borg extract --stdout, restic dump,
#               bup join, zbackup restore; casync extracts only into a
#               file or a device, so not measured); a failing exit fails it
#   duplicate   in a second fresh repository, store rand1.bin (untimed),
#               then time storing rand2.bin, an identical 1 GiB file;
#               skipped with DUP=0, and then "not measured" in the table
# The tools take turns within each run, so slow drifts in the machine's load
# fall on all of them. The figures are medians over the runs.
#
# Environment:
#   CDT         the cdt binary (default ./cdt)
#   RUNS        runs per tool (default 3; RUNS=1 for a quick look)
#   TOOLS       tools to try, in this order (default "cdt borg restic casync bup zbackup")
#   GENS        the generations, in order: files (paths relative to DATA_DIR,
#               no spaces) separated by blanks, at least two (default
#               "gen1.tar gen2.tar gen3.tar gen4.tar gen5.tar"). The first is
#               "first", the others "later", the last is restored. Each is
#               stored under its base name without its last extension
#               (other characters than A-Z a-z 0-9 . _ - made "_"), which
#               must differ between them.
#   DUP         1 (default) to measure the duplicate ingest of
#               random/rand1.bin and rand2.bin; 0 to skip it (the random
#               files are then not needed)
#   BENCH_DIR   scratch directory (default ${TMPDIR:-/tmp}/cdt-bench-peers);
#               the repositories are made in BENCH_DIR/work and removed
#   BENCH_OUT   key=value results (default BENCH_DIR/peers-results.txt):
#               the medians, and every run's seconds in T_STEP_s_runs
#   SERIES_DIR  where gen-series.sh keeps expected-gen.sha256 and
#               expected-random.sha256 (default ../shared/bench beside the
#               source tree), to say whether DATA_DIR is the frozen series
#
# Inputs are read (and checksummed) once before timing, and read again
# before each step that stores them, so every timed read comes from the
# page cache (borg drops what it reads from it, posix_fadvise DONTNEED,
# and the tool after it would read from the disk); the page cache is not
# dropped between steps (that needs privileges a benchmark should not
# assume). Each timed step
# starts after a sync, so write-back of an earlier step does not land in it;
# a step's own writes count as far as the tool itself syncs them. MB is
# 10^6 bytes.
#
# With the default GENS the output is as it always was; with other GENS the
# lines that name the series name its files instead, the check against
# SERIES_DIR is left out, and the results file gains a gens= line.
#
# Exit status: 0 when the table was printed (a peer that failed is marked
# FAILED in it), 1 when the data or cdt is missing, 2 for a usage error.
set -eu
export LC_ALL=C
umask 022

ROOT=$(cd "$(dirname "$0")/.." && pwd)

usage() {
	echo "usage: bench-peers.sh [DATA_DIR]" >&2
	[ -z "$1" ] || echo "bench-peers: $1" >&2
	exit 2
}

case ${1:-} in
-h | --help) usage "" ;;
-*) usage "unknown option '$1'" ;;
esac
[ $# -le 1 ] || usage "too many arguments"
DATA=${1:-/tmp/cdtbench/data}
RUNS=${RUNS:-3}
TOOLS=${TOOLS:-cdt borg restic casync bup zbackup}
DEFAULT_GENS="gen1.tar gen2.tar gen3.tar gen4.tar gen5.tar"
# shellcheck disable=SC2086 # blanks collapsed, no globbing
GENS=$(set -f && echo ${GENS:-$DEFAULT_GENS})
DUP=${DUP:-1}
BENCH_DIR=${BENCH_DIR:-${TMPDIR:-/tmp}/cdt-bench-peers}
SERIES_DIR=${SERIES_DIR:-$ROOT/../shared/bench}
if [ -d "$SERIES_DIR" ]; then
	SERIES_DIR=$(cd "$SERIES_DIR" && pwd)
fi
CDT=${CDT:-./cdt}

die() {
	echo "bench-peers: $*" >&2
	exit 1
}

say() {
	echo "$*" >&2
}

case $RUNS in
'' | *[!0-9]* | 0) usage "RUNS must be a positive number, not '$RUNS'" ;;
esac
for t in $TOOLS; do
	case $t in
	cdt | borg | restic | casync | bup | zbackup) ;;
	*) usage "unknown tool '$t' in TOOLS (cdt borg restic casync bup zbackup)" ;;
	esac
done
case $DUP in
0 | 1) ;;
*) usage "DUP must be 0 or 1, not '$DUP'" ;;
esac

# gen_name FILE: the archive, snapshot or backup name FILE is stored under.
gen_name() {
	basename "$1" | sed 's/\.[^.]*$//; s/[^A-Za-z0-9._-]/_/g'
}

set -f
N_GENS=0
NAMES=" "
for g in $GENS; do
	case $g in
	/* | ../* | */../* | *[[:space:]]*) usage "GENS names files inside DATA_DIR, not '$g'" ;;
	esac
	n=$(gen_name "$g")
	case $NAMES in
	*" $n "*) usage "two files in GENS would be stored as '$n'" ;;
	esac
	NAMES="$NAMES$n "
	N_GENS=$((N_GENS + 1))
done
set +f
[ "$N_GENS" -ge 2 ] || usage "GENS needs at least two files, not '$GENS'"
set -f
# shellcheck disable=SC2086 # GENS is a blank-separated list
set -- $GENS
set +f
GEN_FIRST=$1
shift
LATER_GENS=$*
eval "GEN_LAST=\${$#}"
# The words for the series in the report: as they always were for the
# default series.
if [ "$GENS" = "$DEFAULT_GENS" ]; then
	DESC_ALL=gen1..5.tar
	DESC_LATER=gen2..5.tar
	DESC_STORED=gen1..5
	DESC_LATER_FAIL=gen2..5
else
	DESC_ALL="$N_GENS generations, $GEN_FIRST .. $GEN_LAST"
	if [ $# -eq 1 ]; then
		DESC_LATER=$1
	else
		DESC_LATER="$1 .. $GEN_LAST ($# files)"
	fi
	DESC_STORED="all $N_GENS generations"
	DESC_LATER_FAIL=$DESC_LATER
fi
[ -d "$DATA" ] || die "'$DATA' is not a directory (make it with gen-series.sh)"
DATA=$(cd "$DATA" && pwd)
if [ "$DUP" = 1 ]; then
	NEEDED="$GENS random/rand1.bin random/rand2.bin"
else
	NEEDED=$GENS
fi
set -f
for f in $NEEDED; do
	[ -f "$DATA/$f" ] || die "'$DATA/$f' is missing (make it with gen-series.sh)"
done
set +f
case $CDT in
*/*) [ -x "$CDT" ] || die "CDT '$CDT' is not an executable (run make first)"
	CDT=$(cd "$(dirname "$CDT")" && pwd)/$(basename "$CDT") ;;
*) CDT=$(command -v "$CDT") || die "'$CDT' not found (run make, or set CDT)" ;;
esac

mkdir -p "$BENCH_DIR"
BENCH_DIR=$(cd "$BENCH_DIR" && pwd)
BENCH_OUT=${BENCH_OUT:-$BENCH_DIR/peers-results.txt}
W=$BENCH_DIR/work
rm -rf "$W"
mkdir -p "$W"
trap 'rm -rf "$W"' EXIT
trap 'exit 130' INT TERM

# --- the tools ---------------------------------------------------------------
#
# Each tool T has:
#   T_version           its version
#   T_settings          what the benchmark runs, in words
#   T_init REPO         make an empty repository
#   T_add REPO NAME PATH  store PATH (relative to DATA, the current
#                         directory) as archive, snapshot or name NAME
#   T_restore REPO NAME PATH OUT  write the stored PATH to OUT/PATH
#   T_stream REPO NAME PATH  write the stored PATH to /dev/null (optional)
# REPO is an absolute path that does not exist yet; everything the tool keeps
# outside it (caches, security data) goes to $W/home, removed with the
# repository.

cdt_version() {
	"$CDT" --version | sed -n 's/^cdt version \([^ ]*\).*/\1/p'
}
cdt_settings() {
	echo "cdt init; cdt add; cdt cat -o (writes the file durably: fsync)"
}
cdt_init() {
	"$CDT" init -q "$1"
}
cdt_add() {
	"$CDT" --store "$1" add -q --name "$2" "$3"
}
cdt_restore() {
	"$CDT" --store "$1" cat -o "$4/$3" "$2"
}
cdt_stream() {
	"$CDT" --store "$1" cat "$2" >/dev/null
}

borg_version() {
	borg --version | sed 's/^borg //'
}
borg_settings() {
	echo "borg init -e none; borg create (lz4, buzhash defaults); borg extract"
}
borg_init() {
	borg init -e none "$1"
}
borg_add() {
	borg create "$1::$2" "$3"
}
borg_restore() {
	(cd "$4" && exec borg extract "$1::$2" "$3")
}
borg_stream() {
	borg extract --stdout "$1::$2" "$3" >/dev/null
}

restic_version() {
	restic version | sed -n 's/^restic \([^ ]*\).*/\1/p'
}
# restic 0.14 refuses an empty password and has no --insecure-no-password
# (added in 0.17), so a fixed one; its repositories are always encrypted.
restic_settings() {
	echo "restic init (repository v2, password 'bench'); restic backup (compression auto); restic restore"
}
restic_init() {
	restic -r "$1" init -q
}
restic_add() {
	restic -r "$1" backup -q --tag "$2" "$3"
}
restic_restore() {
	restic -r "$1" restore -q latest --tag "$2" --target "$4"
}
# A single file backed up is kept at the root of its snapshot.
restic_stream() {
	restic -r "$1" dump -q --tag "$2" latest "/$(basename "$3")" >/dev/null
}

casync_version() {
	casync --version | sed 's/^casync //'
}
casync_settings() {
	echo "casync make of each tar (blob index, default chunk size and compression) into one chunk store; casync extract"
}
casync_init() {
	mkdir "$1"
}
casync_add() {
	casync make --store="$1/default.castr" "$1/$2.caibx" "$3" >/dev/null
}
casync_restore() {
	casync extract --store="$1/default.castr" "$1/$2.caibx" "$4/$3"
}

bup_version() {
	bup --version
}
bup_settings() {
	echo "bup init; bup split -n NAME of each tar; bup join NAME > FILE"
}
bup_init() {
	bup -d "$1" init
}
bup_add() {
	bup -d "$1" split -q -n "$2" "$3"
}
bup_restore() {
	bup -d "$1" join "$2" >"$4/$3"
}
bup_stream() {
	bup -d "$1" join "$2" >/dev/null
}

# zbackup has no --version; its help (on stderr) names the version, and
# Debian's zbackup 1.5 still calls itself 1.4. It writes its messages,
# [DEBUG] lines included, to stderr even with --silent, so stdout carries
# only the restored data. Its LZMA is slow on new data: on 2 CPUs about
# 5 MB/s on tar files and 3.5 MB/s on random bytes, so the untimed store of
# a 1 GiB rand1.bin takes some five minutes a run.
zbackup_version() {
	zbackup --help 2>&1 | sed -n 's/^ZBackup, .* version \([^ ]*\)$/\1/p'
}
zbackup_settings() {
	echo "zbackup init --non-encrypted; zbackup backup REPO/backups/NAME < each tar (lzma level 6, default chunking and threads); zbackup restore > FILE (40 MiB cache)"
}
zbackup_init() {
	zbackup init --non-encrypted "$1"
}
zbackup_add() {
	zbackup backup --non-encrypted "$1/backups/$2" <"$3"
}
zbackup_restore() {
	zbackup restore --non-encrypted "$1/backups/$2" >"$4/$3"
}
zbackup_stream() {
	zbackup restore --non-encrypted "$1/backups/$2" >/dev/null
}

# Keep each tool's state in the scratch directory and out of every prompt.
export BORG_BASE_DIR="$W/home/borg"
export BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes
export BORG_RELOCATED_REPO_ACCESS_IS_OK=yes
export RESTIC_PASSWORD=bench
export RESTIC_CACHE_DIR="$W/home/restic-cache"
export GIT_CONFIG_GLOBAL=/dev/null
export GIT_CONFIG_NOSYSTEM=1

MEASURED=
for t in $TOOLS; do
	case $t in
	cdt) ;;
	borg | restic | casync | bup | zbackup)
		if ! command -v "$t" >/dev/null 2>&1; then
			say "skipping $t: not found on PATH"
			continue
		fi ;;
	esac
	MEASURED="$MEASURED $t"
done
[ -n "$MEASURED" ] || die "no tool to measure"

# --- the data ----------------------------------------------------------------

cd "$DATA"
bytes() {
	stat -c %s "$1"
}
set -f
B_FIRST=$(bytes "$GEN_FIRST")
B_LATER=0
for g in $LATER_GENS; do
	B_LATER=$((B_LATER + $(bytes "$g")))
done
set +f
B_SERIES=$((B_FIRST + B_LATER))
B_RESTORE=$(bytes "$GEN_LAST")
if [ "$DUP" = 1 ]; then
	B_DUP=$(bytes random/rand2.bin)
else
	B_DUP=0
fi

# Reading everything once puts it in the page cache (and checks it).
say "reading the data once (page cache, checksums) ..."
# shellcheck disable=SC2086 # GENS is a blank-separated list
(set -f && sha256sum $GENS) >"$W/gen.sha256"
if [ "$DUP" = 1 ]; then
	(cd random && sha256sum rand1.bin rand2.bin) >"$W/random.sha256"
	R1=$(sed -n 's/ .*rand1.bin$//p' "$W/random.sha256")
	R2=$(sed -n 's/ .*rand2.bin$//p' "$W/random.sha256")
	[ "$R1" = "$R2" ] || die "random/rand2.bin is not a copy of random/rand1.bin"
fi
LAST_SHA=$(sha256sum <"$GEN_LAST" | cut -d' ' -f1)
FINGERPRINT=$(sha256sum <"$W/gen.sha256" | cut -c1-16)
if [ "$GENS" != "$DEFAULT_GENS" ]; then
	SERIES_KIND="GENS chooses the series (not compared with $SERIES_DIR/expected-gen.sha256)"
	SERIES_FROZEN=no
elif [ -f "$SERIES_DIR/expected-gen.sha256" ]; then
	if cmp -s "$SERIES_DIR/expected-gen.sha256" "$W/gen.sha256"; then
		SERIES_KIND="the frozen series (matches $SERIES_DIR/expected-gen.sha256)"
		SERIES_FROZEN=yes
	else
		SERIES_KIND="NOT the frozen series: differs from $SERIES_DIR/expected-gen.sha256 (built with SCAN=1 or from other sources); compare with figures from the frozen series with care"
		SERIES_FROZEN=no
	fi
else
	SERIES_KIND="unknown ($SERIES_DIR/expected-gen.sha256 not found)"
	SERIES_FROZEN=unknown
fi
avail_kb=$(awk '/^MemAvailable:/ { print $2 }' /proc/meminfo 2>/dev/null || echo 0)
if [ $(((B_SERIES + 2 * B_DUP) / 1024)) -gt $((avail_kb / 2)) ]; then
	say "bench-peers: warning: the data is more than half the available memory; reads may not come from the page cache"
fi

# --- helpers -----------------------------------------------------------------

now() {
	date +%s.%N
}

load1() {
	cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo unknown
}

# CPU seconds (user + system) of all waited-for children so far; `times`
# must run in this shell, not in a command substitution.
cpu() {
	times >"$W/times"
	awk 'NR == 2 { split($1, u, "m"); split($2, s, "m")
		printf "%.2f\n", u[1] * 60 + u[2] + s[1] * 60 + s[2] }' "$W/times"
}

# timed KEY CMD...: sync, run CMD (output to $W/log), append its wall
# seconds to $W/t.KEY and its CPU seconds to $W/c.KEY. Fails as CMD fails.
timed() {
	tk=$1
	shift
	sync
	cpu >"$W/c0"
	t0=$(now)
	if ! "$@" >"$W/log" 2>&1; then
		return 1
	fi
	t1=$(now)
	cpu >"$W/c1"
	echo "$t1 $t0" | awk '{ printf "%.6f\n", $1 - $2 }' >>"$W/t.$tk"
	echo "$(cat "$W/c1") $(cat "$W/c0")" | awk '{ printf "%.2f\n", $1 - $2 }' >>"$W/c.$tk"
}

# warm FILE...: read FILEs into the page cache again (untimed).
warm() {
	cat "$@" >/dev/null
}

# quiet CMD...: run CMD untimed, output to $W/log.
quiet() {
	"$@" >"$W/log" 2>&1
}

# median FILE: the median of the numbers in FILE (empty when there are none).
median() {
	[ -s "$1" ] || return 0
	sort -g "$1" | awk '{ v[NR] = $1 } END {
		printf "%.10g\n", (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'
}

# mb BYTES: in MB (empty when BYTES is)
mb() {
	if [ -n "$1" ]; then
		awk -v b="$1" 'BEGIN { printf "%.1f", b / 1e6 }'
	fi
}

# runs FILE: the numbers in FILE in run order, on one line.
runs() {
	if [ -s "$1" ]; then
		tr '\n' ' ' <"$1" | sed 's/ $//'
	fi
}

# mbps BYTES SECONDS (empty when SECONDS is)
mbps() {
	[ -n "$2" ] || return 0
	awk -v b="$1" -v t="$2" 'BEGIN { printf "%.1f", (t > 0 ? b / t / 1e6 : 0) }'
}

# later_gens T REPO: the later generations, one command each.
later_gens() {
	set -f
	for g in $LATER_GENS; do
		"$1_add" "$2" "$(gen_name "$g")" "$g" || { set +f; return 1; }
	done
	set +f
}

# fail T WHAT: give up on tool T for the rest of the benchmark.
fail() {
	say "bench-peers: $1 failed ($2); its output:"
	tail -n 20 "$W/log" >&2
	echo "$2" >"$W/failed.$1"
}

# run_tool T RUN: one run of every step for tool T.
run_tool() {
	rt=$1
	repo=$W/repo.$rt
	rm -rf "$repo" "${W:?}/home" "$W/out"
	mkdir -p "${W:?}/home" "$W/out"
	quiet "${rt}_init" "$repo" || { fail "$rt" "init"; return 1; }
	warm "$GEN_FIRST"
	timed "$rt.first" "${rt}_add" "$repo" "$(gen_name "$GEN_FIRST")" "$GEN_FIRST" || { fail "$rt" "storing $GEN_FIRST"; return 1; }
	set -f
	# shellcheck disable=SC2086 # LATER_GENS is a list of files
	warm $LATER_GENS
	set +f
	timed "$rt.later" later_gens "$rt" "$repo" || { fail "$rt" "storing $DESC_LATER_FAIL"; return 1; }
	du -sb "$repo" | cut -f1 >>"$W/s.$rt"
	find "$repo" -type f -printf '%s\n' | awk '{ s += $1 } END { printf "%.0f\n", s }' >>"$W/sf.$rt"
	du -sB1 "$repo" | cut -f1 >>"$W/sa.$rt"
	mkdir -p "$(dirname "$W/out/$GEN_LAST")"
	timed "$rt.restore" "${rt}_restore" "$repo" "$(gen_name "$GEN_LAST")" "$GEN_LAST" "$W/out" || { fail "$rt" "restoring $GEN_LAST"; return 1; }
	got=$(sha256sum <"$W/out/$GEN_LAST" | cut -d' ' -f1)
	[ "$got" = "$LAST_SHA" ] || { echo "restored $GEN_LAST has SHA-256 $got" >"$W/log"; fail "$rt" "restore differs"; return 1; }
	if command -v "${rt}_stream" >/dev/null; then
		timed "$rt.stream" "${rt}_stream" "$repo" "$(gen_name "$GEN_LAST")" "$GEN_LAST" || { fail "$rt" "writing $GEN_LAST to /dev/null"; return 1; }
	fi
	rm -rf "$repo" "${W:?}/home" "$W/out"
	[ "$DUP" = 1 ] || return 0
	mkdir -p "${W:?}/home"
	quiet "${rt}_init" "$repo" || { fail "$rt" "init"; return 1; }
	quiet "${rt}_add" "$repo" rand1 random/rand1.bin || { fail "$rt" "storing rand1.bin"; return 1; }
	warm random/rand2.bin
	timed "$rt.dup" "${rt}_add" "$repo" rand2 random/rand2.bin || { fail "$rt" "storing rand2.bin"; return 1; }
	rm -rf "$repo" "${W:?}/home"
}

# --- the runs ----------------------------------------------------------------

CPUS=$(nproc)
CPU_MODEL=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
FSTYPE=$(df -P -T "$BENCH_DIR" 2>/dev/null | awk 'NR == 2 { print $2 }')
MEM_GIB=$(awk '/^MemTotal:/ { printf "%.0f", $2 / 1048576 }' /proc/meminfo)
LOAD_START=$(load1)
: >"$W/loads"
r=1
while [ "$r" -le "$RUNS" ]; do
	for t in $MEASURED; do
		[ -e "$W/failed.$t" ] && continue
		say "run $r of $RUNS: $t (load $(load1)) ..."
		load1 >>"$W/loads"
		run_tool "$t" "$r" || true
	done
	r=$((r + 1))
done
LOAD_END=$(load1)
LOAD_MIN=$(sort -g "$W/loads" | head -n 1)
LOAD_MAX=$(sort -g "$W/loads" | tail -n 1)

# --- report ------------------------------------------------------------------

# Per tool: V_T version, F_T first MB/s, L_T later MB/s, R_T restore MB/s,
# S_T store MB, D_T duplicate MB/s (empty when not measured).
# set VAR VALUE
set_var() {
	eval "$1=\$2"
}
for t in $MEASURED; do
	set_var "V_$t" "$("${t}_version" 2>/dev/null || echo unknown)"
	set_var "F_$t" "$(mbps "$B_FIRST" "$(median "$W/t.$t.first")")"
	set_var "L_$t" "$(mbps "$B_LATER" "$(median "$W/t.$t.later")")"
	set_var "R_$t" "$(mbps "$B_RESTORE" "$(median "$W/t.$t.restore")")"
	set_var "N_$t" "$(mbps "$B_RESTORE" "$(median "$W/t.$t.stream")")"
	set_var "D_$t" "$(mbps "$B_DUP" "$(median "$W/t.$t.dup")")"
	set_var "S_$t" "$(mb "$(median "$W/s.$t")")"
	set_var "SF_$t" "$(mb "$(median "$W/sf.$t")")"
	set_var "SA_$t" "$(mb "$(median "$W/sa.$t")")"
done

# get X T: the figure X of tool T.
get() {
	eval "printf '%s\\n' \"\${$1_$2:-}\""
}

# row CELL...: one line of the table, "-" for a figure not measured.
row() {
	printf '%-8s %-9s %10s %10s %10s %10s %9s %11s\n' "$1" "$2" "${3:--}" "${4:--}" "${5:--}" "${6:--}" "${7:--}" "${8:--}"
}

# ratio A B: A / B, empty when either is.
ratio() {
	if [ -n "$1" ] && [ -n "$2" ]; then
		awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'
	fi
}

# The fastest peer at restoring.
BEST_PEER=
BEST_R=
for t in $MEASURED; do
	[ "$t" = cdt ] && continue
	v=$(get R "$t")
	[ -n "$v" ] || continue
	if [ -z "$BEST_R" ] || awk -v a="$v" -v b="$BEST_R" 'BEGIN { exit !(a > b) }'; then
		BEST_R=$v
		BEST_PEER=$t
	fi
done

# verdict NAME RATIO STRICT: "met" or "missed (by N%)" for a ratio whose
# target is >= 1 (> 1 when STRICT).
verdict() {
	if [ -z "$2" ]; then
		echo "not measured"
	else
		awk -v r="$2" -v s="$3" 'BEGIN {
			if ((s && r > 1) || (!s && r >= 1)) print "met"
			else printf "missed (%.0f%% short)\n", (1 - r) * 100 }'
	fi
}

# scaled A K: A x K, empty when A is.
scaled() {
	if [ -n "$1" ]; then
		awk -v a="$1" -v k="$2" 'BEGIN { printf "%.1f", a * k }'
	fi
}

C_F=$(get F cdt)
C_L=$(get L cdt)
C_R=$(get R cdt)
C_S=$(get S cdt)
C_D=$(get D cdt)
T_F=$(get F borg)
T_L=$(scaled "$(get L borg)" 1.5)
T_R=$(scaled "$BEST_R" 2)
T_S=$(get S casync)
T_D=$(scaled "$(get D borg)" 2)
X_F=$(ratio "$C_F" "$T_F")
X_L=$(ratio "$C_L" "$T_L")
X_R=$(ratio "$C_R" "$T_R")
X_S=$(ratio "$T_S" "$C_S")
X_SF=$(ratio "$(get SF casync)" "$(get SF cdt)")
X_D=$(ratio "$C_D" "$T_D")

target() {
	printf '  %-42s %s\n' "$1" "$2"
}

{
	echo "cdt and its peers on one backup series (contrib/bench-peers.sh)"
	echo "data:    $DATA: $DESC_ALL, $(awk -v b="$B_SERIES" 'BEGIN { printf "%.1f", b / 1e6 }') MB (first $(awk -v b="$B_FIRST" 'BEGIN { printf "%.1f", b / 1e6 }') MB), fingerprint $FINGERPRINT"
	echo "         $SERIES_KIND"
	if [ "$DUP" = 1 ]; then
		echo "         random/rand1.bin and rand2.bin: identical, $B_DUP bytes each"
	else
		echo "         duplicate ingest: not measured (DUP=0)"
	fi
	echo "machine: $CPUS CPUs${CPU_MODEL:+ ($CPU_MODEL)}, $MEM_GIB GiB RAM, Linux $(uname -r); repositories on ${FSTYPE:-?} in $BENCH_DIR"
	echo "load:    1-minute load average $LOAD_START at the start, $LOAD_END at the end, $LOAD_MIN to $LOAD_MAX as each tool began (other work skews wall times)"
	echo "method:  medians of $RUNS run(s), each in a fresh repository, the tools taking turns; the page cache"
	echo "         is not dropped (that needs privileges): every input is read before each step that stores"
	echo "         it, so all timed reads come from the page cache; sync before each timed step"
	echo
	row tool version "first MB/s" "later MB/s" "restore" "to null" "store MB" "duplicate"
	for t in $MEASURED; do
		row "$t" "$(get V "$t")" "$(get F "$t")" "$(get L "$t")" "$(get R "$t")" "$(get N "$t")" "$(get S "$t")" "$(get D "$t")"
	done
	echo "(first: $GEN_FIRST; later: $DESC_LATER, one command each; restore: $GEN_LAST to a file, MB/s;"
	echo " to null: $GEN_LAST to /dev/null, MB/s, the tool's own cost;"
	if [ "$DUP" = 1 ]; then
		echo " store: du -sb of the repository after $DESC_STORED; duplicate: storing rand2.bin after its copy rand1.bin, MB/s)"
	else
		echo " store: du -sb of the repository after $DESC_STORED; duplicate: not measured (DUP=0))"
	fi
	for t in $TOOLS; do
		case " $MEASURED " in
		*" $t "*) ;;
		*) echo "$t: not measured (not found on PATH)" ;;
		esac
	done
	for t in $MEASURED; do
		if [ -e "$W/failed.$t" ]; then
			echo "$t: FAILED ($(cat "$W/failed.$t")); figures from the runs before it only"
		fi
	done
	echo
	echo "CPU seconds (user + system, median) of each step:"
	printf '%-8s %10s %10s %10s %10s %11s\n' tool first later restore "to null" duplicate
	for t in $MEASURED; do
		c1=$(median "$W/c.$t.first")
		c2=$(median "$W/c.$t.later")
		c3=$(median "$W/c.$t.restore")
		c5=$(median "$W/c.$t.stream")
		c4=$(median "$W/c.$t.dup")
		printf '%-8s %10s %10s %10s %10s %11s\n' "$t" "${c1:--}" "${c2:--}" "${c3:--}" "${c5:--}" "${c4:--}"
	done
	echo
	echo "store MB after $DESC_STORED, three ways (median):"
	printf '%-8s %10s %11s %10s\n' tool "du -sb" "files only" allocated
	for t in $MEASURED; do
		printf '%-8s %10s %11s %10s\n' "$t" "$(get S "$t")" "$(get SF "$t")" "$(get SA "$t")"
	done
	echo "(du -sb counts every directory as its size, 4096 bytes on ext4; files only is the sum of the"
	echo " regular files' sizes; allocated is du -sB1, the blocks the file system gave it)"
	echo
	echo "settings:"
	for t in $MEASURED; do
		echo "  $t: $("${t}_settings")"
	done
	echo
	echo "cdt against its targets (ratio; 1.00 or more meets the target):"
	target "first generation faster than borg:" \
		"${X_F:-n/a}  = cdt ${C_F:-?} / borg ${T_F:-?}  $(verdict F "$X_F" 1)"
	target "later generations >= 1.5 x borg:" \
		"${X_L:-n/a}  = cdt ${C_L:-?} / (1.5 x borg) ${T_L:-?}  $(verdict L "$X_L" 0)"
	target "restore >= 2 x the fastest peer${BEST_PEER:+ ($BEST_PEER)}:" \
		"${X_R:-n/a}  = cdt ${C_R:-?} / (2 x ${BEST_PEER:-peer}) ${T_R:-?}  $(verdict R "$X_R" 0)"
	target "store smaller than casync's:" \
		"${X_S:-n/a}  = casync ${T_S:-?} MB / cdt ${C_S:-?} MB  $(verdict S "$X_S" 1)"
	if [ -n "$X_SF" ]; then
		target "  (files only:" "${X_SF}  = casync $(get SF casync) MB / cdt $(get SF cdt) MB  $(verdict SF "$X_SF" 1))"
	fi
	if [ "$DUP" = 1 ]; then
		target "duplicate ingest >= 2 x borg:" \
			"${X_D:-n/a}  = cdt ${C_D:-?} / (2 x borg) ${T_D:-?}  $(verdict D "$X_D" 0)"
	else
		target "duplicate ingest >= 2 x borg:" "not measured (DUP=0)"
	fi
} | tee "$W/report"

{
	echo "# cdt bench-peers results ($(date -u +%Y-%m-%dT%H:%M:%SZ)); MB = 10^6 bytes, medians of $RUNS runs"
	echo "data=$DATA"
	echo "data_fingerprint=$FINGERPRINT"
	echo "data_frozen_series=$SERIES_FROZEN"
	[ "$GENS" = "$DEFAULT_GENS" ] || echo "gens=$GENS"
	echo "bytes_first=$B_FIRST"
	echo "bytes_later=$B_LATER"
	echo "bytes_restore=$B_RESTORE"
	if [ "$DUP" = 1 ]; then
		echo "bytes_duplicate=$B_DUP"
	else
		echo "bytes_duplicate="
	fi
	echo "cpus=$CPUS"
	echo "fs=$FSTYPE"
	echo "runs=$RUNS"
	echo "load_start=$LOAD_START"
	echo "load_end=$LOAD_END"
	echo "load_min=$LOAD_MIN"
	echo "load_max=$LOAD_MAX"
	echo "tools=${MEASURED# }"
	for t in $MEASURED; do
		echo "${t}_version=$(get V "$t")"
		[ -e "$W/failed.$t" ] && echo "${t}_failed=$(cat "$W/failed.$t")"
		echo "${t}_first_mbps=$(get F "$t")"
		echo "${t}_later_mbps=$(get L "$t")"
		echo "${t}_restore_mbps=$(get R "$t")"
		echo "${t}_to_null_mbps=$(get N "$t")"
		echo "${t}_store_mb=$(get S "$t")"
		echo "${t}_duplicate_mbps=$(get D "$t")"
		for k in first later restore stream dup; do
			echo "${t}_${k}_s=$(median "$W/t.$t.$k")"
			echo "${t}_${k}_cpu_s=$(median "$W/c.$t.$k")"
			echo "${t}_${k}_s_runs=$(runs "$W/t.$t.$k")"
			echo "${t}_${k}_cpu_s_runs=$(runs "$W/c.$t.$k")"
		done
		echo "${t}_store_bytes=$(median "$W/s.$t")"
		echo "${t}_store_bytes_runs=$(runs "$W/s.$t")"
		echo "${t}_store_file_bytes=$(median "$W/sf.$t")"
		echo "${t}_store_alloc_bytes=$(median "$W/sa.$t")"
	done
	echo "fastest_peer_restore=$BEST_PEER"
	echo "target_first_ratio=$X_F"
	echo "target_later_ratio=$X_L"
	echo "target_restore_ratio=$X_R"
	echo "target_store_ratio=$X_S"
	echo "target_store_files_ratio=$X_SF"
	echo "target_duplicate_ratio=$X_D"
} >"$BENCH_OUT"
echo
echo "results: $BENCH_OUT"
