#!/usr/bin/env bats
# cdt repair: healing chunks from local files, which files it reads, and what
# it must never touch.

load test_helper
load lib-integrity

@test "repair heals a chunk from a different file that shares it" {
	init_store --chunk-size 4K --frame-size 0	# the damage reaches one chunk
	gen_bytes 1 200000 > stored
	c add -q stored
	# The chunk that starts after 100 KB.
	off=$("$TEST_TOOL" chunk fastcdc 4096 stored | awk '$1 >= 100000 { print $1; exit }')
	len=$("$TEST_TOOL" chunk fastcdc 4096 stored | awk -v o="$off" '$1 == o { print $2 }')
	id=$(piece_id stored "$off" "$len")
	# A file this size is stored in a pack: damage the chunk's object there.
	[ -n "$(packed_object "$id")" ] || fail "expected the chunk in a pack"
	damage_chunk "$id"
	run_split c fsck
	assert_status 4
	assert_out_contains "chunk-corrupt $id: pack pack-"
	assert_out_contains "fails its CRC; affects 'stored'"
	assert_out_contains "pack-corrupt packs/pack-"
	# Another file: other bytes first, then the second half of the stored one.
	{ gen_bytes 2 7777; tail -c +50001 stored; } > other
	run_split c repair --from other
	assert_status 0
	assert_out_contains "restored chunk $id ($len bytes) from 'other' at offset $((off - 50000 + 7777))"
	assert_out_contains "rewrote damaged pack pack-"
	assert_out_contains "healthy again: 'stored'"
	assert_fsck_clean
	c cat -o out stored
	cmp out stored
}

@test "repair reports what it could not heal" {
	make_fixture
	rm "$(obj_path "$A0")" "$(obj_path "$B1")"
	run_split c repair --from src/a
	assert_status 1
	assert_out_contains "restored chunk $A0 (4096 bytes) from 'src/a' at offset 0"
	assert_out_contains "chunk-missing $B1: chunk is missing; affects 'b'"
	assert_out_contains "healthy again: 'a'"
	assert_out_contains "healthy again: 'copy/a'"
	assert_out_contains "still damaged: 'b'"
	assert_out_contains "restored 1 of 2 missing or damaged chunks; 2 names healthy again, 1 still damaged"
	run_split c fsck
	assert_status 4
}

@test "repair with nothing damaged restores nothing and reads no file" {
	make_fixture
	before=$(store_snapshot)
	run_split c repair --from src/a
	assert_status 0
	assert_out_contains "no chunk is missing or damaged: nothing to restore"
	case "$output" in *"read "*) fail "a file was read: $output" ;; esac
	[ "$(store_snapshot)" = "$before" ]
}

@test "repair never replaces a good chunk and never changes its source" {
	make_fixture
	rm "$(obj_path "$A2")"
	ino=$(stat -c %i "$(obj_path "$A1")")
	sum=$(sha256sum src/a)
	mtime=$(stat -c %Y src/a)
	chmod a-w src/a
	run_split c repair --from src/a
	assert_status 0
	[ "$(stat -c %i "$(obj_path "$A1")")" = "$ino" ] || fail "a good chunk was rewritten"
	[ "$(sha256sum src/a)" = "$sum" ] && [ "$(stat -c %Y src/a)" = "$mtime" ] ||
		fail "the source file changed"
	[ -z "$(ls "$S/tmp")" ] || fail "left temporary files: $(ls "$S/tmp")"
}

@test "repair --scan reads only files that can hold a wanted chunk" {
	make_fixture
	rm "$(obj_path "$A4")"	# a's 3616-byte tail: only the tail of a file can match
	mkdir -p tree/sub
	gen_bytes 5 8192 > tree/blocks		# whole blocks: cannot end in 3616 bytes
	gen_bytes 6 100 > tree/small		# smaller than any wanted chunk
	cp src/a tree/sub/a-copy
	ln -s ../src/a tree/link		# links are not followed
	run_split c repair --scan tree
	assert_status 0
	assert_out_contains "restored chunk $A4 (3616 bytes) from 'tree/sub/a-copy' at offset 16384"
	assert_out_contains "read 1 file (3.5 KiB) in "
	assert_out_contains "; 2 skipped unread"
	assert_fsck_clean
	assert_all_restore
}

