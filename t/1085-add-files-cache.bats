#!/usr/bin/env bats
# The files cache: unchanged files are not read again; a cache that is
# stale, damaged or wrong about content that is gone costs a read, never a
# wrong name.

load test_helper
load lib-mount

# A tree is out of the racy window only two seconds after its files last
# changed (ctime, which no one can set, nor keep across a copy), so every
# test's tree is made here, before a single wait.
setup_file() {
	local i n
	n=$(grep -c '^@test' "$BATS_TEST_FILENAME")
	for i in $(seq 1 "$n"); do
		mkdir -p "$BATS_FILE_TMPDIR/tree-$i/src/d" "$BATS_FILE_TMPDIR/tree-$i/side"
		cd "$BATS_FILE_TMPDIR/tree-$i"
		gen_bytes 1 200000 > src/a
		gen_bytes 2 100000 > src/d/b
		echo small > src/c
		echo side > side/o	# a tree beside src
		touch -d '2 hours ago' src/a src/d/b src/c side/o
	done
	views
	sleep 2.1
}

# Two stores, A and B, each with a file f that has the same size, mtime
# and time of writing (the ctime of its file in a view) as the other's, and
# other bytes: seen through two views, the files differ only in st_dev.
views() {
	local d="$BATS_FILE_TMPDIR/views" i t0
	mkdir -p "$d"
	echo 'version 1.2.3' > "$d/fa"
	echo 'version 1.2.4' > "$d/fb"
	touch -d '2 hours ago' "$d/fa"
	touch -r "$d/fa" "$d/fb"
	# The two adds must write their names within one second: they start
	# at the top of one, and try again if a loaded machine made them miss
	# it (the test that uses them says so if they never made it).
	for i in $(seq 1 10); do
		rm -rf "$d/A" "$d/B"
		"$CDT" init -q "$d/A"
		"$CDT" init -q "$d/B"
		python3 -c 'import time; time.sleep(1 - time.time() % 1)'
		t0=$(date +%s)
		"$CDT" --store "$d/A" add -q --name f "$d/fa"
		"$CDT" --store "$d/B" add -q --name f "$d/fb"
		[ "$(date +%s)" = "$t0" ] && break
	done
	return 0
}

# src/ with files last modified two hours ago, and changed more than two
# seconds ago: this test's tree, made by setup_file. The test goes on in
# the tree's directory ($S stays in $T).
old_tree() {
	cd "$BATS_FILE_TMPDIR/tree-$BATS_TEST_NUMBER"
	[ -f src/c ] || fail "no tree for test $BATS_TEST_NUMBER"
}

unread() {
	sed -n 's/.*; \([0-9]*\) unchanged files\{0,1\} not read$/\1/p' "$1"
}

@test "a tree added again reads none of its unchanged files" {
	init_store
	old_tree
	c add -r --prefix g1 src > out1
	[ -z "$(unread out1)" ] || fail "first add skipped files: $(cat out1)"
	[ -f "$S/cache/files" ]
	c add -r --prefix g2 src > out2
	[ "$(unread out2)" = 3 ] || fail "$(cat out2)"
	for f in a d/b c; do
		c cat "g2/src/$f" > got
		cmp got "src/$f"
	done
	c fsck > /dev/null
	# --no-cache reads everything, and leaves the cache as it was.
	cp "$S/cache/files" cache.before
	c add -r --no-cache --prefix g3 src > out3
	[ -z "$(unread out3)" ] || fail "$(cat out3)"
	cmp cache.before "$S/cache/files"
}

@test "a file changed with its size and mtime put back is read again (its ctime moved)" {
	init_store
	old_tree
	c add -q -r --prefix g1 src
	cp src/c c.orig
	echo SMALL > src/c
	touch -r c.orig src/c
	[ "$(stat -c %s src/c)" = "$(stat -c %s c.orig)" ]
	sleep 2.1	# out of the racy window, so that the cache could be asked at all
	c add -r --prefix g2 src > out
	[ "$(unread out)" = 2 ] || fail "$(cat out)"
	[ "$(c cat g2/src/c)" = SMALL ]
	[ "$(c cat g1/src/c)" = small ]
}

