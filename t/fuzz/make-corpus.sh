#!/bin/sh
# make-corpus.sh: (re)generate the seed corpus in t/fuzz/corpus/ from a real store.
#
#   sh t/fuzz/make-corpus.sh        (after `make`; CDT and TEST_TOOL may name
#                                    other binaries)
#
# Builds a small store with cdt, adds a few files, and copies out a config,
# objects, manifests, name entries, a reference table and a pack, each framed
# as its fuzz target reads input (see the comment at the top of
# t/fuzz/fuzz-TARGET.c): mostly a first byte of flags or mode, then the file.
# Only files named seed-* are replaced; reproducers of fixed bugs (the other
# files) stay.
set -eu

top=$(cd "$(dirname "$0")/../.." && pwd)
CDT=${CDT:-$top/cdt}
TEST_TOOL=${TEST_TOOL:-$top/build/test-tool}
out=$top/t/fuzz/corpus
for b in "$CDT" "$TEST_TOOL"; do
	[ -x "$b" ] || { echo "make-corpus.sh: $b is missing (run 'make')" >&2; exit 1; }
done

T=$(mktemp -d "${TMPDIR:-/tmp}/cdt-corpus.XXXXXX")
trap 'rm -rf "$T"' EXIT
S=$T/store

# Bytes for the framing: one byte, a little-endian 32-bit and 24-bit number.
byte() { printf "\\$(printf '%03o' "$1")"; }
le32() { byte $(($1 & 255)); byte $(($1 >> 8 & 255)); byte $(($1 >> 16 & 255)); byte $(($1 >> 24 & 255)); }
le24() { byte $(($1 & 255)); byte $(($1 >> 8 & 255)); byte $(($1 >> 16 & 255)); }
size() { wc -c <"$1" | tr -d ' '; }
# seed TARGET NAME: write stdin as corpus/TARGET/seed-NAME.
seed() { cat >"$out/$1/seed-$2"; }

for t in config info manifest midx name namecheck namerefs object pack refs sketch; do
	mkdir -p "$out/$t"
	rm -f "$out/$t"/seed-*
done

# The same chunk size as the fuzz targets' scratch store (fastcdc, 1 KiB
# average, 4 KiB largest chunk), so that real manifests are valid there.
# zlib: the seeds of format 1; zstd-loose in corpus/object is a zstd object.
"$CDT" init -q --codec zlib --chunk-size 1K "$S"
printf 'hello\n' >"$T/hello"
: >"$T/empty"
"$TEST_TOOL" gen-text 1 6000 >"$T/text"
"$TEST_TOOL" gen-random 2 3000 >"$T/random"
"$TEST_TOOL" gen-text 3 40000 >"$T/packed"
"$CDT" --store "$S" add -q --name hello.txt "$T/hello"
"$CDT" --store "$S" add -q --name empty "$T/empty"
"$CDT" --store "$S" add -q --name "docs/sub dir/text" "$T/text"
"$CDT" --store "$S" add -q --name "naïve/日本/random" "$T/random"
"$CDT" --store "$S" add -q --name big/packed "$T/packed"

# config: as stored; the body alone (the target appends the checksum); a
# fixed-chunker store's; and one from a newer format.
{ byte 0; cat "$S/config"; } | seed config store
{ byte 1; grep -v '^checksum ' "$S/config"; } | seed config body
"$CDT" init -q --chunker fixed --chunk-size 4096 --codec zlib --level 0 "$T/fixed"
{ byte 0; cat "$T/fixed/config"; } | seed config fixed
{ byte 1; sed -e 's/^format 1$/format 2/' -e '/^checksum /d' "$S/config"; } | seed config newer

# object: loose objects as files (mode 0), one assembled from its header
# fields (mode 1), and chunk data to encode and decode (mode 2).
n=0
for o in $(find "$S/objects" -type f | sort | head -n 4); do
	n=$((n + 1))
	{ byte 0; cat "$o"; } | seed object loose-$n
