#!/bin/sh
# chunk-size.sh: store size, metadata and speed of a backup series for several chunk sizes and levels.
#
#   CDT=./cdt sh t/perf/chunk-size.sh DATA_DIR
#
# DATA_DIR holds the generations (every *.tar, in name order, e.g.
# gen1.tar..gen5.tar of the benchmark series generator). For each
# FastCDC average in SIZES (default "16K 32K 64K") it makes RUNS (default 3)
# fresh stores at level 6, adds the first generation, then the others in one
# command, then cats them all to /dev/null; wall seconds are given as the
# median and the best of the runs, user and system CPU seconds as medians. Then for each
# level in LEVELS (default "1 3 6 9 12") at LEVEL_SIZE (default 32K) the
# same with LEVEL_RUNS (default RUNS) stores. Scratch stores go to WORK (default
# ${TMPDIR:-/tmp}/cdt-chunk-size), removed at the end. Output: one line per
# store, "key=value" fields, on stdout.
set -eu
export LC_ALL=C

: "${CDT:?set CDT to the cdt binary}"
if [ $# -ne 1 ] || [ ! -d "$1" ]; then
	echo "usage: chunk-size.sh DATA_DIR" >&2
	exit 2
fi
DATA=$(cd "$1" && pwd)
SIZES=${SIZES-16K 32K 64K}
LEVELS=${LEVELS-1 3 6 9 12}
LEVEL_SIZE=${LEVEL_SIZE:-32K}
RUNS=${RUNS:-3}
WORK=${WORK:-${TMPDIR:-/tmp}/cdt-chunk-size}
S=$WORK/store
rm -rf "$WORK"
mkdir -p "$WORK"
trap 'rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM

ls "$DATA"/*.tar >"$WORK/files"
FIRST=$(sed -n 1p "$WORK/files")
sed 1d "$WORK/files" >"$WORK/rest"
BYTES=0
while read -r f; do BYTES=$((BYTES + $(stat -c %s "$f"))); done <"$WORK/files"
FIRST_BYTES=$(stat -c %s "$FIRST")
while read -r f; do cat "$f"; done <"$WORK/files" >/dev/null	# page cache

now() {
	date +%s.%N
}

# "user system" CPU seconds of all waited-for children so far; `times`
# must run in this shell, not in a command substitution.
cpu() {
	times >"$WORK/times"
	awk 'NR == 2 { split($1, u, "m"); split($2, s, "m")
		printf "%.2f %.2f\n", u[1] * 60 + u[2], s[1] * 60 + s[2] }' "$WORK/times"
}

# timed NAME CMD...: wall seconds of CMD appended to $WORK/t.NAME, user and
# system CPU seconds to $WORK/u.NAME and $WORK/k.NAME. Other work on the
# machine stretches wall and system time (file system contention); user
# time hardly moves.
timed() {
	tn=$1
	shift
	cpu >"$WORK/c0"
	t0=$(now)
	"$@"
	t1=$(now)
	cpu >"$WORK/c1"
	echo "$t1 $t0" | awk '{ printf "%.3f\n", $1 - $2 }' >>"$WORK/t.$tn"
	read -r u1 k1 <"$WORK/c1"
	read -r u0 k0 <"$WORK/c0"
	awk -v a="$u1" -v b="$u0" 'BEGIN { printf "%.2f\n", a - b }' >>"$WORK/u.$tn"
	awk -v a="$k1" -v b="$k0" 'BEGIN { printf "%.2f\n", a - b }' >>"$WORK/k.$tn"
}

# median NAME [t|u|k]: median wall (or user, or system) seconds of a step.
median() {
	sort -g "$WORK/${2:-t}.$1" | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

# best NAME [t|u|k]: the shortest time, the least disturbed by other work.
best() {
	sort -g "$WORK/${2:-t}.$1" | sed -n 1p
}

add_rest() {
	# shellcheck disable=SC2046 # one file per line
	(IFS='
'; exec "$CDT" --store "$S" add --json --prefix s $(cat "$WORK/rest"))
}

cat_all() {
	# shellcheck disable=SC2046
	(IFS='
'; exec "$CDT" --store "$S" cat $(sed 's,.*/,s/,' "$WORK/files")) >/dev/null
}

# sum_json KEY FILE...: a field of cdt add --json summed over the last store's adds.
sum_json() {
	sj_key=$1
	shift
	cat "$@" | sed -n "s/.*\"$sj_key\":\([0-9]*\).*/\1/p" |
		awk '{ s += $1 } END { printf "%.0f", s }'
}

# du_of DIR KEY: " KEY=apparent KEY_blocks=allocated", in bytes.
du_of() {
	printf ' %s=%s %s_blocks=%s' "$2" "$(du -s -B1 --apparent-size "$1" | cut -f1)" \
		"$2" "$(du -s -B1 "$1" | cut -f1)"
}

# measure SIZE LEVEL RUNS: one result line.
measure() {
	rm -f "$WORK"/t.* "$WORK"/u.* "$WORK"/k.*
	r=0
	while [ "$r" -lt "$3" ]; do
		rm -rf "$S"
		"$CDT" init -q --chunk-size "$1" --level "$2" "$S"
		timed add1 "$CDT" --store "$S" add --json --prefix s "$FIRST" >"$WORK/json.1"
		timed addrest add_rest >"$WORK/json.rest"
		timed cat cat_all
		r=$((r + 1))
	done
	set -- "$1" "$2" "$(median add1)" "$(median addrest)" "$(median cat)"
	printf 'size=%s level=%s bytes_in=%s' "$1" "$2" "$BYTES"
	du_of "$S" store
	du_of "$S/objects" objects
	printf ' nobjects=%s' "$(find "$S/objects" -type f | wc -l)"
	du_of "$S/manifests" manifests
	du_of "$S/refs" refs
	du_of "$S/names" names
	printf ' unique=%s unique_rest=%s' "$(sum_json new_raw_bytes "$WORK/json.1" "$WORK/json.rest")" \
		"$(sum_json new_raw_bytes "$WORK/json.rest")"
	printf ' chunk_objects=%s chunks=%s' "$(sum_json new_stored_bytes "$WORK/json.1" "$WORK/json.rest")" \
		"$(sum_json chunks "$WORK/json.1" "$WORK/json.rest")"
	printf ' add1_s=%s add1_mbps=%s' "$3" "$(awk -v b="$FIRST_BYTES" -v t="$3" 'BEGIN { printf "%.1f", b / t / 1e6 }')"
	printf ' addrest_s=%s addrest_mbps=%s' "$4" "$(awk -v b="$((BYTES - FIRST_BYTES))" -v t="$4" 'BEGIN { printf "%.1f", b / t / 1e6 }')"
	printf ' cat_s=%s cat_mbps=%s' "$5" "$(awk -v b="$BYTES" -v t="$5" 'BEGIN { printf "%.1f", b / t / 1e6 }')"
	printf ' add1_best_s=%s addrest_best_s=%s cat_best_s=%s' "$(best add1)" "$(best addrest)" "$(best cat)"
	printf ' add1_user=%s addrest_user=%s cat_user=%s' "$(median add1 u)" "$(median addrest u)" "$(median cat u)"
	printf ' add1_sys=%s addrest_sys=%s cat_sys=%s' "$(median add1 k)" "$(median addrest k)" "$(median cat k)"
	printf ' load=%s\n' "$(cut -d' ' -f1 /proc/loadavg)"
}

for size in $SIZES; do
	measure "$size" 6 "$RUNS"
done
for level in $LEVELS; do
	measure "$LEVEL_SIZE" "$level" "${LEVEL_RUNS:-$RUNS}"
done