@test "a file changed just before it was read is not cached (the racy window)" {
	init_store
	old_tree
	echo fresh > src/c
	touch -d '2 hours ago' src/c
	c add -q -r --prefix g1 src
	# Two entries in the cache (its count is the 8 bytes after the first 8): not src/c.
	[ "$(od -An -t u8 -j 8 -N 8 "$S/cache/files" | tr -d ' ')" = 2 ]
	# Changed a moment before add read it: a change in the same clock
	# tick after the read would not show, so it must not be cached.
	echo FRESH > src/c
	touch -d '2 hours ago' src/c
	c add -r --prefix g2 src > out
	[ "$(unread out)" = 2 ] || fail "$(cat out)"
	[ "$(c cat g2/src/c)" = FRESH ]
}

@test "a damaged cache is reported, ignored and written again" {
	init_store
	old_tree
	c add -q -r --prefix g1 src
	flip_byte "$S/cache/files" 40
	run_split c add -r --prefix g2 src
	assert_status 0
	assert_err_contains "ignoring the files cache"
	[ -z "$(unread "$T/.out" 2> /dev/null)" ]
	[[ "$out" != *"not read"* ]] || fail "$out"
	c cat g2/src/a | cmp - src/a
	# Written again: the next add reads nothing.
	c add -r --prefix g3 src > out
	[ "$(unread out)" = 3 ] || fail "$(cat out)"
	# A truncated or emptied cache, and one replaced by a directory, are the same.
	: > "$S/cache/files"
	run_split c add -r --prefix g4 src
	assert_status 0
	assert_err_contains "ignoring the files cache"
	rm -f "$S/cache/files"
	mkdir "$S/cache/files"
	run_split c add -r --prefix g5 src
	assert_status 0
	c cat g5/src/d/b | cmp - src/d/b
	c fsck > /dev/null
}

@test "a cache that names content no longer stored is not trusted: the file is read" {
	init_store
	old_tree
	c add -q -r --prefix g1 src
	c rm -q -r g1
	c gc > /dev/null
	[ -z "$(find "$S/manifests" -type f)" ]
	c add -r --prefix g2 src > out
	[ -z "$(unread out)" ] || fail "$(cat out)"
	for f in a d/b c; do
		c cat "g2/src/$f" | cmp - "src/$f"
	done
	c fsck > /dev/null
}

@test "the cache of one store is never used for another" {
	init_store
	old_tree
	c add -q -r --prefix g1 src
	"$CDT" init -q other
	"$CDT" --store other add -r --prefix g1 src > out
	[ -z "$(unread out)" ] || fail "$(cat out)"
	"$CDT" --store other cat g1/src/a | cmp - src/a
}

@test "a file changed between the walk and its turn is asked about as it is then (race)" {
	init_store
	old_tree
	c add -q -r --prefix g1 src
	# Stop add at its first question to the cache, after the walk saw
	# every file unchanged; change src/c keeping its size and mtime.
	CDT_TEST_PAUSE=files-cache "$CDT" --store "$S" add -r --prefix g2 src > add.out 2> add.err &
	pid=$!
	wait_stopped $pid
	cp src/c c.orig
	echo SMALL > src/c
	touch -r c.orig src/c
	kill -CONT $pid
	wait $pid
	[ "$(c cat g2/src/c)" = SMALL ] || fail "stored the cached content: $(c cat g2/src/c)"
	[ "$(c cat g1/src/c)" = small ]
	c fsck > /dev/null
}

@test "a cache hit whose manifest is there but a chunk is not is read again (a gc stopped half way)" {
	init_store
	old_tree
	c add -q -r --prefix g1 src
	# What a gc killed between removing a dead content's chunks and its
	# manifest leaves: the manifest, without its chunks. (Here the name is
	# kept too, so that the content must come back whole.)
	find "$S/objects" "$S/packs" -type f -name '*.pack' -delete
	find "$S/objects" "$S/packs" -type f \( -name '*.idx' -o -name '*.sketch' -o -name 'multi-pack-index' \) -delete
	find "$S/objects" -type f -delete
	c add -r --prefix g2 src > out
	[ -z "$(unread out)" ] || fail "the cache was trusted: $(cat out)"
	for f in a d/b c; do
		c cat "g2/src/$f" | cmp - "src/$f"
		c cat "g1/src/$f" | cmp - "src/$f"
	done
	c fsck > /dev/null
}

