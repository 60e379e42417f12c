#!/bin/sh
# bench-integrity.sh: fsck and verify read speed next to cat, and repair's scan speed next to cutting and hashing, in one run.
#
#   make bench-integrity          (make bench runs it too)
#   CDT=./cdt TEST_TOOL=build/test-tool sh t/perf/bench-integrity.sh
#
# Environment:
#   BENCH_DIR       scratch directory (default ${TMPDIR:-/tmp}/cdt-bench-integrity)
#   BENCH_MIB       MiB stored (default 256): 32 MiB files, half text, half random
#   BENCH_SCAN_MIB  MiB of other data for repair --scan to read (default 256)
#   BENCH_INIT      options for cdt init (default: the store's defaults)
#   BENCH_RUNS      runs of each timed step, interleaved (default 5; the median
#                   is reported)
#   BENCH_OUT       key=value results (default $BENCH_DIR/bench-integrity.txt)
#
# What is measured, all from the page cache (everything is read once first):
#   cat      every name restored to /dev/null: stored bytes per second
#   verify   verify --all of the same names: the same bytes per second
#   fsck     fsck (every chunk read and hashed): chunk bytes per second;
#            fsck --quick: seconds
#   scan     repair --scan over files that hold no wanted chunk (one chunk of
#            the store is deleted so that something is wanted): the bytes per
#            second repair reports for its scan, next to what one core does
#            cutting and hashing the same files in memory (test-tool limits,
#            chunk_sha256_mbps; FastCDC stores only)
#   heal     repair --from the stored files into a copy of the store that
#            lost every pack: every chunk written back (loose objects,
#            synced in batches): the bytes per second repair reports for
#            its read of the files, and the chunks restored per second
# Ratios above 1 are faster than the reference.
set -eu
export LC_ALL=C

: "${CDT:?set CDT to the cdt binary (make bench does)}"
: "${TEST_TOOL:?set TEST_TOOL to build/test-tool (make bench does)}"
BENCH_DIR=${BENCH_DIR:-${TMPDIR:-/tmp}/cdt-bench-integrity}
BENCH_MIB=${BENCH_MIB:-256}
BENCH_SCAN_MIB=${BENCH_SCAN_MIB:-256}
BENCH_RUNS=${BENCH_RUNS:-5}
BENCH_INIT=${BENCH_INIT:-}
mkdir -p "$BENCH_DIR"
BENCH_DIR=$(cd "$BENCH_DIR" && pwd)
BENCH_OUT=${BENCH_OUT:-$BENCH_DIR/bench-integrity.txt}
W=$BENCH_DIR/work
S=$BENCH_DIR/store
rm -rf "$W" "$S"
mkdir -p "$W/data" "$W/tree"
trap 'rm -rf "$W" "$S" "$S.heal"' EXIT
trap 'exit 130' INT TERM

die() {
	echo "bench-integrity: $*" >&2
	exit 1
}

now() {
	date +%s.%N
}

# median FILE: the middle of the numbers in FILE.
median() {
	sort -n "$1" | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

mbps() {
	awk -v b="$1" -v t="$2" 'BEGIN { printf "%.0f", (t > 0 ? b / t / 1e6 : 0) }'
}

ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'
}

# gen DIR MIB SEED: 32 MiB files (the last one shorter), text and random in turn.
gen() {
	left=$2
	k=0
	while [ "$left" -gt 0 ]; do
		n=$((left < 32 ? left : 32))
		f=$(printf '%s/f%03d' "$1" "$k")
		if [ $((k % 2)) = 0 ]; then
			"$TEST_TOOL" gen-text $(($3 + k)) $((n << 20)) > "$f"
		else
			"$TEST_TOOL" gen-random $(($3 + k)) $((n << 20)) > "$f"
		fi
		left=$((left - n))
		k=$((k + 1))
	done
}

