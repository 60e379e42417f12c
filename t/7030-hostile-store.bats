#!/usr/bin/env bats
# Stores with planted symbolic links; stale locks; directories that fail to read. (Who may read a store: t/0003.)

load test_helper

# fail_call CALL WHICH PATTERN COMMAND...: run COMMAND once on the store as
# it is, traced (strace -y, so that descriptors show their paths), to
# count its CALL system calls; then, on a copy of the store as it was,
# run it again (as run_split does) with the call that is the WHICH-th
# (first, last or a number) of those whose line matches the grep PATTERN
# failing with EIO (or with $FAIL_ERRNO). strace counts the calls of each
# thread on its own: a command that makes CALL on more than one thread
# runs with -j 1, or the call failed is another thread's (and varies).
fail_call() {
	local call=$1 which=$2 pattern=$3 n
	shift 3
	rm -rf "$T/clean"
	cp -a "$S" "$T/clean"
	traced -f -y -o "$T/count.trace" -e trace="$call" "$@" > /dev/null 2>&1
	n=$(grep "^[0-9]* *$call(" "$T/count.trace" | grep -n -- "$pattern" | cut -d: -f1 |
		case $which in first) head -n 1 ;; last) tail -n 1 ;; *) sed -n "${which}p" ;; esac)
	[ -n "$n" ] || fail "no $which $call call of '$*' matches $pattern"
	rm -rf "$S"
	cp -a "$T/clean" "$S"
	run_split traced -f -o /dev/null -e trace="$call" -e inject="$call":error="${FAIL_ERRNO:-EIO}":when="$n" "$@"
}

@test "a symbolic link planted among the names is reported, never followed" {
	init_store
	echo secret > "$T/outside"
	echo x > f
	c add -q f
	ln -s "$T/outside" "$S/names/evil"
	run_split c cat evil
	assert_status 1
	assert_one_line_err
	[ "$(cat "$T/outside")" = secret ]
	run_split c ls
	assert_status 1
	assert_err_contains "'evil': not a regular file"
	assert_out_contains f
	# A planted directory link: names under it are not reached.
	mkdir "$T/elsewhere"
	ln -s "$T/elsewhere" "$S/names/dirlink"
	run_split c add --name dirlink/x f
	assert_status 1
	[ -z "$(ls -A "$T/elsewhere")" ]
}

@test "a symbolic link in place of a chunk or a pack is damage, not data" {
	init_store
	echo small > s
	c add -q s
	obj=$(find "$S/objects" -type f | head -n 1)
	mv "$obj" "$T/real"
	ln -s "$T/real" "$obj"
	run_split c cat s
	assert_status 1
	assert_err_contains "symbolic link"
	init_big() {
		gen_bytes 1 3000000 > big
		c add -q big
	}
	init_big
	idx=$(find "$S/packs" -name '*.idx' | head -n 1)
	mv "$idx" "$T/idx"
	ln -s "$T/idx" "$idx"
	run_split c cat big
	assert_status 1
}

@test "a writer killed while holding the lock does not block the next one" {
	init_store
	echo x > f
	c add -q f
	# Stopped with its pack in place and its names to come: the lock is held.
	gen_bytes 3 3000000 > big
	CDT_TEST_PAUSE=pack-in-place "$CDT" --store "$S" add -q big &
	p=$!
	wait_stopped $p
	CDT_LOCK_NOWAIT=1 run_split c rm f
	assert_status 1
	assert_err_contains "locked by another cdt process"
	kill -9 $p
	wait $p 2>/dev/null || true
	# The kernel dropped the flock with the process: rm gets the lock at once.
	CDT_LOCK_NOWAIT=1 run_split c rm f
	assert_status 0
	CDT_LOCK_NOWAIT=1 run_split c gc
	assert_status 0
}

@test "CDT_LOCK_NOWAIT makes a writer fail instead of waiting for a live lock" {
	init_store
	exec 9>"$S/lock"
	flock -s 9
	echo x > f
	CDT_LOCK_NOWAIT=1 run_split c rm --ignore-missing f
	assert_status 1
	assert_err_contains "locked by another cdt process"
	exec 9>&-
}

@test "a directory listing that fails makes gc and rm stop, never delete what a name uses" {
	command -v strace > /dev/null || skip_or_fail "strace is not installed"
	init_store
	mkdir -p src/d/e
	gen_bytes 1 100000 > src/a
	gen_bytes 2 100000 > src/d/b
	cp src/a src/d/e/same
	(cd src && c add -q -r .)
	# Without name records, rm learns from the walk of names/ alone
	# that d/e/same still uses the content of a.
	rm -f "$S"/refs/names/*.rec
	cp -a "$S" clean
	# The Nth directory read (getdents64) fails with EIO: early ones read
	# packs/ and objects/, later ones names/ and its directories.
	for cmd in gc "rm a"; do
		for n in $(seq 1 12); do
			rm -rf "$S"
			cp -a clean "$S"
			traced -f -o /dev/null -e trace=getdents64 \
				-e inject=getdents64:error=EIO:when="$n" \
				"$CDT" --store "$S" $cmd > out 2> err || true
			for name in d/b d/e/same; do
				c cat "$name" > got 2> cat.err ||
					fail "'$cmd' with directory read $n failing lost '$name': $(cat cat.err); it said: $(cat err)"
				cmp -s got "src/$name" || fail "'$name' restores other bytes after '$cmd' ($n)"
			done
		done
	done
}

@test "a fan-out directory that fails to stat while gc marks stops it, never deletes its chunks" {
	command -v strace > /dev/null || skip_or_fail "strace is not installed"
	init_store
	echo "a small file, stored as one loose chunk" > a
	c add -q a
	obj=$(cd "$S/objects" && echo */*)
	[ -f "$S/objects/$obj" ] || fail "a is not stored loose: $obj"
	# The first stat of the chunk's directory is the mark's walk of objects/.
	fail_call newfstatat first "\"${obj%/*}\", " "$CDT" --store "$S" gc
	assert_status 1
	assert_err_contains "error: cannot list loose chunks: Input/output error"
	c cat a > got
	cmp got a
	run_split c fsck
	assert_status 0
}

