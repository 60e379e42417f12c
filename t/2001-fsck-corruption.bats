#!/usr/bin/env bats
# The corruption matrix: each kind of damage on a fresh store, what fsck says
# (exit status, object, affected names), what cat does, and how it heals.

load test_helper
load lib-integrity

@test "a flipped byte in a chunk is found, named, and repaired from the file" {
	make_fixture
	flip_byte "$(obj_path "$A1")" 100
	run_split c fsck
	assert_status 4
	assert_out_contains "chunk-corrupt $A1: content does not match its id; affects 'a', 'copy/a'"
	assert_out_contains "1 problem (chunk-corrupt 1): exit status 4"
	run_split c cat a
	assert_status 1
	assert_err_contains "error: cannot read 'a' at offset 4096: chunk $A1 (4096 bytes): content does not match its id"
	assert_restore_only b c
	run_split c repair --from src/a
	assert_status 0
	assert_out_contains "restored chunk $A1 (4096 bytes) from 'src/a' at offset 4096"
	assert_out_contains "healthy again: 'a'"
	assert_out_contains "healthy again: 'copy/a'"
	assert_fsck_clean
	assert_all_restore
}

@test "a flipped byte in a compressed chunk is found and repaired" {
	make_fixture
	C2=$(piece_id src/c 8192 4096)
	flip_byte "$(obj_path "$C2")" 40
	run_split c fsck
	assert_status 4
	assert_out_contains "chunk-corrupt $C2: compressed data does not decode to the stated length; affects 'c'"
	assert_restore_only a copy/a b
	run_split c repair --from src/c
	assert_status 0
	assert_fsck_clean
	assert_all_restore
}

@test "a truncated chunk is found and repaired" {
	make_fixture
	truncate -s 2000 "$(obj_path "$A2")"
	run_split c fsck
	assert_status 4
	assert_out_contains "chunk-corrupt $A2: raw object has the wrong length; affects 'a', 'copy/a'"
	assert_restore_only b c
	run_split c repair --from src/a
	assert_status 0
	assert_out_contains "restored chunk $A2 (4096 bytes) from 'src/a' at offset 8192"
	assert_fsck_clean
	assert_all_restore
}

@test "a chunk truncated to nothing is found even without reading data" {
	make_fixture
	: > "$(obj_path "$A2")"
	run_split c fsck --quick
	assert_status 4
	assert_out_contains "chunk-corrupt $A2: object is 0 bytes, impossible for a 4096-byte chunk; affects 'a', 'copy/a'"
	assert_out_contains "(data not read)"
}

@test "a deleted chunk is found, named, and repaired" {
	make_fixture
	rm "$(obj_path "$A0")"
	run_split c fsck --quick
	assert_status 4
	assert_out_contains "chunk-missing $A0: chunk is missing; affects 'a', 'copy/a'"
	run_split c fsck
	assert_status 4
	assert_out_contains "chunk-missing $A0: chunk is missing; affects 'a', 'copy/a'"
	run_split c cat copy/a
	assert_status 1
	assert_err_contains "error: cannot read 'copy/a' at offset 0: chunk $A0 (4096 bytes): chunk is missing"
	assert_restore_only b c
	run_split c repair --from src/copy/a
	assert_status 0
	assert_fsck_clean
	assert_all_restore
}

@test "two chunk files swapped are both found and repaired from their files" {
	make_fixture
	mv "$(obj_path "$A1")" "$T/swap"
	mv "$(obj_path "$B1")" "$(obj_path "$A1")"
	mv "$T/swap" "$(obj_path "$B1")"
	run_split c fsck
	assert_status 4
	assert_out_contains "chunk-corrupt $A1: content does not match its id; affects 'a', 'copy/a'"
	assert_out_contains "chunk-corrupt $B1: content does not match its id; affects 'b'"
	assert_restore_only c
	run_split c repair --from src/a src/b
	assert_status 0
	assert_out_contains "restored 2 of 2 missing or damaged chunks; 3 names healthy again, 0 still damaged"
	assert_fsck_clean
	assert_all_restore
}

