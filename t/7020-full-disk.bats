#!/usr/bin/env bats
# A full disk: a clear error, a consistent store, and the next add works once there is room.

load test_helper

small_fs() {
	[ "$(id -u)" = 0 ] || skip_or_fail "mounting a small file system needs root"
	mkdir -p "$T/$1"
	mount -t tmpfs -o "size=$2" tmpfs "$T/$1" 2>/dev/null ||
		skip_or_fail "cannot mount a tmpfs here"
}

teardown() {
	for m in small out; do
		mountpoint -q "$T/$m" 2>/dev/null && umount "$T/$m"
	done
	cd /
	[ -n "${T:-}" ] && rm -rf "$T"
}

@test "an add that fills the disk fails clearly and leaves the store consistent" {
	small_fs small 24m
	S="$T/small/store"
	init_store
	gen_bytes 1 4000000 > first
	c add -q first
	gen_bytes 2 40000000 > huge
	run_split c add huge
	assert_status 1
	assert_err_contains "No space left on device"
	# Nothing half-written: no temporary files, the earlier file intact.
	[ -z "$(ls -A "$S/tmp")" ] || fail "left in tmp: $(ls "$S/tmp")"
	[ "$(c ls)" = first ]
	c cat first | cmp - first
	c stats --json > st.json
	grep -q '"missing_chunks":0' st.json
	# With room again, the next add works.
	gen_bytes 3 2000000 > next
	run_split c add next
	assert_status 0
	c cat next | cmp - next
}

@test "a tree add that fills the disk mid-way keeps every batch committed before, whole" {
	small_fs small 16m
	S="$T/small/store"
	init_store
	mkdir src
	for i in $(seq 1 40); do gen_bytes $((100 + i)) 600000 > "src/f$i"; done
	# Batches of 4 names: each is committed while the next is read, until the disk is full.
	run_split env CDT_TEST_GROUP=4 "$CDT" --store "$S" add -r --porcelain src
	assert_status 1
	assert_err_contains "No space left on device"
	[ -z "$(ls -A "$S/tmp")" ] || fail "left in tmp: $(ls "$S/tmp")"
	# Every line printed is a name stored, and every name stored restores exactly.
	stored=$(c ls -t f | sort)
	[ -n "$stored" ] || fail "no batch was committed"
	[ "$(printf '%s\n' "$output" | cut -f1 | sort)" = "$stored" ] ||
		fail "printed: $output; stored: $stored"
	while read -r name; do
		c cat "$name" | cmp - "$name" || fail "$name does not restore"
	done <<< "$stored"
	c stats --json > st.json
	grep -q '"missing_chunks":0' st.json
}

@test "a name that no longer fits fails without touching the old one" {
	small_fs small 8m
	S="$T/small/store"
	init_store
	gen_bytes 4 1000000 > f
	c add -q --name keep f
	# Fill the file system to the last block.
	dd if=/dev/zero of="$T/small/filler" bs=64k 2>/dev/null || true
	gen_bytes 5 3000000 > g
	run_split c add --name keep g
	assert_status 1
	assert_err_contains "No space left on device"
	rm "$T/small/filler"
	c cat keep | cmp - f
	[ -z "$(ls -A "$S/tmp")" ]
}

# Leave $1 KiB free on the small file system.
leave_free() {
	local avail

	avail=$(df -k "$T/small" | awk 'NR == 2 { print $4 }')
	head -c $(((avail - $1) * 1024)) /dev/zero > "$T/small/filler"
}

# Every name stored restores exactly, and fsck finds nothing wrong.
check_stored() {
	local name

	rm -f "$T/small/filler"
	while read -r name; do
		c cat "$name" | cmp - "$name" || fail "$name does not restore"
	done < <(c ls -t f)
	run_split c fsck
	assert_status 0
}