@test "repair --scan stops once nothing is wanted and leaves the store out" {
	init_store --chunk-size 4K
	mkdir tree
	gen_bytes 1 50000 > tree/a
	gen_bytes 2 50000 > tree/b
	c add -q --name a tree/a
	id=$("$TEST_TOOL" chunk fastcdc 4096 tree/a | head -n 1 | { read -r o l; piece_id tree/a "$o" "$l"; })
	rm "$(obj_path "$id")"
	# The store itself is inside the scanned tree.
	mv "$S" tree/store
	S=$T/tree/store
	run_split c repair --scan tree
	assert_status 0
	assert_out_contains "restored chunk $id"
	assert_out_contains "read 1 file (48.8 KiB)"
	assert_fsck_clean
}

@test "repair fails when a source cannot be read, before any work" {
	make_fixture
	run_split c repair --from nope
	assert_status 1
	assert_err_contains "cannot read 'nope': No such file or directory"
	run_split c repair --from src
	assert_status 1
	assert_err_contains "not a regular file (use --scan for a directory)"
	run_split c repair --scan src/a
	assert_status 1
	assert_err_contains "cannot scan 'src/a': not a directory"
}

@test "repair rejects bad usage" {
	init_store
	run_split c repair stray
	assert_status 2
	assert_err_contains "unexpected argument 'stray': give files with --from FILE or --scan DIR"
	run_split c repair --from a --scan b c
	assert_status 2
	run_split c repair --bogus
	assert_status 2
}

@test "repair takes the exclusive lock while cat and verify need none" {
	command -v flock >/dev/null || skip_or_fail "flock(1) is not installed"
	make_fixture
	rm "$(obj_path "$A0")"
	# An add holds the shared lock: repair must not run beside it.
	CDT_LOCK_NOWAIT=1 run_split flock -s "$S/lock" "$CDT" --store "$S" repair --from src/a
	assert_status 1
	assert_err_contains "is locked by another cdt process"
	# Readers take no lock, so they work while a repair holds it.
	run_split flock -x "$S/lock" "$CDT" --store "$S" cat -o "$T/out" b
	assert_status 0
	run_split flock -x "$S/lock" "$CDT" --store "$S" verify b
	assert_status 0
}

@test "repair --scan refuses the store itself or a directory in it, before any work" {
	init_store --chunk-size 4K
	gen_bytes 1 50000 > a
	c add -q a
	id=$("$TEST_TOOL" chunk fastcdc 4096 a | head -n 1 | { read -r o l; piece_id a "$o" "$l"; })
	rm "$(obj_path "$id")"
	for dir in "$S" "$S/objects" "$S/"; do
		run_split c repair --scan "$dir"
		assert_status 1
		assert_one_line_err
		[ "$err" = "error: cannot scan '$dir': it is in the store '$S'" ] || fail "$err"
		[ -z "$output" ] || fail "repair did work: $output"
	done
	run_split c repair --scan "$T"
	assert_status 0
	assert_out_contains "restored chunk $id"
	assert_out_contains "read 1 file (48.8 KiB)"
}

@test "repair never waits on a FIFO that took a file's place" {
	make_fixture
	rm "$(obj_path "$A0")"
	for how in "--from src/a" "--scan src"; do
		cp src/copy/a src/a
		CDT_TEST_PAUSE=repair-open "$CDT" --store "$S" repair $how > r.out 2> r.err &
		pid=$!
		wait_stopped $pid
		rm src/a
		mkfifo src/a
		kill -CONT $pid
		# Opening a FIFO waits for a writer: give it 10 s, then fail (a
		# scan stops again before each later file). Continued only when
		# stopped: signals sent while it exits would upset the leak
		# checker of a sanitizer build, which stops its threads.
		state=
		for i in $(seq 1 500); do
			state=$(cut -d' ' -f3 "/proc/$pid/stat" 2> /dev/null) || break
			[ "$state" != Z ] || break
			[ "$state" != T ] || kill -CONT $pid 2> /dev/null
			sleep 0.02
		done
		if [ -n "$state" ] && [ "$state" != Z ] && [ -e "/proc/$pid" ]; then
			kill -9 $pid
			fail "repair $how still running on the FIFO (state $state)"
		fi
		status=0
		wait $pid || status=$?
		err=$(cat r.err)
		assert_status 1
		assert_err_contains "cannot read 'src/a': not a regular file"
		rm src/a
	done
}