# Inode and entry bytes of every name entry file: a name rewritten gets a
# new inode (it is renamed into place).
entries() {
	(cd "$S/names" && find . -type f -printf '%i %p\n' | sort -k2)
}

@test "a tree added again under the same names keeps every entry that did not change" {
	init_store
	old_tree
	ln -s a src/link
	c add -q -r src
	entries > before
	c ls -l src > ls.before
	sleep 1.1	# a rewritten entry would say a later time of writing
	c add -r src > out
	[ "$(unread out)" = 3 ] || fail "$(cat out)"
	grep -q '^added src/c ' out || fail "no line for src/c: $(cat out)"
	entries > after
	diff before after || fail "entries were written again"
	c ls -l src > ls.after
	diff ls.before ls.after
	# What changed is written: a mode, a content, a link target.
	chmod 600 src/c
	gen_bytes 3 100000 > src/d/b
	ln -sfn d src/link
	sleep 2.1	# out of the racy window of the files cache
	c add -q -r src
	entries > after2
	for n in src/a src/d/"$(printf '\001')dir"; do
		grep -q " ./$n\$" after2
		[ "$(grep " ./$n\$" before)" = "$(grep " ./$n\$" after2)" ] || fail "$n was written again"
	done
	for n in src/c src/d/b src/link; do
		[ "$(grep " ./$n\$" before)" != "$(grep " ./$n\$" after2)" ] || fail "$n was not written"
	done
	c ls -l src/c | grep -q '^-rw-------'
	c cat src/d/b | cmp - src/d/b
	[ "$(c ls -l src/link | awk '{ print $NF }')" = d ] || c ls -l src/link
	c fsck > /dev/null
}

@test "an entry damaged on disk is written again by the next add, not kept" {
	init_store
	old_tree
	c add -q -r src
	python3 - "$S/names/src/c" <<'PY'
import sys
b = bytearray(open(sys.argv[1], 'rb').read())
b[30] ^= 0xff
open(sys.argv[1], 'wb').write(b)
PY
	run c fsck
	[ "$status" -ne 0 ] || fail "fsck missed the damage"
	c add -q -r src
	c fsck > /dev/null
	[ "$(c cat src/c)" = small ]
	# --no-replace fails on an existing name even when it is the same.
	run_split c add --no-replace --name src/c src/c
	assert_status 1
	assert_err_contains "already exists"
}

@test "a file with two links the cache knows is stored again as a name and a link to it" {
	init_store
	old_tree
	ln src/a src/e
	sleep 2.1	# the new link moved the ctime of src/a: out of the racy window again
	c add -q -r src
	c ls -l src/e > ls.before
	grep -q ' src/e => src/a$' ls.before || fail "not a link: $(cat ls.before)"
	entries > before
	c add -q -r src
	c add -r src > out
	[ "$(unread out)" = 4 ] || fail "$(cat out)"
	c ls -l src/e > ls.after
	diff ls.before ls.after || fail "the link was stored as a file of its own"
	entries > after
	diff before after || fail "entries were written again"
	c cat src/e | cmp - src/a
	c fsck > /dev/null
}

# The count of entries in the cache (the 8 bytes after the first 8).
cache_count() {
	od -An -t u8 -j 8 -N 8 "$S/cache/files" | tr -d ' '
}

@test "adds that store nothing age no entry of the cache" {
	init_store
	old_tree
	c add -q -r --prefix g1 src
	# Each walks src without src/c and fails to store anything: not one
	# counts as an add that did not see src/c.
	for i in $(seq 1 17); do
		run_split env CDT_TEST_FAIL=name-records "$CDT" --store "$S" add -r --exclude c --prefix x src
		assert_status 1
	done
	[ "$(cache_count)" = 3 ]
	c add -r --prefix g2 src > out
	[ "$(unread out)" = 3 ] || fail "$(cat out)"
}