@test "manifests/ that fails to list is no missing manifest, and --rebuild-refs keeps their references" {
	command -v strace > /dev/null || skip_or_fail "strace is not installed"
	init_store
	mkdir -p src/d
	gen_bytes 1 100000 > src/d/a
	echo b > src/b
	(cd src && c add -q -r d b)
	# The first stat of a directory under manifests/ (fsck's walk of it).
	fail_call newfstatat first '/manifests>, "[0-9a-f][0-9a-f]", ' \
		"$CDT" --store "$S" fsck --rebuild-refs
	assert_status 1
	assert_out_contains "unchecked manifests: cannot list: Input/output error"
	assert_out_contains ": not checked: manifests/ could not be listed; affects 'd/a'"
	case "$output" in *manifest-missing*) fail "a manifest that is there was called missing: $output" ;; esac
	run_split c fsck
	assert_status 0
}

@test "a manifest that fails to stat is unchecked, not damaged" {
	command -v strace > /dev/null || skip_or_fail "strace is not installed"
	init_store
	gen_bytes 1 100000 > a
	c add -q a
	m=$(content_id a)
	# fsck's first stat of the open manifest.
	fail_call newfstatat first "/manifests/${m:0:2}/${m:2}>, \"\", " "$CDT" --store "$S" fsck
	assert_status 1
	assert_out_contains "unchecked $m: cannot stat manifest: Input/output error; affects 'a'"
	run_split c fsck
	assert_status 0
}

@test "repair that could not check all of the store does not say nothing is damaged" {
	command -v strace > /dev/null || skip_or_fail "strace is not installed"
	init_store
	echo a > a
	c add -q a
	# Each directory read (getdents64) of repair fails in turn: the first
	# ones are of packs/ (repair stops), later ones of names/ and objects/
	# (the check goes on without what they hid).
	hit=0
	for n in 1 2 3 4 5 6; do
		run_split traced -f -o /dev/null -e trace=getdents64 \
			-e inject=getdents64:error=EIO:when="$n" "$CDT" --store "$S" repair
		assert_status 1
		case "$output" in
		*"unchecked "*)
			hit=$((hit + 1))
			assert_out_contains "no chunk found missing or damaged, but not all of the store could be checked"
			case "$output" in *"nothing to restore"*) fail "repair ($n) said nothing is damaged: $output" ;; esac
			;;
		esac
	done
	[ "$hit" -gt 0 ] || fail "no failing read left the check incomplete"
}

@test "a directory of names that fails to open keeps its name records through fsck --rebuild-refs" {
	command -v strace > /dev/null || skip_or_fail "strace is not installed"
	init_store
	mkdir -p src/d
	echo one > src/d/one
	echo two > src/d/two
	(cd src && c add -q -r d)
	# The first open of names/d: fsck's walk of the names.
	fail_call openat first '"d", O_RDONLY|O_NOFOLLOW|O_CLOEXEC|O_DIRECTORY' \
		"$CDT" --store "$S" fsck --rebuild-refs
	assert_status 1
	assert_out_contains "unchecked names/d: cannot open directory of names; affects 'd'"
	assert_out_contains "0 name records added, 0 removed"
	run_split c fsck
	assert_status 0
}

@test "a listing of names that fails while gc --recompress converts makes it fail with a message" {
	command -v strace > /dev/null || skip_or_fail "strace is not installed"
	init_store
	gen_bytes 1 100000 > a
	c add -q a
	# The second directory of names opened: the first is the mark's, the
	# second that of the walk converting contents.
	fail_call newfstatat 2 "/names>, \"\", " "$CDT" --store "$S" gc --recompress --level 5
	assert_status 1
	assert_err_contains "error: cannot list the names of '$S': Input/output error"
	c cat a > got
	cmp got a
	run_split c gc --recompress --level 5
	assert_status 0
	run_split c fsck
	assert_status 0
}

@test "a directory of names that fails to open while gc writes info/ makes gc fail, never drops its table" {
	command -v strace > /dev/null || skip_or_fail "strace is not installed"
	init_store
	mkdir -p src/d
	echo one > src/d/one
	echo two > src/two
	(cd src && c add -q -r d two)
	c rm -q two
	# The last open of names/d is that of the walk writing info/names/d.
	fail_call openat last '"d", O_RDONLY|O_NOFOLLOW|O_CLOEXEC|O_DIRECTORY' "$CDT" --store "$S" gc
	assert_status 1
	assert_err_contains "error: cannot read the names of '$S' for info/names: Input/output error"
	[ -f "$S/info/names/d" ] || fail "gc removed info/names/d"
	run_split c fsck
	assert_status 0
	run_split c cat d/one
	assert_status 0
	[ "$output" = one ]
}

