#!/usr/bin/env bats
# restore: a stored tree written back as cp -a would have copied it, never
# outside its directory, resumable, and loud about what it cannot restore.

load test_helper

compare() {
	python3 "$BATS_TEST_DIRNAME/lib/compare-trees.py" "$@"
}

need_root() {
	[ "$(id -u)" = 0 ] || skip_or_fail "setting owners and set-id bits needs root"
}

# A tree with every kind of entry, under $T/src.
make_tree() {
	mkdir -p src/d/deeper/empty src/empty src/sticky src/ro
	gen_bytes 1 3000000 > src/big
	gen_bytes 2 70000 > src/d/mid
	: > src/zero-length
	echo small > src/d/deeper/small
	printf 'x' > "src/$(printf 'ctl\001\ttab')"
	printf 'y' > "src/$(printf 'latin1-\xe9')"
	mkdir "src/$(printf 'dir-\xff')"
	echo inside > "src/$(printf 'dir-\xff')/f"
	echo 'back\slash' > 'src/back\slash'
	ln -s big src/rel-link
	ln -s /etc/hostname src/abs-link
	ln -s nowhere/at/all src/dangling
	ln -s ../big src/d/up-link
	ln src/d/mid src/hard1
	ln src/d/mid src/d/deeper/hard2
	echo ro > src/ro/f
	chmod 0555 src/ro
	chmod 1777 src/sticky
	chmod 0640 src/d/mid
	chmod 0600 src/zero-length
	chmod 0700 src/d/deeper
	# Nanoseconds, and a time before 1970.
	touch -h -d '2001-02-03 04:05:06.123456789' src/rel-link
	touch -d '2001-02-03 04:05:06.987654321' src/big
	touch -d '1969-07-20 20:17:40.5' src/zero-length
	touch -d '2010-01-01 00:00:00.000000001' src/empty src/d/deeper
}

# As root: restore src into dest/out as the user nobody (as run_split
# does), the store and dest/ open to it. $1: "again" for a second run.
restore_as_nobody() {
	if [ "${1:-}" != again ]; then
		chmod 0755 "$T"
		chmod -R a+rwX "$S"
		mkdir dest
		chown nobody dest
	fi
	run_split setpriv --reuid=nobody --regid=nogroup --clear-groups \
		"$CDT" --store "$S" restore -q src dest/out
}

# As root: other owners, set-id bits.
make_owned() {
	chown 1234:5678 src/big src/d
	chown -h 4321:8765 src/rel-link
	chmod 4755 src/d/deeper/small
	chmod 2755 src/d
	touch -d '2011-01-01 00:00:00.5' src/d
}

@test "a tree with every kind of entry is restored as it was" {
	init_store
	make_tree
	[ "$(id -u)" != 0 ] || make_owned
	touch -d '2012-12-12 12:12:12.121212121' src
	c add -q -r src
	run_split c restore src out
	assert_status 0
	assert_out_contains "restored 2"
	run_split compare src out
	[ "$status" = 0 ] || fail "trees differ: $output"
	# No temporary file is left anywhere.
	[ -z "$(find out -name '.cdt-restore*')" ]
}

@test "restore as root sets owners and set-id bits; --no-owner does not" {
	need_root
	init_store
	make_tree
	make_owned
	c add -q -r src
	c restore -q src out
	[ "$(stat -c %u:%g out/big)" = 1234:5678 ]
	[ "$(stat -c %u:%g out/rel-link)" = 4321:8765 ]
	[ "$(stat -c %a out/d/deeper/small)" = 4755 ]
	[ "$(stat -c %a out/d)" = 2755 ]
	c restore -q --no-owner src out2
	[ "$(stat -c %u:%g out2/big)" = 0:0 ]
	[ "$(stat -c %a out2/d/deeper/small)" = 755 ]
	[ "$(stat -c %a out2/d)" = 755 ]
	run_split compare --no-owner --no-setid src out2
	[ "$status" = 0 ] || fail "trees differ: $output"
}

@test "a user other than root gets the modes without set-id bits and owns the files" {
	need_root
	init_store
	make_tree
	make_owned
	c add -q -r src
	restore_as_nobody
	assert_status 0
	[ "$(stat -c %U dest/out/big)" = nobody ]
	[ "$(stat -c %a dest/out/d/deeper/small)" = 755 ]
	[ "$(stat -c %a dest/out/sticky)" = 1777 ]
	run_split compare --no-owner --no-setid src dest/out
	[ "$status" = 0 ] || fail "trees differ: $output"
}

