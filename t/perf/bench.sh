#!/bin/sh
# bench.sh: throughput of cdt add and cat next to the machine's limits, measured in the same run.
#
#   make bench
#   CDT=./cdt TEST_TOOL=build/test-tool sh t/perf/bench.sh
#
# Environment:
#   BENCH_DIR   scratch directory (default ${TMPDIR:-/tmp}/cdt-bench); the
#               generated data stays there and is reused by the next run
#   BENCH_DATA  measure every regular file in this directory instead (in name
#               order: the first is added to an empty store, the others after
#               it, like later generations of a backup); BENCH_GLOB picks
#               some of them (default *, or gen*.tar where the directory
#               holds gen1.tar: the output of gen-series.sh)
#   BENCH_OUT   key=value results (default $BENCH_DIR/bench-results.txt)
#   BENCH_INIT  options for cdt init (default: none, the store's defaults)
#   BENCH_RUNS  runs of each timed step (default 3; the median is reported)
#   BENCH_BASE  size of the generated base in MiB (default 64), BENCH_GENS
#               generations in all (default 4), BENCH_EDITS edits per
#               generation (default 16)
#
# The generated series is reproducible from fixed seeds: a base of
# compressible text (test-tool gen-text) and random blocks (gen-random) in
# varying lengths, then generations that each apply seeded insertions,
# deletions and overwrites to the previous one and append a little text.
#
# Inputs are read once before timing, so every timed read comes from the page
# cache; dropping caches is not something a benchmark can rely on. Writes go
# to the file system of BENCH_DIR and include cdt's syncs.
set -eu
export LC_ALL=C

: "${CDT:?set CDT to the cdt binary (make bench does)}"
: "${TEST_TOOL:?set TEST_TOOL to build/test-tool (make bench does)}"
BENCH_DIR=${BENCH_DIR:-${TMPDIR:-/tmp}/cdt-bench}
BENCH_RUNS=${BENCH_RUNS:-3}
BENCH_BASE=${BENCH_BASE:-64}
BENCH_GENS=${BENCH_GENS:-4}
BENCH_EDITS=${BENCH_EDITS:-16}
BENCH_INIT=${BENCH_INIT:-}
mkdir -p "$BENCH_DIR"
BENCH_DIR=$(cd "$BENCH_DIR" && pwd)
BENCH_OUT=${BENCH_OUT:-$BENCH_DIR/bench-results.txt}
W=$BENCH_DIR/work
S=$BENCH_DIR/store
rm -rf "$W" "$S" "$S.j1"
mkdir -p "$W"
trap 'rm -rf "$W" "$S" "$S.j1"' EXIT
trap 'exit 130' INT TERM

die() {
	echo "bench: $*" >&2
	exit 1
}

LOAD_START=$(cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo unknown)

# --- reproducible data -------------------------------------------------------

# A 31-bit LCG in shell arithmetic: the same numbers from every POSIX shell.
lcg() {
	LCG=$(( (LCG * 1103515245 + 12345) % 2147483648 ))
}

# rnd N: R = pseudo-random number in [0, N) (39 bits drawn, high bits only).
rnd() {
	lcg
	rnd_hi=$((LCG >> 8))
	lcg
	R=$(( ((rnd_hi << 16) | (LCG >> 15)) % $1 ))
}

# copy FILE OFFSET LENGTH: those bytes of FILE to stdout.
copy() {
	if [ "$3" -gt 0 ]; then
		dd if="$1" iflag=skip_bytes,count_bytes skip="$2" count="$3" bs=1M status=none
	fi
}

# make_base FILE MIB: text and random segments of 1..8 MiB, about 3/4 text.
make_base() {
	left=$(($2 << 20))
	LCG=20261126
	k=0
	while [ "$left" -gt 0 ]; do
		rnd 7340032
		len=$((R + 1048576))
		if [ "$len" -gt "$left" ]; then
			len=$left
		fi
		rnd 4
		if [ "$R" -eq 0 ]; then
			"$TEST_TOOL" gen-random $((1000 + k)) "$len"
		else
			"$TEST_TOOL" gen-text $((1000 + k)) "$len"
		fi
		left=$((left - len))
		k=$((k + 1))
	done >"$1.tmp"
	mv "$1.tmp" "$1"
}

