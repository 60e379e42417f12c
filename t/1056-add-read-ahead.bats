#!/usr/bin/env bats
# add -r reads small files ahead on a thread of its own (lib/ops/ahead.c):
# what it stores is what reading each file in turn stores, byte for byte
# even where that thread compressed the file's frames, and a file that
# changes after it was read ahead is stored as it was read, and not cached.

load test_helper

# The store's entries, without the time each was added.
entries() {
	"$CDT" --store "$1" ls --json src | sed 's/"added":[0-9]*,//'
}

@test "files read ahead are stored exactly as files read in turn" {
	mkdir -p src/d src/empty-dir
	: > src/empty
	echo small > src/d/small
	# Around the largest file read ahead (1 MiB), and past it.
	gen_bytes 1 1048575 > src/d/under
	gen_bytes 2 1048576 > src/d/limit
	gen_bytes 3 1048577 > src/d/over
	gen_bytes 4 3000000 > src/big
	cp src/d/under src/d/under-copy
	for i in $(seq 1 150); do gen_bytes $((10 + i % 40)) $((i * 997)) > "src/f$i"; done
	ln src/f7 src/f7-link
	ln -s f8 src/f8-symlink
	S=ahead init_store
	S=turn init_store
	# -j 1: one thread, nothing read ahead.
	"$CDT" --store ahead add -q -r src
	"$CDT" --store turn add -q -r -j 1 src
	[ "$(entries ahead | wc -l)" = 162 ] || fail "$(entries ahead | wc -l) entries"
	[ "$(entries ahead)" = "$(entries turn)" ] ||
		fail "$(diff <(entries ahead) <(entries turn))"
	"$CDT" --store ahead fsck > /dev/null
	for f in src/empty src/d/small src/d/under src/d/limit src/d/over src/big src/f1 src/f150; do
		"$CDT" --store ahead cat "$f" | cmp - "$f" || fail "$f"
	done
	# The same chunks, stored once: packs of the same size.
	[ "$(du -sb ahead/packs | cut -f1)" = "$(du -sb turn/packs | cut -f1)" ]
}

@test "frames the reader compressed ahead are stored byte for byte as the caller's own" {
	mkdir -p src/d
	for i in $(seq 1 120); do "$TEST_TOOL" gen-text $((i % 7)) $((i * 2711)) > "src/f$i"; done
	# Files of several frames, one past the largest file read ahead, copies, an empty one.
	"$TEST_TOOL" gen-text 40 700000 > src/d/frames
	"$TEST_TOOL" gen-text 41 1100000 > src/d/over
	cp src/f9 src/d/f9-copy
	: > src/d/empty
	S=ahead init_store
	S=turn init_store
	# Each file's frames compressed by the reader as soon as it is read.
	CDT_TEST_AHEAD_ENCODE=1 "$CDT" --store ahead add -q -r src
	"$CDT" --store turn add -q -r -j 1 src
	[ "$(entries ahead)" = "$(entries turn)" ] ||
		fail "$(diff <(entries ahead) <(entries turn))"
	# Packs are named by their bytes: the same names, the same packs.
	[ "$(ls ahead/packs)" = "$(ls turn/packs)" ] ||
		fail "$(diff <(ls ahead/packs) <(ls turn/packs))"
	"$CDT" --store ahead fsck > /dev/null
	for f in src/f1 src/f120 src/d/frames src/d/over src/d/empty; do
		"$CDT" --store ahead cat "$f" | cmp - "$f" || fail "$f"
	done
}

@test "a file changed after it was read ahead is stored as read, and read again next time" {
	init_store
	mkdir src
	gen_bytes 1 5000 > src/a
	cp src/a a.old
	for i in $(seq 1 20); do gen_bytes $((i + 1)) 3000 > "src/f$i"; done
	# Old enough for the files cache (a file changed in the last second is not cached).
	touch -d '2 hours ago' src/a src/f*
	CDT_TEST_PAUSE=ahead "$CDT" --store "$S" add -r --porcelain src > add.out 2> add.err &
	pid=$!
	wait_stopped $pid
	# src/a was read ahead: now it changes.
	gen_bytes 99 7000 > src/a
	touch -d '1 hour ago' src/a
	kill -CONT $pid
	rc=0
	wait $pid || rc=$?
	[ "$rc" = 0 ] || fail "add exited $rc: $(cat add.err)"
	grep -q "^warning: 'src/a' changed while it was read; stored what was read (5000 bytes)" add.err ||
		fail "$(cat add.err)"
	c cat src/a | cmp - a.old
	c fsck > /dev/null
	# The cache did not learn it: the next add reads it, and stores what it holds now.
	c add -q -r src
	c cat src/a | cmp - src/a
	c cat src/f3 | cmp - src/f3
}

@test "files read ahead leave descriptors to the rest under a low limit" {
	init_store
	mkdir src
	for i in $(seq 1 200); do echo "$i" > "src/f$i"; done
	# Each file read ahead is open until it is stored: 64 of them would
	# take every descriptor ulimit -n 64 leaves, and add could open no more.
	run_split bash -c 'ulimit -n 64 && exec "$0" --store "$1" add -q -r -j 2 src' "$CDT" "$S"
	assert_status 0
	[ -z "$err" ] || fail "stderr: $err"
	[ "$(c ls -t f | wc -l)" = 200 ]
}

@test "a file replaced after it was read ahead keeps the extended attributes of what was read" {
	init_store
	mkdir src
	gen_bytes 1 5000 > src/a
	cp src/a a.old
	python3 -c 'import os; os.setxattr("src/a", "user.tag", b"old")' 2> /dev/null ||
		skip_or_fail "this file system has no user extended attributes"
	for i in $(seq 1 20); do gen_bytes $((i + 1)) 3000 > "src/f$i"; done
	CDT_TEST_PAUSE=ahead "$CDT" --store "$S" add -q -r --xattrs -j 2 src > add.out 2> add.err &
	pid=$!
	wait_stopped $pid
	# src/a was read ahead: another file, with its own attributes, takes its name.
	gen_bytes 99 7000 > new
	python3 -c 'import os; os.setxattr("new", "user.tag", b"new")'
	mv new src/a
	kill -CONT $pid
	rc=0
	wait $pid || rc=$?
	[ "$rc" = 0 ] || fail "add exited $rc: $(cat add.err)"
	c cat src/a | cmp - a.old
	c restore -q --xattrs src/a out
	[ "$(python3 -c 'import os; print(os.getxattr("out/a", "user.tag").decode())')" = old ] ||
		fail "the content of one file with the attributes of another"
}