@test "restore again by a user other than root replaces files in a DIR whose stored mode is read-only" {
	need_root
	init_store
	mkdir -p src/sub
	echo a > src/a
	echo b > src/sub/b
	chmod 0555 src/sub src
	c add -q -r src
	restore_as_nobody
	assert_status 0
	chmod u+w dest/out dest/out/sub
	echo changed > dest/out/a
	echo changed > dest/out/sub/b
	chmod 0555 dest/out dest/out/sub
	restore_as_nobody again
	assert_status 0
	[ "$(cat dest/out/a)" = a ]
	[ "$(cat dest/out/sub/b)" = b ]
	[ "$(stat -c %a dest/out)" = 555 ]
	[ "$(stat -c %a dest/out/sub)" = 555 ]
}

@test "--xattrs sets stored user extended attributes; without it they are not set" {
	init_store
	mkdir src
	echo a > src/f
	mkdir src/d
	python3 -c 'import os, sys; os.setxattr(sys.argv[1], "user.probe", b"1")' src/f 2> /dev/null ||
		skip_or_fail "this file system refuses user.* extended attributes"
	python3 -c 'import os; os.setxattr("src/f", "user.a", b"value\0with nul"); os.setxattr("src/d", "user.b", b"dir")'
	c add -q -r --xattrs src
	c restore -q --xattrs src out
	run_split compare --xattrs src out
	[ "$status" = 0 ] || fail "trees differ: $output"
	c restore -q src plain
	run_split compare --xattrs src plain
	assert_status 1
	assert_out_contains "f: xattrs"
}

@test "--xattrs stores those of what a symbolic link given as a PATH leads to" {
	init_store
	mkdir src
	echo a > src/f
	python3 -c 'import os; os.setxattr("src/f", "user.a", b"1"); os.setxattr("src", "user.b", b"2")' 2> /dev/null ||
		skip_or_fail "this file system refuses user.* extended attributes"
	ln -s src/f lf
	ln -s src ld
	# Followed, as their content and metadata are.
	c add -q --xattrs lf
	c add -q -r --xattrs ld
	c restore -q --xattrs lf out1
	c restore -q --xattrs ld out2
	[ "$(python3 -c 'import os; print(os.getxattr("out1/lf", "user.a"))')" = "b'1'" ]
	[ "$(python3 -c 'import os; print(os.getxattr("out2", "user.b"), os.getxattr("out2/f", "user.a"))')" = "b'2' b'1'" ]
}

@test "a single file or link as PREFIX is written as DIR/its name" {
	init_store
	mkdir src
	echo one > src/f
	ln -s f src/l
	c add -q -r src
	c restore -q src/f out
	[ "$(cat out/f)" = one ]
	[ "$(ls -A out)" = f ]
	c restore -q src/l/ out
	[ "$(readlink out/l)" = f ]
}

@test "a missing prefix is an error and makes nothing" {
	init_store
	echo a > a
	c add -q a
	run_split c restore nosuch out
	assert_status 1
	assert_one_line_err
	assert_err_contains "no stored name is 'nosuch' or under it"
	[ ! -e out ]
	run_split c restore a missing-parent/out
	assert_status 1
	assert_err_contains "cannot make directory 'missing-parent/out'"
	run_split c restore '../x' out
	assert_status 2
	assert_err_contains "bad prefix"
	run_split c restore a
	assert_status 2
}

@test "a damaged chunk fails that file loudly and the rest is restored" {
	init_store
	mkdir src
	gen_bytes 8 300000 > src/f
	echo intact > src/g
	c add -q -r src
	off=$("$TEST_TOOL" chunk fastcdc 32768 src/f | sed -n 2p | cut -d' ' -f1)
	len=$("$TEST_TOOL" chunk fastcdc 32768 src/f | sed -n 2p | cut -d' ' -f2)
	id=$(tail -c +$((off + 1)) src/f | head -c "$len" | sha256sum | cut -c1-64)
	obj="$S/objects/${id:0:2}/${id:2}"
	[ -f "$obj" ]
	flip_byte "$obj" 100
	run_split c restore -q src out
	assert_status 1
	assert_one_line_err
	assert_err_contains "cannot read 'src/f' at offset $off: chunk $id ($len bytes)"
	[ ! -e out/f ]
	[ "$(cat out/g)" = intact ]
	[ -z "$(find out -name '.cdt-restore*')" ]
}

