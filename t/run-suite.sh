#!/bin/sh
# run-suite.sh: the bats suite as several bats processes at once.
#
#   sh t/run-suite.sh "SPLIT..." FILE...
#
# The split points (say "t/12 t/4") cut the sorted test files into
# groups: the files that sort before the first point, those from it to
# the next, and so on. The groups run at the same time, the first with its
# output as it comes, the others into logs printed when all are done. Most
# tests wait on the disk, on sleeps or on the servers they start rather
# than on a CPU: under SANITIZE=1, two groups kept 1.7 of two CPUs busy,
# three keep them full. Tests that share something outside their own
# directory (the HTTPS and S3 servers, t/4*) stay in one group. Exits
# non-zero when any group fails.
#
# BATS (default bats) and BATS_FLAGS are passed on; so is the environment.
set -u

splits=${1?usage: run-suite.sh "SPLIT..." FILE...}
shift
bats=${BATS:-bats}
flags=${BATS_FLAGS:-}

# Does $1 sort before $2 (bytewise)?
before() {
	[ "$1" != "$2" ] && [ "$(printf '%s\n%s\n' "$1" "$2" | LC_ALL=C sort | head -n 1)" = "$1" ]
}

# The files among $3... from $1 on (empty: from the first) and before $2
# (empty: to the last), each after a space.
between() {
	from=$1 upto=$2
	shift 2
	for f in "$@"; do
		if { [ -z "$from" ] || ! before "$f" "$from"; } &&
		   { [ -z "$upto" ] || before "$f" "$upto"; }; then
			printf ' %s' "$f"
		fi
	done
}

# Every group but the first in the background, its output into a log
# that begins with its files: "LOG:PID" each.
started='' logs='' fails=0
trap 'for s in $started; do kill "${s#*:}" 2> /dev/null; done; rm -f $logs; exit 130' INT TERM
trap 'rm -f $logs' EXIT
lo='' first_upto=''
for hi in $splits ''; do
	if [ -z "$lo" ]; then
		first_upto=$hi
	elif files=$(between "$lo" "$hi" "$@") && [ -n "$files" ]; then
		log=$(mktemp "${TMPDIR:-/tmp}/cdt-suite.XXXXXX") || exit 1
		logs="$logs $log"
		echo "# the tests of$files:" > "$log"
		# shellcheck disable=SC2086 # lists of files and flags
		$bats $flags $files >> "$log" 2>&1 &
		started="$started $log:$!"
	fi
	lo=$hi
done
files=$(between '' "$first_upto" "$@")
if [ -n "$files" ]; then
	# shellcheck disable=SC2086
	$bats $flags $files || fails=$((fails + 1))
fi
for s in $started; do
	wait "${s#*:}" || fails=$((fails + 1))
	cat "${s%%:*}"
done
[ "$fails" = 0 ]