@test "a chunk of the wrong length is found and repaired" {
	make_fixture
	shorten_object "$(obj_path "$A2")" 4000
	run_split c fsck
	assert_status 4
	assert_out_contains "chunk-corrupt $A2: object holds 4000 bytes, the manifest says 4096; affects 'a', 'copy/a'"
	run_split c cat a
	assert_status 1
	assert_err_contains "object holds 4000 bytes, the manifest says 4096"
	assert_restore_only b c
	run_split c repair --from src/a
	assert_status 0
	assert_fsck_clean
	assert_all_restore
}

@test "a corrupt manifest is found and named; its chunks are not garbage" {
	make_fixture
	MA=$(file_id src/a)
	flip_byte "$(manifest_path src/a)" 50
	run_split c fsck -v
	assert_status 8
	assert_out_contains "manifest-corrupt $MA: manifest checksum does not match its contents; affects 'a', 'copy/a'"
	assert_out_contains "1 problem (manifest-corrupt 1): exit status 8"
	case "$output" in *garbage-chunk*) fail "chunks of a damaged manifest called garbage: $output" ;; esac
	run_split c cat a
	assert_status 1
	assert_err_contains "error: cannot read 'a': manifest $MA: manifest checksum does not match its contents"
	assert_restore_only b c
	# Repair writes it again from a file of that content.
	run_split c repair --from src/a
	assert_status 0
	assert_out_contains "restored manifest $MA of '"
	assert_out_contains "healthy again: 'a'"
	assert_fsck_clean
}

@test "a missing manifest is found and named" {
	make_fixture
	MB=$(file_id src/b)
	rm "$(manifest_path src/b)"
	run_split c fsck
	assert_status 8
	assert_out_contains "manifest-missing $MB: manifest is missing; affects 'b'"
	assert_restore_only a copy/a c
}

@test "a corrupt name entry is found and named" {
	make_fixture
	flip_byte "$S/names/b" 30
	run_split c fsck -v
	assert_status 16
	assert_out_contains "name-corrupt names/b: name entry checksum does not match its contents; cdt repair can restore it from info/names/b; affects 'b'"
	assert_out_contains "1 problem (name-corrupt 1): exit status 16"
	# Its manifest is not garbage: its name record still vouches for it.
	case "$output" in *garbage-manifest*) fail "manifest of a damaged name called garbage" ;; esac
	run_split c cat b
	assert_status 1
	assert_err_contains "error: cannot read name 'b': name entry checksum does not match its contents"
	for n in a copy/a c; do
		c cat -o "$T/out" "$n"
		cmp "$T/out" "src/$n"
	done
}

@test "a corrupt config without a whole copy is found by fsck and every name is affected" {
	make_fixture
	sed -i 's/^level 3$/level 7/' "$S/config"
	rm "$S/config.copy"
	run_split c fsck
	assert_status 64
	assert_out_contains "config-corrupt config: config checksum does not match its contents; no command but fsck can use the store (chunk layouts not checked); affects 'a', 'b', 'c', 'copy/a'"
	run_split c cat b
	assert_status 1
	assert_err_contains "has a corrupt config: config checksum does not match its contents"
	run_split c repair --from src/a
	assert_status 1
	run_split c fsck --rebuild-refs
	assert_status 1
	assert_err_contains "cannot rebuild references: the store's config is damaged"
}

@test "a config of a newer format is not checked" {
	make_fixture
	sed -i 's/^format [0-9]$/format 9/' "$S/config"
	run_split c fsck
	assert_status 1
	assert_err_contains "store format 9 is newer than this cdt supports"
}

@test "a stray file in objects/ is garbage, not an error" {
	make_fixture
	echo junk > "$S/objects/junk"
	echo junk > "$S/objects/${A0:0:2}/not-an-id"
	run_split c fsck
	assert_status 0
	assert_out_contains "no problems found"
	assert_out_contains "garbage (not an error): 2 items, 10 B (garbage-stray 2)"
	run_split c fsck -v
	assert_status 0
	assert_out_contains "garbage-stray objects/junk: not a fan-out directory (5 B)"
	assert_out_contains "garbage-stray objects/${A0:0:2}/not-an-id: not an object name (5 B)"
	assert_all_restore
}

