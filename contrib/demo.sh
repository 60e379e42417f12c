#!/bin/sh
# demo.sh: store a small backup series with cdt, restore every generation, and show what it saved.
#
#   make demo
#   CDT=./cdt sh contrib/demo.sh
#
# The series is made from files every Debian system with cdt's build
# dependencies has (/usr/include, /usr/share/doc) and from cdt's own source
# tree: a deterministic selection is copied into a tree, and each generation
# is a reproducible tar of it (--sort=name --mtime=@0 --owner=0 --group=0).
# Between generations some files are edited with sed, some get lines
# appended, some are deleted and some are added, all chosen by fixed seeds,
# so the same machine gives the same series every time.
#
# Environment: DEMO_GENS generations (default 4), DEMO_INCLUDE_MB and
# DEMO_DOC_MB (default 16 and 8), how much of /usr/include and /usr/share/doc
# the first generation takes. Everything happens in a scratch directory under
# ${TMPDIR:-/tmp}, removed at the end.
set -eu
export LC_ALL=C
umask 022

: "${CDT:?set CDT to the cdt binary (make demo does)}"
DEMO_GENS=${DEMO_GENS:-4}
DEMO_INCLUDE_MB=${DEMO_INCLUDE_MB:-16}
DEMO_DOC_MB=${DEMO_DOC_MB:-8}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TAROPTS="--sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --format=gnu"

D=$(mktemp -d "${TMPDIR:-/tmp}/cdt-demo.XXXXXX")
trap 'rm -rf "$D"' EXIT
trap 'exit 130' INT TERM
S=$D/store
TREE=$D/tree
mkdir -p "$TREE" "$D/series" "$D/restored"

die() {
	echo "demo: $*" >&2
	exit 1
}

say() {
	echo "$*" >&2
}

now() {
	date +%s.%N
}

# A 31-bit LCG in shell arithmetic: the same choices from every POSIX shell.
lcg() {
	LCG=$(( (LCG * 1103515245 + 12345) % 2147483648 ))
}

# rnd N: R = pseudo-random number in [0, N).
rnd() {
	lcg
	R=$(( (LCG >> 8) % $1 ))
}

# pool DIR: "hash<TAB>size<TAB>path" of DIR's regular files, in an order
# that is fixed by the paths alone and mixes the directories.
pool() {
	find "$1" -type f -printf '%s\t%p\n' 2>/dev/null | awk -F '\t' '
		BEGIN { for (i = 32; i < 127; i++) ord[sprintf("%c", i)] = i }
		{
			h = 7
			for (i = 1; i <= length($2); i++)
				h = (h * 31 + ord[substr($2, i, 1)]) % 2147483647
			printf "%d\t%s\t%s\n", h, $1, $2
		}' | sort -t '	' -k1,1n -k3,3
}

# take POOL MB: paths from POOL (in its order, relative to /) until MB
# megabytes; the rest go to $D/spare for files added later.
take() {
	awk -F '\t' -v budget=$(($2 * 1000000)) -v spare="$D/spare" '
		{ sub("^/+", "", $3) }
		sum < budget { sum += $2; print $3; next }
		{ print $3 >> spare }' "$1"
}

# copy_in LIST: copy the files named in LIST (relative to /) into the tree,
# with their directories; unreadable ones are left out.
copy_in() {
	tar -C / -cf - --ignore-failed-read -T "$1" 2>/dev/null | tar -xf - -C "$TREE"
}

# --- generation 1 ------------------------------------------------------------

say "selecting files from /usr/include, /usr/share/doc and $ROOT ..."
: >"$D/spare"
pool /usr/include >"$D/pool.include"
pool /usr/share/doc >"$D/pool.doc"
take "$D/pool.include" "$DEMO_INCLUDE_MB" >"$D/list"
take "$D/pool.doc" "$DEMO_DOC_MB" >>"$D/list"
[ -s "$D/list" ] || die "no files found under /usr/include or /usr/share/doc"
copy_in "$D/list" || die "cannot copy the selected files"
mkdir -p "$TREE/cdt"
if git -C "$ROOT" rev-parse --git-dir >/dev/null 2>&1; then
	git -C "$ROOT" ls-files -z | (cd "$ROOT" && xargs -0 tar -cf -) | tar -xf - -C "$TREE/cdt"
