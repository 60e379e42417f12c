#!/usr/bin/env bats
# Sparse files: add fills holes with zeros without reading them, cat -o
# writes zeros back as holes, and every other output gets every byte.

load test_helper

# Holes are needed to test holes: a file system without them cannot tell.
need_holes() {
	truncate -s 8M probe
	[ "$(stat -c %b probe)" -le 64 ] || skip_or_fail "the file system of $T keeps no holes"
	rm probe
}

sum_of() {
	ref_content_id "$1"
}

# Write COUNT random bytes of seed SEED at byte offset OFF of FILE, in place.
put() {
	gen_bytes "$2" "$3" | dd of="$1" bs=65536 oflag=seek_bytes seek="$4" conv=notrunc status=none
}

# Allocated 512-byte blocks.
blocks() {
	stat -c %b "$1"
}

# The shapes: name, then how to make it.
make_shapes() {
	# Hole at the start: data only in the last MiB.
	truncate -s 40M start
	put start 1 1048576 $((39 * 1048576))
	# Hole at the end: data only in the first MiB.
	truncate -s 40M end
	put end 2 1048576 0
	# Hole in the middle: data at both ends.
	truncate -s 40M middle
	put middle 3 100000 0
	put middle 4 100000 $((40 * 1048576 - 100000))
	# Only a hole.
	truncate -s 40M only
	# Data at offsets and lengths no chunk or block lines up with, odd size.
	truncate -s 40000007 unaligned
	put unaligned 5 77777 5000001
	put unaligned 6 3333 17000003
	put unaligned 7 1 29999999
	put unaligned 8 12345 39987662
	# Holes smaller than a chunk: 4 KiB of data every 12 KiB for 2 MiB.
	# (One Python writes the 171 pieces: a dd each was a sixth of this file's time.)
	truncate -s 24M small
	gen_bytes 100 $((171 * 4096)) > pieces
	python3 - <<'EOF'
with open('pieces', 'rb') as p, open('small', 'r+b', buffering=0) as f:
    for i in range(171):
        f.seek(i * 3 * 4096)
        f.write(p.read(4096))
EOF
	rm pieces
}

SHAPES="start end middle only unaligned small"

@test "sparse files of every shape round-trip byte-identical, with their holes" {
	need_holes
	init_store
	make_shapes
	for f in $SHAPES; do
		run_split c add --porcelain --name "$f" "$f"
		assert_status 0
		[ "$(printf '%s' "$output" | cut -f4)" = "$(sum_of "$f")" ] ||
			fail "$f: content id is not the SHA-256 of the file"
		[ -z "$err" ] || fail "$f: add said: $err"
		c cat -o "$f.out" "$f"
		cmp "$f.out" "$f" || fail "$f: restored bytes differ"
		# The holes stay holes: no more blocks than the original (whose
		# data blocks are the same), far fewer than its size.
		[ "$(blocks "$f.out")" -le $(($(blocks "$f") + 64)) ] ||
			fail "$f: restored with $(blocks "$f.out") blocks, the original has $(blocks "$f")"
	done
	[ "$(blocks only.out)" -le 64 ] || fail "a file of one hole restored with $(blocks only.out) blocks"
	run_split c verify --all
	assert_status 0
}

@test "a file with holes smaller than a chunk keeps them within its chunks" {
	need_holes
	init_store
	make_shapes
	c add -q small
	c cat -o small.out small
	cmp small.out small
	# 171 blocks of 4 KiB hold data; writing the 8 KiB holes between
	# them would take three times as many.
	[ "$(blocks small.out)" -lt $((171 * 8 * 2)) ] ||
		fail "restored with $(blocks small.out) blocks: the holes inside chunks were written"
}

@test "add does not read the holes of a sparse file" {
	need_holes
	init_store
	truncate -s 1G big
	put big 10 1048576 $((300 * 1048576))
	put big 11 1000 $((1024 * 1048576 - 1000))
	"$TEST_TOOL" ingest "$S" big big > ingest.out
	read_bytes=$(sed -n 's/^read //p' ingest.out)
	[ "$read_bytes" != -1 ] || skip_or_fail "/proc/self/io is missing"
	# Only the data (and a little of the store) is read, not 1 GiB.
	[ "$read_bytes" -lt $((16 * 1048576)) ] || fail "add read $read_bytes bytes"
	[ "$(sed -n 's/^content //p' ingest.out)" = "$(sum_of big)" ]
	c cat -o out big
	cmp out big
}

@test "holes are looked for only in a file with fewer blocks than its size needs" {
	need_holes
	command -v strace > /dev/null || skip_or_fail "strace is not installed"
	init_store
	gen_bytes 20 3000000 > dense
	truncate -s 64M sparse
	put sparse 21 1048576 $((32 * 1048576))
	traced -f -o dense.trace -e trace=lseek "$CDT" --store "$S" add -q dense
	traced -f -o sparse.trace -e trace=lseek "$CDT" --store "$S" add -q sparse
	# Every block of dense holds data: it is read without a search for holes.
	! grep -q SEEK_DATA dense.trace || fail "add looked for holes in a file without any"
	grep -q SEEK_DATA sparse.trace || fail "add did not look for the holes of a sparse file"
	c cat dense > dense.out
	cmp dense.out dense
	c cat sparse > sparse.out
	cmp sparse.out sparse
}