# mutate IN OUT GEN: OUT is IN with BENCH_EDITS seeded edits and an append.
mutate() {
	size=$(stat -c %s "$1")
	LCG=$(($3 * 7919 + 17))
	i=0
	while [ "$i" -lt "$BENCH_EDITS" ]; do
		rnd "$size"
		pos=$R
		rnd 3
		case $R in
		0) rnd 64; echo "$pos ins $((R + 1))" ;;
		1) rnd 8192; echo "$pos del $((R + 1))" ;;
		2) rnd 61440; echo "$pos rep $((R + 4096))" ;;
		esac
		i=$((i + 1))
	done | sort -n >"$2.edits"
	cur=0
	n=0
	{
		while read -r pos kind len; do
			n=$((n + 1))
			if [ "$pos" -lt "$cur" ]; then
				pos=$cur
			fi
			copy "$1" "$cur" $((pos - cur))
			cur=$pos
			case $kind in
			ins) "$TEST_TOOL" gen-random $(($3 * 1000 + n)) "$len" ;;
			del) cur=$((pos + len)) ;;
			rep) "$TEST_TOOL" gen-random $(($3 * 1000 + n)) "$len"; cur=$((pos + len)) ;;
			esac
			if [ "$cur" -gt "$size" ]; then
				cur=$size
			fi
		done <"$2.edits"
		copy "$1" "$cur" $((size - cur))
		rnd 458752
		"$TEST_TOOL" gen-text $(($3 * 1000 + 999)) $((R + 65536))
	} >"$2.tmp"
	rm -f "$2.edits"
	mv "$2.tmp" "$2"
}

if [ -n "${BENCH_DATA:-}" ]; then
	[ -d "$BENCH_DATA" ] || die "BENCH_DATA '$BENCH_DATA' is not a directory"
	DATA=$(cd "$BENCH_DATA" && pwd)
	DATA_KIND="files from $DATA"
else
	DATA=$BENCH_DIR/data
	params="series 1 base=$BENCH_BASE gens=$BENCH_GENS edits=$BENCH_EDITS"
	if [ "$(cat "$DATA/params" 2>/dev/null)" != "$params" ]; then
		echo "generating the series in $DATA ..." >&2
		rm -rf "$DATA"
		mkdir -p "$DATA"
		make_base "$DATA/gen1.bin" "$BENCH_BASE"
		g=2
		while [ "$g" -le "$BENCH_GENS" ]; do
			mutate "$DATA/gen$((g - 1)).bin" "$DATA/gen$g.bin" "$g"
			g=$((g + 1))
		done
		echo "$params" >"$DATA/params"
	fi
	DATA_KIND="generated series ($BENCH_BASE MiB base, $BENCH_GENS generations, $BENCH_EDITS edits each)"
fi

# The files, in name order, one per line in $W/files. The output of
# gen-series.sh (gen1.tar ... beside its checksum lists) means its tars.
if [ -z "${BENCH_GLOB:-}" ] && [ -f "$DATA/gen1.tar" ]; then
	BENCH_GLOB='gen*.tar'
fi
# shellcheck disable=SC2086 # BENCH_GLOB is a pattern
for f in "$DATA"/${BENCH_GLOB:-*}; do
	if [ -f "$f" ] && [ ! -L "$f" ] && [ "${f##*/}" != params ]; then
		printf '%s\n' "$f"
	fi
done >"$W/files"
NFILES=$(wc -l <"$W/files")
[ "$NFILES" -gt 0 ] || die "no regular files in '$DATA'"
FIRST=$(sed -n 1p "$W/files")
if [ "$(stat -c %s "$FIRST")" -lt 1048576 ]; then
	echo "bench: warning: the first file, '$FIRST', is under 1 MiB: its add says little (BENCH_GLOB can leave it out)" >&2
fi
BYTES_ALL=0
while read -r f; do
	BYTES_ALL=$((BYTES_ALL + $(stat -c %s "$f")))
done <"$W/files"
BYTES_FIRST=$(stat -c %s "$FIRST")
BYTES_REST=$((BYTES_ALL - BYTES_FIRST))
FINGERPRINT=$(while read -r f; do sha256sum <"$f"; done <"$W/files" | sha256sum | cut -c1-16)

