#!/usr/bin/env bats
# cdt mount and cdt umount: the tree, attributes, read-only behaviour, unmounting.

load test_helper
load lib-mount

@test "every stored file reads back byte-identical through the mount" {
	need_fuse
	make_tree
	mount_view
	diff -r src "$M/src"
	cmp src/media/video.bin "$M/src/media/video.bin"
	cmp "src/name with spaces" "$M/src/name with spaces"
	[ ! -s "$M/src/empty" ]
	[ -f "$M/src/empty" ]
}

@test "directories are implied by the names and list in order" {
	need_fuse
	make_tree
	mount_view
	(cd "$M" && find . -mindepth 1 | sort) > got
	printf '%s\n' ./src ./src/docs ./src/docs/deep ./src/docs/deep/er \
		./src/docs/deep/er/hello.txt ./src/docs/log.txt ./src/empty \
		./src/media ./src/media/copy.bin ./src/media/video.bin \
		"./src/name with spaces" | sort > want
	diff want got
	[ -d "$M/src/docs/deep" ]
	ls -A "$M/src/docs" > got
	printf '%s\n' deep log.txt > want
	diff want got
}

@test "files show their stored size, mode, owner and mtime" {
	need_fuse
	init_store
	gen_bytes 5 10000 > f
	chmod 0640 f
	chown 1234:5678 f
	touch -d '2021-03-04 05:06:07.123456789' f
	c add -q f
	mount_view
	stat -c '%s %a %u %g %Y %y' f > want
	stat -c '%s %a %u %g %Y %y' "$M/f" > got
	diff want got
	[ "$(stat -c %F "$M/f")" = "regular file" ]
	[ "$(stat -c %h "$M/f")" = 1 ]
}

@test "the change time tells two contents apart within a second, and not one content" {
	need_fuse
	init_store
	gen_bytes 1 1000 > a
	gen_bytes 2 1000 > b
	cp a c
	touch -d '2021-03-04 05:06:07' a b c
	c add -q a b c
	mount_view
	# Names are written in whole seconds: the nanoseconds must still differ.
	na=$(stat -c %.9Z "$M/a" | cut -d. -f2)
	nb=$(stat -c %.9Z "$M/b" | cut -d. -f2)
	nc=$(stat -c %.9Z "$M/c" | cut -d. -f2)
	[ "$na" != "$nb" ] || fail "a and b show one change time: $na"
	[ "$na" = "$nc" ] || fail "a and c (one content) show $na and $nc"
}

@test "st_blocks counts the bytes the file's chunks take in the store" {
	need_fuse
	init_store --chunker fixed --chunk-size 64K
	"$TEST_TOOL" gen-text 9 300000 > text
	c add -q text
	stored=$(find "$S/objects" -type f -printf '%s\n' | awk '{ s += $1 } END { print s }')
	mount_view
	[ "$(stat -c %b "$M/text")" = $(( (stored + 511) / 512 )) ]
	[ "$(stat -c %b "$M/text")" -lt $(( 300000 / 512 )) ]
}

@test "the content id is in the extended attribute user.cdt.id" {
	need_fuse
	init_store
	gen_bytes 6 5000 > f
	c add -q f
	mount_view
	python3 -c 'import os, sys; print(os.getxattr(sys.argv[1], "user.cdt.id").decode())' "$M/f" > got
	content_id f > want
	diff want got
	python3 -c 'import os, sys; print(os.listxattr(sys.argv[1]))' "$M/f" > got
	echo "['user.cdt.id']" > want
	diff want got
	run_split python3 -c 'import os, sys; os.getxattr(sys.argv[1], "user.other")' "$M/f"
	assert_status 1
	assert_err_contains "No data available"
}

@test "a symbolic link lists no extended attribute it cannot give" {
	need_fuse
	init_store
	mkdir src
	ln -s nowhere src/l
	c add -q -r src
	mount_view
	python3 -c 'import os, sys; print(os.listxattr(sys.argv[1], follow_symlinks=False))' \
		"$M/src/l" > got
	echo "[]" > want
	diff want got
}

@test "statfs reports the store's file system and the number of names" {
	need_fuse
	make_tree
	mount_view
	[ "$(stat -f -c %S "$M")" = "$(stat -f -c %S "$S")" ]
	[ "$(stat -f -c %b "$M")" = "$(stat -f -c %b "$S")" ]
	# 6 names, 5 directories (src, docs, deep, er, media) and the root
	[ "$(stat -f -c %c "$M")" = 12 ]
	[ "$(stat -f -c %l "$M")" = 255 ]
}