@test "restore again keeps identical files, replaces changed ones, and fixes metadata" {
	init_store
	mkdir src
	gen_bytes 3 200000 > src/same
	gen_bytes 4 200000 > src/changed
	echo meta > src/meta
	ln -s same src/link
	c add -q -r src
	c restore -q src out
	ino_same=$(stat -c %i out/same)
	ino_changed=$(stat -c %i out/changed)
	# Same size, other bytes; a different mode and time; another link target.
	gen_bytes 5 200000 > out/changed
	chmod 600 out/meta
	touch -d 2001-01-01 out/meta
	ln -sfn elsewhere out/link
	run_split c restore -v src out
	assert_status 0
	grep -qx "skip    src/same" "$T/.out" || fail "same not skipped: $output"
	grep -qx "replace src/changed" "$T/.out" || fail "changed not replaced: $output"
	grep -qx "skip    src/meta" "$T/.out" || fail "meta not skipped: $output"
	grep -qx "symlink src/link" "$T/.out" || fail "link not made again: $output"
	[ "$(stat -c %i out/same)" = "$ino_same" ]
	[ "$(stat -c %i out/changed)" != "$ino_changed" ]
	run_split compare src out
	[ "$status" = 0 ] || fail "trees differ: $output"
}

@test "a file with another link is replaced, not changed through the link" {
	init_store
	mkdir src
	echo secret > src/f
	chmod 644 src/f
	c add -q -r src
	mkdir out
	echo secret > outside
	chmod 600 outside
	ln outside out/f
	c restore -q src out
	[ "$(stat -c %a outside)" = 600 ]
	[ "$(stat -c %h outside)" = 1 ]
	[ "$(stat -c %a out/f)" = 644 ]
}

@test "a link with another hard link is made anew, its owner and time not changed through it" {
	init_store
	mkdir src
	ln -s target src/l
	touch -h -d '2001-02-03 04:05:06' src/l
	c add -q -r src
	mkdir out
	ln -s target outside
	touch -h -d '2020-01-01 00:00:00' outside
	ln outside out/l
	run_split c restore -v src out
	assert_status 0
	grep -qx "symlink src/l" "$T/.out" || fail "link not made anew: $output"
	[ "$(stat -c %h outside)" = 1 ]
	[ "$(stat -c %Y outside)" = "$(date -d '2020-01-01 00:00:00' +%s)" ]
	[ "$(stat -c %Y out/l)" = "$(date -d '2001-02-03 04:05:06' +%s)" ]
}

@test "a hard link the file system refuses is written as a copy, with a warning naming both names" {
	command -v strace > /dev/null || skip_or_fail "strace is not installed"
	init_store
	mkdir src
	echo f > src/f
	ln src/f src/m
	c add -q -r src
	run_split traced -f -o /dev/null -e trace=linkat -e inject=linkat:error=EMLINK \
		"$CDT" --store "$S" restore -q src out
	assert_status 0
	assert_one_line_err
	assert_err_contains "warning: cannot link 'out/m' to 'out/f': Too many links; written as a copy"
	[ "$(cat out/m)" = f ]
	[ "$(stat -c %h out/f)" = 1 ]
}

@test "a restore killed midway is finished by running it again" {
	init_store
	mkdir -p src/a src/b src/c
	for i in 1 2 3 4 5 6; do
		gen_bytes $i 100000 > "src/a/f$i"
		gen_bytes $((i + 10)) 100000 > "src/c/f$i"
	done
	chmod 555 src/b
	c add -q -r src
	CDT_TEST_PAUSE=restore-dir "$CDT" --store "$S" restore -q src out > r.out 2> r.err &
	pid=$!
	wait_stopped $pid
	kill -KILL $pid
	wait $pid || true
	[ -d out/a ]
	[ ! -e out/c ]
	run_split c restore -q src out
	assert_status 0
	run_split compare src out
	[ "$status" = 0 ] || fail "trees differ: $output"
	[ -z "$(find out -name '.cdt-restore*')" ]
}

@test "a file's bytes are never readable by others before its stored mode is set" {
	init_store
	mkdir src
	echo secret > src/key
	chmod 0600 src/key
	c add -q -r src
	umask 022
	# Paused once the bytes are written, before the mode is set: restore,
	# then cat -o.
	CDT_TEST_PAUSE=restore-written "$CDT" --store "$S" restore -q src out &
	pid=$!
	wait_stopped $pid
	tmp=$(find out -name '.cdt-restore-*')
	[ -n "$tmp" ] || { kill -KILL $pid; fail "no temporary file in out/"; }
	mode=$(stat -c %a "$tmp")
	kill -CONT $pid
	wait $pid
	[ "$mode" = 600 ] || fail "temporary file was mode $mode"
	cmp src/key out/key
	[ "$(stat -c %a out/key)" = 600 ]
	CDT_TEST_PAUSE=restore-written "$CDT" --store "$S" cat -o key.out src/key &
	pid=$!
	wait_stopped $pid
	tmp=$(find . -maxdepth 1 -name '.key.out.cdt-*')
	[ -n "$tmp" ] || { kill -KILL $pid; fail "no temporary file for cat -o"; }
	mode=$(stat -c %a "$tmp")
	kill -CONT $pid
	wait $pid
	[ "$mode" = 600 ] || fail "temporary file of cat -o was mode $mode"
	cmp src/key key.out
}

