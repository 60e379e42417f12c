#!/usr/bin/env bats
# What add does with inputs it cannot read or name: it skips each one with a
# line saying why, stores everything else, and exits 3 (1 if nothing was stored).

load test_helper

# Root reads a directory whatever its mode, so the unreadable-input tests
# run cdt as nobody, on a store and a tree that user can reach.
as_user() {
	if [ "$(id -u)" = 0 ]; then
		setpriv --reuid 65534 --regid 65534 --clear-groups "$@"
	else
		"$@"
	fi
}

init_user_store() {
	init_store
	chmod 755 "$T"
	if [ "$(id -u)" = 0 ]; then
		command -v setpriv > /dev/null || skip_or_fail "setpriv is not installed"
		chown -R 65534:65534 "$S"
	fi
}

# The exact stderr of the last run_split, against the lines given.
assert_err_is() {
	printf '%s\n' "$@" > "$T/.want"
	printf '%s\n' "$err" > "$T/.got"
	diff -u "$T/.want" "$T/.got" || fail "stderr differs"
}

# A path of N components COMPONENT joined by '/'.
chain() {
	local i out=$2
	for ((i = 1; i < $1; i++)); do
		out=$out/$2
	done
	printf '%s' "$out"
}

# Run with few file descriptors: a walk must not hold one per level.
few_fds() {
	(ulimit -n 32 && "$@")
}

# quote() of a long path: its first 200 bytes and "...".
quoted() {
	printf '%s...' "${1:0:200}"
}

@test "-r skips an unreadable directory, stores the rest and exits 3" {
	init_user_store
	mkdir -p src/secret src/z
	gen_bytes 1 70000 > src/a
	echo hidden > src/secret/f
	echo z > src/z/g
	chmod 000 src/secret
	run_split as_user "$CDT" --store "$S" add -r src
	assert_status 3
	assert_err_is "error: skipping 'src/secret': cannot open directory: Permission denied" \
		"error: 1 path skipped"
	c ls -t f > list
	printf '%s\n' src/a src/z/g > want
	cmp list want
	c cat src/a > a.out
	cmp src/a a.out
	c cat src/z/g > g.out
	cmp src/z/g g.out
}

@test "add stores the files it can open, skips one it cannot, and exits 3" {
	init_user_store
	mkdir d
	gen_bytes 2 5000 > d/ok
	echo secret > d/secret
	chmod 000 d/secret
	run_split as_user "$CDT" --store "$S" add d/ok d/secret
	assert_status 3
	assert_err_is "error: skipping 'd/secret': cannot open: Permission denied" \
		"error: 1 path skipped"
	assert_out_contains "added d/ok"
	[ "$(c ls -t f)" = d/ok ]
	c cat d/ok > ok.out
	cmp d/ok ok.out
}

@test "add exits 1 and stores nothing when every input is skipped (directories aside)" {
	init_user_store
	mkdir -p d/secret d/empty
	echo hidden > d/secret/f
	echo secret > d/unreadable
	chmod 000 d/secret d/unreadable
	before=$(store_snapshot)
	run_split as_user "$CDT" --store "$S" add d/unreadable
	assert_status 1
	assert_err_is "error: skipping 'd/unreadable': cannot open: Permission denied"
	run_split as_user "$CDT" --store "$S" add -r d/secret
	assert_status 1
	assert_err_is "error: skipping 'd/secret': cannot open directory: Permission denied"
	[ "$(store_snapshot)" = "$before" ]
	# The directories that could be read are stored: a partial success.
	run_split as_user "$CDT" --store "$S" add -r d
	assert_status 3
	assert_err_is "error: skipping 'd/secret': cannot open directory: Permission denied" \
		"error: skipping 'd/unreadable': cannot open: Permission denied" \
		"error: 2 paths skipped"
	[ "$(c ls -t f)" = "" ]
	[ "$(c ls -t d | tr '\n' ' ')" = "d d/empty " ]
}