@test "a file that fails to open or stat while gc marks stops it, never deletes the base of a live delta" {
	command -v strace > /dev/null || skip_or_fail "strace is not installed"
	init_store --chunk-size 4K --frame-size 16K
	"$TEST_TOOL" gen-text 11 300000 > v1
	python3 - <<'PY'
b = open('v1', 'rb').read()
out = bytearray()
for k, i in enumerate(range(0, len(b), 10000)):
    out += b[i:i + 10000] + b'<edit %d>' % k
open('v2', 'wb').write(out)
PY
	c add -q v1
	c add -q v2
	# v2 is stored as deltas against chunks of v1: those are live only as bases.
	c rm -q v1
	cp -a "$S" clean
	# Which of gc's opens (and stats) of a file are of a pack or its
	# index; then each of those calls in turn fails with EIO.
	for sc in openat %fstat; do
		rm -rf counted
		cp -a clean counted
		traced -f -y -o count.trace -e trace="$sc" "$CDT" --store "$T/counted" gc > /dev/null 2>&1
		calls=$(grep '^[0-9]* *[a-z0-9]*(' count.trace | grep -n 'pack-' | cut -d: -f1)
		[ "$(echo "$calls" | wc -w)" -gt 5 ] || fail "gc made few $sc calls on packs: $calls"
		for n in $calls; do
			rm -rf "$S"
			cp -a clean "$S"
			traced -f -o /dev/null -e trace="$sc" -e inject="$sc":error=EIO:when="$n" \
				"$CDT" --store "$S" gc > out 2> err || true
			c cat v2 > got 2> cat.err ||
				fail "gc with $sc call $n failing lost v2: $(cat cat.err); gc said: $(cat err)"
			cmp -s got v2 || fail "v2 restores other bytes after gc with $sc call $n failing"
		done
	done
}

@test "a loose chunk gc cannot read is an I/O error, not one without a good copy, and stays" {
	command -v strace > /dev/null || skip_or_fail "strace is not installed"
	init_store
	echo "a small file, stored as one loose chunk" > a
	c add -q a
	obj=$(cd "$S" && find objects -type f)
	# gc's only read of the chunk is to pack it.
	fail_call read first "/$obj>, \"CDTC" "$CDT" --store "$S" gc
	assert_status 1
	assert_one_line_err
	assert_err_contains "error: chunk ${obj:8:2}${obj:11}: cannot read chunk: Input/output error"
	[ -f "$S/$obj" ] || fail "gc removed the loose copy it could not read"
	run_split c gc
	assert_status 0
	c cat a > got
	cmp got a
	run_split c fsck
	assert_status 0
}

@test "a name entry that fails to read makes gc stop on an I/O error, not on damage" {
	command -v strace > /dev/null || skip_or_fail "strace is not installed"
	init_store
	mkdir -p src/d
	echo one > src/d/one
	echo two > src/two
	(cd src && c add -q -r d two)
	c rm -q two
	cp -a "$S" clean
	run_split traced -f -o /dev/null -P "$S/names/d/one" -e trace=read \
		-e inject=read:error=EIO "$CDT" --store "$S" gc
	assert_status 1
	assert_err_contains "error: name 'd/one': cannot read name entry: Input/output error"
	assert_err_contains "error: not collecting garbage: 1 name could not be read: what is live is unknown"
	[[ $err != *damaged* ]] || fail "an entry that could not be read was called damaged: $err"
	diff -r clean "$S" || fail "gc changed the store"
	# Beside a damaged one, only the names that could not be read are counted so.
	echo two > two2
	c add -q two2
	printf 'XXXX' | dd of="$S/names/two2" bs=1 conv=notrunc status=none
	run_split traced -f -o /dev/null -P "$S/names/d/one" -e trace=read \
		-e inject=read:error=EIO "$CDT" --store "$S" gc
	assert_status 1
	assert_err_contains "error: name 'two2' is damaged"
	assert_err_contains "error: not collecting garbage: 1 name could not be read: what is live is unknown"
}

@test "a manifest that fails to read while gc marks stops it, as an I/O error" {
	command -v strace > /dev/null || skip_or_fail "strace is not installed"
	init_store --chunk-size 4K
	# Over 1024 chunks: the mark reads the manifest's entries again, a window at a time.
	gen_bytes 1 12000000 > a
	c add -q a
	echo b > b
	c add -q b
	c rm -q b
	m=$(content_id a)
	cp -a "$S" clean
	fail_call pread64 last "/manifests/${m:0:2}/${m:2}>, " "$CDT" --store "$S" gc
	assert_status 1
	assert_err_contains "error: manifest $m, used by stored names, cannot be read: entry "
	assert_err_contains ": Input/output error"
	[[ $err != *damaged* ]] || fail "a manifest that could not be read was called damaged: $err"
	diff -r clean "$S" || fail "gc changed the store"
}

