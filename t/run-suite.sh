#!/bin/sh
# run-suite.sh: the bats suite as several bats processes at once.
#
#   sh t/run-suite.sh "SPLIT..." FILE...
#
# The split points (say "t/12 t/32") cut the sorted test files into
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

# The group of file $1: how many split points sort before it or equal it.
group_of() {
	n=0
	for p in $splits; do
		if [ "$1" = "$p" ] ||
		   [ "$(printf '%s\n%s\n' "$1" "$p" | LC_ALL=C sort | head -n 1)" = "$p" ]; then
			n=$((n + 1))
		fi
	done
	echo "$n"
}

ngroups=0
for p in $splits; do ngroups=$((ngroups + 1)); done
g=0
while [ "$g" -le "$ngroups" ]; do
	eval "files_$g="
	g=$((g + 1))
done
for f in "$@"; do
	g=$(group_of "$f")
	eval "files_$g=\"\$files_$g $f\""
done

logs='' pids='' pid='' log='' fails=0
trap 'for p in $pids; do kill "$p" 2> /dev/null; done; rm -f $logs; exit 130' INT TERM
trap 'rm -f $logs' EXIT
g=1
while [ "$g" -le "$ngroups" ]; do
	eval "files=\$files_$g"
	if [ -n "$files" ]; then
		log=$(mktemp "${TMPDIR:-/tmp}/cdt-suite.XXXXXX") || exit 1
		# shellcheck disable=SC2086 # lists of files and flags
		$bats $flags $files > "$log" 2>&1 &
		pids="$pids $!" logs="$logs $log"
		eval "log_$g=\$log pid_$g=\$!"
	fi
	g=$((g + 1))
done
if [ -n "$files_0" ]; then
	# shellcheck disable=SC2086
	$bats $flags $files_0 || fails=$((fails + 1))
fi
g=1
while [ "$g" -le "$ngroups" ]; do
	eval "files=\$files_$g"
	if [ -n "$files" ]; then
		eval "pid=\$pid_$g log=\$log_$g"
		wait "$pid" || fails=$((fails + 1))
		echo "# the tests of$files:"
		cat "$log"
	fi
	g=$((g + 1))
done
[ "$fails" = 0 ]