# Run add -r, stopped at pause point $1 (the rest are its arguments), and
# when it is stopped swap src/sub for a symbolic link to outside/ and let
# it go on. $status and $err as run_split leaves them.
# add_changed POINT CHANGE ARGS...: add -r ARGS stopped at the pause point
# POINT while the command CHANGE changes the tree, then let go; $status and
# $err as run_split sets them.
add_changed() {
	local point=$1 change=$2 pid
	shift 2
	CDT_TEST_PAUSE=$point "$CDT" --store "$S" add -r "$@" > "$T/.out" 2> "$T/.err" &
	pid=$!
	wait_stopped $pid
	$change
	kill -CONT $pid
	status=0
	wait $pid || status=$?
	err=$(cat "$T/.err")
}

swap_sub() {
	mv src/sub sub.old
	ln -s "$T/outside" src/sub
}

# The directory given, home/proj, swapped for a link to another.
swap_proj() {
	mv home/proj home/old
	ln -s "$T/outside" home/proj
}

add_swapped() {
	local point=$1
	shift
	add_changed "$point" swap_sub "$@"
}

@test "-r does not follow a directory swapped for a symbolic link after the walk" {
	init_store
	mkdir -p src/sub outside
	echo secret > outside/passwd
	ln -s passwd outside/zlink
	echo mine > src/sub/passwd
	ln -s x src/sub/zlink
	# Stopped before the first file is read (its files cache lookup).
	add_swapped files-cache -j 1 src
	assert_status 3
	assert_err_is "error: skipping 'src/sub/passwd': cannot open: it or a directory above it was replaced since the walk (a symbolic link is not followed)" \
		"error: skipping 'src/sub/zlink': cannot read symbolic link: it or a directory above it was replaced since the walk (a symbolic link is not followed)" \
		"error: 2 paths skipped"
	run_split c cat src/sub/passwd
	assert_status 1
	[ "$(c ls -t l)" = "" ]
	# Read ahead on a thread: stopped once the first file is read.
	rm -rf src sub.old "$S"
	init_store
	mkdir -p src/sub
	echo a > src/a
	echo mine > src/sub/passwd
	add_swapped ahead -j 2 src
	assert_status 3
	assert_err_is "error: skipping 'src/sub/passwd': cannot open: it or a directory above it was replaced since the walk (a symbolic link is not followed)" \
		"error: 1 path skipped"
	[ "$(c ls -t f)" = src/a ]
}

@test "-r reads the directory it walked, not one swapped in for it after the walk" {
	init_store
	mkdir -p home/proj outside
	echo secret > outside/shadow
	echo a > home/proj/a
	echo mine > home/proj/shadow
	# The directory given is held open from the walk: its files are read.
	add_changed files-cache swap_proj -j 1 home/proj
	assert_status 0
	[ "$(c cat home/proj/a)" = a ]
	[ "$(c cat home/proj/shadow)" = mine ]
}