@test "chunks that could not be written are written again by a later file that has them" {
	small_fs small 8m
	S="$T/small/store"
	init_store
	mkdir src
	gen_bytes 6 1000000 > src/a
	head -c 100000 src/a > src/b
	leave_free 300
	# src/a's chunks do not fit; src/b, which begins with them, does.
	run_split env CDT_TEST_GROUP=1 "$CDT" --store "$S" add -r -j 1 src
	assert_status 1
	assert_err_contains "No space left on device"
	check_stored
	[ "$(c ls -t f)" = src/b ] || fail "stored: $(c ls -t f)"
}

@test "names waiting for their group commit fail with a batch of chunks that could not be written" {
	small_fs small 8m
	S="$T/small/store"
	init_store
	mkdir src
	gen_bytes 7 100000 > src/a
	gen_bytes 8 400000 > src/b
	leave_free 150
	# src/a waits in the group, its chunks in the batch that src/b fills
	# up and whose commit fails.
	run_split env CDT_TEST_GROUP=100 CDT_TEST_BATCH_BYTES=200000 \
		"$CDT" --store "$S" add -r -j 1 src
	assert_status 1
	assert_err_contains "No space left on device"
	check_stored
	[ -z "$(c ls -t f)" ] || fail "stored: $(c ls -t f)"
}

@test "cat -o to a full disk fails loudly and leaves no partial file" {
	init_store
	gen_bytes 6 4000000 > f
	c add -q f
	small_fs out 1m
	run_split c cat -o "$T/out/f" f
	assert_status 1
	assert_one_line_err
	assert_err_contains "No space left on device"
	[ -z "$(ls -A "$T/out")" ] || fail "left: $(ls -A "$T/out")"
}

# Five files in five packs of about 8 MB (small packs gc merges); the last
# one removed, so its pack holds nothing live.
five_packs() {
	small_fs small "$1"
	S="$T/small/store"
	init_store
	for i in 1 2 3 4 5; do
		gen_bytes $((10 + i)) 8000000 > "f$i"
		c add -q "f$i"
	done
	[ "$(find "$S/packs" -name '*.pack' | wc -l)" = 5 ]
	c rm -q f5
}

# Fill the small file system until $1 KiB are left.
leave_free() {
	local avail
	avail=$(df -k --output=avail "$T/small" | tail -n 1)
	[ "$avail" -gt "$1" ] || fail "only $avail KiB free"
	dd if=/dev/zero of="$T/small/filler" bs=1k count=$((avail - $1)) status=none
}

@test "gc on a nearly full disk removes what is dead first, and merges only with room to spare" {
	five_packs 80m
	dead=$(c gc -n -v | sed -n 's/^would remove pack (rewriting its live objects) \(pack-[0-9a-f]*\) .*/\1/p')
	[ -n "$dead" ]
	# 14.5 MB free: merging the four live packs at once would need 32 MB.
	leave_free 14500
	run_split c gc
	assert_status 0
	[ ! -e "$S/packs/$dead.pack" ] || fail "the dead pack is still there"
	# Packs of at most half the free space would be small again: left as they are.
	[ "$(find "$S/packs" -name '*.pack' | wc -l)" = 4 ]
	for i in 1 2 3 4; do
		c cat "f$i" | cmp - "f$i"
	done
	run_split c gc -n -v
	assert_status 0
	case "$output" in *"would remove pack"*) fail "gc would churn: $output" ;; esac
	# With 40 MB free the four are merged, into packs of at most half of it.
	rm "$T/small/filler"
	leave_free 40000
	run_split c gc
	assert_status 0
	[ "$(find "$S/packs" -name '*.pack' | wc -l)" -lt 4 ]
	for i in 1 2 3 4; do
		c cat "f$i" | cmp - "f$i"
	done
	rm "$T/small/filler"
	run_split c fsck
	assert_status 0
	[ -z "$(ls -A "$S/tmp")" ]
}

