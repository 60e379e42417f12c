#!/bin/sh
# gen-releases.sh: consecutive release tags of a git repository as uncompressed tar files.
#
#   sh t/perf/gen-releases.sh MIRROR OUTDIR [TAG...]
#
# MIRROR is a git directory (bare or not) holding the tags. Each TAG becomes
# OUTDIR/relNN.tar (NN = 01, 02, ... in the order given), made by
# `git archive --format=tar TAG`, so the files sort in release order for
# t/perf/defaults.sh. Without TAGs, the ten curl releases measured in
# Documentation/technical/defaults.md (curl-8_13_0 .. curl-8_21_0; MIRROR is
# then a copy of https://github.com/curl/curl). OUTDIR/releases.txt lists
# file, tag, bytes and SHA-256. git archive's tar output depends only on the
# tree, the commit time and the git version (the note records 2.39.5).
set -eu
export LC_ALL=C

if [ $# -lt 2 ]; then
	echo "usage: gen-releases.sh MIRROR OUTDIR [TAG...]" >&2
	exit 2
fi
MIRROR=$1
OUT=$2
shift 2
if [ $# -eq 0 ]; then
	set -- curl-8_13_0 curl-8_14_0 curl-8_14_1 curl-8_15_0 curl-8_16_0 \
		curl-8_17_0 curl-8_18_0 curl-8_19_0 curl-8_20_0 curl-8_21_0
fi
if [ -d "$MIRROR/.git" ]; then
	MIRROR=$MIRROR/.git
fi
for t in "$@"; do
	if ! git --git-dir="$MIRROR" rev-parse -q --verify "refs/tags/$t^{commit}" >/dev/null; then
		echo "gen-releases: no tag '$t' in '$MIRROR'" >&2
		exit 1
	fi
done
mkdir -p "$OUT"
rm -f "$OUT"/rel[0-9][0-9].tar "$OUT/releases.txt"
n=0
for t in "$@"; do
	n=$((n + 1))
	f=$(printf 'rel%02d.tar' "$n")
	git --git-dir="$MIRROR" archive --format=tar "$t" >"$OUT/$f.tmp"
	mv "$OUT/$f.tmp" "$OUT/$f"
	printf '%s %s %s %s\n' "$f" "$t" "$(stat -c %s "$OUT/$f")" \
		"$(sha256sum "$OUT/$f" | cut -d' ' -f1)" >>"$OUT/releases.txt"
done
cat "$OUT/releases.txt"