# Warm the page cache; say so when the data cannot fit.
while read -r f; do cat "$f"; done <"$W/files" >/dev/null
avail_kb=$(awk '/^MemAvailable:/ { print $2 }' /proc/meminfo 2>/dev/null || echo 0)
if [ "${avail_kb:-0}" -gt 0 ] && [ $((BYTES_ALL / 1024)) -gt $((avail_kb / 2)) ]; then
	echo "bench: warning: the data is more than half the available memory; reads may not come from the page cache" >&2
fi

# --- helpers -----------------------------------------------------------------

now() {
	date +%s.%N
}

# CPU seconds (user + system) of all waited-for children so far; `times`
# must run in this shell, not in a command substitution.
cpu() {
	times >"$W/times"
	awk 'NR == 2 { split($1, u, "m"); split($2, s, "m")
		printf "%.2f\n", u[1] * 60 + u[2] + s[1] * 60 + s[2] }' "$W/times"
}

# timed FILE CMD...: run CMD (stdout to $W/out), append its seconds to FILE
# and the CPU seconds it used to FILE.cpu.
timed() {
	tf=$1
	shift
	cpu >"$W/c0"
	t0=$(now)
	"$@" >"$W/out" || die "failed: $*"
	t1=$(now)
	cpu >"$W/c1"
	echo "$t1 $t0" | awk '{ printf "%.6f\n", $1 - $2 }' >>"$tf"
	echo "$(cat "$W/c1") $(cat "$W/c0")" | awk '{ printf "%.2f\n", $1 - $2 }' >>"$tf.cpu"
}

# median FILE: the median of the numbers in FILE.
median() {
	sort -g "$1" | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# mbps BYTES SECONDS
mbps() {
	awk -v b="$1" -v t="$2" 'BEGIN { printf "%.1f", (t > 0 ? b / t / 1e6 : 0) }'
}

# ratio A B: A / B
ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'
}

# lim KEY: a figure from test-tool limits.
lim() {
	awk -v k="$1" '$1 == k { print $2 }' "$W/limits"
}

# sum_json KEY FILE: sum of a numeric field over cdt add --json lines.
sum_json() {
	sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p" "$2" | awk '{ s += $1 } END { printf "%.0f\n", s }'
}

c() {
	"$CDT" --store "$S" "$@"
}

# Names as stored with --prefix bench.
names() {
	while read -r f; do printf 'bench/%s\n' "${f##*/}"; done <"$W/files"
}