@test "an I/O error reading a pack is reported as one, not as damage to index again" {
	command -v strace > /dev/null || skip_or_fail "strace is not installed"
	init_store
	gen_bytes 1 3000000 > big
	c add -q --name big big
	# With one thread only the read of the pack's header fails.
	fail_call pread64 first '\.pack>, "CDTP' "$CDT" --store "$S" fsck -j 1
	assert_status 1
	assert_out_contains "unchecked packs/pack-"
	# Each chunk read well: no name's content is out of reach.
	assert_out_contains ": cannot read pack file: Input/output error; affects no stored name"
	[[ $output != *pack-corrupt* ]] || fail "called damage: $output"
	# Nothing was wrong with the pack.
	run_split c fsck
	assert_status 0
}

@test "an I/O error reading a pack's objects is reported as one, not as a truncated pack" {
	command -v strace > /dev/null || skip_or_fail "strace is not installed"
	init_store
	gen_bytes 1 3000000 > big
	c add -q --name big big
	# With one thread the first object read is that of the pack check.
	fail_call pread64 first '\.pack>, "CDTC' "$CDT" --store "$S" fsck -j 1
	assert_status 1
	assert_out_contains "unchecked packs/pack-"
	assert_out_contains ": cannot read pack file: Input/output error"
	[[ $output != *pack-corrupt* && $output != *truncated* ]] || fail "called damage: $output"
	run_split c fsck
	assert_status 0
}