echo "generating $BENCH_MIB MiB to store and $BENCH_SCAN_MIB MiB to scan ..." >&2
gen "$W/data" "$BENCH_MIB" 1000
gen "$W/tree" "$BENCH_SCAN_MIB" 5000
# shellcheck disable=SC2086
"$CDT" init -q $BENCH_INIT "$S" || die "cdt init failed"
(cd "$W/data" && "$CDT" --store "$S" add -q --prefix bench -- *) || die "cdt add failed"
"$CDT" --store "$S" ls > "$W/names"
bytes=$(cat "$W/data"/* | wc -c)
chunker=$(sed -n 's/^chunker //p' "$S/config")
chunk_size=$(sed -n 's/^chunk-size //p' "$S/config")

# Everything in the page cache before timing.
cat "$W/data"/* "$W/tree"/* > /dev/null
"$CDT" --store "$S" fsck > /dev/null || die "fsck of the fresh store failed"

cat_all() {
	xargs -d '\n' "$CDT" --store "$S" cat < "$W/names" > /dev/null
}

echo "timing cat, verify --all, fsck and fsck --quick ($BENCH_RUNS runs each) ..." >&2
: > "$W/t.cat"; : > "$W/t.verify"; : > "$W/t.fsck"; : > "$W/t.quick"
run=0
while [ $run -lt "$BENCH_RUNS" ]; do
	t0=$(now); cat_all || die "cat failed"; t1=$(now)
	echo "$t1 $t0" | awk '{ print $1 - $2 }' >> "$W/t.cat"
	t0=$(now); "$CDT" --store "$S" verify --all > /dev/null || die "verify failed"; t1=$(now)
	echo "$t1 $t0" | awk '{ print $1 - $2 }' >> "$W/t.verify"
	t0=$(now); "$CDT" --store "$S" fsck --json > "$W/fsck.json" || die "fsck failed"; t1=$(now)
	echo "$t1 $t0" | awk '{ print $1 - $2 }' >> "$W/t.fsck"
	t0=$(now); "$CDT" --store "$S" fsck --quick > /dev/null || die "fsck --quick failed"; t1=$(now)
	echo "$t1 $t0" | awk '{ print $1 - $2 }' >> "$W/t.quick"
	run=$((run + 1))
done
fsck_bytes=$(sed -n 's/.*"bytes_read":\([0-9]*\).*/\1/p' "$W/fsck.json")
t_cat=$(median "$W/t.cat")
t_verify=$(median "$W/t.verify")
t_fsck=$(median "$W/t.fsck")
t_quick=$(median "$W/t.quick")
cat_mbps=$(mbps "$bytes" "$t_cat")
verify_mbps=$(mbps "$bytes" "$t_verify")
fsck_mbps=$(mbps "$fsck_bytes" "$t_fsck")

# Something must be wanted, and the tree must not hold it: a small file
# (a few chunks, so stored loose rather than in a pack) loses its first chunk.
"$TEST_TOOL" gen-random 99 $((4 * chunk_size)) > "$W/lost"
"$CDT" --store "$S" add -q --name lost "$W/lost" || die "cdt add failed"
set -- $("$TEST_TOOL" chunk "$chunker" "$chunk_size" "$W/lost" | head -n 1)
id=$(head -c "$2" "$W/lost" | sha256sum | cut -c1-64)
rm "$S/objects/$(echo "$id" | cut -c1-2)/$(echo "$id" | cut -c3-)" || die "cannot delete a chunk"

echo "timing repair --scan over $BENCH_SCAN_MIB MiB that hold no wanted chunk ..." >&2
: > "$W/s.scan"; : > "$W/s.scan1"; : > "$W/s.base"; : > "$W/t.repair"
run=0
while [ $run -lt "$BENCH_RUNS" ]; do
	t0=$(now)
	if "$CDT" --store "$S" repair --scan "$W/tree" > "$W/repair.out"; then
		die "repair healed what the tree cannot hold"
	fi
	t1=$(now)
	echo "$t1 $t0" | awk '{ print $1 - $2 }' >> "$W/t.repair"
	sed -n 's/^read .* in .* s (\([0-9]*\) MB\/s).*/\1/p' "$W/repair.out" >> "$W/s.scan"
	"$CDT" --store "$S" repair -j 1 --scan "$W/tree" > "$W/repair.out" || true
	sed -n 's/^read .* in .* s (\([0-9]*\) MB\/s).*/\1/p' "$W/repair.out" >> "$W/s.scan1"
	run=$((run + 1))
done
# One core cutting and hashing the same files in memory (it repeats its own runs).
if [ "$chunker" = fastcdc ]; then
	"$TEST_TOOL" limits --size "$chunk_size" "$W/tree"/* |
		awk '$1 == "chunk_sha256_mbps" { print $2 }' > "$W/s.base"
fi
scan_mbps=$(median "$W/s.scan")
scan1_mbps=$(median "$W/s.scan1")
base_mbps=$(median "$W/s.base")
base_mbps=${base_mbps:-0}	# a fixed-size chunker: no reference
t_repair=$(median "$W/t.repair")
[ -n "$scan_mbps" ] || die "repair printed no scan figure"

echo "timing repair --from writing back every chunk of a store that lost its packs ..." >&2
: > "$W/h.mbps"; : > "$W/h.cps"
run=0
while [ $run -lt "$BENCH_RUNS" ]; do
	rm -rf "$S.heal"
	cp -a "$S" "$S.heal"
	rm -f "$S.heal"/packs/pack-* "$S.heal"/packs/multi-pack-index
	sync
	# The name "lost" stays damaged (its chunk is in no file): exit 1.
	"$CDT" --store "$S.heal" repair --from "$W/data"/* > "$W/heal.out" || true
	n=$(grep -c '^restored chunk' "$W/heal.out" || true)
	[ "$n" -gt 0 ] || die "repair restored nothing: $(tail -n 3 "$W/heal.out")"
	sed -n 's/^read .* in \(.*\) s (\([0-9]*\) MB\/s).*/\1 \2/p' "$W/heal.out" > "$W/heal.t"
	awk '{ print $2 }' "$W/heal.t" >> "$W/h.mbps"
	awk -v n="$n" '{ printf "%.0f\n", ($1 > 0 ? n / $1 : 0) }' "$W/heal.t" >> "$W/h.cps"
	run=$((run + 1))
done
rm -rf "$S.heal"
heal_mbps=$(median "$W/h.mbps")
heal_cps=$(median "$W/h.cps")

{
	echo "cpus=$(nproc)"
	echo "store_bytes=$bytes"
	echo "cat_mbps=$cat_mbps"
	echo "verify_mbps=$verify_mbps"
	echo "verify_to_cat=$(ratio "$verify_mbps" "$cat_mbps")"
	echo "fsck_chunk_bytes=$fsck_bytes"
	echo "fsck_mbps=$fsck_mbps"
	echo "fsck_to_cat=$(ratio "$fsck_mbps" "$cat_mbps")"
	echo "fsck_quick_seconds=$t_quick"
	echo "scan_bytes=$(cat "$W/tree"/* | wc -c)"
	echo "repair_scan_mbps=$scan_mbps"
	echo "repair_scan_j1_mbps=$scan1_mbps"
	echo "chunk_hash_one_core_mbps=$base_mbps"
	echo "scan_to_chunk_hash=$(ratio "$scan_mbps" "$base_mbps")"
	echo "repair_total_seconds=$t_repair"
	echo "repair_heal_chunks=$n"
	echo "repair_heal_mbps=$heal_mbps"
	echo "repair_heal_chunks_per_second=$heal_cps"
} > "$BENCH_OUT"

printf '\nintegrity: %s MiB stored (%s, %s-byte chunks), %s CPUs, median of %s runs\n' \
	"$BENCH_MIB" "$chunker" "$chunk_size" "$(nproc)" "$BENCH_RUNS"
printf '  %-36s %8s MB/s\n' "cat (reference)" "$cat_mbps"
printf '  %-36s %8s MB/s  %5sx cat\n' "verify --all" "$verify_mbps" "$(ratio "$verify_mbps" "$cat_mbps")"
printf '  %-36s %8s MB/s  %5sx cat\n' "fsck (every chunk read)" "$fsck_mbps" "$(ratio "$fsck_mbps" "$cat_mbps")"
printf '  %-36s %8s s\n' "fsck --quick" "$t_quick"
printf '  %-36s %8s MB/s\n' "chunk+hash, one core (reference)" "$base_mbps"
printf '  %-36s %8s MB/s  %5sx chunk+hash\n' "repair --scan, nothing wanted" "$scan_mbps" "$(ratio "$scan_mbps" "$base_mbps")"
printf '  %-36s %8s MB/s  %5sx chunk+hash\n' "repair -j 1 --scan" "$scan1_mbps" "$(ratio "$scan1_mbps" "$base_mbps")"
printf '  %-36s %8s s (store check and scan)\n' "repair in all" "$t_repair"
printf '  %-36s %8s MB/s  %s chunks/s (%s chunks written back)\n' "repair --from, every pack lost" \
	"$heal_mbps" "$heal_cps" "$n"
printf 'results in %s\n' "$BENCH_OUT"
