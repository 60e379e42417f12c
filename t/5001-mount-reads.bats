#!/usr/bin/env bats
# cdt mount: random access, caching, concurrency and damaged chunks.

load test_helper
load lib-mount

@test "random preads at thousands of offsets return the stored bytes" {
	need_fuse
	init_store
	gen_bytes 11 6000000 > rand
	"$TEST_TOOL" gen-text 12 4000000 > text
	c add -q rand text
	mount_view -o cache_size=2M
	run_split "$TEST_TOOL" pread "$M/rand" rand 1 3000 4096
	assert_status 0
	run_split "$TEST_TOOL" pread "$M/text" text 2 3000 5000
	assert_status 0
	# Reads that span chunk boundaries, and 1-byte reads.
	run_split "$TEST_TOOL" pread "$M/rand" rand 3 500 300000
	assert_status 0
	run_split "$TEST_TOOL" pread "$M/text" text 4 2000 1
	assert_status 0
}

@test "backward and repeated reads of one open file are served correctly" {
	need_fuse
	init_store --chunker fixed --chunk-size 4K
	gen_bytes 13 2000000 > f
	c add -q f
	mount_view
	python3 - "$M/f" f <<'PY'
import os, sys
a = os.open(sys.argv[1], os.O_RDONLY)
b = open(sys.argv[2], 'rb').read()
size = len(b)
for off in list(range(size - 5000, 0, -37123)) + [0, 0, 4095, 4096, size - 1, size]:
    got = os.pread(a, 5000, off)
    assert got == b[off:off + 5000], off
PY
}

@test "sequential readers in many threads and processes read the same bytes" {
	need_fuse
	make_tree
	mount_view -o cache_size=4M,readahead=1M
	pids=
	for i in 1 2 3 4; do
		cmp src/media/video.bin "$M/src/media/video.bin" & pids="$pids $!"
		cmp src/docs/log.txt "$M/src/docs/log.txt" & pids="$pids $!"
	done
	"$TEST_TOOL" pread "$M/src/media/copy.bin" src/media/video.bin 5 2000 8192 8 & pids="$pids $!"
	"$TEST_TOOL" pread "$M/src/docs/log.txt" src/docs/log.txt 6 2000 65536 8 & pids="$pids $!"
	for p in $pids; do wait "$p"; done
	server_pid "$M" >/dev/null
}

@test "a damaged chunk gives EIO for its range only, logged with name, offset and chunk" {
	need_fuse
	# 15 chunks: few enough to be stored as loose objects, not a pack.
	init_store --chunker fixed --chunk-size 64K
	gen_bytes 14 983040 > f
	c add -q f
	id=$(dd if=f bs=64K skip=5 count=1 2>/dev/null | sha256sum | cut -d' ' -f1)
	obj="$S/objects/${id:0:2}/${id:2}"
	[ -f "$obj" ]
	flip_byte "$obj" 1000
	mount_view
	run_split dd if="$M/f" of=bad bs=64K skip=5 count=1
	assert_status 1
	assert_err_contains "Input/output error"
	# Everything before and after the damaged chunk reads back.
	dd if="$M/f" of=before bs=64K count=5 2>/dev/null
	dd if=f of=want bs=64K count=5 2>/dev/null
	cmp want before
	dd if="$M/f" of=after bs=64K skip=6 2>/dev/null
	dd if=f of=want bs=64K skip=6 2>/dev/null
	cmp want after
	run_split "$TEST_TOOL" pread "$M/f" f 7 300 1000
	assert_status 1
	assert_err_contains "failed"
	grep -q "error: cannot read 'f' at offset 327680: chunk $id (65536 bytes): content does not match its id" \
		"$T/mount.log" || fail "log: $(cat "$T/mount.log")"
	# A damaged chunk does not take the server down.
	server_pid "$M" >/dev/null
	dd if="$M/f" of=/dev/null bs=64K count=1 2>/dev/null
}

@test "a missing chunk gives EIO and the rest of the file stays readable" {
	need_fuse
	init_store --chunker fixed --chunk-size 64K
	gen_bytes 15 655360 > f
	c add -q f
	id=$(dd if=f bs=64K skip=9 count=1 2>/dev/null | sha256sum | cut -d' ' -f1)
	rm "$S/objects/${id:0:2}/${id:2}"
	mount_view
	run_split dd if="$M/f" of=out bs=64K skip=9
	assert_status 1
	dd if="$M/f" of=out bs=64K count=9 2>/dev/null
	dd if=f of=want bs=64K count=9 2>/dev/null
	cmp want out
	grep -q "error: cannot read 'f' at offset 589824: chunk $id (65536 bytes): chunk is missing" \
		"$T/mount.log" || fail "log: $(cat "$T/mount.log")"
}

@test "a repeated read is served from the cache without reading the store" {
	need_fuse
	init_store --chunker fixed --chunk-size 64K
	gen_bytes 16 900000 > f
	c add -q f
	[ -z "$(find "$S/packs" -type f)" ]
	mount_view -o cache_size=16M
	cmp f "$M/f"
	# With the objects gone, only the cache (or the kernel's) can answer.
	find "$S/objects" -type f -delete
	echo 1 > /proc/sys/vm/drop_caches 2>/dev/null || skip_or_fail "cannot drop the page cache"
	cmp f "$M/f"
}

@test "a damaged chunk that two files share is logged for each file, at its own offset" {
	need_fuse
	init_store --chunker fixed --chunk-size 64K
	gen_bytes 17 262144 > f
	{ gen_bytes 18 65536; cat f; } > g
	c add -q f
	c add -q g
	id=$(dd if=f bs=64K skip=1 count=1 2>/dev/null | sha256sum | cut -d' ' -f1)
	obj="$S/objects/${id:0:2}/${id:2}"
	[ -f "$obj" ]
	flip_byte "$obj" 1000
	mount_view
	run_split cp "$M/f" out
	assert_status 1
	run_split cp "$M/g" out
	assert_status 1
	assert_err_contains "Input/output error"
	grep -q "error: cannot read 'f' at offset 65536: chunk $id (65536 bytes): content does not match its id" \
		"$T/mount.log" || fail "log: $(cat "$T/mount.log")"
	grep -q "error: cannot read 'g' at offset 131072: chunk $id (65536 bytes): content does not match its id" \
		"$T/mount.log" || fail "log: $(cat "$T/mount.log")"
	[ "$(grep -c "chunk $id" "$T/mount.log")" = 2 ] || fail "log: $(cat "$T/mount.log")"
}
