#!/usr/bin/env bats
# cdt push and cdt pull between two local stores: what is copied, what is
# not, names that differ, and a push killed at every step of its commit.

load test_helper

# The destination store: beside the source, in the test's directory.
dest() {
	D=$T/dest
}

store_snapshot_of() {
	(cd "$1" && find . -type f ! -name lock -print0 | sort -z | xargs -0 -r sha256sum)
}

# A tree of every kind of entry: files (one large, one sparse), a hard
# link, a symbolic link, an empty directory.
make_tree() {
	mkdir -p src/sub src/empty
	for i in 1 2 3 4 5 6; do printf 'file %s\n' "$i" > "src/f$i"; done
	gen_bytes 1 2000000 > src/sub/big
	truncate -s 20M src/sparse
	gen_bytes 2 5000 | dd of=src/sparse bs=4096 seek=1000 conv=notrunc status=none
	ln src/f1 src/hard
	ln -s f2 src/link
}

# Every name of store $1 under src restores, with the tree, to src itself.
# The store holding make_tree's tree, and $D, a copy of it made by push.
pushed_tree() {
	init_store
	dest
	"$CDT" init -q "$D"
	make_tree
	c add -q -r src
	c push "$D" > /dev/null
}

same_tree() {
	rm -rf restored
	"$CDT" --store "$1" restore -q src restored || fail "restore from $1 failed"
	diff -r src restored || fail "$1 does not hold the tree"
	[ "$(stat -c %i restored/f1)" = "$(stat -c %i restored/hard)" ] || fail "hard link lost"
}

@test "push copies a tree with every kind of entry; a second push copies nothing" {
	init_store
	dest
	"$CDT" init -q "$D"
	make_tree
	c add -q -r src
	run_split c push "$D"
	assert_status 0
	assert_out_contains "copied 13 names (8 new contents, "
	[ -z "$err" ]
	same_tree "$D"
	run_split "$CDT" --store "$D" fsck
	assert_status 0
	c ls -l src > src.ls
	"$CDT" --store "$D" ls -l src > dest.ls
	[ "$(wc -l < src.ls)" = 13 ]
	cmp src.ls dest.ls
	# Nothing new: no pack, no name written.
	before=$(store_snapshot_of "$D")
	run_split c push "$D"
	assert_status 0
	assert_out_contains "copied 0 names (0 new contents, 0 B read, 0 B stored new); 13 unchanged"
	[ "$(store_snapshot_of "$D")" = "$before" ]
}

@test "push stores only what the destination lacks, and pull is push from the other side" {
	init_store
	dest
	"$CDT" init -q "$D"
	make_tree
	c add -q -r --prefix gen1 src
	c push "$D"
	# A second generation that changed one file a little.
	printf 'changed' | dd of=src/sub/big bs=1 seek=1000000 conv=notrunc status=none
	c add -q -r --prefix gen2 src
	run_split c push -v "$D" gen2
	assert_status 0
	assert_out_contains "copied gen2/src/sub/big"
	assert_out_contains "copied 13 names (1 new content, 1.9 MiB read, "
	stored=$(printf '%s\n' "$output" | sed -n 's/.* read, \([0-9.]*\) KiB stored new.*/\1/p')
	[ -n "$stored" ] || fail "more than KiBs stored for a small change: $output"
	# Pulled back into a new store: the same names, the same bytes.
	rm -rf "$S"
	init_store
	run_split c pull "$D" gen2
	assert_status 0
	assert_out_contains "copied 13 names ("
	rm -rf restored
	c restore -q gen2/src restored
	diff -r src restored
	[ -z "$(c ls gen1)" ]
}

@test "a name that differs in the destination is kept and reported; -f replaces it" {
	init_store
	dest
	"$CDT" init -q "$D"
	make_tree
	c add -q -r src
	echo other > other
	"$CDT" --store "$D" add -q --name src/f3 other
	run_split c push "$D"
	assert_status 3
	assert_err_contains "warning: 'src/f3' holds other content in the destination; kept it (-f replaces it)"
	assert_out_contains "copied 12 names ("
	assert_out_contains "; 1 kept because they differ"
	[ "$("$CDT" --store "$D" cat src/f3)" = other ]
	run_split c push -f "$D" src/f3
	assert_status 0
	[ "$("$CDT" --store "$D" cat src/f3)" = "file 3" ]
	same_tree "$D"
}