@test "an I/O error reading a delta or its base while indexing a pack again is no damage" {
	command -v strace > /dev/null || skip_or_fail "strace is not installed"
	init_store --chunk-size 4K --frame-size 16K
	"$TEST_TOOL" gen-text 11 300000 > v1
	python3 - <<'PY'
b = open('v1', 'rb').read()
out = bytearray()
for k, i in enumerate(range(0, len(b), 10000)):
    out += b[i:i + 10000] + b'<edit %d>' % k
open('v2', 'wb').write(out)
PY
	c add -q v1
	c add -q v2
	# One pack of v1's chunks and v2's deltas against them.
	c gc > /dev/null
	rm "$S"/packs/*.idx
	# Indexing it again reads the pack in one window, then each delta
	# and its base once more.
	for k in 1 2 3; do
		fail_call pread64 "$k" '\.pack>, "CDTC' "$CDT" --store "$S" gc
		assert_status 1
		assert_err_contains "index is missing; cannot read pack file: Input/output error"
		case "$err" in *truncated*|*"between two reads"*|*"delta again"*) fail "read $k called damage: $err" ;; esac
	done
	run_split c gc
	assert_status 0
	c cat -o got v2
	cmp got v2 || fail "v2 does not restore identical"
}

@test "add and rm that cannot write info/ warn, succeed, and leave it to the next writer" {
	command -v strace > /dev/null || skip_or_fail "strace is not installed"
	init_store
	mkdir src
	echo one > src/one
	echo two > src/two
	c add -q -r src
	# The table of src/ written again fails to go into place.
	fail_call renameat first 'info/names>, "src"' "$CDT" --store "$S" rm -q src/one
	assert_status 0
	[[ $err != *error:* ]] || fail "an error for a command that succeeded: $err"
	assert_err_contains "warning: info/ of '$S' is stale"
	[ ! -e "$S/names/src/one" ]
	echo three > src/three
	fail_call renameat first 'info/names>, "src"' "$CDT" --store "$S" add -q src/three
	assert_status 0
	[[ $err != *error:* ]] || fail "an error for a command that succeeded: $err"
	assert_err_contains "warning: info/ of '$S' is stale"
	[ "$(c cat src/three)" = three ]
	# The next writer writes every table again.
	c add -q --name other src/two
	run_split c fsck
	assert_status 0
}

@test "gc and fsck --rebuild-refs fail when they cannot write info/ at their end, and only then" {
	command -v strace > /dev/null || skip_or_fail "strace is not installed"
	init_store
	mkdir src
	echo one > src/one
	gen_bytes 1 3000000 > src/big
	c add -q -r src
	c rm -q src/big
	cp -a "$S" orig
	# The first write of info/packs is gc's as it removes a pack; its
	# last one writes info/ whole.
	fail_call renameat first 'info>, "packs"' "$CDT" --store "$S" gc
	assert_status 0
	[[ $err != *error:* ]] || fail "an error for a gc that succeeded: $err"
	assert_err_contains "warning: cannot write '$S/info/packs': Input/output error"
	run_split c fsck
	assert_status 0
	rm -rf "$S"
	cp -a orig "$S"
	fail_call renameat last 'info>, "packs"' "$CDT" --store "$S" gc
	assert_status 1
	assert_err_contains "error: cannot write '$S/info/packs': Input/output error"
	# What fsck --rebuild-refs could not write again counts, even though
	# the old info/packs it left in place is right.
	rm -rf "$S"
	cp -a orig "$S"
	fail_call renameat first 'info>, "packs"' "$CDT" --store "$S" fsck --rebuild-refs
	assert_status 32
	assert_err_contains "error: cannot write '$S/info/packs': Input/output error"
	assert_out_contains "info-stale info: cannot be written again: Input/output error"
	run_split c fsck --rebuild-refs
	assert_status 0
}

@test "a chunk that fails to read only while fsck hashes contents leaves that content id unchecked" {
	command -v strace > /dev/null || skip_or_fail "strace is not installed"
	init_store
	echo "a small file" > a
	c add -q a
	m=$(content_id a)
	obj=$(cd "$S" && find objects -type f)
	# The last read of the loose chunk is that of the content-id phase.
	fail_call read last "/$obj>, \"CDTC" "$CDT" --store "$S" fsck -j 1
	assert_status 1
	assert_out_contains "unchecked $m: content id not checked: chunk ${obj:8:2}${obj:11}: cannot read chunk: Input/output error; affects 'a'"
	run_split c fsck
	assert_status 0
}

@test "packs/ that cannot be listed makes its chunks unknown, never missing" {
	command -v strace > /dev/null || skip_or_fail "strace is not installed"
	init_store
	gen_bytes 1 1000000 > big
	c add -q big
	ls "$S"/packs/*.idx > /dev/null
	# Every open of packs/ (to list it) fails.
	unlisted() {
		run_split traced -f -o /dev/null -P "$S/packs" -e trace=openat \
			-e inject=openat:error=EIO "$CDT" --store "$S" "$@"
		case "$output$err" in *"is missing"*|*chunk-missing*) fail "'$*' called a chunk missing: $output$err" ;; esac
	}
	unlisted cat big
	assert_status 1
	assert_err_contains "not found, and packs/ cannot be listed: Input/output error"
	unlisted fsck
	assert_status 1
	assert_out_contains "not checked: objects/ or packs/ could not be listed; affects 'big'"
	unlisted stats
	assert_status 1
	assert_err_contains "error: cannot list packs/: Input/output error"
	run_split c fsck
	assert_status 0
}

@test "a base that fails to read under a delta is named with its cause" {
	command -v strace > /dev/null || skip_or_fail "strace is not installed"
	init_store --chunk-size 4K
	"$TEST_TOOL" gen-text 11 300000 > v1
	python3 - <<'PY'
b = open('v1', 'rb').read()
out = bytearray()
for k, i in enumerate(range(0, len(b), 1000)):
    out += b[i:i + 1000] + b'<%d>' % k
open('v2', 'wb').write(out)
PY
	c add -q v1
	pack=$(ls "$S"/packs/*.pack)
	c add -q v2
	# v2's chunks are deltas against those of v1: the first read of
	# v1's pack (in each thread) is of a base, and fails.
	run_split traced -f -o /dev/null -P "$pack" -e trace=pread64 \
		-e inject=pread64:error=EIO:when=1 "$CDT" --store "$S" cat v2
	assert_status 1
	assert_one_line_err
	assert_err_contains "): its base chunk "
	assert_err_contains " cannot be read: pack "
	assert_err_contains ": cannot read the object at offset "
	assert_err_contains ": Input/output error"
}

@test "a name entry that fails to read is no damaged name for rm to remove" {
	command -v strace > /dev/null || skip_or_fail "strace is not installed"
	init_store
	mkdir -p src/d
	echo one > src/d/one
	(cd src && c add -q -r d)
	cp -a "$S" clean
	# Every read of the entry of directory d fails: without -r it may
	# be a directory, and with it, what it holds is unknown.
	for opt in "" -r; do
		run_split traced -f -o /dev/null -P "$S/names/d/"$'\001'dir -e trace=read \
			-e inject=read:error=EIO "$CDT" --store "$S" rm $opt d
		assert_status 1
		assert_one_line_err
		assert_err_contains "error: name 'd': "
		assert_err_contains "Input/output error"
		diff -r clean "$S" || fail "rm $opt changed the store"
	done
}

@test "gc --recompress and add that cannot write info/packs as packs come and go warn, and succeed" {
	command -v strace > /dev/null || skip_or_fail "strace is not installed"
	init_store
	gen_bytes 1 300000 > a
	c add -q a
	cp -a "$S" orig
	# The first three writes of info/packs are those of the conversion:
	# after it checks the indexes, as it commits a pack, as it removes
	# the old ones. The last one is gc's, writing info/ whole.
	for k in 1 2 3; do
		rm -rf "$S"
		cp -a orig "$S"
		fail_call renameat "$k" 'info>, "packs"' "$CDT" --store "$S" gc --recompress --level 5
		assert_status 0
		[[ $err != *error:* ]] || fail "an error for a gc that succeeded (write $k): $err"
		assert_err_contains "warning: cannot write '$S/info/packs': Input/output error"
		run_split c fsck
		assert_status 0
	done
	# add commits its pack the same way.
	gen_bytes 2 3000000 > b
	fail_call renameat first 'info>, "packs"' "$CDT" --store "$S" add -q b
	assert_status 0
	[[ $err != *error:* ]] || fail "an error for an add that succeeded: $err"
	assert_err_contains "warning: cannot write '$S/info/packs': Input/output error"
	assert_err_contains "warning: info/ of '$S' is stale"
	c cat b > got
	cmp got b
}

@test "a name entry that fails to read makes gc --recompress stop on an I/O error, not on damage" {
	command -v strace > /dev/null || skip_or_fail "strace is not installed"
	init_store
	mkdir -p src/d
	echo one > src/d/one
	(cd src && c add -q -r d)
	cp -a "$S" clean
	run_split traced -f -o /dev/null -P "$S/names/d/one" -e trace=read \
		-e inject=read:error=EIO "$CDT" --store "$S" gc --recompress --level 5
	assert_status 1
	assert_err_contains "error: name 'd/one': cannot read name entry: Input/output error"
	assert_err_contains "error: not converting: 1 name could not be read: what is live is unknown"
	[[ $err != *damaged* ]] || fail "an entry that could not be read was called damaged: $err"
	diff -r clean "$S" || fail "gc --recompress changed the store"
}

@test "a table of info/names gc fails to write is said as such, never as names it could not read" {
	command -v strace > /dev/null || skip_or_fail "strace is not installed"
	init_store
	mkdir -p src/d
	echo one > src/d/one
	echo two > src/two
	(cd src && c add -q -r d two)
	c rm -q two
	# The last write of info/names/d is that of gc writing info/ whole.
	fail_call renameat last 'info/names>, "d"' "$CDT" --store "$S" gc
	assert_status 1
	assert_err_contains "error: cannot write '$S/info/names/d': Input/output error"
	[[ $err != *"cannot read"* ]] || fail "a failed write was called a failed read: $err"
	run_split c fsck --rebuild-refs
	assert_status 0
	run_split c fsck
	assert_status 0
}

@test "a loose chunk gc packed but fails to remove is named in a warning, and goes at the next gc" {
	command -v strace > /dev/null || skip_or_fail "strace is not installed"
	init_store
	echo hello > h
	c add -q h
	obj=$(cd "$S/objects" && find . -type f | cut -c3-)
	[ -n "$obj" ] || fail "no loose chunk"
	fail_call unlinkat first "/objects>, \"$obj\", 0)" "$CDT" --store "$S" gc
	assert_status 0
	assert_err_contains "warning: cannot remove loose chunk ${obj:0:2}${obj:3}, packed now: Input/output error"
	[ -f "$S/objects/$obj" ] || fail "the chunk is gone after all"
	run_split c fsck
	assert_status 0
	run_split c gc
	assert_status 0
	[ ! -e "$S/objects/$obj" ] || fail "the next gc left the loose copy"
	[ "$(c cat h)" = hello ]
}

@test "a chunk that fails to read while fsck checks chunk data in threads is unchecked, not damaged" {
	command -v strace > /dev/null || skip_or_fail "strace is not installed"
	init_store
	for i in 1 2 3 4 5 6; do echo "file $i" > f$i; done
	c add -q f1 f2 f3 f4 f5 f6
	obj=$(cd "$S" && find objects -type f | sort | sed -n 3p)
	cp -a "$S" clean
	# Every read of that chunk fails, in whichever thread reads it.
	run_split traced -f -o /dev/null -P "$S/$obj" -e trace=read \
		-e inject=read:error=EIO "$CDT" --store "$S" fsck -j 2
	assert_status 1
	assert_out_contains "unchecked ${obj:8:2}${obj:11}: cannot read chunk: Input/output error; affects 'f"
	[[ $output != *chunk-corrupt* ]] || fail "an I/O error was called damage: $output"
	diff -r clean "$S" || fail "fsck changed the store"
}

@test "an object of a pack that fails to read is named by its pack and offset" {
	command -v strace > /dev/null || skip_or_fail "strace is not installed"
	init_store
	gen_bytes 1 1000000 > big
	c add -q big
	pack=$(ls "$S"/packs/*.pack)
	pack=${pack##*/}
	# Every read of the pack fails; the first object of the file is its first.
	run_split traced -f -o /dev/null -P "$S/packs/$pack" -e trace=pread64 \
		-e inject=pread64:error=EIO "$CDT" --store "$S" cat -j 1 big
	assert_status 1
	assert_one_line_err
	assert_err_contains "error: cannot read 'big' at offset 0: chunk "
	assert_err_contains "): pack ${pack%.pack}: cannot read the object at offset 8: Input/output error"
}