else
	(cd "$ROOT" && tar -cf - --exclude=build --exclude=build-san --exclude=cdt \
		Makefile cdt.c cmd lib t contrib Documentation 2>/dev/null) | tar -xf - -C "$TREE/cdt"
fi

# gen G: tar the tree into the series as genG.tar.
gen() {
	# shellcheck disable=SC2086 # TAROPTS is a list of options
	tar -cf "$D/series/gen$1.tar" $TAROPTS -C "$TREE" .
}

# mutate G: the edits that make generation G from the tree as it is.
mutate() {
	LCG=$(($1 * 104729 + 7))
	find "$TREE" -type f | sort >"$D/files"
	nfiles=$(wc -l <"$D/files")
	# Of the files: 3% edited with sed, 1% appended to, 1% deleted; and 1%
	# as many files added from the part of /usr not yet used.
	nedit=$((nfiles * 3 / 100 + 1))
	nappend=$((nfiles / 100 + 1))
	ndelete=$((nfiles / 100 + 1))
	nadd=$((nfiles / 100 + 1))
	i=0
	while [ "$i" -lt "$nedit" ]; do
		rnd "$nfiles"
		f=$(sed -n "$((R + 1))p" "$D/files")
		rnd 3
		if [ -f "$f" ] && grep -Iq . "$f"; then
			case $R in
			0) sed -i 's/\<int\>/long/g; s/\<the\>/a/g' "$f" ;;
			1) sed -i "1s/^/# changed in generation $1\n/" "$f" ;;
			2) lines=$(wc -l <"$f")
			   rnd $((lines + 1))
			   sed -i "$((R + 1))s/\$/ \/* generation $1 *\//" "$f" ;;
			esac
		fi
		i=$((i + 1))
	done
	i=0
	while [ "$i" -lt "$nappend" ]; do
		rnd "$nfiles"
		f=$(sed -n "$((R + 1))p" "$D/files")
		if [ -f "$f" ]; then
			rnd 200
			awk -v g="$1" -v n="$((R + 1))" -v name="${f##*/}" 'BEGIN {
				for (i = 1; i <= n; i++)
					printf "generation %d: appended line %d to %s\n", g, i, name
			}' >>"$f"
		fi
		i=$((i + 1))
	done
	i=0
	while [ "$i" -lt "$ndelete" ]; do
		rnd "$nfiles"
		f=$(sed -n "$((R + 1))p" "$D/files")
		case $f in
		"$TREE/cdt/"*) ;;
		*) rm -f "$f" ;;
		esac
		i=$((i + 1))
	done
	# New files: the next ones of the unused pool, else generated text.
	start=$(( ($1 - 2) * nadd + 1 ))
	sed -n "${start},$((start + nadd - 1))p" "$D/spare" >"$D/new"
	if [ -s "$D/new" ]; then
		copy_in "$D/new"
	else
		mkdir -p "$TREE/new"
		seq -f "generation $1 line %g" 200000 >"$TREE/new/gen$1.txt"
	fi
}

say "building $DEMO_GENS generations in $D ..."
gen 1
g=2
while [ "$g" -le "$DEMO_GENS" ]; do
	mutate "$g"
	gen "$g"
	g=$((g + 1))
done
rm -rf "$TREE"
FINGERPRINT=$(cat "$D"/series/gen*.tar | sha256sum | cut -c1-16)

# --- store and restore -------------------------------------------------------

"$CDT" init -q "$S" || die "cdt init failed"
say "adding and restoring ..."
IN=0
UNIQUE=0
STORED=0
T_ADD=0
T_CAT=0
g=1
while [ "$g" -le "$DEMO_GENS" ]; do
	f=$D/series/gen$g.tar
	t0=$(now)
	"$CDT" --store "$S" add --json --name "backup/gen$g.tar" "$f" >"$D/json$g" ||
		die "cdt add of generation $g failed"
	t1=$(now)
	echo "$t0 $t1" >"$D/tadd$g"
	g=$((g + 1))