@test "temporary files a killed restore left are removed by the next one, not another's" {
	init_store
	mkdir -p src/a
	echo one > src/a/f
	echo two > src/g
	c add -q -r src
	c restore -q src out
	# What a restore killed while writing leaves: its temporary files, in
	# DIR and below, named with its (now dead) pid; and one of a restore
	# still at work (a live pid: this shell's).
	dead=$(sh -c 'echo $$')
	printf 'x' > "out/.cdt-restore-$dead-0123456789abcdef"
	printf 'x' > "out/a/.cdt-restore-$dead-fedcba9876543210"
	ln -s g "out/a/.cdt-restore-$dead-00000000000000aa"
	printf 'x' > "out/a/.cdt-restore-$$-0000000000000001"
	printf 'x' > "out/a/.cdt-restore-notapid"
	run_split c restore -q src out
	assert_status 0
	[ "$(find out -name '.cdt-restore*' | sort | tr '\n' ' ')" = "out/a/.cdt-restore-$$-0000000000000001 out/a/.cdt-restore-notapid " ] ||
		fail "left: $(find out -name '.cdt-restore*')"
	# A dry run removes nothing.
	printf 'x' > "out/.cdt-restore-$dead-0123456789abcdef"
	c restore -q -n src out > /dev/null
	[ -e "out/.cdt-restore-$dead-0123456789abcdef" ]
}

@test "temporary files of a killed restore whose pid a later restore has again are removed" {
	need_root
	unshare --fork --pid --mount-proc true 2> /dev/null ||
		skip_or_fail "cannot make a pid namespace here"
	init_store
	mkdir src
	echo f > src/f
	c add -q -r src
	c restore -q src out
	# In a container the restore is often the first process, pid 1, each
	# time: what a killed one left is still not that of the one running.
	printf 'x' > out/.cdt-restore-1-0123456789abcdef
	sleep 0.6
	run_split unshare --fork --pid --mount-proc "$CDT" --store "$S" restore -q src out
	assert_status 0
	[ -z "$(find out -name '.cdt-restore*')" ] || fail "left: $(find out -name '.cdt-restore*')"
}

@test "a directory where a file goes, or a file where a directory goes, fails only that name" {
	init_store
	mkdir -p src/d
	echo f > src/f
	echo g > src/d/g
	echo h > src/h
	c add -q -r src
	mkdir -p out/f
	echo in-the-way > out/d
	run_split c restore -q src out
	assert_status 1
	assert_err_contains "cannot restore 'src/f': 'out/f' is a directory"
	assert_err_contains "cannot restore 'src/d' nor the names under it: 'out/d' exists and is not a directory"
	[ "$(cat out/h)" = h ]
	[ "$(cat out/d)" = in-the-way ]
}

@test "a dry run shows what it would do and changes nothing" {
	init_store
	mkdir -p src/d
	echo f > src/f
	echo g > src/d/g
	echo k > src/k
	ln -s f src/l
	ln src/f src/m
	c add -q -r src
	mkdir out
	echo f > out/f
	touch -r src/f out/f
	echo other > out/k
	snap() {
		find out -printf '%p %y %i %m %T@ %s %l\n' | sort
	}
	snap > before
	run_split c restore -n src out
	assert_status 0
	printf '%s\n' "mkdir   src/d" "write   src/d/g" "skip    src/f" "replace src/k" \
		"symlink src/l" "link    src/m" > want
	diff -u want "$T/.out"
	snap > after
	diff -u before after
	run_split c restore -n src new
	assert_status 0
	[ ! -e new ]
	grep -qx "mkdir   src" "$T/.out" || fail "no mkdir of DIR: $output"
	grep -qx "write   src/f" "$T/.out" || fail "no write: $output"
}

@test "a dry run shows the hard links a second restore keeps" {
	init_store
	mkdir src
	echo f > src/f
	ln src/f src/m
	echo k > src/k
	c add -q -r src
	c restore -q src out
	# f's other link is m, of its group: both are kept.
	run_split c restore -n src out
	assert_status 0
	sort "$T/.out" > dry
	run_split c restore -v src out
	assert_status 0
	grep -v '^restored ' "$T/.out" | sort > done
	printf '%s\n' "skip    src/f" "skip    src/k" "skip    src/m" > want
	diff -u want done
	diff -u done dry
}