@test "gc stopped by a full disk keeps what it freed and loses nothing" {
	five_packs 60m
	dead=$(c gc -n -v | sed -n 's/^would remove pack (rewriting its live objects) \(pack-[0-9a-f]*\) .*/\1/p')
	[ -n "$dead" ]
	CDT_TEST_PAUSE=repack "$CDT" --store "$S" gc > gc.out 2> gc.err &
	pid=$!
	wait_stopped $pid
	# The pack with nothing live is gone already; now the disk fills up.
	dd if=/dev/zero of="$T/small/filler" bs=64k status=none 2>/dev/null || true
	kill -CONT $pid
	rc=0
	wait $pid || rc=$?
	[ "$rc" = 1 ] || fail "gc exited $rc: $(cat gc.err)"
	grep -q "No space left on device" gc.err || fail "$(cat gc.err)"
	grep -q "^gc stopped after removing [1-9][0-9]* chunks" gc.err || fail "$(cat gc.err)"
	[ ! -e "$S/packs/$dead.pack" ] || fail "the dead pack is back"
	[ "$(find "$S/packs" -name '*.pack' | wc -l)" -ge 4 ]
	rm "$T/small/filler"
	[ -z "$(ls -A "$S/tmp")" ] || fail "left in tmp: $(ls "$S/tmp")"
	for i in 1 2 3 4; do
		c cat "f$i" | cmp - "f$i"
	done
	run_split c fsck
	assert_status 0
	# With room again, gc finishes the job.
	run_split c gc
	assert_status 0
	for i in 1 2 3 4; do
		c cat "f$i" | cmp - "f$i"
	done
}

@test "a limit of file size (ulimit -f) is an error like a full disk, not a kill that leaves temporary files" {
	init_store
	gen_bytes 7 300000 > big
	c add -q big
	gen_bytes 8 3000000 > big2
	# 100 and 200 blocks of 512 bytes: the restored file, and the store's pack, do not fit.
	run_split bash -c 'ulimit -f 100 && exec "$0" "$@"' "$CDT" --store "$S" cat -o out big
	assert_status 1
	assert_err_contains "error: cannot write 'big' to out: File too large"
	[ ! -e out ] && [ -z "$(ls -A . | grep '\.cdt-')" ] || fail "left: $(ls -A)"
	run_split bash -c 'ulimit -f 200 && exec "$0" "$@"' "$CDT" --store "$S" add big2
	assert_status 1
	assert_err_contains "File too large"
	[ -z "$(ls -A "$S/tmp")" ] || fail "left in tmp: $(ls "$S/tmp")"
	run_split c fsck
	assert_status 0
	c add -q big2
	c cat big2 | cmp - big2
}

@test "repair on a full disk says so once, commits what it staged, and a rerun with room finishes" {
	small_fs small 16m
	S="$T/small/store"
	init_store --chunk-size 4K --frame-size 0
	gen_bytes 5 6000000 > stored
	c add -q stored
	rm "$S"/packs/pack-*
	# Leave room for a few chunks only.
	dd if=/dev/zero of="$T/small/filler" bs=64k 2>/dev/null || true
	rm "$T/small/filler"
	dd if=/dev/zero of="$T/small/filler" bs=64k count=$(( $(df -k --output=avail "$T/small" | tail -1) / 64 - 2 )) 2>/dev/null
	run_split c repair --from stored
	assert_status 1
	[ "$(printf '%s\n' "$err" | grep -c 'cannot write chunk')" = 1 ] ||
		fail "said more than once: $(printf '%s\n' "$err" | head -5)"
	assert_err_contains "no more chunks are written back (make room, then run repair again)"
	assert_out_contains "still damaged: 'stored'"
	[ -z "$(ls -A "$S/tmp")" ] || fail "left in tmp: $(ls "$S/tmp" | wc -l) files"
	rm "$T/small/filler"
	run_split c repair --from stored
	assert_status 0
	assert_out_contains "healthy again: 'stored'"
	c fsck > /dev/null
	c cat stored | cmp - stored
}
