#!/bin/sh
# run.sh: run each libFuzzer target for a bounded time on a scratch copy of its
# seed corpus, then print one table of what each did.
#
#   sh t/fuzz/run.sh BUILD SECONDS TARGET...
#
# BUILD holds the targets (BUILD/t/fuzz/fuzz-TARGET, built by `make fuzz`).
# t/fuzz/corpus is only read: each run works in BUILD/fuzz-run/TARGET. A
# crash, leak, timeout or out-of-memory input fails the run; libFuzzer's
# artifact is kept in BUILD/crashes/TARGET/ (until that target runs again)
# and its log in BUILD/fuzz-run/.
set -u

build=${1:?usage: run.sh BUILD SECONDS TARGET...}
seconds=${2:?usage: run.sh BUILD SECONDS TARGET...}
shift 2
src=$(cd "$(dirname "$0")" && pwd)
run="$build/fuzz-run"
crashes="$build/crashes"

# Longest input per target: a little past the largest file each format allows
# (config 4 KiB, name entry 4212 bytes), or what keeps a run fast.
max_len() {
	case $1 in
	config) echo 4200 ;;
	name) echo 4300 ;;
	namecheck) echo 4400 ;;
	manifest|refs) echo 8192 ;;
	midx|object|pack) echo 65536 ;;
	*) echo 4096 ;;
	esac
}

# A final libFuzzer statistic from a log, or '-'.
final_stat() {
	v=$(sed -n "s/^stat::$2: *//p" "$1" | tail -n 1)
	echo "${v:--}"
}

rm -rf "$run"
mkdir -p "$run" "$crashes"
# The targets' scratch stores go to a memory file system where there is one:
# they sync (reference compaction does), which on a disk costs milliseconds.
if [ -d /dev/shm ] && [ -w /dev/shm ]; then
	scratch=$(mktemp -d /dev/shm/cdt-fuzz.XXXXXX)
else
	scratch=$(mktemp -d "$run/scratch.XXXXXX")
fi
trap 'rm -rf "$scratch"' EXIT
trap 'exit 130' INT TERM
failed=
summary="$run/summary"
printf '%-10s %12s %9s %7s %8s  %s\n' target executions exec/s corpus rss-MiB result >"$summary"
for t in "$@"; do
	bin="$build/t/fuzz/fuzz-$t"
	if [ ! -x "$bin" ]; then
		echo "fuzz: $bin is missing (run 'make fuzz')" >&2
		exit 1
	fi
	# Failing inputs are kept until this target runs again.
	rm -rf "$crashes/$t"
	mkdir -p "$run/$t/corpus" "$scratch/$t" "$crashes/$t"
	if [ -d "$src/corpus/$t" ]; then
		cp "$src/corpus/$t/"* "$run/$t/corpus/" 2>/dev/null
	fi
	echo "  FUZZ    $t (${seconds}s)"
	# A hang in the target itself is caught by -timeout; the outer limit is
	# for libFuzzer failing to stop. ASan's default 256 MiB quarantine of
	# freed memory alone took a target to 463 MiB in 60 s, near the 512 MiB
	# limit meant for the code under test: a quarter of it still finds a
	# use after free within many inputs.
	TMPDIR="$scratch/$t" ASAN_OPTIONS="quarantine_size_mb=64${ASAN_OPTIONS:+:$ASAN_OPTIONS}" \
	timeout -k 10 $((seconds + 60)) "$bin" \
		-max_total_time="$seconds" -max_len="$(max_len "$t")" \
		-rss_limit_mb=512 -malloc_limit_mb=256 -timeout=5 \
		-print_final_stats=1 -artifact_prefix="$crashes/$t/" \
		"$run/$t/corpus" >"$run/$t.log" 2>&1
	rc=$?
	if [ $rc -eq 0 ]; then
		result=ok
	else
		result="FAILED ($rc)"
		failed="$failed $t"
	fi
	printf '%-10s %12s %9s %7s %8s  %s\n' "$t" \
		"$(final_stat "$run/$t.log" number_of_executed_units)" \
		"$(final_stat "$run/$t.log" average_exec_per_sec)" \
		"$(ls "$run/$t/corpus" | wc -l)" \
		"$(final_stat "$run/$t.log" peak_rss_mb)" "$result" >>"$summary"
	rm -rf "$scratch/$t"
done
echo
cat "$summary"
if [ -n "$failed" ]; then
	for t in $failed; do
		echo
		echo "fuzz: $t failed; the end of $run/$t.log:" >&2
		tail -n 40 "$run/$t.log" >&2
		for f in "$crashes/$t"/*; do
			[ -e "$f" ] && echo "fuzz: input kept: $f (replay: $build/t/fuzz/fuzz-$t $f)" >&2
		done
	done
	exit 1
fi
exit 0
