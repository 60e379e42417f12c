#!/bin/sh
# nightly-ingest.sh: store a directory of dumps in a cdt store under nightly/YYYY-MM-DD.
#
# usage: nightly-ingest.sh [STORE [SOURCE]]
#
#   STORE   the cdt store (default: $CDT_STORE)
#   SOURCE  the directory of dumps (default: $CDT_NIGHTLY_SOURCE)
#
# Every regular file under SOURCE is stored as
# nightly/YYYY-MM-DD/<SOURCE's base name>/<path inside SOURCE>. Each stored
# file is logged with its size and the bytes it added, then a summary line.
# Running it again on the same day replaces that day's names, so a failed
# night can simply be re-run.
#
# Environment:
#   CDT           the cdt program (default: cdt from $PATH)
#   CDT_NIGHTLY_DATE  the date to store under (default: today, YYYY-MM-DD)
#
# Exit status: 0 when every file was stored; 3 when some paths could not be
# read (each is named on stderr) and everything else was stored; 1 when cdt
# failed or SOURCE held no file (a night without dumps is a failed dump
# job); 2 for a usage error.
#
# From cron (no '%' in the line: cron treats it specially):
#   30 2 * * *  /usr/local/bin/nightly-ingest.sh /backup/store /var/backups/dumps >>/var/log/cdt-nightly.log 2>&1

set -eu

prog=${0##*/}

log() {
	printf '%s %s: %s\n' "$(date '+%Y-%m-%d %H:%M:%S')" "$prog" "$*"
}

die() {
	rc=$1
	shift
	log "error: $*" >&2
	exit "$rc"
}

[ $# -le 2 ] || die 2 "usage: $prog [STORE [SOURCE]]"
store=${1:-${CDT_STORE:-}}
src=${2:-${CDT_NIGHTLY_SOURCE:-}}
cdt=${CDT:-cdt}
day=${CDT_NIGHTLY_DATE:-$(date +%Y-%m-%d)}

[ -n "$store" ] || die 2 "no store: give STORE or set CDT_STORE"
[ -n "$src" ] || die 2 "no source: give SOURCE or set CDT_NIGHTLY_SOURCE"
[ -d "$src" ] || die 1 "source '$src' is not a directory"
case $day in
[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]) ;;
*) die 2 "date '$day' is not YYYY-MM-DD" ;;
esac

prefix=nightly/$day
out=$(mktemp "${TMPDIR:-/tmp}/nightly-ingest.XXXXXX")
trap 'rm -f "$out"' EXIT
trap 'exit 1' HUP INT TERM

# A source with no file at all is a mistake (an unmounted disk): store nothing.
if [ -z "$(find "$src" -type f -print -quit 2>/dev/null)" ]; then
	die 1 "no files found in '$src'"
fi
log "storing '$src' in '$store' under $prefix/"
start=$(date +%s)
# Each line: name TAB size TAB new bytes TAB content id. A line is printed
# only once its name is durable, so what is logged is stored.
status=0
"$cdt" --store "$store" add -r --prefix "$prefix" --porcelain -- "$src" >"$out" || status=$?
elapsed=$(($(date +%s) - start))

# Sizes are summed as floating point: exact up to 2^53 bytes.
awk -F '\t' '{ printf "stored %s (%.0f bytes, %.0f new)\n", $1, $2, $3 }' "$out"
summary=$(awk -F '\t' '
	{ n++; size += $2; new += $3 }
	END { printf "%d file%s, %.0f bytes read, %.0f bytes stored new", n, n == 1 ? "" : "s", size, new }
' "$out")
files=$(awk 'END { print NR }' "$out")

# 3: everything readable was stored, and each path skipped was named
# above; the night's backup is partial, which the caller should hear of.
if [ "$status" -eq 3 ]; then
	log "some paths were skipped (named above); stored $summary, ${elapsed}s" >&2
	exit 3
fi
if [ "$status" -ne 0 ]; then
	die 1 "cdt add failed (exit status $status) after $summary, ${elapsed}s"
fi
if [ "$files" -eq 0 ]; then
	die 1 "no files found in '$src'"
fi
log "done: $summary, ${elapsed}s"
