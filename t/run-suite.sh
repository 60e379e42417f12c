#!/bin/sh
# run-suite.sh: the bats suite as two bats processes at once.
#
#   sh t/run-suite.sh SPLIT FILE...
#
# The test files that sort before SPLIT (say t/3) make one group, the rest
# the other; both groups run at the same time, the first with its output
# as it comes, the second into a log printed when both are done. Most tests
# wait on the disk, on sleeps or on the servers they start rather than on a
# CPU, so two at once take about half the time on two CPUs. Tests that
# share something outside their own directory (the HTTPS and S3 servers,
# t/4*) stay in one group. Exits non-zero when either group fails.
#
# BATS (default bats) and BATS_FLAGS are passed on; so is the environment.
set -u

split=${1:?usage: run-suite.sh SPLIT FILE...}
shift
first='' second=''
for f in "$@"; do
	if [ "$(printf '%s\n%s\n' "$f" "$split" | LC_ALL=C sort | head -n 1)" = "$f" ] &&
	   [ "$f" != "$split" ]; then
		first="$first $f"
	else
		second="$second $f"
	fi
done
bats=${BATS:-bats}
flags=${BATS_FLAGS:-}

# shellcheck disable=SC2086 # lists of files and flags
if [ -z "$first" ] || [ -z "$second" ]; then
	exec $bats $flags $first $second
fi

log=$(mktemp "${TMPDIR:-/tmp}/cdt-suite.XXXXXX") || exit 1
trap 'rm -f "$log"' EXIT
trap 'kill "$pid" 2> /dev/null; exit 130' INT TERM
# shellcheck disable=SC2086
$bats $flags $second > "$log" 2>&1 &
pid=$!
# shellcheck disable=SC2086
$bats $flags $first
r1=$?
wait "$pid"
r2=$?
echo "# the tests of$second:"
cat "$log"
[ "$r1" = 0 ] && [ "$r2" = 0 ]