@test "names under a stored link never go through it" {
	init_store
	mkdir -p src outside
	# A link named a\b, stored as src/a\\b; then a crafted version 1 entry
	# whose literal name src/a\b/x means the same raw path under the link.
	ln -s "$T/outside" 'src/a\b'
	echo x > src/x
	c add -q -r src
	python3 - "$S/names" <<-'EOF'
	import hashlib, os, struct, sys
	names = sys.argv[1]
	entry = open(os.path.join(names, "src", "x"), "rb").read()
	assert entry[4] == 1
	name = b"src/a\\b/x"
	fixed = entry[:80] + struct.pack("<H", len(name)) + b"\0\0"
	body = fixed + name
	os.makedirs(os.path.join(names, "src", "a\\b"))
	with open(os.path.join(names, "src", "a\\b", "x"), "wb") as f:
	    f.write(body + hashlib.sha256(body).digest())
	EOF
	run_split c ls src
	assert_status 0
	run_split c restore -q src out
	assert_status 1
	assert_one_line_err
	assert_err_contains "cannot restore 'src/a\\\\b' nor the names under it: 'out/a\\\\b' exists and is not a directory"
	[ "$(readlink 'out/a\b')" = "$T/outside" ]
	[ -z "$(ls -A outside)" ]
	[ "$(cat out/x)" = x ]
}

@test "a link in DIR where a stored directory goes is not followed" {
	init_store
	mkdir -p src/d outside
	echo secret > src/d/f
	c add -q -r src
	mkdir out
	ln -s "$T/outside" out/d
	run_split c restore -q src out
	assert_status 1
	assert_err_contains "cannot restore 'src/d' nor the names under it: 'out/d' exists and is not a directory"
	[ -z "$(ls -A outside)" ]
}

@test "a directory swapped for a link during restore does not redirect writes" {
	init_store
	mkdir -p src/d outside
	for i in 1 2 3; do echo "$i" > "src/d/f$i"; done
	c add -q -r src
	CDT_TEST_PAUSE=restore-dir "$CDT" --store "$S" restore -q src out > r.out 2> r.err &
	pid=$!
	wait_stopped $pid
	[ -d out/d ]
	mv out/d out/moved
	ln -s "$T/outside" out/d
	kill -CONT $pid
	rc=0
	wait $pid || rc=$?
	[ "$rc" = 1 ] || fail "restore exited $rc: $(cat r.err)"
	grep -q "cannot set the metadata of 'out/d': it was replaced or removed while restoring" r.err ||
		fail "unexpected message: $(cat r.err)"
	[ -z "$(ls -A outside)" ]
	[ "$(cat out/moved/f2)" = 2 ]
}

@test "a directory swapped during restore is reported once, not again for each directory under it" {
	init_store
	mkdir -p src/d/x/y/z src/d/w src/e outside
	echo 1 > src/d/x/y/z/f
	echo 2 > src/d/w/g
	echo 3 > src/e/h
	c add -q -r src
	CDT_TEST_PAUSE=restore-dir "$CDT" --store "$S" restore -q src out > r.out 2> r.err &
	pid=$!
	wait_stopped $pid
	mv out/d out/moved
	ln -s "$T/outside" out/d
	kill -CONT $pid
	rc=0
	wait $pid || rc=$?
	[ "$rc" = 1 ] || fail "restore exited $rc: $(cat r.err)"
	echo "error: cannot set the metadata of 'out/d' nor of the 4 directories under it: it was replaced or removed while restoring" > want
	diff -u want r.err
	[ -z "$(ls -A outside)" ]
	[ "$(cat out/e/h)" = 3 ]
}

@test "restore -v lists each name once with what was done" {
	init_store
	mkdir -p src/d
	echo f > src/f
	echo g > src/d/g
	ln -s f src/l
	c add -q -r src
	run_split c restore -v src out
	assert_status 0
	grep -v '^restored ' "$T/.out" | sort > got
	printf '%s\n' "mkdir   src" "mkdir   src/d" "symlink src/l" "write   src/d/g" "write   src/f" |
		sort > want
	diff -u want got
}

