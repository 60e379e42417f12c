#!/bin/sh
# defaults.sh: store size and speed of one data set for several sets of cdt init parameters.
#
#   CDT=./cdt sh t/perf/defaults.sh DATA_DIR SET...
#
# DATA_DIR holds the files to add: those matching PATTERN (default
# "*.tar *.img"), in name order. Each SET is the options of one cdt init,
# as one word with commas for spaces, e.g. "--chunk-size,16K,--level,5";
# "default" is no options. For each set, RUNS (default 1) times, in a
# fresh store: cdt init, then every file added by its own command under
# its own name (so a series goes in as a backup tool would add it), then
# the last file read back with cdt cat to /dev/null. Sizes come from the
# last run; speeds from the best run (the least disturbed by other work on
# the machine), CPU seconds (user + system) from the median one.
#
# Output: a Markdown table, one row per set:
#   store MB      du -sb STORE
#   manif %       du -sb STORE/manifests as a share of the store
#   refs MB       du -sb STORE/refs (reverse reference tables, names)
#   chunks        distinct chunks ("chunks" of cdt stats --json)
#   deltas        of those, stored as deltas ("delta_chunks")
#   add MB/s      all input bytes / wall seconds of all the adds
#   first MB/s    the first file alone (a store's first add finds no
#                 duplicates and no bases: compression speed shows most)
#   add CPU s     user + system seconds of all the adds
#   cat MB/s      the last file / wall seconds of its cat
# MB is 10^6 bytes. Scratch stores go to WORK (default
# ${TMPDIR:-/tmp}/cdt-defaults-grid), removed at the end.
set -eu
export LC_ALL=C

: "${CDT:?set CDT to the cdt binary}"
if [ $# -lt 2 ] || [ ! -d "$1" ]; then
	echo "usage: defaults.sh DATA_DIR SET..." >&2
	exit 2
fi
DATA=$(cd "$1" && pwd)
shift
PATTERN=${PATTERN:-*.tar *.img}
RUNS=${RUNS:-1}
WORK=${WORK:-${TMPDIR:-/tmp}/cdt-defaults-grid}
S=$WORK/store
rm -rf "$WORK"
mkdir -p "$WORK"
trap 'rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM

for p in $PATTERN; do
	for f in "$DATA"/$p; do
		[ -f "$f" ] && echo "$f"
	done
done | sort >"$WORK/files"
if [ ! -s "$WORK/files" ]; then
	echo "defaults.sh: no file matches '$PATTERN' in '$DATA'" >&2
	exit 1
fi
BYTES=0
while read -r f; do BYTES=$((BYTES + $(stat -c %s "$f"))); done <"$WORK/files"
FIRST=$(sed -n 1p "$WORK/files")
LAST=$(sed -n '$p' "$WORK/files")
FIRST_BYTES=$(stat -c %s "$FIRST")
LAST_BYTES=$(stat -c %s "$LAST")
while read -r f; do cat "$f"; done <"$WORK/files" >/dev/null	# page cache

now() {
	date +%s.%N
}

# User + system CPU seconds of all waited-for children so far; `times`
# must run in this shell, not in a command substitution.
cpu() {
	times >"$WORK/times"
	awk 'NR == 2 { split($1, u, "m"); split($2, s, "m")
		printf "%.2f\n", u[1] * 60 + u[2] + s[1] * 60 + s[2] }' "$WORK/times"
}

# json KEY: a number from the last store's cdt stats --json.
json() {
	sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p" "$WORK/stats"
}

mbps() {
	awk -v b="$1" -v t="$2" 'BEGIN { printf "%.1f", b / t / 1e6 }'
}

# pick FILE min|median: one value of a column of numbers.
pick() {
	sort -g "$1" | awk -v m="$2" '{ v[NR] = $1 }
		END { print m == "min" ? v[1] : v[int((NR + 1) / 2)] }'
}

printf 'data: %s, %s files, %s bytes (first %s, last %s); %s run(s) per set\n\n' \
	"$DATA" "$(wc -l <"$WORK/files")" "$BYTES" "$FIRST_BYTES" "$LAST_BYTES" "$RUNS"
echo '| set | store MB | manif % | refs MB | chunks | deltas | add MB/s | first MB/s | add CPU s | cat MB/s |'
echo '|-----|---------:|--------:|--------:|-------:|-------:|---------:|-----------:|----------:|---------:|'
for set in "$@"; do
	opts=$(if [ "$set" = default ]; then :; else echo "$set" | tr , ' '; fi)
	rm -f "$WORK/t.add" "$WORK/t.first" "$WORK/t.cat" "$WORK/c.add"
	r=0
	while [ "$r" -lt "$RUNS" ]; do
		rm -rf "$S"
		# shellcheck disable=SC2086 # options split on purpose
		"$CDT" init -q $opts "$S"
		cpu >"$WORK/c0"
		t0=$(now)
		n=0
		while read -r f; do
			"$CDT" --store "$S" add -q --name "${f##*/}" "$f"
			if [ "$n" -eq 0 ]; then
				t1=$(now)
			fi
			n=$((n + 1))
		done <"$WORK/files"
		t2=$(now)
		cpu >"$WORK/c1"
		"$CDT" --store "$S" cat "${LAST##*/}" >/dev/null
		t3=$(now)
		echo "$t2 $t0" | awk '{ print $1 - $2 }' >>"$WORK/t.add"
		echo "$t1 $t0" | awk '{ print $1 - $2 }' >>"$WORK/t.first"
		echo "$t3 $t2" | awk '{ print $1 - $2 }' >>"$WORK/t.cat"
		echo "$(cat "$WORK/c1") $(cat "$WORK/c0")" | awk '{ print $1 - $2 }' >>"$WORK/c.add"
		r=$((r + 1))
	done
	"$CDT" --store "$S" stats --json >"$WORK/stats"
	store=$(du -sb "$S" | cut -f1)
	manif=$(du -sb "$S/manifests" | cut -f1)
	refs=0
	if [ -d "$S/refs" ]; then
		refs=$(du -sb "$S/refs" | cut -f1)
	fi
	printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "${opts:-(defaults)}" \
		"$(awk -v b="$store" 'BEGIN { printf "%.2f", b / 1e6 }')" \
		"$(awk -v m="$manif" -v b="$store" 'BEGIN { printf "%.2f", 100 * m / b }')" \
		"$(awk -v r="$refs" 'BEGIN { printf "%.2f", r / 1e6 }')" \
		"$(json chunks)" "$(json delta_chunks)" \
		"$(mbps "$BYTES" "$(pick "$WORK/t.add" min)")" \
		"$(mbps "$FIRST_BYTES" "$(pick "$WORK/t.first" min)")" \
		"$(pick "$WORK/c.add" median)" \
		"$(mbps "$LAST_BYTES" "$(pick "$WORK/t.cat" min)")"
done