@test "a packed copy that fails to read beside a damaged loose one makes the chunk unreadable, not damaged" {
	command -v strace > /dev/null || skip_or_fail "strace is not installed"
	init_store
	echo "a small file, stored as one loose chunk" > a
	c add -q a
	obj=$(cd "$S" && find objects -type f)
	cp "$S/$obj" loose
	c gc > /dev/null
	# The loose copy comes back, damaged, beside the packed one.
	mkdir -p "$S/${obj%/*}"
	cp loose "$S/$obj"
	printf X | dd of="$S/$obj" bs=1 seek=14 conv=notrunc 2> /dev/null
	pack=$(ls "$S"/packs/*.pack)
	pack=${pack##*/}
	cp -a "$S" clean
	for cmd in "cat a" "fsck -j 1"; do
		run_split traced -f -o /dev/null -P "$S/packs/$pack" -e trace=pread64 \
			-e inject=pread64:error=EIO "$CDT" --store "$S" $cmd
		assert_status 1
		case "$output$err" in *"does not match"*|*chunk-corrupt*) fail "'$cmd' called damage: $output$err" ;; esac
		[[ $output$err == *"Input/output error; another copy is damaged"* ]] || fail "'$cmd' did not say why: $output$err"
	done
	assert_out_contains "unchecked ${obj:8:2}${obj:11}: pack ${pack%.pack}: cannot read the object at offset 8: Input/output error; another copy is damaged; affects 'a'"
	diff -r clean "$S" || fail "fsck changed the store"
	# With the pack readable, the damaged loose copy is only garbage.
	c cat a > got
	cmp got a
}