done
o=$(find "$S/objects" -type f -size +100c | sort | head -n 1)
raw=$(od -An -tu4 -j8 -N4 "$o" | tr -d ' ')
codec=$(od -An -tu1 -j5 -N1 "$o" | tr -d ' ')
{ byte 1; byte "$codec"; byte 1; le32 "$raw"; le24 4095; tail -c +13 "$o"; } | seed object assembled
{ byte 1; byte 0; byte 4; le32 0; le24 4095; printf 'raw chunk data'; } | seed object assembled-raw
{ byte 2; byte 6; head -c 3000 "$T/text"; } | seed object encode-text
{ byte 2; byte 0; head -c 2000 "$T/random"; } | seed object encode-random

# manifest: every manifest of the store, as is and with all repairs asked for.
for m in $(find "$S/manifests" -type f | sort); do
	k=$(size "$m")
	{ byte 0; cat "$m"; } | seed manifest "$k"
	{ byte 3; cat "$m"; } | seed manifest "$k-repair"
done

# name: entries as is, and decoded against the name they hold.
n=0
for e in "$S/names/hello.txt" "$S/names/docs/sub dir/text" "$S/names/naïve/日本/random"; do
	n=$((n + 1))
	{ byte 0; cat "$e"; } | seed name entry-$n
	{ byte 3; cat "$e"; } | seed name entry-$n-named
done

# namecheck: plain, path-like and invalid names.
printf 'hello.txt' | seed namecheck plain
printf 'docs/sub dir/text' | seed namecheck nested
printf 'na\303\257ve/\346\227\245\346\234\254/random' | seed namecheck utf8
printf '/abs/./path//x/' | seed namecheck path
printf 'a/../b' | seed namecheck dotdot
printf 'bad\001ctl' | seed namecheck control
printf 'c1\302\205ctl' | seed namecheck c1-control
printf 'over\300\257long' | seed namecheck overlong
printf 'sur\355\240\200rogate' | seed namecheck surrogate
printf '%0255d/%0256d' 0 0 | seed namecheck long-component

# refs: the largest table, as is, compacted with a copy, and compacted
# keeping some pairs.
r=$(ls -S "$S/refs/chunks/"*.ref | head -n 1)
{ byte 0; cat "$r"; } | seed refs table
{ byte 8; cat "$r"; } | seed refs compact
{ byte 24; cat "$r"; } | seed refs compact-keep
# (a version-1 table, from a format-1 store, is spelt as version 2 first)
{ byte 46; cat "$r"; } | seed refs version2-compact
r=$(ls -S "$S/refs/chunks/"*.ref | tail -n 1)
{ byte 7; cat "$r"; } | seed refs small-repair

# namerefs: the largest table of name records, as is, and rewritten
# keeping some records.
r=$(ls -S "$S/refs/names/"*.rec | head -n 1)
{ byte 0; cat "$r"; } | seed namerefs table
{ byte 3; cat "$r"; } | seed namerefs filter

# info: the server info as is (mode 0: info/packs, 1: info/prefixes, 2: a
# table after its prefix and a NUL, 8: info/mpacks), and a table whose
# checksum is recomputed.
{ byte 0; cat "$S/info/packs"; } | seed info packs
{ byte 8; cat "$S/info/mpacks"; } | seed info mpacks
{ byte 1; cat "$S/info/prefixes"; } | seed info prefixes
{ byte 2; printf 'docs\0'; cat "$S/info/names/docs"; } | seed info table
{ byte 6; printf 'na\303\257ve\0'; cat "$S/info/names/naïve"; } | seed info table-utf8