@test "a sparse file from standard input gets the same id as from its path" {
	need_holes
	init_store
	make_shapes
	want=$(sum_of unaligned)
	run_split c add --porcelain --name redirected - < unaligned
	assert_status 0
	[ "$(printf '%s' "$output" | cut -f4)" = "$want" ]
	# Through a pipe, where nothing can be skipped.
	piped() {
		cat unaligned | c add --porcelain --name piped -
	}
	run_split piped
	assert_status 0
	[ "$(printf '%s' "$output" | cut -f4)" = "$want" ]
	# Read from an offset of a regular file: the bytes from there on.
	past() {
		{ dd bs=4096 count=1 of=/dev/null status=none; c add --porcelain --name past -; } \
			< unaligned
	}
	run_split past
	assert_status 0
	tail -c +4097 unaligned > want
	[ "$(printf '%s' "$output" | cut -f4)" = "$(sum_of want)" ]
}

@test "cat to a pipe, to standard output and into a FIFO gives every byte of a sparse file" {
	need_holes
	init_store
	make_shapes
	for f in middle unaligned only; do
		c add -q "$f"
		# Standard output a pipe.
		c cat "$f" | cat > "$f.pipe"
		cmp "$f.pipe" "$f" || fail "$f: through a pipe"
		# Standard output a regular file: written in full, as ever.
		c cat "$f" > "$f.stdout"
		cmp "$f.stdout" "$f" || fail "$f: to standard output"
		mkfifo fifo
		timeout 60 cat fifo > "$f.fifo" &
		reader=$!
		run_split timeout 60 "$CDT" --store "$S" cat -o fifo "$f"
		assert_status 0
		wait "$reader"
		cmp "$f.fifo" "$f" || fail "$f: into a FIFO"
		[ -p fifo ] || fail "the FIFO was replaced"
		rm fifo
	done
}

@test "the same sparse file twice, and two that share holes, store the zeros once" {
	need_holes
	init_store
	make_shapes
	c add -q middle
	run_split c add --porcelain --name again middle
	assert_status 0
	[ "$(printf '%s' "$output" | cut -f3)" = 0 ] || fail "stored again: $output"
	run_split c add --porcelain end
	assert_status 0
	# Only the first MiB of data is new.
	[ "$(printf '%s' "$output" | cut -f3)" -lt 1200000 ] || fail "stored: $output"
	c cat -o end.out end
	cmp end.out end
	run_split c fsck
	assert_status 0
}

@test "a fixed-size chunker store takes sparse files too" {
	need_holes
	init_store --chunker fixed --chunk-size 64K
	make_shapes
	for f in unaligned middle small; do
		run_split c add --porcelain "$f"
		assert_status 0
		[ "$(printf '%s' "$output" | cut -f4)" = "$(sum_of "$f")" ]
		c cat -o "$f.out" "$f"
		cmp "$f.out" "$f"
	done
}

@test "a hole written while add fills it stores what the file held, and add says it changed" {
	need_holes
	init_store
	# Data, then a long hole; add stops at the first hole it finds.
	truncate -s 64M f
	put f 20 1048576 0
	cp --sparse=always f orig
	for keep_times in 0 1; do
		rm -f f
		cp --sparse=always orig f
		touch -r orig f
		CDT_TEST_PAUSE=sparse-hole "$CDT" --store "$S" add --porcelain --name "f$keep_times" f \
			> add.out 2> add.err &
		pid=$!
		wait_stopped $pid
		# Into the hole add has just found (this round's zeros), and into
		# one it reaches later.
		put f 21 65536 $((1048576 + 8192))
		put f 22 65536 $((40 * 1048576))
		[ "$keep_times" = 0 ] || touch -r orig f
		kill -CONT $pid
		rc=0
		wait $pid || rc=$?
		[ "$rc" = 0 ] || fail "add exited $rc: $(cat add.err)"
		grep -q "'f' changed while it was read; stored what was read" add.err ||
			fail "no change warning: $(cat add.err)"
		# What was stored: the zeros the first hole held when it was
		# found, the later write read where add reached it.
		cp --sparse=always orig want
		put want 22 65536 $((40 * 1048576))
		c cat -o out "f$keep_times"
		cmp out want || fail "stored bytes are neither the file's then nor now"
		[ "$(cut -f4 add.out)" = "$(sum_of want)" ]
	done
	run_split c verify --all
	assert_status 0
	run_split c fsck
	assert_status 0
	# The file as it is now is stored as it is.
	c add -q --name settled f
	c cat -o out settled
	cmp out f
}