@test "a pack index that cannot be read makes its chunks unknown, never missing" {
	command -v strace > /dev/null || skip_or_fail "strace is not installed"
	init_store
	gen_bytes 1 1000000 > big
	c add -q big
	idx=$(ls "$S"/packs/*.idx)
	idx=${idx##*/}
	not_missing() {
		case "$output$err" in *"is missing"*|*chunk-missing*|*pack-corrupt*) fail "called missing or damaged: $output$err" ;; esac
	}
	# The first open of the index (the first listing of packs/) fails.
	FAIL_ERRNO=EMFILE fail_call openat first "/packs>, \"$idx\"" "$CDT" --store "$S" cat -j 1 big
	assert_status 1
	assert_err_contains "error: cannot read 'big' at offset 0: chunk "
	assert_err_contains "): not found, and pack index 'packs/$idx' cannot be read: Too many open files"
	not_missing
	fail_call openat first "/packs>, \"$idx\"" "$CDT" --store "$S" verify -j 1 big
	assert_status 1
	assert_err_contains "): not found, and pack index 'packs/$idx' cannot be read: Input/output error"
	not_missing
	fail_call openat first "/packs>, \"$idx\"" "$CDT" --store "$S" fsck -j 1
	assert_status 1
	assert_out_contains ": not checked: pack index 'packs/$idx' could not be read (Input/output error); affects 'big'"
	not_missing
	# Every open of it fails: as packs/ is listed, as the pack set tries it
	# again (after a few lookups or seconds, so never counted), and as fsck
	# checks the files of packs/. strace -P injects only into calls naming it.
	run_split traced -f -o "$T/idx.trace" -P "$idx" -e trace=openat \
		-e inject=openat:error=EIO "$CDT" --store "$S" fsck -j 1
	assert_status 1
	[ "$(grep -c "\"$idx\".*(INJECTED)" "$T/idx.trace")" -ge 2 ] ||
		fail "fsck does not open the index again: $(cat "$T/idx.trace")"
	assert_out_contains "unchecked packs/${idx%.idx}: index cannot be read: Input/output error"
	not_missing
	run_split c fsck
	assert_status 0
}

@test "a loose copy that fails to read does not hide a good packed one" {
	command -v strace > /dev/null || skip_or_fail "strace is not installed"
	init_store
	echo "a small file, stored as one loose chunk" > a
	c add -q a
	obj=$(cd "$S" && find objects -type f)
	cp "$S/$obj" loose
	c gc > /dev/null
	# The loose copy comes back beside the packed one, and fails to read.
	mkdir -p "$S/${obj%/*}"
	cp loose "$S/$obj"
	run_split traced -f -o /dev/null -P "$S/$obj" -e trace=read \
		-e inject=read:error=EIO "$CDT" --store "$S" cat a
	assert_status 0
	[ "$output" = "$(cat a)" ] || fail "cat gave other bytes: $output"
	# With the packed copy damaged too, the read error is what is said.
	printf X | dd of="$(ls "$S"/packs/*.pack)" bs=1 seek=30 conv=notrunc 2> /dev/null
	run_split traced -f -o /dev/null -P "$S/$obj" -e trace=read \
		-e inject=read:error=EIO "$CDT" --store "$S" cat a
	assert_status 1
	assert_one_line_err
	assert_err_contains "cannot read chunk: Input/output error; another copy is damaged"
}

@test "a delta that fails to read while fsck learns its base leaves it unchecked, its base no garbage" {
	command -v strace > /dev/null || skip_or_fail "strace is not installed"
	init_store --chunk-size 4K --frame-size 16K
	"$TEST_TOOL" gen-text 11 300000 > v1
	# v2: v1 with a short edit every 10 KB, stored as deltas against v1's chunks.
	python3 - v1 v2 <<'EOF2'
import sys
b = open(sys.argv[1], 'rb').read()
out = bytearray()
for i in range(0, len(b), 10000):
    out += b[i:i + 10000] + b'<edit %d>' % i
open(sys.argv[2], 'wb').write(out)
EOF2
	c add -q v1
	c add -q v2
	c rm -q v1
	# The first read of a delta: fsck learning which base it needs.
	fail_call pread64 first '\.pack>, "CDTC\\2\\2\\2' "$CDT" --store "$S" fsck -v -j 1
	assert_status 1
	assert_out_contains ": cannot read the object at offset "
	assert_out_contains "Input/output error; its base is not known"
	case "$output" in *garbage-chunk*|*"no manifest lists it"*) fail "a base called garbage: $output" ;; esac
	run_split c fsck -v
	assert_status 0
	c cat v2 | cmp - v2
}

@test "a pack index that fails to open while gc checks it is left as it is, and gc stops" {
	command -v strace > /dev/null || skip_or_fail "strace is not installed"
	init_store
	gen_bytes 1 1000000 > big
	c add -q big
	idx=$(ls "$S"/packs/*.idx)
	idx=${idx##*/}
	# gc's first open of the index: as it checks every index.
	fail_call openat first "/packs>, \"$idx\"" "$CDT" --store "$S" gc
	assert_status 1
	assert_one_line_err
	assert_err_contains "error: pack ${idx%.idx}: index cannot be read: Input/output error; not collecting garbage"
	diff -r "$T/clean" "$S" || fail "gc changed the store"
	[ "$(stat -c %y "$S/packs/$idx")" = "$(stat -c %y "$T/clean/packs/$idx")" ] ||
		fail "gc wrote the index again"
	run_split c gc
	assert_status 0
	c cat big | cmp - big
}