@test "an unreferenced chunk and a leftover temporary file are garbage" {
	make_fixture
	"$CDT" init -q other
	gen_bytes 9 5000 > extra
	"$CDT" --store other add -q extra
	X=$(sha256sum extra | cut -c1-64)	# its one chunk's id
	mkdir -p "$S/objects/${X:0:2}"
	cp "other/objects/${X:0:2}/${X:2}" "$S/objects/${X:0:2}/${X:2}"
	echo partial > "$S/tmp/obj-1234-0000000000000000"
	run_split c fsck -v --json
	assert_status 0
	assert_out_contains "{\"type\":\"garbage\",\"kind\":\"garbage-chunk\",\"object\":\"$X\",\"detail\":\"no manifest lists it\",\"bytes\":5012}"
	assert_out_contains "\"kind\":\"garbage-tmp\",\"object\":\"tmp/obj-1234-0000000000000000\""
	assert_out_contains "\"problems\":0,\"garbage\":2,"
}

@test "what an interrupted add leaves is garbage, damaged or not" {
	make_fixture
	gen_bytes 8 9000 > src/d
	CDT_TEST_CRASH=name run_split c add -q src/d
	[ "$status" -ne 0 ]
	MD=$(file_id src/d)
	D0=$(piece_id src/d 0 4096)
	rm "$(obj_path "$D0")"	# damage that no name can see
	run_split c fsck -v
	assert_status 0
	assert_out_contains "garbage-manifest $MD: no name uses it"
	assert_out_contains "garbage-chunk $(piece_id src/d 4096 4096): no manifest lists it"
	assert_out_contains "garbage-ref $(piece_id src/d 4096 4096): reference to manifest $MD, which no name uses"
	assert_out_contains "garbage-nameref refs/names/"
	assert_out_contains ".rec (src/d): record of a name that is gone or holds other content"
	case "$output" in *"chunk-missing $D0"*) fail "a chunk only garbage used was reported: $output" ;; esac
	run_split c gc
	assert_status 0
	run_split c fsck -v
	assert_status 0
	case "$output" in *garbage*) fail "gc left garbage fsck sees: $output" ;; esac
}