@test "restore -n into a new DIR shows what restore -v then does, for a tree or one file" {
	init_store
	mkdir -p src/d
	echo f > src/f
	echo g > src/d/g
	c add -q -r src
	for prefix in src src/d/g; do
		rm -rf out
		run_split c restore -n "$prefix" out
		assert_status 0
		sort "$T/.out" > dry
		run_split c restore -v "$prefix" out
		assert_status 0
		grep -v '^restored ' "$T/.out" | sort > done
		diff -u done dry
	done
	[ "$(cat dry)" = "write   src/d/g" ]
}

@test "big files (read ahead by every thread) and small ones restore together" {
	init_store
	mkdir -p src/d
	gen_bytes 20 34000000 > src/big
	ln src/big src/d/big-link
	for i in 1 2 3 4 5; do gen_bytes $((i + 20)) 5000 > "src/d/small$i"; done
	c add -q -r src
	run_split c restore -j 2 src out
	assert_status 0
	run_split compare src out
	[ "$status" = 0 ] || fail "trees differ: $output"
}

@test "a stored tree that held a store is not written into the store restoring it" {
	# The tree of another machine, its own store (.cdt) included.
	mkdir -p home
	"$CDT" init -q home/.cdt
	echo a > home/a
	"$CDT" --store home/.cdt add -q home/a
	init_store
	c add -q -r --prefix h home
	# Restored where this store is DIR/.cdt: its files must stay its own.
	mkdir -p dir
	cp -a "$S" dir/.cdt
	cp -a "$S" before
	run_split "$CDT" --store dir/.cdt restore -q h/home dir
	assert_status 1
	assert_err_contains "cannot restore 'h/home/.cdt' nor the names under it: 'dir/.cdt' is the store"
	diff -r before dir/.cdt
	cmp home/a dir/a
	run_split "$CDT" --store dir/.cdt fsck
	assert_status 0
	# Nor into the store itself, or anywhere under it.
	for d in dir/.cdt dir/.cdt/names/new; do
		run_split "$CDT" --store dir/.cdt restore -q h/home "$d"
		assert_status 1
		assert_err_contains "cannot restore into '$d': it is in the store 'dir/.cdt'"
	done
	[ ! -e dir/.cdt/names/new ]
	diff -r before dir/.cdt
}

@test "a prefix whose only names are damaged entries is an error, not a crash" {
	init_store
	echo a > a
	c add -q a
	# A damaged entry, and a link where an entry goes.
	printf 'not an entry' > "$S/names/bad"
	ln -s "$S/names/a" "$S/names/link"
	for p in bad link; do
		run_split c restore "$p" "out-$p"
		assert_status 1
		assert_err_contains "cannot restore '$p': "
		assert_out_contains "restored 0 of 1 names into out-$p: "
		[ ! -e "out-$p" ]
	done
}

@test "a tree deeper than the limit of open files is restored whole" {
	init_store
	# 300 levels, files at several depths, restored with 64 descriptors.
	deep=d
	for ((i = 1; i < 300; i++)); do deep=$deep/d; done
	mkdir -p "src/$deep" src/side
	echo bottom > "src/$deep/bottom"
	echo middle > "src/${deep:0:299}/middle"
	echo side > src/side/f
	c add -q -r src
	run_split bash -c 'ulimit -n 64 && exec "$0" --store "$1" restore -q src out' "$CDT" "$S"
	assert_status 0
	diff -r src out
	[ "$(stat -c %Y "out/${deep:0:299}")" = "$(stat -c %Y "src/${deep:0:299}")" ]
}