@test "a name of another kind in the destination is kept and reported; -f replaces what is in its way" {
	pushed_tree
	# The destination holds a directory of names where the source now has
	# a file, and a file where the source now has a directory.
	rm -r src/sub src/f4
	echo now-a-file > src/sub
	mkdir src/f4
	echo under > src/f4/g
	c add -q -r src
	run_split c push "$D"
	assert_status 1
	assert_err_contains "warning: 'src/sub' holds other content in the destination; kept it (-f replaces it)"
	assert_err_contains "error: cannot copy 'src/f4/g': the destination holds a name where one of its directories goes (-f replaces it)"
	[ "$("$CDT" --store "$D" cat src/f4)" = "file 4" ]
	run_split c push -f "$D"
	assert_status 0
	[ "$("$CDT" --store "$D" cat src/sub)" = now-a-file ]
	[ "$("$CDT" --store "$D" cat src/f4/g)" = under ]
	! "$CDT" --store "$D" ls | grep -q "^src/sub/" || fail "names left under src/sub"
	run_split "$CDT" --store "$D" fsck
	assert_status 0
	same_tree "$D"
	# And from the other side: pull -f into a store holding the old tree.
	"$CDT" init -q "$T/old"
	echo old > oldfile
	"$CDT" --store "$T/old" add -q --name src/sub/big oldfile
	"$CDT" --store "$T/old" add -q --name src/f4 oldfile
	run_split "$CDT" --store "$T/old" pull -f "$S" src
	assert_status 0
	same_tree "$T/old"
}

@test "a damaged name entry in the destination is reported as such, kept, and replaced with -f" {
	pushed_tree
	printf 'XXXX' | dd of="$D/names/src/f3" bs=1 seek=0 conv=notrunc status=none
	run_split c push "$D"
	assert_status 3
	assert_err_contains "warning: 'src/f3' in the destination cannot be read ("
	assert_err_contains "); kept it (-f replaces it)"
	[[ "$err" != *"holds other content"* ]] || fail "$err"
	run_split c push -f "$D" src/f3
	assert_status 0
	[ "$("$CDT" --store "$D" cat src/f3)" = "file 3" ]
	same_tree "$D"
}

@test "a name whose metadata changed is copied again with it; its content is not read" {
	pushed_tree
	chmod 600 src/f4
	touch -d '2001-02-03 04:05:06.5' src/f5 src/sub
	c add -q -r src
	run_split c push "$D"
	assert_status 0
	# f4, f5 and the directory src/sub; nothing to read.
	assert_out_contains "copied 3 names (0 new contents, 0 B read, 0 B stored new); 10 unchanged"
	c ls -l src > src.ls
	"$CDT" --store "$D" ls -l src > dest.ls
	cmp src.ls dest.ls || fail "$(diff src.ls dest.ls)"
	same_tree "$D"
	[ "$(stat -c %a restored/f4)" = 600 ]
	[ "$(stat -c %Y restored/sub)" = "$(stat -c %Y src/sub)" ]
}

@test "a dry run says what it would copy and writes nothing" {
	init_store
	dest
	"$CDT" init -q "$D"
	make_tree
	c add -q -r src
	before=$(store_snapshot_of "$D")
	run_split c push -n -v "$D" src/sub
	assert_status 0
	assert_out_contains "would copy src/sub/big"
	assert_out_contains "would copy 2 names (1 new content, 1.9 MiB to read); 0 unchanged"
	[ "$(store_snapshot_of "$D")" = "$before" ]
}

@test "stores that name contents differently, the same store, and no store are refused" {
	init_store
	dest
	"$CDT" init -q --content-id sha256 "$D"
	echo x > f
	c add -q f
	run_split c push "$D"
	assert_status 1
	assert_err_contains "name contents differently (store formats 4 and 2"
	[ -z "$("$CDT" --store "$D" ls)" ]
	run_split c push "$S"
	assert_status 1
	assert_err_contains "are the same store"
	run_split c push "$T/nowhere"
	assert_status 1
	assert_err_contains "is not a cdt store"
	run_split c push
	assert_status 2
}