@test "a damaged object in a pack is found, named, and healed with its pack" {
	# Each chunk its own object, so that the damage reaches one chunk.
	init_store --chunk-size 4K --frame-size 0
	gen_bytes 1 300000 > big
	gen_bytes 2 300000 > other
	c add -q big other
	id=$("$TEST_TOOL" chunk fastcdc 4096 big | sed -n 10p | { read -r o l; piece_id big "$o" "$l"; })
	set -- $(packed_object "$id")
	pack=${1##*/}
	pack=${pack%.pack}
	damage_chunk "$id"
	run_split c fsck
	assert_status 4
	assert_out_contains "chunk-corrupt $id: pack $pack: object at offset $2 fails its CRC; affects 'big'"
	assert_out_contains "pack-corrupt packs/$pack: object $id at offset $2 fails its CRC; affects 'big'"
	run_split c fsck --quick
	assert_status 0
	run_split c cat big
	assert_status 1
	assert_err_contains "fails its CRC"
	c cat -o out other
	cmp out other
	run_split c repair --from big
	assert_status 0
	assert_out_contains "restored chunk $id"
	assert_out_contains "rewrote damaged pack $pack as pack-"
	[ ! -e "$S/packs/$pack.pack" ] || fail "the damaged pack is still there"
	assert_fsck_clean
	for f in big other; do
		c cat -o out "$f"
		cmp out "$f"
	done
}

@test "a pack that lost its index is named with the files it hides, and indexed again" {
	init_store --chunk-size 4K
	gen_bytes 1 300000 > big
	c add -q big
	idx=$(ls "$S"/packs/*.idx)
	pack=$(basename "${idx%.idx}")
	n=$("$TEST_TOOL" chunk fastcdc 4096 big | wc -l)
	rm "$idx"
	run_split c fsck -v
	assert_status 4
	assert_out_contains "pack-corrupt packs/$pack: it has no index; the pack itself is intact: 'cdt gc' or 'cdt repair' indexes it again from its objects ($n chunks that names need are only there); affects 'big'"
	assert_out_contains "1 problem (pack-corrupt 1): exit status 4"
	# cat says what it cannot find; repair needs no file to fix this.
	run_split c cat big
	assert_status 1
	run_split c repair
	assert_status 0
	assert_out_contains "$pack: index is missing; indexed again from the pack ($n chunks)"
	assert_fsck_clean
	c cat -o out big
	cmp out big
}

@test "a damaged pack index hides its pack until repair indexes it again, with no file" {
	init_store --chunk-size 4K
	gen_bytes 1 300000 > big
	c add -q big
	idx=$(ls "$S"/packs/*.idx)
	pack=$(basename "${idx%.idx}")
	n=$("$TEST_TOOL" chunk fastcdc 4096 big | wc -l)
	flip_byte "$idx" 1	# the magic: readers cannot open it
	run_split c fsck
	assert_status 4
	assert_out_contains "pack-corrupt packs/$pack: its index cannot be used (data is corrupt); the pack itself is intact: 'cdt gc' or 'cdt repair' indexes it again from its objects ($n chunks that names need are only there); affects 'big'"
	run_split c repair
	assert_status 0
	assert_out_contains "$pack: index cannot be used (data is corrupt); indexed again from the pack ($n chunks)"
	assert_fsck_clean
	c cat -o out big
	cmp out big
}

@test "a flipped bit in an id of a pack index is named with the file whose chunk it hides" {
	init_store --chunk-size 4K
	gen_bytes 1 300000 > big
	c add -q big
	idx=$(ls "$S"/packs/*.idx)
	pack=$(basename "${idx%.idx}")
	# The first id, just past the header and the fan-out: the index still
	# opens, and the chunk it named is found nowhere.
	flip_byte "$idx" $((16 + 1024 + 5))
	run_split c cat big
	assert_status 1
	run_split c fsck
	assert_status 4
	assert_out_contains "pack-corrupt packs/$pack: index checksum does not match its contents; the pack itself is intact: 'cdt gc' or 'cdt repair' indexes it again from its objects (1 chunk that names need is only there); affects 'big'"
	run_split c repair
	assert_status 0
	assert_fsck_clean
	c cat -o out big
	cmp out big
}

@test "a damaged multi-pack index is found and rewritten" {
	init_store
	gen_bytes 1 20000000 > f1
	gen_bytes 2 20000000 > f2
	c add -q f1
	c add -q f2
	c gc > /dev/null	# two large packs: gc leaves both and indexes them together
	[ -f "$S/packs/multi-pack-index" ] || skip_or_fail "no multi-pack index was written"
	# A byte in the middle of the id table: the shape holds, so lookups trust it.
	size=$(stat -c %s "$S/packs/multi-pack-index")
	flip_byte "$S/packs/multi-pack-index" $((size / 2))
	run_split c fsck
	assert_status 4
	# A chunk it hides is still read: a read that misses asks each pack's own index.
	assert_out_contains "midx-corrupt packs/multi-pack-index: checksum does not match its contents: lookups through it may miss chunks; affects no stored name"
	assert_out_contains "1 problem (midx-corrupt 1): exit status 4"
	for f in f1 f2; do
		c cat "$f" > out
		cmp out "$f"
	done
	run_split c repair
	assert_status 0
	assert_out_contains "rewrote the damaged multi-pack index"
	assert_fsck_clean
}

@test "a stale reverse reference is found and rebuilt" {
	make_fixture
	MA=$(file_id src/a)
	"$TEST_TOOL" ref-add "$S" "$B1" "$MA"
	run_split c fsck
	assert_status 32
	assert_out_contains "refs-stale $MA: 1 reverse reference to chunks it does not list (first: $B1); affects 'a', 'copy/a'"
	assert_all_restore
	run_split c fsck --rebuild-refs
	assert_status 0
	assert_out_contains "rebuilt references:"
	assert_out_contains "no problems found"
	assert_fsck_clean
	assert_all_restore
}

@test "a reverse reference naming a wrong chunk is found whichever byte of the id is wrong" {
	make_fixture
	MB=$(file_id src/b)
	rm "$(table_of src/b)"
	# b's references again, in a table that checks, but the second names
	# a chunk whose id differs from B1 in its 21st byte only.
	wrong=${B1:0:40}$(printf '%s' "${B1:40:2}" | tr 0-9a-f 1-9a-f0)${B1:42}
	[ "$wrong" != "$B1" ]
	for k in 0 1 2 3 4; do
		id=$(piece_id src/b $((k * 4096)) 4096)
		[ $k = 4 ] && id=$(piece_id src/b 16384 3616)
		[ $k = 1 ] && id=$wrong
		"$TEST_TOOL" ref-add "$S" "$id" "$MB"
	done
	run_split c fsck
	assert_status 32
	assert_out_contains "refs-missing $MB: 1 of its 5 chunks has no reverse reference (first: $B1); affects 'b'"
	assert_out_contains "refs-stale $MB: 1 reverse reference to chunks it does not list (first: $wrong); affects 'b'"
	run_split c fsck --rebuild-refs
	assert_status 0
	assert_fsck_clean
}

@test "missing reverse references are found and rebuilt" {
	make_fixture
	MB=$(file_id src/b)
	t=$(table_of src/b)
	[ -n "$t" ]
	rm "$t"
	run_split c fsck
	assert_status 32
	assert_out_contains "refs-missing $MB: 5 of its 5 chunks have no reverse reference"
	assert_out_contains "; affects 'b'"
	assert_all_restore
	run_split c fsck --rebuild-refs
	assert_status 0
	assert_fsck_clean
}

@test "a damaged reference table is found and rebuilt" {
	make_fixture
	t=$(table_of src/c)
	flip_byte "$t" 40
	run_split c fsck
	assert_status 32
	assert_out_contains "refs-table-corrupt refs/chunks/${t##*/}: checksum does not match its contents"
	assert_out_contains "refs-missing $(file_id src/c): 8 of its 8 chunks have no reverse reference"
	assert_all_restore
	run_split c fsck --rebuild-refs
	assert_status 0
	assert_fsck_clean
}

@test "gc does not merge a damaged reference table into one that checks" {
	make_fixture
	t=$(table_of src/b)
	# A byte of the second pair's chunk id: the table's shape holds.
	flip_byte "$t" $((24 + 36 + 20))
	run_split c gc
	assert_status 0
	assert_err_contains "warning: reference table '$S/refs/chunks/${t##*/}' is damaged (checksum does not match its contents); not merged (run 'cdt fsck --rebuild-refs')"
	[ -f "$t" ]
	run_split c fsck
	assert_status 32
	assert_out_contains "refs-table-corrupt refs/chunks/${t##*/}: checksum does not match its contents"
	assert_out_contains "refs-missing $(file_id src/b): 5 of its 5 chunks have no reverse reference"
	run_split c fsck --rebuild-refs
	assert_status 0
	assert_fsck_clean
	assert_all_restore
}

@test "a store whose every name entry is damaged is checked, not crashed on" {
	init_store
	mkdir src
	echo one > src/one
	echo two > src/two
	(cd src && c add -q one two)
	flip_byte "$S/names/one" 50
	flip_byte "$S/names/two" 50
	run_split c fsck
	assert_status 16
	assert_out_contains "name-corrupt names/one: name entry checksum does not match its contents; cdt repair can restore it from info/names/one; affects 'one'"
	assert_out_contains "name-corrupt names/two: name entry checksum does not match its contents; cdt repair can restore it from info/names/two; affects 'two'"
	assert_out_contains "2 problems (name-corrupt 2): exit status 16"
}

@test "a missing name record is found and rebuilt" {
	make_fixture
	rm "$(nameref_table copy/a)"
	run_split c fsck
	assert_status 32
	assert_out_contains "nameref-missing names/copy/a: no name record for it under manifest $(file_id src/a | cut -c1-12)...; affects 'copy/a'"
	run_split c fsck --rebuild-refs
	assert_status 0
	assert_out_contains "1 name record added, 0 removed"
	assert_fsck_clean
}

@test "a damaged table of name records is found and rebuilt" {
	make_fixture
	t=$(nameref_table b)
	flip_byte "$t" 40
	run_split c fsck -v
	assert_status 32
	assert_out_contains "nameref-missing names/b: no name record for it"
	assert_out_contains "garbage-nameref refs/names/${t##*/}: damaged table of name records (checksum mismatch); its records are not used"
	run_split c fsck --rebuild-refs
	assert_status 0
	assert_fsck_clean
}

@test "a manifest whose chunks the store's chunker could not cut is found" {
	make_fixture
	# The same kind of file, stored by a store cutting 1 KiB blocks.
	"$CDT" init -q --chunker fixed --chunk-size 1K other
	gen_bytes 7 10000 > src/d
	"$CDT" --store other add -q --name d src/d
	cp -rn other/objects other/manifests other/refs other/names "$S/"
	MD=$(file_id src/d)
	run_split c fsck
	# (and names copied in behind cdt's back are missing from info/: 32)
	assert_status 40
	assert_out_contains "info-stale info/names/d: missing (names under 'd' exist)"
	assert_out_contains "manifest-layout $MD: chunk 0 (at offset 0) is 1024 bytes; the store cuts 4096-byte blocks; affects 'd'"
	# Nothing is lost: it reads back.
	c cat -o "$T/out" d
	cmp "$T/out" src/d
}

@test "a damaged pack without an index is named with the files whose chunks only it holds, never garbage" {
	init_store --chunker fixed --chunk-size 4K
	gen_bytes 1 100000 > a
	gen_bytes 2 200000 > b
	c add -q a
	c add -q b
	pack=$(ls -t "$S"/packs/*.pack | head -1)
	name=$(basename "${pack%.pack}")
	# Damaged inside the 25th chunk of 'b', its index gone: it cannot be
	# indexed again, and gc keeps it.
	flip_byte "$pack" 100000
	rm "${pack%.pack}.idx"
	lost=$(dd if=b bs=4096 skip=24 count=1 status=none | sha256sum | cut -c1-64)
	run_split c fsck
	assert_status 4
	assert_out_contains "chunk-missing $lost: chunk is missing; affects 'b'"
	assert_out_contains "pack-corrupt packs/$name: it has no index, and is damaged (pack checksum does not match its contents): 'cdt gc' writes the 48 chunks that names need and only it holds to a new pack, and keeps it, as it may hold in its damage more that no other place holds; affects 'b'"
	assert_out_contains "2 problems (chunk-missing 1, pack-corrupt 1): exit status 4"
	[[ "$output" != *garbage* ]] || fail "fsck calls it garbage: $output"
	run_split c gc
	assert_status 1
	[ -e "$pack" ] || fail "gc removed the damaged pack"
	run_split c fsck
	assert_status 4
	assert_out_contains "chunk-missing $lost: chunk is missing; affects 'b'"
	assert_out_contains "pack-corrupt packs/$name: it has no index, and is damaged (pack checksum does not match its contents): 'cdt gc' keeps it, as it may hold in its damage 1 chunk that names need and no other place holds"
	[[ "$output" != *garbage* ]] || fail "fsck calls it garbage: $output"
	# Repaired from the file, nothing needs it: repair removes it.
	run_split c repair --from b
	assert_status 0
	[ ! -e "$pack" ] || fail "the damaged pack stayed once nothing needed it"
	assert_fsck_clean
	c cat b | cmp - b
}

@test "a kept damaged pack without an index names the files whose missing chunks it may hold" {
	init_store --chunker fixed --chunk-size 4K --frame-size 0
	gen_bytes 2 200000 > b
	c add -q b
	pack=$(ls "$S"/packs/*.pack)
	name=$(basename "${pack%.pack}")
	# Damaged inside the 25th chunk of 'b', its index gone; gc saves the
	# rest and keeps the pack, as the 25th may be in its damage.
	flip_byte "$pack" 100000
	rm "${pack%.pack}.idx"
	lost=$(dd if=b bs=4096 skip=24 count=1 status=none | sha256sum | cut -c1-64)
	run_split c gc
	assert_status 1
	run_split c fsck
	assert_status 4
	assert_out_contains "chunk-missing $lost: chunk is missing; affects 'b'"
	assert_out_contains "pack-corrupt packs/$name: it has no index, and is damaged (pack checksum does not match its contents): 'cdt gc' keeps it, as it may hold in its damage 1 chunk that names need and no other place holds; affects 'b'"
	assert_out_contains "2 problems (chunk-missing 1, pack-corrupt 1): exit status 4"
}

@test "a damaged pack whose index is damaged too is read past its damage and named with its files" {
	init_store --chunker fixed --chunk-size 4K --frame-size 0
	gen_bytes 1 20000 > a
	gen_bytes 2 200000 > b
	c add -q a
	c add -q b
	pack=$(ls -t "$S"/packs/*.pack | head -1)
	name=$(basename "${pack%.pack}")
	flip_byte "$pack" 100000
	flip_byte "${pack%.pack}.idx" 100
	lost=$(dd if=b bs=4096 skip=24 count=1 status=none | sha256sum | cut -c1-64)
	run_split c fsck
	assert_status 4
	assert_out_contains "chunk-missing $lost: chunk is missing; affects 'b'"
	assert_out_contains "pack-corrupt packs/$name: its index cannot be used (data is corrupt), and is damaged (pack checksum does not match its contents): 'cdt gc' writes the 48 chunks that names need and only it holds to a new pack, and keeps it, as it may hold in its damage more that no other place holds; affects 'b'"
	assert_out_contains "2 problems (chunk-missing 1, pack-corrupt 1): exit status 4"
	run_split c fsck -j 1
	assert_out_contains "2 problems (chunk-missing 1, pack-corrupt 1): exit status 4"
	c gc 2>/dev/null && fail "gc kept no damaged pack"
	run_split c fsck
	assert_status 4
	assert_out_contains "pack-corrupt packs/$name: its index cannot be used (data is corrupt), and is damaged (pack checksum does not match its contents): 'cdt gc' keeps it, as it may hold in its damage 1 chunk that names need and no other place holds; affects 'b'"
	assert_out_contains "2 problems (chunk-missing 1, pack-corrupt 1): exit status 4"
	c cat a | cmp - a
}

@test "a damaged chunk whose good copy only a damaged pack without an index holds is tied to that pack" {
	init_store --chunker fixed --chunk-size 4K --frame-size 0
	gen_bytes 2 196608 > b
	c add -q b
	old=$(ls "$S"/packs/*.pack)
	name=$(basename "${old%.pack}")
	rm "${old%.pack}.idx"
	flip_byte "$old" 100000
	# Its chunks stored again (lookups miss them), the first damaged there.
	cp b b2
	printf x >> b2
	c add -q b2
	new=$(ls -t "$S"/packs/*.pack | head -1)
	flip_byte "$new" 2000
	first=$(head -c 4096 b | sha256sum | cut -c1-64)
	run_split c fsck -v
	assert_status 4
	assert_out_contains "chunk-corrupt $first: pack $(basename "${new%.pack}"): object at offset 8 fails its CRC; packs/$name, which readers do not see, holds a good copy: 'cdt gc' writes it to a new pack; affects 'b', 'b2'"
	assert_out_contains "pack-corrupt packs/$name: it has no index, and is damaged (pack checksum does not match its contents): 'cdt gc' writes the 1 chunk that names need and only it holds a good copy of to a new pack, then removes it once every chunk that names need reads back good; affects 'b', 'b2'"
	assert_out_contains "3 problems (chunk-corrupt 1, pack-corrupt 2): exit status 4"
	[[ "$output" != *garbage* ]] || fail "fsck calls it garbage: $output"
	run_split c gc
	c cat b2 | cmp - b2
}