@test "a directory left open for a file still written when the walk went deeper is closed after" {
	init_store
	# src/a/A is still being written by the one worker when the walk is
	# 33 levels below a/; the link to it then waits until it is written,
	# and a/ must be closed when the walk goes one level deeper after that.
	deep=d
	for ((i = 1; i < 36; i++)); do deep=$deep/d; done
	mkdir -p "src/a/$deep/i"
	gen_bytes 1 8000000 > src/a/A
	ln src/a/A "src/a/$deep/h"
	echo x > src/a/d/x
	c add -q -r src
	# Stopped when the walk comes back to a/d/, to reopen it.
	CDT_TEST_PAUSE=restore-unpark "$CDT" --store "$S" restore -q -j 1 src out 2> err &
	pid=$!
	wait_stopped $pid
	n=0
	for fd in /proc/$pid/fd/*; do
		[ "$(readlink "$fd")" != "$T/out/a" ] || n=$((n + 1))
	done
	kill -CONT $pid
	wait $pid || fail "restore failed: $(cat err)"
	[ $n = 0 ] || fail "out/a still open"
	diff -r src out
}

# src/a with a chain of 40 directories, then a file written into src/a
# again after it; restore stopped when it comes back to a/ to open it
# again (in $pid).
restore_stopped_at_unpark() {
	init_store
	deep=d
	for ((i = 1; i < 40; i++)); do deep=$deep/d; done
	mkdir -p "src/a/$deep"
	echo bottom > "src/a/$deep/bottom"
	echo late > src/a/z
	c add -q -r src
	CDT_TEST_PAUSE=restore-unpark "$CDT" --store "$S" restore -q src out 2> err &
	pid=$!
	wait_stopped $pid
}

@test "a directory closed while deeper ones are written and swapped meanwhile gets nothing more" {
	restore_stopped_at_unpark
	mv out/a out/old
	mkdir out/a
	kill -CONT $pid
	rc=0
	wait $pid || rc=$?
	[ "$rc" = 1 ] || fail "restore exited $rc: $(cat err)"
	grep -q "^error: cannot restore the names under 'src/a': directory 'out/a' was replaced while restoring" err ||
		fail "$(cat err)"
	# Once: not again for each of the 40 directories made under it.
	[ "$(wc -l < err)" = 1 ] || fail "$(cat err)"
	[ -z "$(ls out/a)" ] || fail "written into the new out/a: $(ls out/a)"
	[ "$(cat "out/old/$deep/bottom")" = bottom ]
}

@test "a directory that cannot be opened again says why, not that it was replaced" {
	command -v prlimit > /dev/null || skip_or_fail "prlimit is not installed"
	restore_stopped_at_unpark
	# No descriptor to open a/ with again.
	prlimit --pid $pid --nofile=3
	kill -CONT $pid
	rc=0
	wait $pid || rc=$?
	[ "$rc" = 1 ] || fail "restore exited $rc: $(cat err)"
	grep -q "^error: cannot restore the names under 'src/a': cannot open directory 'out/a': Too many open files$" err ||
		fail "$(cat err)"
	! grep -q replaced err || fail "$(cat err)"
}

# Run cdt on the store with only stdin, stdout and stderr open (whatever
# the test runner leaves open), under a limit of $1 open files.
c_limited() {
	local limit=$1
	shift
	run_split bash -c 'for fd in /proc/$$/fd/*; do
			fd=${fd##*/}
			[ "$fd" -le 2 ] || eval "exec $fd>&-"
		done
		ulimit -n "$0" && exec "$@"' "$limit" "$CDT" --store "$S" "$@"
}

@test "a tree is restored whole under a low limit of open files, with any number of jobs" {
	init_store
	# Files queued at every level of a chain, in many directories left
	# behind, a hard link and a link.
	p=src/a
	for ((i = 0; i < 20; i++)); do
		mkdir -p "$p"
		echo "$i" > "$p/f"
		p=$p/d
	done
	for ((i = 0; i < 30; i++)); do
		mkdir -p "src/s$i/t"
		echo "$i" > "src/s$i/t/g"
	done
	ln src/a/f src/s1/h
	ln -s ../a src/s2/l
	c add -q -r src
	for run in 22:1 22:8 32:3; do
		rm -rf out
		c_limited "${run%:*}" restore -q -j "${run#*:}" src out
		assert_status 0
		diff -r src out
	done
}

@test "a limit of open files too low to restore with is one line, and nothing is made" {
	init_store
	mkdir -p src/d
	echo f > src/d/f
	c add -q -r src
	c_limited 14 restore -q src out
	assert_status 1
	assert_err_contains "cannot restore into 'out': the limit of open files (ulimit -n 14) leaves "
	[ "$(wc -l < "$T/.err")" = 1 ] || fail "$err"
	[ ! -e out ]
}

@test "a soft limit of open files below the hard one is raised, not restored within" {
	init_store
	mkdir -p src/d
	echo f > src/d/f
	c add -q -r src
	# As a login shell's soft limit of 1024 below a hard limit of 524288:
	# the low soft limit alone (ulimit -S) does not stop a restore.
	hard=$(ulimit -H -n)
	[ "$hard" = unlimited ] || [ "$hard" -gt 64 ] || skip_or_fail "hard limit of open files is $hard"
	run_split bash -c 'ulimit -S -n 14 && exec "$0" "$@"' "$CDT" --store "$S" restore -q src out
	assert_status 0
	diff -r src out
}