@test "damage in the source is reported and nothing wrong reaches the destination" {
	init_store
	dest
	"$CDT" init -q "$D"
	gen_bytes 3 300000 > a
	gen_bytes 4 300000 > b
	c add -q a b
	# Every object file of the source damaged (one bit, past any header).
	for f in $(find "$S/objects" "$S/packs" -type f ! -name '*.idx' ! -name '*.sketch' \
		   ! -name multi-pack-index); do
		python3 -c 'import sys; f = open(sys.argv[1], "r+b"); f.seek(200); b = f.read(1); f.seek(200); f.write(bytes([b[0] ^ 1]))' "$f"
	done
	run_split c push "$D"
	assert_status 1
	assert_err_contains "could not be copied"
	# Whatever the destination holds is whole.
	run_split "$CDT" --store "$D" fsck
	assert_status 0
	for n in $("$CDT" --store "$D" ls); do
		"$CDT" --store "$D" cat "$n" | cmp - "$n"
	done
}

@test "a push killed at any step of its commit leaves the destination consistent; a rerun completes it" {
	init_store
	dest
	make_tree
	c add -q -r src
	for point in objects:2 refs:2 manifest:2 name:4 name:9; do
		rm -rf "$D"
		"$CDT" init -q "$D"
		rc=0
		CDT_TEST_GROUP=4 CDT_TEST_CRASH="$point" c push "$D" > push.out 2> push.err || rc=$?
		[ "$rc" = 137 ] || fail "$point: push exited $rc: $(cat push.err)"
		run_split "$CDT" --store "$D" fsck
		# Names in place before their tables (written once, at the end):
		# info/ is stale, and only that.
		if [ "$status" = 32 ]; then
			[ -z "$(grep -v '^info-stale ' <<< "$output" | grep -E '^[a-z]+-[a-z-]+ ')" ] ||
				fail "$point: $output"
		else
			assert_status 0
		fi
		for n in $("$CDT" --store "$D" ls -t f); do
			"$CDT" --store "$D" cat "$n" | cmp - "$n" || fail "$point: $n differs"
		done
		[ "$("$CDT" --store "$D" ls src | wc -l)" -lt 13 ] || fail "$point: nothing was lost"
		run_split c push "$D"
		assert_status 0
		same_tree "$D"
		# The rerun wrote every table again (the killed push left its mark).
		run_split "$CDT" --store "$D" fsck
		assert_status 0
	done
}

@test "a prefix with no name under it fails the push; one with a trailing slash is the directory" {
	init_store
	dest
	"$CDT" init -q "$D"
	make_tree
	c add -q -r src
	run_split c push "$D" src/sub nosuch
	assert_status 1
	assert_out_contains "copied 2 names"
	assert_err_contains "no stored name is 'nosuch' or under it in '$S'"
	run_split c push -n "$D" nosuch
	assert_status 1
	run_split "$CDT" --store "$D" pull "$S" typo
	assert_status 1
	assert_err_contains "no stored name is 'typo' or under it"
	run_split c push "$D" ../src
	assert_status 2
	assert_err_contains "bad prefix '../src'"
	run_split c push "$D" src/
	assert_status 0
	assert_out_contains "copied 11 names"
	same_tree "$D"
}

@test "a push whose every batch fails to commit counts no content as copied" {
	command -v strace > /dev/null || skip_or_fail "strace is not installed"
	init_store
	dest
	"$CDT" init -q "$D"
	mkdir src
	gen_bytes 5 300000 > src/a
	gen_bytes 6 200000 > src/b
	c add -q -r src
	# Every sync of the destination fails, as on a full disk.
	run_split traced -f -o /dev/null -e trace=syncfs -e inject=syncfs:error=ENOSPC \
		"$CDT" --store "$S" push "$D"
	assert_status 1
	assert_err_contains "No space left on device"
	assert_err_contains "3 names could not be copied"
	[ "$output" = "copied 0 names (0 new contents, 0 B read, 0 B stored new); 0 unchanged" ] ||
		fail "summary: $output"
	# The rerun copies, and counts, all of it.
	run_split c push "$D"
	assert_status 0
	assert_out_contains "copied 3 names (2 new contents, 488.3 KiB read,"
}

@test "push -n counts a content two names share once, as the push does" {
	init_store
	dest
	"$CDT" init -q "$D"
	mkdir src
	gen_bytes 7 300000 > src/a
	cp src/a src/b
	ln src/a src/hard
	c add -q -r src
	run_split c push -n "$D"
	assert_status 0
	[ "$output" = "would copy 4 names (1 new content, 293.0 KiB to read); 0 unchanged" ] ||
		fail "dry run: $output"
	run_split c push "$D"
	assert_status 0
	assert_out_contains "copied 4 names (1 new content, 293.0 KiB read,"
}