@test "repair writes many chunks back with a few syncs, each durable before it is in place" {
	command -v strace > /dev/null || skip_or_fail "strace is not installed"
	init_store --chunk-size 4K --frame-size 0
	gen_bytes 3 600000 > stored
	c add -q stored
	rm "$S"/packs/pack-*
	traced -f -y -o trace.log -e trace=openat,syncfs,fsync,fdatasync,rename,renameat,renameat2 \
		"$CDT" --store "$S" repair --from stored > out 2> err || { cat err; false; }
	n=$(grep -c "^restored chunk" out || true)
	[ "$n" -ge 100 ] || fail "expected at least 100 chunks restored, got $n"
	# Every object renamed into place after a sync that follows its writing,
	# and a sync after the last rename; a few syncs in all, not two a chunk.
	python3 - trace.log <<'PY' || false
import re, sys
ev = []
for line in open(sys.argv[1]):
    m = re.match(r'\d+\s+(\w+)\((.*)\)\s+=\s+(\d+)', line.strip())
    if m:
        ev.append((m.group(1), m.group(2)))
syncs = [i for i, (c, a) in enumerate(ev) if c in ('syncfs', 'fsync', 'fdatasync')]
made = {}
renames = 0
for i, (c, a) in enumerate(ev):
    names = re.findall(r'"([^"]*)"', a)
    if c == 'openat' and names and names[0].startswith('repair-'):
        made[names[0]] = i
    if c.startswith('rename') and '/objects>' in a:
        renames += 1
        t = made.get(names[0])
        if t is None or not any(t < s < i for s in syncs):
            sys.exit("renamed into place without a sync after it was written: " + names[0])
        if not any(s > i for s in syncs):
            sys.exit("no sync after " + names[0] + " was put in place")
if renames < 100:
    sys.exit("expected 100 renames into objects/, saw %d" % renames)
if len(syncs) > 12:
    sys.exit("%d syncs for %d chunks" % (len(syncs), renames))
PY
	assert_fsck_clean
	c cat -o back stored
	cmp back stored
}

@test "repair writes a damaged manifest back from a file of its content, and leaves the names as they were" {
	make_fixture
	m=$(manifest_path src/a)
	chmod u+w "$m"
	flip_byte "$m" 20
	names_before=$(cd "$S/names" && find . -type f -exec sha256sum {} + | sort)
	run_split c fsck
	assert_status 8
	assert_out_contains "manifest-corrupt $(file_id src/a)"
	# src/b has a's size and other bytes: read, not taken.
	run_split c repair --from src/b src/a
	assert_status 0
	# Named by a name that uses it (a or copy/a).
	assert_out_contains "restored manifest $(file_id src/a) of '"
	assert_out_contains "a' from 'src/a'"
	assert_out_contains "healthy again: 'a'"
	assert_out_contains "healthy again: 'copy/a'"
	assert_out_contains "restored 1 of 1 missing or damaged manifest"
	[ -z "$err" ] || fail "said: $err"	# src/b is not reported, nor the heal twice
	[ "$(cd "$S/names" && find . -type f -exec sha256sum {} + | sort)" = "$names_before" ]
	assert_fsck_clean
	assert_all_restore
}