done
g=1
while [ "$g" -le "$DEMO_GENS" ]; do
	t0=$(now)
	"$CDT" --store "$S" cat "backup/gen$g.tar" >"$D/restored/gen$g.tar" ||
		die "cdt cat of generation $g failed"
	t1=$(now)
	echo "$t0 $t1" >"$D/tcat$g"
	cmp -s "$D/restored/gen$g.tar" "$D/series/gen$g.tar" ||
		die "generation $g does not restore identically"
	rm -f "$D/restored/gen$g.tar"
	g=$((g + 1))
done

# --- report ------------------------------------------------------------------

json() {
	sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p" "$2"
}

mib() {
	awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'
}

secs() {
	awk '{ printf "%.2f", $2 - $1 }' "$1"
}

mbps() {
	awk -v b="$1" -v t="$2" 'BEGIN { printf "%.1f", (t > 0 ? b / t / 1e6 : 0) }'
}

ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'
}

echo
echo "cdt demo: a backup series of $DEMO_GENS generations ($("$CDT" --version))"
# The store's settings as its config names them (a format-1 config names no codec: zlib).
cfg() {
	v=$(sed -n "s/^$1 //p" "$S/config")
	echo "${v:-$2}"
}
FRAMES=$(cfg frame-size 0)
echo "store: $(cfg chunker) chunks of $(cfg chunk-size) bytes on average, $(cfg codec zlib) level $(cfg level)," \
	"$([ "$FRAMES" = 0 ] && echo "each chunk compressed alone" || echo "compressed in frames of $FRAMES bytes")," \
	"$([ "$(cfg deltas 0)" = 1 ] && echo "near copies stored as deltas" || echo "no deltas")"
echo
printf '%-4s %11s %13s %12s %8s %9s %9s %9s %9s  %s\n' \
	gen "tar size" "new (raw)" "stored new" "dedup" "add s" "add MB/s" "cat s" "cat MB/s" restored
g=1
while [ "$g" -le "$DEMO_GENS" ]; do
	size=$(json size "$D/json$g")
	raw=$(json new_raw_bytes "$D/json$g")
	new=$(json new_stored_bytes "$D/json$g")
	ta=$(secs "$D/tadd$g")
	tc=$(secs "$D/tcat$g")
	printf '%-4s %11s %13s %12s %7s%% %9s %9s %9s %9s  %s\n' "$g" "$(mib "$size")" "$(mib "$raw")" \
		"$(mib "$new")" "$(awk -v s="$size" -v r="$raw" 'BEGIN { printf "%.1f", (s > 0 ? 100 * (s - r) / s : 0) }')" \
		"$ta" "$(mbps "$size" "$ta")" "$tc" "$(mbps "$size" "$tc")" identical
	IN=$((IN + size))
	UNIQUE=$((UNIQUE + raw))
	STORED=$((STORED + new))
	T_ADD=$(awk -v a="$T_ADD" -v b="$ta" 'BEGIN { print a + b }')
	T_CAT=$(awk -v a="$T_CAT" -v b="$tc" 'BEGIN { print a + b }')
	g=$((g + 1))
done
STORE=$(du -s -B1 --apparent-size "$S" | cut -f1)
STORE_DISK=$(du -s -B1 "$S" | cut -f1)
# Chunks, loose or packed, as the store counts them.
OBJECTS=$("$CDT" --store "$S" stats --json | sed 's/.*"chunks":\([0-9]*\).*/\1/')
echo
echo "bytes in:          $(mib "$IN") in $DEMO_GENS tar files (series fingerprint $FINGERPRINT)"
echo "unique chunks:     $(mib "$UNIQUE") (dedup ratio $(ratio "$IN" "$UNIQUE")x)"
echo "chunk objects:     $(mib "$STORED") in $OBJECTS chunks (compression and deltas: $(ratio "$UNIQUE" "$STORED")x)"
echo "store size:        $(mib "$STORE") ($(mib "$STORE_DISK") on disk), with manifests, names and references"
echo "overall ratio:     $(ratio "$IN" "$STORE")x (bytes in / store size)"
echo "add:               $(mbps "$IN" "$T_ADD") MB/s ($T_ADD s in all)"
echo "cat:               $(mbps "$IN" "$T_CAT") MB/s ($T_CAT s in all; every generation restored and compared with cmp)"