@test "a directory of thousands of names lists quickly and completely" {
	need_fuse
	init_store
	mkdir big
	for i in $(seq 1 3000); do echo "$i" > "big/f$i"; done
	c add -q -r big
	(cd big && ls) > want
	mount_view
	start=$(date +%s%N)
	ls -l "$M/big" > long
	ls "$M/big" > got
	end=$(date +%s%N)
	diff want got
	[ "$(grep -c '^-r' long)" = 3000 ]
	[ $(( (end - start) / 1000000 )) -lt 5000 ] || fail "listing took $(( (end - start) / 1000000 )) ms"
}

@test "writes, creates, renames, removals and attribute changes fail with EROFS" {
	need_fuse
	make_tree
	mount_view
	before=$(store_snapshot)
	run_split sh -c "echo x > '$M/src/empty'"
	assert_status 2
	assert_err_contains "Read-only file system"
	run_split sh -c "echo x >> '$M/src/docs/log.txt'"
	assert_err_contains "Read-only file system"
	run_split touch "$M/new"
	assert_err_contains "Read-only file system"
	run_split mkdir "$M/dir"
	assert_err_contains "Read-only file system"
	run_split mv "$M/src/empty" "$M/src/empty2"
	assert_err_contains "Read-only file system"
	run_split rm "$M/src/empty"
	assert_err_contains "Read-only file system"
	run_split rmdir "$M/src/docs/deep/er"
	assert_err_contains "Read-only file system"
	run_split chmod 777 "$M/src/empty"
	assert_err_contains "Read-only file system"
	run_split ln -s x "$M/link"
	assert_err_contains "Read-only file system"
	run_split python3 -c 'import os, sys; os.setxattr(sys.argv[1], "user.x", b"1")' "$M/src/empty"
	assert_status 1
	assert_err_contains "Read-only file system"
	run_split python3 -c 'import os, sys; os.open(sys.argv[1], os.O_RDWR)' "$M/src/empty"
	assert_status 1
	assert_err_contains "Read-only file system"
	[ "$(store_snapshot)" = "$before" ]
}

@test "cdt umount unmounts and the server exits" {
	need_fuse
	make_tree
	mount_view
	pid=$(server_pid "$M")
	run_split "$CDT" umount "$M"
	assert_status 0
	! is_mounted "$M"
	wait_for "! server_pid '$M' >/dev/null" 10 || fail "server $pid still running"
	[ ! -e "$M/src" ]
}

@test "fusermount3 -u unmounts too" {
	need_fuse
	make_tree
	mount_view
	fusermount3 -u "$M"
	! is_mounted "$M"
	wait_for "! server_pid '$M' >/dev/null" 10
}

@test "cdt umount refuses a directory that is not a cdt mount" {
	mkdir plain
	run_split "$CDT" umount plain
	assert_status 1
	assert_one_line_err
	assert_err_contains "'plain' is not a cdt mount"
	run_split "$CDT" umount
	assert_status 2
	assert_err_contains "no mount point given"
}

# How many mounts /proc/self/mountinfo lists at mount point $1.
mounts_at() {
	awk -v m="$1" '$5 == m { n++ } END { print n + 0 }' /proc/self/mountinfo
}

@test "cdt mount refuses a mount point that is already a view, and umount still works" {
	need_fuse
	make_tree
	mount_view
	[ "$(mounts_at "$M")" = 1 ]
	run_split c mount "$M"
	assert_status 1
	assert_one_line_err
	[ "$err" = "error: '$M' is already a cdt view of store '$S': unmount it first with 'cdt umount $M'" ] ||
		fail "unexpected message: $err"
	# Named otherwise (a trailing slash, a symbolic link): the same point.
	ln -s "$M" link
	run_split c mount link/
	assert_status 1
	assert_err_contains "'link/' is already a cdt view of store '$S'"
	[ "$(mounts_at "$M")" = 1 ]
	# The view still serves, and one umount takes it away.
	cmp src/docs/log.txt "$M/src/docs/log.txt"
	run_split "$CDT" umount "$M"
	assert_status 0
	[ "$(mounts_at "$M")" = 0 ]
	wait_for "! server_pid '$M' >/dev/null" 10
}

@test "a view of another store cannot be mounted over a view either" {
	need_fuse
	make_tree
	mount_view
	"$CDT" init -q other
	run_split "$CDT" --store other mount "$M"
	assert_status 1
	assert_one_line_err
	assert_err_contains "is already a cdt view of store '$S'"
	[ "$(mounts_at "$M")" = 1 ]
	cmp src/media/video.bin "$M/src/media/video.bin"
}

