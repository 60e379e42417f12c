#!/usr/bin/env bats
# The cache of a store read over HTTPS kept within --cache-size: trimmed at
# open, least recently used first, pack data freed with its marks cleared
# first, fetched again when needed, and read right by a view that holds
# marks from before a trim.

load test_helper
load lib-https

# A store of four names of 3 MB of random data each, one pack each, served by nginx.
served_store() {
	need_https
	init_store
	for n in 1 2 3 4; do
		gen_bytes "$n" 3000000 > "f$n"
		c add -q "f$n"
	done
	[ "$(ls "$S"/packs/*.pack | wc -l)" -ge 4 ] || fail "expected a pack per name"
	https_start "$S"
	export CDT_CA_BUNDLE=$HTTPS_CA
	R=$HTTPS_URL
	CACHE=$T/cache
	CD=$CACHE/$(sed -n 's/^store-id //p' "$S/config")-$(printf %s "$R" | sha256sum | cut -c1-16)
}

# cdt on the remote store, through the test's cache (options before the command).
r() {
	"$CDT" --cache "$CACHE" --store "$R" "$@"
}

# KiB allocated to what the bound counts: pack data, manifests, loose objects.
held_kib() {
	du -skc "$CD"/packs/*.pack "$CD"/manifests "$CD"/objects > "$T/du"
	tail -n 1 "$T/du" | cut -f 1
}

pack_bytes() {
	https_bytes_sent '/packs/.*\.pack'
}

# The pack of name fN ("pack-<hex>"): the Nth the adds wrote, one each.
pack_of() {
	ls -tr "$S"/packs/*.pack > "$T/packs.list"
	basename "$(sed -n "${1#f}p" "$T/packs.list")" .pack
}

# Fail if a .have marks a block present whose bytes are (even partly) a hole.
check_marks() {
	python3 - "$CD/packs" <<'EOF' || fail "a .have claims freed blocks"
import os, sys
B = 64 << 10
d = sys.argv[1]
bad = 0
for name in os.listdir(d):
    if not name.endswith(".have"):
        continue
    pack = os.path.join(d, name[:-5] + ".pack")
    marks = open(os.path.join(d, name), "rb").read()
    fd = os.open(pack, os.O_RDONLY)
    size = os.fstat(fd).st_size
    for i, m in enumerate(marks):
        if m != 1:
            continue
        off, end = i * B, min((i + 1) * B, size)
        hole = os.lseek(fd, off, os.SEEK_HOLE)
        if hole < end:
            print("%s: block %d marked present, hole at %d" % (name, i, hole))
            bad += 1
    os.close(fd)
sys.exit(1 if bad else 0)
EOF
}

# Blocks marked present in the .have of pack $1.
marked() {
	python3 -c 'import sys; print(open(sys.argv[1], "rb").read().count(1))' "$CD/packs/$1.have"
}

@test "with a bound of 2M every open leaves the cache within it, and every read is right" {
	served_store
	for n in 1 2 3 4 1 3; do
		r --cache-size 2M cat "f$n" > out
		cmp out "f$n" || fail "f$n read wrong"
		run_split r --cache-size 2M ls
		assert_status 0
		held=$(held_kib)
		[ "$held" -le 2048 ] || fail "cache holds $held KiB after an open with a 2M bound"
		check_marks
	done
	# What is never evicted is still there.
	[ -s "$CD/config" ] && [ -d "$CD/names" ] && [ -s "$CD/info/packs" ]
	[ "$(ls "$CD"/packs/*.idx | wc -l)" -eq "$(ls "$S"/packs/*.idx | wc -l)" ]
	run_split r --cache-size 2M verify f1 f2 f3 f4
	assert_status 0
}

@test "a trimmed pack is fetched again, and its .have never claims a freed block" {
	served_store
	r cat f1 > out
	cmp out f1
	first=$(pack_bytes)
	p=$(pack_of f1)
	whole=$(marked "$p")
	[ "$whole" -ge 40 ] || fail "only $whole blocks of $p cached"
	# A second read comes from the cache.
	r cat f1 > out
	[ "$(pack_bytes)" = "$first" ] || fail "pack data fetched again before any trim"
	run_split r --cache-size 1M ls
	assert_status 0
	left=$(marked "$p")
	[ "$left" -lt "$whole" ] || fail "no block of $p was freed ($left of $whole marked)"
	[ "$(held_kib)" -le 1024 ]
	check_marks
	r cat f1 > out
	cmp out f1 || fail "f1 read wrong after the trim"
	again=$(pack_bytes)
	[ "$again" -gt "$first" ] || fail "the freed blocks were not fetched again"
	check_marks
}

@test "the least recently used pack goes first: one read from the cache stays" {
	served_store
	r cat f1 > out
	r cat f2 > out
	sleep 0.05
	# f1 read again from the cache: its pack is used now, f2's is older.
	r cat f1 > out
	before=$(pack_bytes)
	p1=$(pack_of f1)
	p2=$(pack_of f2)
	m1=$(marked "$p1")
	m2=$(marked "$p2")
	run_split r --cache-size 4M ls
	assert_status 0
	[ "$(marked "$p1")" = "$m1" ] || fail "the pack read last lost blocks"
	[ "$(marked "$p2")" -lt "$m2" ] || fail "the older pack kept all its blocks"
	r cat f1 > out
	cmp out f1
	[ "$(pack_bytes)" = "$before" ] || fail "f1's pack data fetched again"
	r cat f2 > out
	cmp out f2
	[ "$(pack_bytes)" -gt "$before" ] || fail "f2's freed blocks not fetched again"
}

@test "a large bound, or the default, evicts nothing" {
	served_store
	for n in 1 2 3; do
		r cat "f$n" > out
	done
	before=$(pack_bytes)
	held=$(held_kib)
	find "$CD/manifests" "$CD/objects" -type f | sort > files.before
	run_split r --cache-size 100G ls
	assert_status 0
	run_split r ls
	assert_status 0
	[ "$(held_kib)" = "$held" ] || fail "cache went from $held KiB to $(held_kib) KiB"
	find "$CD/manifests" "$CD/objects" -type f | sort > files.after
	cmp files.before files.after || fail "files were evicted"
	for n in 1 2 3; do
		r --cache-size=100G cat "f$n" > out
		cmp out "f$n"
	done
	[ "$(pack_bytes)" = "$before" ] || fail "pack data fetched again"
}

@test "a view keeps reading right while another command trims the cache under it" {
	served_store
	load lib-mount
	need_fuse
	r cat f1 > out
	r cat f2 > out
	first=$(pack_bytes)
	M=$T/mnt
	mkdir -p "$M"
	# The view loads the marks now: f1 and f2 all here.
	run_split r mount "$M"
	assert_status 0
	# Another command frees nearly all of it.
	run_split r --cache-size 1M ls
	assert_status 0
	check_marks
	p1=$(pack_of f1)
	[ "$(marked "$p1")" -lt 5 ] || fail "f1's pack was not trimmed"
	# The view still believes the blocks are here: it reads zeros, the CRC
	# says so, and it fetches them again.
	cmp "$M/f1" f1 || fail "the view read f1 wrong after the trim"
	cmp "$M/f2" f2 || fail "the view read f2 wrong after the trim"
	[ "$(pack_bytes)" -gt "$first" ] || fail "nothing fetched again"
	check_marks
	# Another trim while the view is up, and a read of what it fetched.
	run_split r --cache-size 1M ls
	assert_status 0
	cmp "$M/f1" f1
	check_marks
	"$CDT" umount "$M"
}

@test "--cache-size takes a size and names a wrong one" {
	init_store
	run_split "$CDT" --cache-size 10X --store "$S" ls
	assert_status 2
	assert_err_contains "invalid --cache-size '10X'"
	run_split "$CDT" --store "$S" ls --cache-size
	assert_status 2
	assert_err_contains "--cache-size needs a size"
	# A local store has no cache: the option changes nothing there.
	run_split "$CDT" --cache-size 1G --store "$S" ls
	assert_status 0
}

@test "two servers of diverged copies of one store have a cache each: a view of one never shows the other's names" {
	need_https
	load lib-mount
	need_fuse
	init_store
	echo one > x
	gen_bytes 7 1000000 > big
	gen_bytes 9 1000000 > z
	c add -q x big
	# A copy keeps the store id; the two then differ: in the copy, x holds
	# big's content and y is new; in the store, z is new.
	cp -a "$S" "$T/copy"
	"$CDT" --store "$T/copy" add -q --name x big
	"$CDT" --store "$T/copy" add -q --name y z
	c add -q z
	https_start "$S"
	A=$HTTPS_URL
	https_start "$T/copy"
	B=$HTTPS_URL
	export CDT_CA_BUNDLE=$HTTPS_CA
	M=$T/mnt
	mkdir -p "$M"
	run_split "$CDT" --cache "$T/cache" --store "$A" mount -o refresh=0.1 "$M"
	assert_status 0
	printf '%s\n' big x z > names
	ls "$M" > seen
	cmp names seen
	# Opening the copy refreshes its cache; the view of the store would
	# take what changed there within two refresh intervals.
	run_split "$CDT" --cache "$T/cache" --store "$B" ls
	assert_status 0
	[ "$output" = "$(printf '%s\n' big x y)" ] || fail "ls of the copy: $output"
	sleep 0.5
	ls "$M" > seen
	cmp names seen || fail "the view of $A shows: $(cat seen)"
	cmp "$M/x" x
	cmp "$M/z" z
	"$CDT" umount "$M"
	# One cache each, under the --cache root, named by the store id.
	id=$(sed -n 's/^store-id //p' "$S/config")
	ls "$T/cache" > caches
	[ "$(grep -c "^$id-[0-9a-f]\{16\}\$" caches)" = 2 ] || fail "caches: $(cat caches)"
}

@test "a view that read part of a pack reads the rest after another command trims the cache to nothing" {
	served_store
	load lib-mount
	need_fuse
	M=$T/mnt
	mkdir -p "$M"
	# No read-ahead of the view: a short read fetches only part of the pack.
	run_split r mount -o readahead=0 "$M"
	assert_status 0
	head -c 10000 "$M/f1" > part
	head -c 10000 f1 > want
	cmp part want || fail "the view read the start of f1 wrong"
	first=$(pack_bytes)
	p1=$(pack_of f1)
	held=$(marked "$p1")
	[ "$held" -gt 0 ] && [ "$held" -lt "$(stat -c %s "$CD/packs/$p1.have")" ] ||
		fail "$held blocks of f1's pack cached: want some, not all"
	# Another command frees all of it while the view is up.
	run_split r --cache-size 1 ls
	assert_status 0
	[ "$(marked "$p1")" = 0 ] || fail "f1's pack was not freed"
	[ -f "$CD/packs/$p1.pack" ] && [ -f "$CD/packs/$p1.have" ] ||
		fail "the trim removed the files of a pack the view reads"
	# Its start was freed under the view, and its rest never fetched.
	cmp "$M/f1" f1 || fail "the view read f1 wrong after the trim"
	[ "$(pack_bytes)" -gt "$first" ] || fail "nothing fetched after the trim"
	check_marks
	"$CDT" umount "$M"
}