@test "adds of other paths age no entry of a tree they did not walk" {
	init_store
	old_tree
	c add -q -r --prefix g1 src
	# Other trees, part of this one, and single files of it, again and again.
	for i in $(seq 1 6); do
		c add -q -r --prefix "o$i" side
		c add -q -r --prefix "d$i" src/d
		c add -q --prefix "f$i" src/c
	done
	c add -r --prefix g2 src > out
	[ "$(unread out)" = 3 ] || fail "$(cat out)"
	# What a walk of its tree no longer finds still ages, and goes.
	rm src/c
	for i in $(seq 1 15); do
		c add -q -r --prefix "g$i" src
	done
	[ "$(cache_count)" = 4 ]	# side/o is cached too
	c add -q -r --prefix h src
	[ "$(cache_count)" = 3 ]	# src/a, src/d/b and side/o
}

@test "a file on another device at the same path, with the same size, times and inode, is read" {
	need_fuse
	init_store
	local d="$BATS_FILE_TMPDIR/views"
	mkdir va vb
	"$CDT" --store "$d/A" mount va
	"$CDT" --store "$d/B" mount vb
	stat -c '%s %Y %Z %i' va/f > sa
	stat -c '%s %Y %Z %i' vb/f > sb
	diff sa sb || fail "the two views' files differ in more than their device"
	[ "$(stat -c %d va/f)" != "$(stat -c %d vb/f)" ]
	# m is the one view, then the other (a disk swapped, a snapshot mounted).
	ln -s va m
	c add -q -r --prefix g1 m
	ln -sfn vb m
	c add -q -r --prefix g2 m
	c cat g2/m/f > got
	cmp got vb/f || fail "stored '$(cat got)' for a file that reads '$(cat vb/f)'"
}

@test "a cache written by an older cdt is dropped without a word" {
	init_store
	old_tree
	mkdir -p "$S/cache"
	python3 - "$S/cache/files" <<'PY'
import hashlib, struct, sys
b = b'CDTF' + bytes([1, 0, 0, 0]) + struct.pack('<Q', 0)
open(sys.argv[1], 'wb').write(b + hashlib.sha256(b).digest())
PY
	run_split c add -q -r --prefix g1 src
	assert_status 0
	[ -z "$err" ] || fail "$err"
	c add -r --prefix g2 src > out
	[ "$(unread out)" = 3 ] || fail "$(cat out)"
}

@test "two adds of two trees at the same time keep each other's entries of the cache" {
	init_store
	old_tree
	# The first loads the (empty) cache and stops; the second adds its
	# tree whole and writes the cache back; then the first writes it back.
	CDT_TEST_PAUSE=files-cache "$CDT" --store "$S" add -q -r --prefix g1 src &
	pid=$!
	wait_stopped $pid
	c add -q -r --prefix g2 side
	kill -CONT $pid
	wait $pid
	[ "$(cache_count)" = 4 ] || fail "$(cache_count) entries"
	c add -r --prefix h src side > out
	[ "$(unread out)" = 4 ] || fail "$(cat out)"
}

@test "a FIFO in place of the cache is not waited on: add reads every file and writes the cache" {
	init_store
	old_tree
	mkdir -p "$S/cache"
	mkfifo "$S/cache/files"
	run_split timeout 5 "$CDT" --store "$S" add -q -r --prefix g1 src
	assert_status 0
	[ "$err" = "warning: ignoring the files cache '$S/cache/files': data is corrupt; every file is read" ] ||
		fail "$err"
	[ -f "$S/cache/files" ] || fail "the FIFO is still there"
	c add -r --prefix g2 src > out
	[ "$(unread out)" = 3 ] || fail "$(cat out)"
}

@test "a directory in place of the cache, or a file or symbolic link in place of cache/, does not stop it for good" {
	local kind
	old_tree
	mkdir -p "$T/elsewhere/files"
	for kind in dir file symlink; do
		rm -rf "$S"
		init_store
		case $kind in
		dir) mkdir -p "$S/cache/files/sub" ;;
		file) echo not a directory > "$S/cache" ;;
		symlink) ln -s "$T/elsewhere" "$S/cache" ;;
		esac
		run_split c add -q -r --prefix g1 src
		assert_status 0
		run_split c add -r --prefix g2 src
		assert_status 0
		[ -z "$err" ] || fail "$kind: $err"
		[ "$(unread "$T/.out")" = 3 ] || fail "$kind: $output"
	done
	[ -d "$T/elsewhere/files" ] || fail "the symbolic link was followed"
}