@test "repair writes back a missing manifest and the damaged chunks only it listed" {
	init_store --chunk-size 4K --frame-size 0
	gen_bytes 4 300000 > f
	c add -q f
	rm "$(manifest_path f)"
	# Damage a chunk of f: no readable manifest lists it, so the check cannot tie it to f.
	off=$("$TEST_TOOL" chunk fastcdc 4096 f | awk '$1 >= 100000 { print $1; exit }')
	len=$("$TEST_TOOL" chunk fastcdc 4096 f | awk -v o="$off" '$1 == o { print $2 }')
	id=$(piece_id f "$off" "$len")
	damage_chunk "$id"
	run_split c repair --from f
	assert_status 0
	assert_out_contains "restored chunk $id ($len bytes) from 'f' at offset $off"
	assert_out_contains "restored manifest $(file_id f) of 'f' from 'f'"
	assert_out_contains "healthy again: 'f'"
	assert_fsck_clean
	c cat -o back f
	cmp back f
}

@test "a missing manifest whose chunk is missing too comes back with it, and says so" {
	make_fixture
	rm "$(manifest_path src/b)" "$(obj_path "$B1")"
	run_split c repair --from src/b
	assert_status 0
	assert_out_contains "restored manifest $(file_id src/b) of 'b' from 'src/b', with 1 missing chunk it lists"
	assert_out_contains "restored 1 of 1 missing or damaged chunk; 1 name healthy again, 0 still damaged"
	assert_fsck_clean
	c cat -o out b
	cmp out src/b
}

@test "a damaged manifest with no file of its content is still damaged after repair" {
	make_fixture
	rm "$(manifest_path src/b)"
	gen_bytes 9 20000 > other
	run_split c repair --from other
	assert_status 1
	assert_out_contains "still damaged: 'b'"
	assert_out_contains "restored 0 of 1 missing or damaged manifest"
	run_split c fsck
	assert_status 8
}

@test "repair of chunks whose packs were deleted leaves info/packs listing the packs there are" {
	init_store --chunk-size 4K --frame-size 0
	gen_bytes 3 200000 > stored
	gen_bytes 4 100000 > kept
	c add -q stored
	pack=$(ls "$S/packs" | sed -n 's/\.pack$//p')
	[ -n "$pack" ] || fail "expected a pack: $(ls "$S/packs")"
	c add -q kept
	[ "$(ls "$S"/packs/pack-*.pack | wc -l)" = 2 ] || fail "expected two packs: $(ls "$S/packs")"
	rm "$S/packs/$pack".*
	run_split c fsck --quick
	assert_status 36
	assert_out_contains "info-stale info/packs: lists $pack, which is not in packs/"
	run_split c repair --from stored
	assert_status 0
	assert_out_contains "healthy again: 'stored'"
	# The other pack still listed, the lost one no more: nothing is stale.
	"$TEST_TOOL" info packs "$S/info/packs" > listed
	grep -q '^pack-' listed || fail "the pack left is not listed: $(cat listed)"
	! grep -q "$pack" listed || fail "the lost pack is still listed"
	assert_fsck_clean
	c cat -o back stored
	cmp back stored
}

@test "SIGINT while a batch of hundreds of chunks is staged leaves no temporary files" {
	init_store --chunk-size 4K --frame-size 0
	gen_bytes 5 3000000 > stored
	c add -q stored
	rm "$S"/packs/pack-*
	# Stopped with every chunk of the file written to tmp/, none synced yet.
	env --default-signal=INT CDT_TEST_PAUSE=repair-commit \
		"$CDT" --store "$S" repair --from stored > out 2> err &
	pid=$!
	wait_stopped $pid
	n=$(ls "$S/tmp" | wc -l)
	[ "$n" -gt 300 ] || fail "expected more than 300 staged chunks, saw $n"
	kill -INT $pid
	kill -CONT $pid
	status=0
	wait $pid || status=$?
	assert_status 130
	[ -z "$(ls -A "$S/tmp")" ] || fail "left $(ls "$S/tmp" | wc -l) temporary files"
	run_split c repair --from stored
	assert_status 0
	assert_fsck_clean
}