# add_files LIST STORE OPTION...: cdt add --json OPTION... of the files in LIST.
add_files() {
	af_list=$1
	af_store=$2
	shift 2
	# shellcheck disable=SC2046 # one argument per line of the list
	(IFS='
'; exec "$CDT" --store "$af_store" add --json "$@" $(cat "$af_list"))
}

# cat_all OPTION...: every name of the series to /dev/null.
cat_all() {
	# shellcheck disable=SC2046
	(IFS='
'; exec "$CDT" --store "$S" cat "$@" $(cat "$W/names")) >/dev/null
}

# --- the machine's limits ----------------------------------------------------

# shellcheck disable=SC2086 # BENCH_INIT is a list of options
"$CDT" init -q $BENCH_INIT "$S" || die "cdt init failed"
LEVEL=$(sed -n 's/^level //p' "$S/config")
CHUNK=$(sed -n 's/^chunk-size //p' "$S/config")
CHUNKER=$(sed -n 's/^chunker //p' "$S/config")
CPUS=$(nproc)
echo "measuring single-core limits ..." >&2
# shellcheck disable=SC2046 # one argument per line of the list
(IFS='
'; exec "$TEST_TOOL" limits --level "$LEVEL" --size "$CHUNK" $(cat "$W/files")) >"$W/limits" ||
	die "test-tool limits failed"
rm -rf "$S"

# --- timed steps -------------------------------------------------------------

sed 1d "$W/files" >"$W/rest"
names >"$W/names"
rm -f "$W"/t_*
r=1
while [ "$r" -le "$BENCH_RUNS" ]; do
	echo "run $r of $BENCH_RUNS: add ..." >&2
	rm -rf "$S"
	# shellcheck disable=SC2086
	"$CDT" init -q $BENCH_INIT "$S"
	timed "$W/t_new" c add --json --prefix bench "$FIRST"
	cp "$W/out" "$W/json_first"
	if [ -s "$W/rest" ]; then
		timed "$W/t_rest" add_files "$W/rest" "$S" --prefix bench
		cp "$W/out" "$W/json_rest"
	else
		: >"$W/json_rest"
	fi
	r=$((r + 1))
done

# The store as the series left it, before any name is added twice.
STORE_APPARENT=$(du -s -B1 --apparent-size "$S" | cut -f1)
STORE_BLOCKS=$(du -s -B1 "$S" | cut -f1)
OBJECTS_APPARENT=$(du -s -B1 --apparent-size "$S/objects" | cut -f1)
# Chunks, loose or packed, as the store counts them.
NOBJECTS=$("$CDT" --store "$S" stats --json | sed 's/.*"chunks":\([0-9]*\).*/\1/')
UNIQUE=$(( $(sum_json new_raw_bytes "$W/json_first") + $(sum_json new_raw_bytes "$W/json_rest") ))
STORED=$(( $(sum_json new_stored_bytes "$W/json_first") + $(sum_json new_stored_bytes "$W/json_rest") ))
NEW_REST=$(sum_json new_raw_bytes "$W/json_rest")

# Every file must come back as it went in.
while read -r f; do
	"$CDT" --store "$S" cat "bench/${f##*/}" | cmp -s - "$f" || die "'$f' does not restore identically"
done <"$W/files"

r=1
while [ "$r" -le "$BENCH_RUNS" ]; do
	echo "run $r of $BENCH_RUNS: add of stored data, cat ..." >&2
	timed "$W/t_known" add_files "$W/files" "$S" --prefix "again$r"
	timed "$W/t_known1" add_files "$W/files" "$S" -j 1 --prefix "again$r-j1"
	timed "$W/t_cat" cat_all
	timed "$W/t_cat1" cat_all -j 1
	r=$((r + 1))
done

r=1
while [ "$r" -le "$BENCH_RUNS" ]; do
	echo "run $r of $BENCH_RUNS: add -j 1 ..." >&2
	rm -rf "$S.j1"
	# shellcheck disable=SC2086
	"$CDT" init -q $BENCH_INIT "$S.j1"
	timed "$W/t_new1" "$CDT" --store "$S.j1" add -j 1 --json --prefix bench "$FIRST"
	r=$((r + 1))
done

# --- report ------------------------------------------------------------------

# busy FILE: CPUs kept busy, median CPU seconds over median wall seconds.
busy() {
	awk -v c="$(median "$1.cpu")" -v t="$(median "$1")" 'BEGIN { printf "%.2f", (t > 0 ? c / t : 0) }'
}

T_NEW=$(median "$W/t_new")
T_NEW1=$(median "$W/t_new1")
T_KNOWN=$(median "$W/t_known")
T_KNOWN1=$(median "$W/t_known1")
T_CAT=$(median "$W/t_cat")
T_CAT1=$(median "$W/t_cat1")
if [ -s "$W/t_rest" ]; then
	T_REST=$(median "$W/t_rest")
else
	T_REST=0
fi

L_MEMCPY=$(lim memcpy_mbps)
L_SHA=$(lim sha256_mbps)
L_CHUNK=$(lim chunk_mbps)
L_CHUNKSHA=$(lim chunk_sha256_mbps)
L_DEFLATE=$(lim deflate_mbps)
L_INFLATE=$(lim inflate_mbps)
L_INFLATESHA=$(lim inflate_sha256_mbps)
L_BYTES=$(lim bytes)
L_RATIO=$(lim deflate_ratio)

ADD_NEW=$(mbps "$BYTES_FIRST" "$T_NEW")
ADD_NEW1=$(mbps "$BYTES_FIRST" "$T_NEW1")
ADD_REST=$(mbps "$BYTES_REST" "$T_REST")
ADD_KNOWN=$(mbps "$BYTES_ALL" "$T_KNOWN")
ADD_KNOWN1=$(mbps "$BYTES_ALL" "$T_KNOWN1")
CAT=$(mbps "$BYTES_ALL" "$T_CAT")
CAT1=$(mbps "$BYTES_ALL" "$T_CAT1")
# What one core could do for the later generations: chunk and hash all of
# them, deflate what turned out to be new.
L_REST=$(awk -v b="$BYTES_REST" -v n="$NEW_REST" -v cs="$L_CHUNKSHA" -v d="$L_DEFLATE" \
	'BEGIN { t = b / (cs * 1e6) + n / (d * 1e6); printf "%.1f", (t > 0 ? b / t / 1e6 : 0) }')

hum() {
	awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'
}

LOAD_END=$(cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo unknown)
FSTYPE=$(stat -f -c %T "$BENCH_DIR")
BACKEND=$(lim deflate_backend)
CPU_MODEL=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)

row() {
	printf '%-32s %8s %5s   %-22s %8s  %5s\n' "$@"
}

{
	echo "cdt bench: $("$CDT" --version)"
	echo "data:   $DATA_KIND"
	echo "        $NFILES files, $(hum "$BYTES_ALL") (first file $(hum "$BYTES_FIRST")), fingerprint $FINGERPRINT"
	echo "store:  $CHUNKER $CHUNK, level $LEVEL, on $FSTYPE in $BENCH_DIR"
	echo "cpu:    $CPUS CPUs${CPU_MODEL:+, $CPU_MODEL}; cdt uses all of them unless -j says otherwise"
	echo "times:  median of $BENCH_RUNS runs; inputs are read from the page cache"
	echo "load:   1-minute load average $LOAD_START before, $LOAD_END after (other work skews the times)"
	echo "limits: one core, test-tool limits on $(hum "$L_BYTES") of the same data"
	echo
	row "step" "MB/s" "CPUs" "limit (one core)" "MB/s" "ratio"
	row "chunking (FastCDC)" "$L_CHUNK" "1" "memcpy" "$L_MEMCPY" "$(ratio "$L_CHUNK" "$L_MEMCPY")"
	row "SHA-256" "$L_SHA" "1" "memcpy" "$L_MEMCPY" "$(ratio "$L_SHA" "$L_MEMCPY")"
	row "add, new data" "$ADD_NEW" "$(busy "$W/t_new")" "deflate level $LEVEL" "$L_DEFLATE" "$(ratio "$ADD_NEW" "$L_DEFLATE")"
	row "add, new data, -j 1" "$ADD_NEW1" "$(busy "$W/t_new1")" "deflate level $LEVEL" "$L_DEFLATE" "$(ratio "$ADD_NEW1" "$L_DEFLATE")"
	if [ -s "$W/t_rest" ]; then
		row "add, later generations" "$ADD_REST" "$(busy "$W/t_rest")" "chunk+SHA+deflate new" "$L_REST" "$(ratio "$ADD_REST" "$L_REST")"
	fi
	row "add, data already stored" "$ADD_KNOWN" "$(busy "$W/t_known")" "chunking+SHA-256" "$L_CHUNKSHA" "$(ratio "$ADD_KNOWN" "$L_CHUNKSHA")"
	row "add, already stored, -j 1" "$ADD_KNOWN1" "$(busy "$W/t_known1")" "chunking+SHA-256" "$L_CHUNKSHA" "$(ratio "$ADD_KNOWN1" "$L_CHUNKSHA")"
	row "cat to /dev/null" "$CAT" "$(busy "$W/t_cat")" "inflate" "$L_INFLATE" "$(ratio "$CAT" "$L_INFLATE")"
	row "cat to /dev/null, -j 1" "$CAT1" "$(busy "$W/t_cat1")" "inflate" "$L_INFLATE" "$(ratio "$CAT1" "$L_INFLATE")"
	row "" "" "" "inflate+SHA-256" "$L_INFLATESHA" ""
	echo "(CPUs: CPU seconds of cdt per wall second; ratio: MB/s over the one-core limit)"
	echo
	echo "parallel speed-up on $CPUS CPUs: add new $(ratio "$ADD_NEW" "$ADD_NEW1")x," \
		"add stored $(ratio "$ADD_KNOWN" "$ADD_KNOWN1")x, cat $(ratio "$CAT" "$CAT1")x"
	echo
	echo "input $(hum "$BYTES_ALL"); unique $(hum "$UNIQUE") (dedup $(ratio "$BYTES_ALL" "$UNIQUE")x);" \
		"chunk objects $(hum "$STORED") (compression $(ratio "$UNIQUE" "$STORED")x; deflate alone ${L_RATIO}x)"
	echo "store $(hum "$STORE_APPARENT") apparent, $(hum "$STORE_BLOCKS") on disk in $NOBJECTS chunks" \
		"(overall $(ratio "$BYTES_ALL" "$STORE_APPARENT")x, $(ratio "$BYTES_ALL" "$STORE_BLOCKS")x on disk)"
} | tee "$W/report"

{
	echo "# cdt bench results ($(date -u +%Y-%m-%dT%H:%M:%SZ)); MB = 10^6 bytes, times in seconds (median)"
	echo "version=$("$CDT" --version | sed 's/^cdt version //')"
	echo "data=$DATA"
	echo "data_fingerprint=$FINGERPRINT"
	echo "files=$NFILES"
	echo "bytes_in=$BYTES_ALL"
	echo "bytes_first=$BYTES_FIRST"
	echo "cpus=$CPUS"
	echo "fs=$FSTYPE"
	echo "chunker=$CHUNKER"
	echo "chunk_size=$CHUNK"
	echo "level=$LEVEL"
	echo "deflate_backend=$BACKEND"
	echo "runs=$BENCH_RUNS"
	echo "load_start=$LOAD_START"
	echo "load_end=$LOAD_END"
	echo "limit_bytes=$L_BYTES"
	echo "limit_memcpy_mbps=$L_MEMCPY"
	echo "limit_sha256_mbps=$L_SHA"
	echo "limit_chunk_mbps=$L_CHUNK"
	echo "limit_chunk_sha256_mbps=$L_CHUNKSHA"
	echo "limit_deflate_mbps=$L_DEFLATE"
	echo "limit_deflate_ratio=$L_RATIO"
	echo "limit_inflate_mbps=$L_INFLATE"
	echo "limit_inflate_sha256_mbps=$L_INFLATESHA"
	echo "add_new_cpus=$(busy "$W/t_new")"
	echo "add_new_j1_cpus=$(busy "$W/t_new1")"
	echo "add_known_cpus=$(busy "$W/t_known")"
	echo "add_known_j1_cpus=$(busy "$W/t_known1")"
	echo "cat_cpus=$(busy "$W/t_cat")"
	echo "cat_j1_cpus=$(busy "$W/t_cat1")"
	echo "add_new_s=$T_NEW"
	echo "add_new_mbps=$ADD_NEW"
	echo "add_new_ratio=$(ratio "$ADD_NEW" "$L_DEFLATE")"
	echo "add_new_j1_s=$T_NEW1"
	echo "add_new_j1_mbps=$ADD_NEW1"
	echo "add_new_j1_ratio=$(ratio "$ADD_NEW1" "$L_DEFLATE")"
	echo "add_rest_s=$T_REST"
	echo "add_rest_mbps=$ADD_REST"
	echo "add_rest_limit_mbps=$L_REST"
	echo "add_known_s=$T_KNOWN"
	echo "add_known_mbps=$ADD_KNOWN"
	echo "add_known_ratio=$(ratio "$ADD_KNOWN" "$L_CHUNKSHA")"
	echo "add_known_j1_s=$T_KNOWN1"
	echo "add_known_j1_mbps=$ADD_KNOWN1"
	echo "add_known_j1_ratio=$(ratio "$ADD_KNOWN1" "$L_CHUNKSHA")"
	echo "cat_s=$T_CAT"
	echo "cat_mbps=$CAT"
	echo "cat_ratio=$(ratio "$CAT" "$L_INFLATE")"
	echo "cat_j1_s=$T_CAT1"
	echo "cat_j1_mbps=$CAT1"
	echo "cat_j1_ratio=$(ratio "$CAT1" "$L_INFLATE")"
	echo "bytes_unique=$UNIQUE"
	echo "bytes_chunk_objects=$STORED"
	echo "store_apparent=$STORE_APPARENT"
	echo "store_blocks=$STORE_BLOCKS"
	echo "objects_apparent=$OBJECTS_APPARENT"
	echo "objects=$NOBJECTS"
	echo "dedup_ratio=$(ratio "$BYTES_ALL" "$UNIQUE")"
	echo "compression_ratio=$(ratio "$UNIQUE" "$STORED")"
	echo "overall_ratio=$(ratio "$BYTES_ALL" "$STORE_APPARENT")"
	echo "overall_ratio_blocks=$(ratio "$BYTES_ALL" "$STORE_BLOCKS")"
} >"$BENCH_OUT"
echo
echo "results: $BENCH_OUT"