# write_entry NAME CONTENT_HEX SIZE: a name entry of the test store, made
# by hand (version 1), naming content and size as given.
write_entry() {
	python3 - "$S/names/$1" "$1" "$2" "$3" <<'EOF2'
import hashlib, struct, sys
path, name, cid, size = sys.argv[1], sys.argv[2].encode(), bytes.fromhex(sys.argv[3]), int(sys.argv[4])
b = b'CDTN' + bytes([1, 0, 0, 0]) + struct.pack('<IIIIqqQ', 0o644, 0, 0, 0, 0, 0, size) + cid
b += struct.pack('<HH', len(name), 0) + name
open(path, 'wb').write(b + hashlib.sha256(b).digest())
EOF2
}

@test "a source name whose size is not its content's is refused, though another name copied that content" {
	init_store
	dest
	"$CDT" init -q "$D"
	gen_bytes 8 100000 > a
	c add -q a
	# Two more names of the same content, each with a size it does not have.
	write_entry b "$(content_id a)" 100005
	write_entry c "$(content_id a)" 99
	run_split c push "$D"
	assert_status 1
	assert_err_contains "cannot read 'b': its entry says 100005 bytes, its manifest 100000"
	assert_err_contains "cannot read 'c': its entry says 99 bytes, its manifest 100000"
	assert_out_contains "copied 1 name (1 new content, "
	run_split "$CDT" --store "$D" fsck
	assert_status 0
	[ "$("$CDT" --store "$D" ls)" = a ]
}

@test "a push killed between its names and their tables is mended by a rerun with nothing to copy" {
	init_store
	dest
	"$CDT" init -q "$D"
	mkdir src
	echo one > src/a
	echo two > src/b
	c add -q -r src
	rc=0
	CDT_TEST_CRASH=info c push "$D" > push.out 2> push.err || rc=$?
	[ "$rc" = 137 ] || fail "push exited $rc: $(cat push.err)"
	# Every name is in place; the tables of info/ are not.
	run_split c push "$D"
	assert_status 0
	assert_out_contains "copied 0 names (0 new contents, 0 B read, 0 B stored new); 3 unchanged"
	run_split "$CDT" --store "$D" fsck
	assert_status 0
}

@test "push -n counts a content the destination holds without a chunk as one to copy, as the push does" {
	init_store
	dest
	"$CDT" init -q "$D"
	gen_bytes 9 100000 > a
	c add -q a
	# The destination holds the content under another name, a chunk lost.
	"$CDT" --store "$D" add -q --name other a
	rm "$(find "$D/objects" -type f | head -n 1)"
	run_split c push -n "$D"
	assert_status 0
	[ "$output" = "would copy 1 name (1 new content, 97.7 KiB to read); 0 unchanged" ] ||
		fail "dry run: $output"
	run_split c push "$D"
	assert_status 0
	assert_out_contains "copied 1 name (1 new content, 97.7 KiB read,"
	run_split "$CDT" --store "$D" fsck
	assert_status 0
}

@test "a copy of a store (cp -a) pushes and pulls like any other store; the store itself by another path is refused" {
	init_store
	echo one > a
	c add -q a
	cp -a "$S" "$T/copy"
	gen_bytes 5 200000 > b
	c add -q b
	run_split c push "$T/copy"
	assert_status 0
	assert_out_contains "copied 1 name (1 new content, 195.3 KiB read,"
	echo two > d
	"$CDT" --store "$T/copy" add -q d
	run_split c pull "$T/copy"
	assert_status 0
	assert_out_contains "copied 1 name (1 new content,"
	for s in "$S" "$T/copy"; do
		run_split "$CDT" --store "$s" fsck
		assert_status 0
	done
	"$CDT" --store "$T/copy" cat b > b.out
	cmp b b.out
	c cat d > d.out
	cmp d d.out
	# One directory under other names is one store.
	ln -s "$S" "$T/link"
	before=$(store_snapshot)
	for other in "$T/link" "$S/." "./store/."; do
		run_split c push "$other"
		assert_status 1
		assert_err_contains "are the same store"
		run_split c pull "$other"
		assert_status 1
		assert_err_contains "are the same store"
	done
	[ "$(store_snapshot)" = "$before" ]
}
