#!/usr/bin/env bats
# add --exclude, --exclude-from and --one-file-system: what a walk leaves
# out, with gitignore's rules, relative to each directory given; what is
# left out is neither stored nor reported, and an excluded directory is
# never opened.

load test_helper

# Root reads a directory whatever its mode, so the unreadable-directory
# test runs cdt as nobody, on a store and a tree that user can reach.
as_user() {
	if [ "$(id -u)" = 0 ]; then
		setpriv --reuid 65534 --regid 65534 --clear-groups "$@"
	else
		"$@"
	fi
}

# A store that as_user may write, in a directory it may enter.
init_store_as_user() {
	init_store
	chmod 755 "$T"
	if [ "$(id -u)" = 0 ]; then
		command -v setpriv > /dev/null || skip_or_fail "setpriv is not installed"
		chown -R 65534:65534 "$S"
	fi
}

# Files (path and contents "path") under the current directory.
files() {
	local f
	for f in "$@"; do
		mkdir -p "$(dirname "$f")"
		printf '%s\n' "$f" > "$f"
	done
}

# The stored names against the ones given, in order.
assert_names() {
	c ls -t f > "$T/.names"
	if [ $# -gt 0 ]; then
		printf '%s\n' "$@" > "$T/.want"
	else
		: > "$T/.want"
	fi
	diff -u "$T/.want" "$T/.names" || fail "stored names differ"
}

# add -q, which must succeed with nothing on stderr.
add_clean() {
	run_split c add -q "$@"
	assert_status 0
	[ -z "$err" ] || fail "unexpected stderr: $err"
}

@test "a pattern without '/' leaves out that base name at any depth" {
	init_store
	files src/a.o src/a.c src/x/b.o src/x/y/c.o src/x/y/c.oo src/d.o/f
	add_clean -r --exclude '*.o' src
	assert_names src/a.c src/x/y/c.oo
	c cat src/a.c > out
	cmp src/a.c out
}

@test "a pattern with '/' at the start or in the middle is anchored to the directory given" {
	init_store
	files src/build/f src/sub/build/f src/doc/frotz src/a/doc/frotz src/keep
	add_clean -r --exclude /build --exclude doc/frotz src
	assert_names src/a/doc/frotz src/keep src/sub/build/f
	c rm -r src > /dev/null
	add_clean -r --exclude build src
	assert_names src/a/doc/frotz src/doc/frotz src/keep
}

@test "patterns are relative to each directory given, not to the names stored" {
	init_store
	files d1/x d1/sub/x d1/y d2/x d2/y
	add_clean -r --exclude /x --prefix p d1 d2
	assert_names p/d1/sub/x p/d1/y p/d2/y
	# A pattern naming the stored name matches nothing on disk.
	files d3/q
	add_clean -r --exclude /p d3
	assert_names d3/q p/d1/sub/x p/d1/y p/d2/y
}

@test "a trailing '/' matches directories only" {
	init_store
	files src/cache/f src/a/cache/g src/b/cache
	add_clean -r --exclude 'cache/' src
	assert_names src/b/cache
}

@test "'!' re-includes, and the last matching pattern decides" {
	init_store
	files src/a.log src/keep.log src/d/keep.log src/x
	add_clean -r --exclude '*.log' --exclude '!keep.log' src
	assert_names src/d/keep.log src/keep.log src/x
	c rm -r src > /dev/null
	add_clean -r --exclude '!keep.log' --exclude '*.log' src
	assert_names src/x
}

@test "a file in an excluded directory cannot be re-included" {
	init_store
	files src/build/keep src/build/other src/x
	add_clean -r --exclude build/ --exclude '!build/keep' src
	assert_names src/x
}

@test "git's example: everything but foo/bar" {
	init_store
	files src/top src/other/f src/foo/f src/foo/baz/g src/foo/bar/h src/foo/bar/i/j
	add_clean -r --exclude '/*' --exclude '!/foo' --exclude '/foo/*' --exclude '!/foo/bar' src
	assert_names src/foo/bar/h src/foo/bar/i/j
}

@test "'**' leading, trailing and in the middle" {
	init_store
	files src/tmp/a src/x/tmp/b src/x/y/tmp src/a/z src/a/m/z src/a/m/n/z src/b/a/z \
		src/logs/one src/logs/keep src/logs/sub/two src/logs2
	add_clean -r --exclude '**/tmp' --exclude 'a/**/z' --exclude 'logs/**' --exclude '!logs/keep' src
	assert_names src/b/a/z src/logs/keep src/logs2
}

@test "'*', '?', sets and '\\' on real names" {
	init_store
	files src/a1 src/a2 src/ab src/abc src/'[x]' src/'*star' src/'#hash' src/'!bang' src/q
	add_clean -r --exclude 'a[0-9]' --exclude '?b' --exclude '\[x]' --exclude '\*star' \
		--exclude '#hash' --exclude '\!bang' src
	assert_names src/abc src/q
	c rm -r src > /dev/null
	add_clean -r --exclude '[!a]*' --exclude 'a[^0-9]*' src
	assert_names src/a1 src/a2
}

@test "a pattern matches bytes: a name that is not UTF-8 can be left out" {
	init_store
	files src/ok
	printf 'x\n' > src/$'\xff.bin'
	# Not left out, it is stored under its escaped name.
	run_split c add -q -r src
	assert_status 0
	assert_names 'src/\xff.bin' src/ok
	c rm -r src > /dev/null
	add_clean -r --exclude $'\xff*' src
	assert_names src/ok
}

@test "--exclude-from reads comments, blank lines, trailing spaces and CRLF as gitignore does" {
	init_store
	files src/a.o src/b.c 'src/sp ' src/sp src/'#c' src/d/e src/f src/g
	printf '# object files\n\n*.o   \nsp\\ \n\\#c\n   \n#f\nd/\r\ng\n' > ex
	add_clean -r --exclude-from ex src
	assert_names src/b.c src/f src/sp
}

@test "--exclude and --exclude-from count in the order given, and a pipe can be read" {
	init_store
	files src/a.log src/keep.log src/x
	printf '*.log\n' > logs
	add_clean -r --exclude-from logs --exclude '!keep.log' src
	assert_names src/keep.log src/x
	c rm -r src > /dev/null
	add_clean -r --exclude '!keep.log' --exclude-from logs src
	assert_names src/x
	c rm -r src > /dev/null
	add_clean -r --exclude-from <(printf 'x\n') src
	assert_names src/a.log src/keep.log
}

@test "an exclude file that cannot be read is a usage error, and nothing is stored" {
	init_store
	files src/a
	printf '*.o\n' > ok
	before=$(store_snapshot)
	run_split c add -r --exclude-from ok --exclude-from missing src
	assert_status 2
	assert_err_contains "error: cannot read exclude file 'missing': No such file or directory"
	run_split c add -r --exclude-from . src
	assert_status 2
	assert_err_contains "error: cannot read exclude file '.': Is a directory"
	[ "$(store_snapshot)" = "$before" ]
}

@test "a bad pattern is a usage error naming it, and its line in a file" {
	init_store
	files src/a
	printf '*.o\n# fine\n[abc\n' > bad
	before=$(store_snapshot)
	run_split c add -r --exclude-from bad src
	assert_status 2
	assert_err_contains "error: bad pattern in 'bad': line 3: '[abc': '[' without a matching ']'"
	run_split c add -r --exclude 'a\' src
	assert_status 2
	assert_err_contains "error: bad --exclude pattern 'a\\\\': '\\' at the end quotes nothing"
	run_split c add -r --exclude '[[:nope:]]' src
	assert_status 2
	assert_err_contains "error: bad --exclude pattern '[[:nope:]]': unknown character class '[:nope:]'"
	run_split c add -r --exclude '' src
	assert_status 2
	assert_err_contains "error: bad --exclude pattern '': empty pattern"
	[ "$(store_snapshot)" = "$before" ]
}

@test "an excluded directory is not opened: an unreadable one is no error" {
	init_store_as_user
	files src/a src/secret/f
	chmod 000 src/secret
	run_split as_user "$CDT" --store "$S" add -q -r --exclude secret/ src
	assert_status 0
	[ -z "$err" ] || fail "unexpected stderr: $err"
	assert_names src/a
	# Without the pattern it is opened, and skipped.
	run_split as_user "$CDT" --store "$S" add -q -r src
	assert_status 3
	assert_err_contains "error: skipping 'src/secret': cannot open directory: Permission denied"
}

@test "a directory left out by a pattern ending in '/' is left out where it cannot be examined" {
	init_store_as_user
	files src/a src/p/cache/x src/p/f
	# Readable, not searchable: its entries are listed but cannot be examined.
	chmod 444 src/p
	run_split as_user "$CDT" --store "$S" add -q -r --exclude cache/ src
	assert_status 3
	[ "$err" = "$(printf '%s\n' "error: skipping 'src/p/f': cannot stat: Permission denied" \
		"error: 1 path skipped")" ] || fail "stderr: $err"
	chmod 755 src/p
	assert_names src/a
}

@test "what is left out is not reported: a symbolic link excluded draws no warning" {
	init_store
	files src/a
	ln -s a src/link
	mkfifo src/fifo
	run_split c add -q -r src
	assert_status 0
	assert_err_contains "skipping 'src/fifo': a FIFO is not stored"
	assert_names src/a
	[ "$(c ls -t l)" = src/link ]
	c rm -r src > /dev/null
	add_clean -r --exclude link --exclude fifo src
	assert_names src/a
	[ "$(c ls -t l)" = "" ]
}

@test "a file given as a PATH is matched by its base name; a directory given is not matched" {
	init_store
	files a.tmp b.txt d/c.tmp src/x src/src/y
	add_clean --exclude '*.tmp' a.tmp b.txt d/c.tmp
	assert_names b.txt
	add_clean -r --exclude src src
	assert_names b.txt src/x
	# Standard input is never left out.
	echo in | c add -q --exclude '*' --name stdin -
	assert_names b.txt src/x stdin
}

@test "a walk that leaves out everything stores only the directory given, and exits 0" {
	init_store
	files src/a src/b/c
	run_split c add -r --exclude '*' src
	assert_status 0
	[ -z "$err" ] || fail "stderr: $err"
	assert_names
	[ "$(c ls)" = src ]
}

@test "--one-file-system does not go into a file system mounted inside the walk" {
	[ "$(id -u)" = 0 ] || skip_or_fail "needs root to mount a tmpfs"
	init_store
	files src/a src/mnt/under src/sub/b
	mount -t tmpfs cdt-test src/mnt 2> mount.err || skip_or_fail "cannot mount a tmpfs: $(cat mount.err)"
	files src/mnt/on-tmpfs src/mnt/deeper/too
	add_clean -r -x src
	assert_names src/a src/sub/b
	c rm -r src > /dev/null
	add_clean -r --one-file-system --prefix p src/mnt src
	assert_names p/mnt/deeper/too p/mnt/on-tmpfs p/src/a p/src/sub/b
	c rm -r p > /dev/null
	add_clean -r src
	assert_names src/a src/mnt/deeper/too src/mnt/on-tmpfs src/sub/b
	umount src/mnt
}