@test "a pack without its index that fails to read while gc indexes it is said once, as not known" {
	command -v strace > /dev/null || skip_or_fail "strace is not installed"
	init_store
	gen_bytes 1 1000000 > big
	c add -q big
	pack=$(ls "$S"/packs/*.pack)
	name=${pack##*/}
	rm "${pack%.pack}.idx"
	cp -a "$S" clean
	run_split traced -f -o /dev/null -P "$pack" -e trace=pread64,read \
		-e inject=pread64,read:error=EIO "$CDT" --store "$S" gc
	assert_status 1
	assert_err_contains "warning: pack ${name%.pack}: index is missing; cannot read pack file: Input/output error; keeping it: what it holds is not known (run 'cdt fsck')"
	assert_err_contains "error: 1 pack could not be indexed and was kept as it is"
	[ "$(grep -c "${name%.pack}" "$T/.err")" = 1 ] || fail "the pack is said more than once: $err"
	[ -f "$pack" ] || fail "gc removed the pack it could not read"
	run_split c gc
	assert_status 0
	c cat big | cmp - big
}

@test "a pack index that fails to open once is opened again by a later lookup" {
	command -v strace > /dev/null || skip_or_fail "strace is not installed"
	init_store --chunk-size 1K
	# a: some 600 chunks, more lookups than an index that failed waits for.
	"$TEST_TOOL" gen-text 1 600000 > a
	c add -q a
	ls "$S"/packs > before
	"$TEST_TOOL" gen-text 2 100000 > b
	c add -q b
	idx=$(ls "$S"/packs | grep '\.idx$' | grep -v -F -f before)
	# b's index fails to open as packs/ is first listed, at a's first chunk.
	FAIL_ERRNO=EMFILE fail_call openat first "/packs>, \"$idx\"" "$CDT" --store "$S" cat -j 1 a b
	assert_status 0
	cat a b | cmp - "$T/.out"
}

@test "a pack index that cannot be read is said once by cat and push" {
	command -v strace > /dev/null || skip_or_fail "strace is not installed"
	init_store
	gen_bytes 1 1000000 > big
	c add -q big
	idx=$(ls "$S"/packs/*.idx)
	idx=${idx##*/}
	FAIL_ERRNO=EMFILE fail_call openat first "/packs>, \"$idx\"" "$CDT" --store "$S" cat -j 1 big
	assert_status 1
	assert_one_line_err
	assert_err_contains "): not found, and pack index 'packs/$idx' cannot be read: Too many open files"
	# push, which reads in a thread (strace counts calls per thread):
	# counted on one new store, failing on another.
	"$CDT" init -q "$T/d1"
	"$CDT" init -q "$T/d2"
	traced -f -y -o "$T/count.trace" -P "$S/packs" -e trace=openat \
		"$CDT" --store "$S" push -j 1 "$T/d1" > /dev/null 2>&1
	tid=$(grep -m 1 "/packs>, \"$idx\"" "$T/count.trace" | cut -d' ' -f1)
	n=$(grep "^$tid  *openat(" "$T/count.trace" | grep -n -- "/packs>, \"$idx\"" | head -n 1 |
		cut -d: -f1)
	run_split traced -f -o /dev/null -P "$S/packs" -e trace=openat \
		-e inject=openat:error=EIO:when="$n" "$CDT" --store "$S" push -j 1 "$T/d2"
	assert_status 1
	assert_err_contains "not found, and pack index 'packs/$idx' cannot be read: Input/output error"
	[ "$(grep -c "$idx" "$T/.err")" = 1 ] || fail "the index is said more than once: $err"
	! grep -q "was read as content" "$T/.err" || fail "bytes cut short by the read error were called other content: $err"
}

@test "a name removed between the listing of its directory and the reading of its entry is gone, not damaged" {
	init_store
	mkdir -p src/d
	echo a > src/a
	echo b > src/d/b
	c add -q -r --prefix g src
	# The entry of b, then the whole directory d, vanish once listed (as rm makes them).
	FAIL_ERRNO=ENOENT fail_call openat first '"b", O_RDONLY|O_NOFOLLOW|O_CLOEXEC' "$CDT" --store "$S" ls g
	assert_status 0
	assert_out_contains "g/src/a"
	[ -z "$err" ] || fail "said: $err"
	FAIL_ERRNO=ENOENT fail_call openat first '"d", O_RDONLY|O_NOFOLLOW|O_CLOEXEC|O_DIRECTORY' \
		"$CDT" --store "$S" ls g
	assert_status 0
	[ "$output" = "$(printf 'g/src\ng/src/a')" ] || fail "listed: $output"
	[ -z "$err" ] || fail "said: $err"
}

@test "a config that cannot be read (I/O error) is stood in for by its copy" {
	init_store
	printf 'x\n' > f
	c add -q f
	fail_call openat first '"config"' "$CDT" --store "$S" cat f
	assert_status 0
	[ "$output" = x ]
	assert_err_contains "cannot read config: Input/output error): using its copy"
}