@test "-r past the directories held open reads nothing from one swapped for another after the walk" {
	init_store
	mkdir -p home/proj outside
	# 64 directories given before it are held open (WALK_ROOTS_HELD); it is opened by path.
	for i in $(seq 10 73); do
		mkdir -p "d/$i"
		echo "$i" > "d/$i/f"
	done
	echo secret > outside/shadow
	echo a > home/proj/a
	echo mine > home/proj/shadow
	add_changed files-cache swap_proj -j 1 d/* home/proj
	assert_status 3
	assert_err_is "error: skipping 'home/proj/a': cannot open: the directory given was replaced since the walk" \
		"error: skipping 'home/proj/shadow': cannot open: the directory given was replaced since the walk" \
		"error: 2 paths skipped"
	[ "$(c ls -t f | grep -c '^d/')" = 64 ]
	[ "$(c cat d/73/f)" = 73 ]
	[ "$(c ls -t f | grep -c '^home/')" = 0 ]
}

@test "-r --xattrs does not read them through a directory swapped for a symbolic link" {
	init_store
	mkdir -p src/sub/inner outside/inner
	echo a > src/a
	python3 -c 'import os; os.setxattr("outside/inner", "user.secret", b"outside")' 2> /dev/null ||
		skip_or_fail "this file system refuses user.* extended attributes"
	# The directories' entries are stored after the first file is read.
	add_swapped files-cache -j 1 --xattrs src
	assert_status 0
	assert_err_is "warning: cannot list extended attributes of 'src/sub/inner': it or a directory above it was replaced since the walk (a symbolic link is not followed); stored without them"
	c restore -q --xattrs src out
	[ "$(python3 -c 'import os; print(os.listxattr("out/sub/inner"))')" = "[]" ]
}

@test "-r does not follow a file swapped for a symbolic link after the walk" {
	init_store
	mkdir src outside
	echo secret > outside/passwd
	echo a > src/a
	echo mine > src/b
	link_b() {
		rm src/b
		ln -s "$T/outside/passwd" src/b
	}
	add_changed files-cache link_b -j 1 src
	assert_status 3
	assert_err_is "error: skipping 'src/b': cannot open: it or a directory above it was replaced since the walk (a symbolic link is not followed)" \
		"error: 1 path skipped"
	[ "$(c ls)" = "$(printf 'src\nsrc/a')" ]
}

@test "a symbolic link replaced by a file after the walk is skipped with a reason" {
	init_store
	mkdir src
	echo a > src/a
	ln -s a src/b
	file_b() {
		rm src/b
		echo now a file > src/b
	}
	add_changed files-cache file_b -j 1 src
	assert_status 3
	assert_err_is "error: skipping 'src/b': cannot read symbolic link: it was replaced since the walk by what is not one" \
		"error: 1 path skipped"
	[ "$(c ls)" = "$(printf 'src\nsrc/a')" ]
}

@test "a file replaced by a FIFO after the walk does not hold add for ever" {
	local point pid i
	# Stopped before the first file is read (-j 1), or after the reader
	# ahead read the first (-j 2): src/b is opened after it changed.
	for point in files-cache:1 ahead:2; do
		rm -rf src "$S"
		init_store
		mkdir src
		echo a > src/a
		echo b > src/b
		CDT_TEST_PAUSE=${point%:*} "$CDT" --store "$S" add -r -j "${point#*:}" src > add.out 2> add.err &
		pid=$!
		wait_stopped $pid
		rm src/b
		mkfifo src/b
		kill -CONT $pid
		# Opening a FIFO waits for a writer: give it 5 s, then fail.
		for i in $(seq 1 250); do
			kill -0 $pid 2> /dev/null || break
			sleep 0.02
		done
		if kill -0 $pid 2> /dev/null; then
			kill -9 $pid
			fail "add ($point) still running on the FIFO"
		fi
		status=0
		wait $pid || status=$?
		err=$(cat add.err)
		assert_status 1
		assert_err_is "error: cannot add 'src/b': not a regular file" \
			"error: 1 of 3 names could not be added"
		[ "$(c ls -t f)" = src/a ]
	done
}

@test "-r stores a tree 300 levels deep" {
	init_store
	deep=$(chain 300 d)
	mkdir -p "src/$deep"
	echo top > src/top
	echo one > src/d/one
	gen_bytes 3 20000 > "src/$(chain 150 d)/middle"
	echo bottom > "src/$deep/bottom"
	run_split c add -r -q src
	assert_status 0
	[ -z "$err" ] || fail "unexpected stderr: $err"
	c ls -t f > list
	printf '%s\n' "src/$deep/bottom" "src/$(chain 150 d)/middle" src/d/one src/top > want
	cmp list want
	while IFS= read -r n; do
		c cat "$n" > out
		cmp "$n" out
	done < want
}

@test "-r skips a directory too deep for its files to be named, and stores the rest" {
	init_store
	# 3000 levels: names stop at 4096 bytes, so at level 2046 of deep/d/d/...
	mkdir deep
	(
		cd deep
		for i in 1 2 3; do
			mkdir -p "$(chain 1000 d)"
			cd "$(chain 1000 d)"
		done
		echo bottom > f
	)
	echo near > "deep/$(chain 10 d)/near"
	echo top > deep/top
	run_split few_fds c add -r -q deep
	assert_status 3
	assert_err_is "error: skipping '$(quoted "deep/$(chain 2046 d)")': names under it would be longer than 4096 bytes" \
		"error: 1 path skipped"
	c ls -t f > list
	printf '%s\n' "deep/$(chain 10 d)/near" deep/top > want
	cmp list want
	c cat "deep/$(chain 10 d)/near" > out
	cmp "deep/$(chain 10 d)/near" out
}

@test "-r skips what lies past PATH_MAX under names too long, and stores the rest" {
	init_store
	seg=$(printf '%0200d' 0)
	mkdir src
	echo top > src/top
	# 25 components of 200 bytes: a path of 5000 bytes, built a step at a time.
	(
		cd src
		for i in $(seq 25); do
			mkdir "$seg"
			cd "$seg"
			[ "$i" != 5 ] || gen_bytes 4 30000 > mid
		done
		echo deep > f
	)
	run_split c add -r -q src
	assert_status 3
	# src/ and 21 components make a name of 4224 bytes.
	assert_err_is "error: skipping '$(quoted "src/$(chain 21 "$seg")")': names under it would be longer than 4096 bytes" \
		"error: 1 path skipped"
	c ls -t f > list
	printf '%s\n' "src/$(chain 5 "$seg")/mid" src/top > want
	cmp list want
	c cat "src/$(chain 5 "$seg")/mid" > out
	cmp "src/$(chain 5 "$seg")/mid" out
}

@test "-r reaches files further than PATH_MAX away whose names fit" {
	init_store
	seg=$(printf '%0200d' 0)
	# a/<12 components>/tree/<10 components>/f: 4429 bytes from here,
	# stored as p/tree/<10 components>/f, 2022 bytes.
	mkdir a
	(
		cd a
		for i in $(seq 12); do
			mkdir "$seg"
			cd "$seg"
		done
		mkdir tree
		cd tree
		echo top > top
		for i in $(seq 10); do
			mkdir "$seg"
			cd "$seg"
		done
		gen_bytes 5 40000 > f
	)
	outer="a/$(chain 12 "$seg")"
	inner=$(chain 10 "$seg")
	far="$outer/tree/$inner/f"
	[ "${#far}" -gt 4096 ]
	run_split c add -r --prefix p --porcelain "$outer/tree"
	assert_status 0
	[ -z "$err" ] || fail "unexpected stderr: $err"
	c ls -t f > list
	printf '%s\n' "p/tree/$inner/f" p/tree/top > want
	cmp list want
	c cat "p/tree/$inner/f" > out
	(cd "$outer" && cd "tree/$inner" && cmp f "$T/out")
	c cat p/tree/top > top.out
	cmp "$outer/tree/top" top.out
}

@test "-r of one empty directory says what it stored" {
	init_store
	mkdir e
	run_split c add -r e
	assert_status 0
	assert_out_contains "0 files, 1 directory, 0 symbolic links, 0 B read"
	[ "$(c ls -t d)" = e ]
	run_split c add -q -r e
	assert_status 0
	[ -z "$output" ] || fail "-q printed: $output"
}

@test "a second link replaced by another file after the walk is stored as what it holds" {
	init_store
	mkdir src
	echo old > src/x
	ln src/x src/y
	# A third link outside the tree: src/x keeps two once src/y is replaced.
	ln src/x z
	replace_y() {
		echo new > y.tmp
		mv y.tmp src/y
	}
	add_changed files-cache replace_y -j 1 src
	assert_status 0
	[ "$(c cat src/x)" = old ]
	[ "$(c cat src/y)" = new ] || fail "stored as a link to src/x: $(c ls -l src/y)"
	c fsck > /dev/null
}