@test "many lost manifests are written back in a few group commits, with a damaged chunk only one listed" {
	command -v strace > /dev/null || skip_or_fail "strace is not installed"
	init_store --chunk-size 4K --frame-size 0
	mkdir src
	for i in $(seq 1 300); do printf 'file %d\n' "$i" > "src/f$i"; done
	gen_bytes 4 300000 > src/big
	c add -q -r src
	rm -r "$S"/manifests/*
	off=$("$TEST_TOOL" chunk fastcdc 4096 src/big | awk '$1 >= 100000 { print $1; exit }')
	len=$("$TEST_TOOL" chunk fastcdc 4096 src/big | awk -v o="$off" '$1 == o { print $2 }')
	id=$(piece_id src/big "$off" "$len")
	damage_chunk "$id"
	traced -f -o trace.log -e trace=syncfs,fsync,fdatasync \
		"$CDT" --store "$S" repair --scan src > out 2> err || { cat out err; false; }
	[ -z "$(cat err)" ] || fail "said: $(cat err)"
	grep -q "restored 301 of 301 missing or damaged manifests" out || fail "$(tail -3 out)"
	grep -q "restored chunk $id ($len bytes) from 'src/big' at offset $off" out || fail "$(grep chunk out)"
	[ "$(grep -c "^restored manifest" out)" = 301 ]
	# Two batches of heals (256 a commit), not a durable commit a file.
	n=$(grep -cE '(syncfs|fsync|fdatasync)\(' trace.log)
	[ "$n" -le 40 ] || fail "$n syncs for 301 manifests"
	assert_fsck_clean
	c cat -o back src/big
	cmp back src/big
	c cat -o back src/f300
	cmp back src/f300
}

# Damaged name entries and their copies in info/names/.

# names/ and info/ as they are (path and checksum of every file).
names_snapshot() {
	(cd "$S" && find names info -type f ! -name lock -print0 | sort -z | xargs -0 sha256sum)
}

@test "repair writes damaged name entries back from info/names/, byte for byte" {
	make_fixture
	cp "$S/names/copy/a" copy-a.entry
	cp "$S/names/a" a.entry
	cp "$S/names/b" b.entry
	flip_byte "$S/names/copy/a" 30				# a bad checksum
	cp "$S/names/c" "$S/names/a"				# another name's entry
	head -c 50 b.entry > "$S/names/b"			# cut short
	run_split c fsck
	assert_status 16
	assert_out_contains "name-corrupt names/copy/a: name entry checksum does not match its contents; cdt repair can restore it from info/names/copy; affects 'copy/a'"
	assert_out_contains "; cdt repair can restore it from info/names/a; affects 'a'"
	assert_out_contains "; cdt repair can restore it from info/names/b; affects 'b'"
	run_split c repair
	assert_status 0
	assert_out_contains "restored name 'a' from info/names/a"
	assert_out_contains "restored name 'b' from info/names/b"
	assert_out_contains "restored name 'copy/a' from info/names/copy"
	assert_out_contains "restored 3 of 3 damaged name entries"
	cmp copy-a.entry "$S/names/copy/a"
	cmp a.entry "$S/names/a"
	cmp b.entry "$S/names/b"
	assert_fsck_clean
	assert_all_restore
}

@test "a copy in info/names/ from before the name changed is not written back" {
	init_store
	echo one > f
	c add -q f
	cp "$S/info/names/f" old-table
	echo two > f
	c add -q f
	# The table of before the second add, put back: whole, but not current.
	cp old-table "$S/info/names/f"
	flip_byte "$S/names/f" 30
	before=$(names_snapshot)
	run_split c fsck
	assert_status $((16 + 32))
	case "$output" in *"can restore"*) fail "fsck offers a stale copy: $output" ;; esac
	run_split c repair
	assert_status 1
	assert_out_contains "name 'f' is damaged; its copy in info/names/f may be out of date (info/prefixes lists another table): not restored"
	assert_out_contains "restored 0 of 1 damaged name entry"
	[ "$(names_snapshot)" = "$before" ] || fail "repair changed names/ or info/"
	# All of info/ put back from before an add that changed another name too.
	mkdir d
	echo 1 > d/x
	echo 1 > d/y
	c add -q -r d
	cp -a "$S/info" old-info
	echo 2 > d/x
	echo 2 > d/y
	c add -q -r d
	rm -r "$S/info"
	cp -a old-info "$S/info"
	flip_byte "$S/names/d/x" 30
	run_split c repair
	assert_status 1
	assert_out_contains "name 'd/x' is damaged; its copy in info/names/d may be out of date (it disagrees with names/ on 'd/y'): not restored"
	[ "$(c cat d/y)" = 2 ]
}

@test "a copy in info/names/ is not written back after a writer stopped before its tables" {
	init_store
	echo one > f
	c add -q f
	echo two > f
	rc=0
	CDT_TEST_CRASH=info c add -q f || rc=$?
	[ "$rc" = 137 ]
	cp "$S/names/f" f.entry
	flip_byte "$S/names/f" 30
	run_split c repair
	assert_status 1
	assert_out_contains "name 'f' is damaged; its copy in info/names/f may be out of date (a writer stopped before its tables followed its names): not restored"
	flip_byte "$S/names/f" 30
	cmp f.entry "$S/names/f"
	[ "$(c cat f)" = two ]
}

@test "a damaged table in info/names/, or a copy whose manifest is missing, is not written back" {
	make_fixture
	flip_byte "$S/names/a" 30
	flip_byte "$S/names/b" 30
	flip_byte "$S/info/names/a" 40
	rm "$(manifest_path src/b)"
	before=$(names_snapshot)
	run_split c repair
	assert_status 1
	assert_out_contains "name 'a' is damaged; its copy in info/names/a is damaged (table checksum does not match its contents): not restored"
	assert_out_contains "name 'b' is damaged; its copy in info/names/b names manifest $(file_id src/b), which is missing: not restored"
	assert_out_contains "restored 0 of 2 damaged name entries"
	[ "$(names_snapshot)" = "$before" ] || fail "repair changed names/ or info/"
	# A name whose entry is gone is not damaged: it is not written back.
	rm "$S/names/c"
	run_split c repair
	case "$output" in *"'c'"*) fail "a removed name was looked at: $output" ;; esac
	[ ! -e "$S/names/c" ]
}

@test "repair writes back entries of links, directories and escaped names" {
	init_store
	mkdir -p d/sub
	echo x > "d/$(printf 'a\377')"
	ln -s a-target d/link
	c add -q -r d
	for e in d/$'\001dir' d/sub/$'\001dir' 'd/a\xff' d/link; do
		cp "$S/names/$e" "$T/entry-${e//\//_}"
		flip_byte "$S/names/$e" 20
	done
	run_split c repair
	assert_status 0
	assert_out_contains "restored name 'd' from info/names/d"
	assert_out_contains "restored name 'd/sub' from info/names/d"
	assert_out_contains "restored name 'd/a\\\\xff' from info/names/d"
	assert_out_contains "restored name 'd/link' from info/names/d"
	assert_out_contains "restored 4 of 4 damaged name entries"
	for e in d/$'\001dir' d/sub/$'\001dir' 'd/a\xff' d/link; do
		cmp "$T/entry-${e//\//_}" "$S/names/$e"
	done
	assert_fsck_clean
	c restore d out
	[ "$(readlink out/link)" = a-target ]
	[ "$(cat "out/$(printf 'a\377')")" = x ]
}

@test "repair killed while it writes a name entry back leaves it as it was, and heals it when run again" {
	init_store
	echo one > f
	c add -q f
	cp "$S/names/f" f.entry
	flip_byte "$S/names/f" 30
	cp "$S/names/f" damaged.entry
	rc=0
	CDT_TEST_CRASH=name c repair > /dev/null || rc=$?
	[ "$rc" = 137 ]
	cmp damaged.entry "$S/names/f"
	run_split c repair
	assert_status 0
	assert_out_contains "restored name 'f' from info/names/f"
	cmp f.entry "$S/names/f"
	[ "$(c cat f)" = one ]
}