@test "restore --xattrs over a kept file removes attributes and ACLs it does not store, as a fresh restore has" {
	init_store
	mkdir src
	echo a > src/f
	echo b > src/g
	python3 -c 'import os, sys; os.setxattr(sys.argv[1], "user.a", b"kept")' src/f 2> /dev/null ||
		skip_or_fail "this file system refuses user.* extended attributes"
	c add -q -r --xattrs src
	c restore -q --xattrs src out
	# The restored files gain what is not stored: an attribute, and an ACL
	# giving another user write access.
	python3 - out/f out/g <<'PY'
import os, struct, sys
acl = struct.pack("<I", 2) + b"".join(struct.pack("<HHI", tag, perm, uid) for tag, perm, uid in
	[(0x01, 6, 0xffffffff), (0x02, 6, 4321), (0x04, 4, 0xffffffff),
	 (0x10, 6, 0xffffffff), (0x20, 4, 0xffffffff)])
for f in sys.argv[1:]:
    os.setxattr(f, "user.extra", b"x")
    try:
        os.setxattr(f, "system.posix_acl_access", acl)
    except OSError:
        pass	# no ACLs here: the attribute alone is checked
PY
	run_split c restore --xattrs src out
	assert_status 0
	assert_out_contains "0 written, 3 kept as they were"
	# Then, without --xattrs, what is on the files is left alone.
	python3 - src out <<'PY'
import os, sys
src, out = sys.argv[1:]
for n, want in (("f", {"user.a": b"kept"}), ("g", {})):
    p = os.path.join(out, n)
    got = {a: os.getxattr(p, a) for a in os.listxattr(p) if not a.startswith("security.")}
    assert got == want, (n, got)
    assert os.stat(p).st_mode == os.stat(os.path.join(src, n)).st_mode, n
os.setxattr(os.path.join(out, "g"), "user.extra", b"x")
PY
	c restore -q src out
	[ "$(python3 -c 'import os; print(os.getxattr("out/g", "user.extra"))')" = "b'x'" ]
}

@test "a directory whose metadata cannot be set is counted failed, not also written or kept" {
	init_store
	mkdir -p src/d src/e
	for i in 1 2 3; do echo "$i" > "src/d/f$i"; done
	c add -q -r src
	mkdir -p out/e
	CDT_TEST_PAUSE=restore-dir "$CDT" --store "$S" restore src out > r.out 2> r.err &
	pid=$!
	wait_stopped $pid
	mv out/d out/moved
	ln -s "$T/outside" out/d
	kill -CONT $pid
	rc=0
	wait $pid || rc=$?
	[ "$rc" = 1 ] || fail "restore exited $rc: $(cat r.err)"
	# src (out) and src/e reused, src/d made and then failed, the three files written.
	grep -q "^restored 5 of 6 names into out: 3 written, 2 kept as they were, 1 failed;" r.out ||
		fail "summary: $(cat r.out)"
}

@test "a restore run again keeps a group of hard links whose links are all its own" {
	init_store
	mkdir -p src/d
	echo shared > src/a
	ln src/a src/d/b
	ln src/a src/c
	echo single > src/e
	c add -q -r src
	c restore -q src out
	ino=$(stat -c %i out/a)
	[ "$(stat -c %h out/a)" = 3 ]
	run_split c restore src out
	assert_status 0
	assert_out_contains "0 written, 6 kept as they were"
	[ "$(stat -c %i out/a)" = "$ino" ]
	[ "$(stat -c %i out/d/b)" = "$ino" ]
	[ "$(stat -c %i out/c)" = "$ino" ]
}

@test "a group of hard links with a link that is not the group's is written anew, the other file untouched" {
	init_store
	mkdir src
	echo shared > src/a
	ln src/a src/b
	chmod 644 src/a
	c add -q -r src
	c restore -q src out
	# As many links as the group, but one of them is another name.
	rm out/b
	ln out/a out/x
	echo other > out/b
	chmod 600 out/a
	run_split c restore src out
	assert_status 0
	[ "$(stat -c %a out/x)" = 600 ]
	[ "$(stat -c %h out/x)" = 1 ]
	[ "$(stat -c %i out/a)" = "$(stat -c %i out/b)" ]
	[ "$(cat out/b)" = shared ]
	[ "$(stat -c %a out/a)" = 644 ]
}

@test "a group's link reached through a symbolic link to a directory does not keep the group" {
	init_store
	mkdir -p src/d
	echo shared > src/a
	ln src/a src/d/b
	chmod 644 src/a
	c add -q -r src
	c restore -q src out
	# out/d now a link to a directory outside, holding the other link.
	mkdir elsewhere
	mv out/d/b elsewhere/b
	rmdir out/d
	ln -s ../elsewhere out/d
	chmod 600 out/a
	run_split c restore src out
	[ "$(stat -c %a elsewhere/b)" = 600 ]
	[ "$(stat -c %h elsewhere/b)" = 1 ]
	[ "$(stat -c %a out/a)" = 644 ]
}