@test "a view whose server was killed is refused, and cdt umount takes it away" {
	need_fuse
	make_tree
	mount_view
	pid=$(server_pid "$M")
	kill -KILL "$pid"
	wait_for "! kill -0 $pid 2>/dev/null" 10 || fail "server $pid still running"
	run_split c mount "$M"
	assert_status 1
	assert_one_line_err
	assert_err_contains "'$M' is already a cdt view of store '$S'"
	[ "$(mounts_at "$M")" = 1 ]
	run_split "$CDT" umount "$M"
	assert_status 0
	[ "$(mounts_at "$M")" = 0 ]
	[ -d "$M" ]
}

@test "a mount point of another file system may be mounted over, as mount(8) allows" {
	need_fuse
	[ "$(id -u)" = 0 ] || skip_or_fail "mounting a tmpfs needs root"
	make_tree
	mkdir mnt
	mount -t tmpfs -o size=1M cdt-test-tmpfs mnt || skip_or_fail "cannot mount a tmpfs here"
	run_split c mount -o log="$T/mount.log" mnt
	assert_status 0
	[ "$(mounts_at "$T/mnt")" = 2 ]
	cmp src/docs/log.txt mnt/src/docs/log.txt
	run_split "$CDT" umount mnt
	assert_status 0
	[ "$(mounts_at "$T/mnt")" = 1 ]
	umount mnt
}

@test "in the foreground the server stays attached and stops on SIGTERM" {
	need_fuse
	make_tree
	mkdir mnt
	"$CDT" --store "$S" mount -f mnt 2> fg.err &
	pid=$!
	wait_for "is_mounted '$T/mnt'" 10 || fail "not mounted"
	cmp src/docs/log.txt mnt/src/docs/log.txt
	# A file still open when the signal comes: its handle is never
	# released by the kernel, and must not leak (the sanitizer build
	# checks; an open directory would show libfuse's own handle leaking).
	exec 8< mnt/src/docs/log.txt
	kill -TERM "$pid"
	rc=0
	wait "$pid" || rc=$?
	exec 8<&-
	[ "$rc" = 0 ] || fail "exit status $rc: $(cat fg.err)"
	! is_mounted "$T/mnt"
	[ ! -s fg.err ] || fail "unexpected messages: $(cat fg.err)"
}

@test "a stored tree shows its symbolic links, empty directories and directory metadata" {
	need_fuse
	init_store
	mkdir -p tree/sub/empty tree/locked
	echo data > tree/sub/f
	ln -s sub/f tree/link
	ln -s /nowhere/at/all tree/dangling
	chmod 0750 tree/locked
	chown 1234:5678 tree/locked
	touch -d '2020-02-03 04:05:06.5' tree/sub/empty tree/locked
	c add -q -r tree
	mount_view
	[ "$(readlink "$M/tree/link")" = sub/f ]
	[ "$(readlink "$M/tree/dangling")" = /nowhere/at/all ]
	[ "$(stat -c %F "$M/tree/link")" = "symbolic link" ]
	[ "$(cat "$M/tree/link")" = data ]
	[ -d "$M/tree/sub/empty" ]
	[ -z "$(ls -A "$M/tree/sub/empty")" ]
	stat -c '%a %u %g %Y' tree/locked tree/sub/empty > want
	stat -c '%a %u %g %Y' "$M/tree/locked" "$M/tree/sub/empty" > got
	diff want got
}

@test "names with bytes stored escaped show under the names the files had, as restore writes them" {
	need_fuse
	init_store
	mkdir -p "tree/dir
x"
	printf one > "tree/a
b"
	# Literally the escaped form of the name above: another file.
	printf two > 'tree/a\x0ab'
	printf three > 'tree/back\slash'
	printf four > "tree/dir
x/f"
	c add -q -r tree
	mount_view
	diff -r tree "$M/tree"
	(cd tree && find . | sort) > want
	(cd "$M/tree" && find . | sort) > got
	cmp want got
	cmp 'tree/a\x0ab' "$M/tree/a\\x0ab"
	# Names added later under such a directory show up too.
	printf five > "tree/dir
x/g"
	c add -q "tree/dir
x/g"
	wait_for "[ -e '$M/tree/dir
x/g' ]" 5
	cmp "tree/dir
x/g" "$M/tree/dir
x/g"
}

@test "cdt umount of a busy view says why in one line, naming the mount point as given" {
	need_fuse
	make_tree
	mount_view
	# A process whose current directory is in the view keeps it busy.
	(cd "$M/src" && exec sleep 30) &
	busy=$!
	wait_for "[ \"\$(readlink /proc/$busy/cwd)\" = '$M/src' ]" 10 || fail "no busy process"
	run_split "$CDT" umount "$M"
	kill "$busy"
	wait "$busy" || true
	assert_status 1
	assert_one_line_err
	[ "$err" = "error: cannot unmount '$M': Device or resource busy" ] || fail "got: $err"
	is_mounted "$M"
	run_split "$CDT" umount "$M"
	assert_status 0
	! is_mounted "$M"
}