# pack: index and pack, as is, with the repairs that keep it valid, with its
# entries laid out again (which moves them off their objects), and alone.
i=$(find "$S/packs" -name '*.idx' | head -n 1)
[ -n "$i" ] || { echo "make-corpus.sh: the store has no pack" >&2; exit 1; }
p=${i%.idx}.pack
{ byte 0; le32 "$(size "$i")"; cat "$i" "$p"; } | seed pack pack
{ byte 59; le32 "$(size "$i")"; cat "$i" "$p"; } | seed pack pack-repair
{ byte 63; le32 "$(size "$i")"; cat "$i" "$p"; } | seed pack pack-tile
{ byte 64; le32 "$(size "$i")"; cat "$i" "$p"; } | seed pack index-only

# midx: a multi-pack index, which an add writes once more than 32 packs are
# not covered by one: 33 files, each enough chunks for a pack of its own.
n=0
while [ $n -lt 33 ]; do
	n=$((n + 1))
	"$TEST_TOOL" gen-random $((100 + n)) 24000 >"$T/p$n"
	"$CDT" --store "$S" add -q --name "many/p$n" "$T/p$n"
done
x=$S/packs/multi-pack-index
[ -f "$x" ] || { echo "make-corpus.sh: the store has no multi-pack index" >&2; exit 1; }
{ byte 0; cat "$x"; } | seed midx index
{ byte 7; cat "$x"; } | seed midx index-repair

# Deltas (a zstd store): a text and the same text edited every 500 bytes,
# whose new chunks are stored as deltas against the first one's.
D=$T/deltas
"$CDT" init -q --chunk-size 1K --frame-size 4K "$D"
"$TEST_TOOL" gen-text 4 40000 >"$T/v1"
awk '{ print (NR % 8 ? $0 : $0 " edited") }' "$T/v1" >"$T/v2"
"$CDT" --store "$D" add -q --name v1 "$T/v1"
"$CDT" --store "$D" add -q --name v2 "$T/v2"
# sketch: every pack's sketch, with the pack's entry count (two bytes).
n=0
for k in $(find "$D/packs" -name '*.sketch' | sort); do
	n=$((n + 1))
	c=$(od -An -tu2 -j8 -N2 "${k%.sketch}.idx" | tr -d ' ')
	{ byte 0; byte $((c & 255)); byte $((c >> 8)); cat "$k"; } | seed sketch sketch-$n
	{ byte 7; byte $((c & 255)); byte $((c >> 8)); cat "$k"; } | seed sketch sketch-$n-repair
done
# object: the deltas of the packs as files (mode 3), and a base and a
# chunk to encode as a delta and decode (mode 4).
python3 - "$D/packs" "$out/object" <<'EOF2'
import os, struct, sys
d, out = sys.argv[1], sys.argv[2]
k = 0
for n in sorted(os.listdir(d)):
    if not n.endswith('.idx'):
        continue
    b = open(os.path.join(d, n), 'rb').read()
    count = struct.unpack_from('<Q', b, 8)[0]
    locs = 16 + 1024 + 32 * count
    pack = open(os.path.join(d, n[:-4] + '.pack'), 'rb').read()
    for i in range(count):
        off, ln, _, _, rlen = struct.unpack_from('<QIIII', b, locs + 24 * i)
        o = pack[off:off + ln]
        if rlen == 0 and o[4] == 2 and o[6] == 2 and k < 3:
            k += 1
            open(os.path.join(out, 'seed-delta-%d' % k), 'wb').write(b'\x03' + o)
if not k:
    sys.exit('make-corpus.sh: the delta store holds no delta')
EOF2
{ byte 4; byte 208; byte 7; head -c 2000 "$T/v1"; head -c 2000 "$T/v2"; } | seed object delta-encode
# pack: a pack holding deltas.
for i in $(find "$D/packs" -name '*.idx' | sort); do
	p=${i%.idx}.pack
	if python3 -c 'import sys; b = open(sys.argv[1], "rb").read(); sys.exit(0 if b"CDTC\x02\x02\x02" in b else 1)' "$p"; then
		{ byte 0; le32 "$(size "$i")"; cat "$i" "$p"; } | seed pack deltas
		break
	fi
done

du -sh "$out"
