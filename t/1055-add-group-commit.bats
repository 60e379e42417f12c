#!/usr/bin/env bats
# Group commit: many files' names made durable together, and what a kill
# at each step of a commit leaves.

load test_helper

# A tree of n small distinct files under src/, and two bigger ones.
make_tree() {
	local n=$1 i
	mkdir -p src/sub
	for i in $(seq 1 "$n"); do printf 'file %s\n' "$i" > "src/f$i"; done
	gen_bytes 1 300000 > src/sub/big1
	gen_bytes 2 300000 > src/sub/big2
}

# Every stored name under src/ restores to the bytes of the file it names.
check_stored_names() {
	local name path
	while IFS= read -r name; do
		c cat "$name" > out || fail "cat $name failed"
		cmp -s out "$name" || fail "$name does not restore to the file it names"
	done < <(c ls -t f)
}

@test "a tree is committed in batches: few syncs, every name durable when printed" {
	command -v strace > /dev/null || skip_or_fail "strace is not installed"
	init_store
	make_tree 40
	traced -f -y -o trace.log -e trace=openat,syncfs,fsync,rename,renameat,renameat2 \
		"$CDT" --store "$S" add -q -r src
	python3 "$BATS_TEST_DIRNAME/lib/check-order.py" trace.log > result || { cat result; false; }
	# One batch: four syncfs for 42 files and 2 directories, no fsync of any name.
	[ "$(grep -c 'syncfs(' trace.log)" -le 5 ] || fail "$(grep -c 'syncfs(' trace.log) syncfs"
	[ "$(grep -c 'fsync(' trace.log)" -le 2 ] || fail "$(grep -c 'fsync(' trace.log) fsync"
	[ "$(c ls -t f | wc -l)" = 42 ]
	check_stored_names
}

@test "the order checker catches a name renamed before the sync of its batch" {
	command -v strace > /dev/null || skip_or_fail "strace is not installed"
	init_store
	make_tree 10
	traced -f -y -o trace.log -e trace=openat,syncfs,fsync,rename,renameat,renameat2 \
		"$CDT" --store "$S" add -q -r src
	# Drop the syncfs between the name records and the names.
	awk '/syncfs\(/ { n++; if (n == 3) next } { print }' trace.log > broken.log
	run python3 "$BATS_TEST_DIRNAME/lib/check-order.py" broken.log
	[ "$status" -eq 1 ]
	[[ "$output" == violation:* ]]
}

@test "a line is printed for each file once its batch is committed, in order" {
	init_store
	make_tree 7
	CDT_TEST_GROUP=3 c add -r --porcelain src > out
	cut -f1 out > got
	c ls -t f > want
	cmp got want
}

@test "the order checker catches names whose tables are not written after them" {
	command -v strace > /dev/null || skip_or_fail "strace is not installed"
	init_store
	make_tree 10
	traced -f -y -o trace.log -e trace=openat,syncfs,fsync,rename,renameat,renameat2 \
		"$CDT" --store "$S" add -q -r src
	python3 "$BATS_TEST_DIRNAME/lib/check-order.py" trace.log > result
	grep -q '^ok: info/packs after each pack' result
	grep -v '/info/names>' trace.log > broken.log
	run python3 "$BATS_TEST_DIRNAME/lib/check-order.py" broken.log
	[ "$status" -eq 1 ]
	[ "$output" = "violation: no table of info/names/ and info/prefixes written after a name" ]
}

@test "a kill at any step of a group commit loses only batches not committed; fsck finds info/ stale, the next add mends it" {
	init_store
	make_tree 12
	# The third time data and manifests are met is the last batch's: the
	# first is committed by then (a batch's names are staged while the one
	# before commits, so two batches at most are on their way). name:6 is
	# the second batch's first name, name:8 its third, the first batch's in
	# place and synced before them.
	for point in objects:3 refs:3 manifest:3 name:6 name:8; do
		rm -rf "$S"
		"$CDT" init -q "$S"
		# Batches of 5 names: the first (src and 4 files) commits, a later one is killed.
		rc=0
		CDT_TEST_GROUP=5 CDT_TEST_CRASH="$point" \
			"$CDT" --store "$S" add -q -r src > add.out 2> add.err || rc=$?
		[ "$rc" = 137 ] || fail "$point: add exited $rc: $(cat add.err)"
		run_split c fsck
		# Names in place, their tables not written yet (an add writes
		# them once, at its end): info/ is stale, which fsck reports,
		# and nothing else is wrong.
		assert_status 32
		grep -q '^info-stale info/names/src: ' <<< "$output" ||
			fail "$point: stale table not found: $output"
		[ -z "$(grep -v '^info-stale ' <<< "$output" | grep -E '^[a-z]+-[a-z-]+ ')" ] ||
			fail "$point: another problem: $output"
		# The killed add's mark is left for the next writer.
		ls "$S/info" | grep -q '^changing-' || fail "$point: no mark: $(ls "$S/info")"
		# Every name there restores exactly; the first batch is all there.
		check_stored_names
		[ "$(c ls -t f | wc -l)" -ge 4 ] || fail "$point: the first batch was lost: $(c ls)"
		[ "$(c ls -t f | wc -l)" -lt 14 ] || fail "$point: nothing was lost at all"
		# Adding again completes the tree.
		c add -q -r src
		[ "$(c ls -t f | wc -l)" = 14 ]
		check_stored_names
		# ... which writes every table again.
		c fsck > /dev/null
	done
}

# add -r src in batches of 4 names whose second batch fails to commit (its
# name records): the third, on its way meanwhile, fails whole.
add_failing_batch_2() {
	local rc=0

	CDT_TEST_GROUP=4 CDT_TEST_FAIL=name-records:2 \
		"$CDT" --store "$S" add -r --porcelain src > add.out 2> add.err || rc=$?
	[ "$rc" = 1 ] || fail "add exited $rc: $(cat add.err)"
	grep -q "^error: 4 names not stored: the batch before them failed" add.err ||
		fail "$(cat add.err)"
}

@test "a batch whose commit fails fails the names after it that may use its manifests, and no other" {
	init_store
	mkdir src
	# Each content six times in a row: batches of 4 names share contents
	# with the batch before, whose manifests they find pending.
	for i in $(seq 10 39); do gen_bytes $(((i - 1) / 6)) 3000 > "src/f$i"; done
	add_failing_batch_2
	grep -q "^error: cannot write the name records of 4 names: Input/output error" add.err ||
		fail "$(cat add.err)"
	# The second and third batches (f13-f20) are not stored; the others are, whole.
	[ "$(c ls -t f | wc -l)" = 22 ] || fail "$(c ls -t f)"
	[ "$(cut -f1 add.out)" = "$(c ls -t f)" ]
	check_stored_names
	run_split c fsck
	assert_status 0
	c add -q -r src
	[ "$(c ls -t f | wc -l)" = 30 ]
	check_stored_names
	c fsck > /dev/null
}

@test "a later name that uses a failed batch's manifest fails; its neighbours are stored" {
	init_store
	mkdir src
	# Batches of 4 names: src f10 f11 f12 | f13-f16 | f17-f20 | f21-f24 | ...
	# f13-f16 and f22 hold one content, the others one each.
	for i in $(seq 10 39); do
		case $i in 1[3-6]|22) gen_bytes 1 3000 ;; *) gen_bytes "$i" 3000 ;; esac > "src/f$i"
	done
	# The second batch fails; the third, on its way meanwhile, fails whole;
	# f22, queued while the second batch's manifest of its content was
	# pending, uses it and fails; f21, f23 and f24 do not.
	add_failing_batch_2
	grep -q "^error: 1 name not stored: the batch before it failed" add.err ||
		fail "$(cat add.err)"
	c ls -t f > names
	[ "$(wc -l < names)" = 21 ] || fail "$(cat names)"
	! grep -qx 'src/f22' names || fail "src/f22 stored"
	grep -qx 'src/f21' names && grep -qx 'src/f23' names || fail "$(cat names)"
	[ "$(cut -f1 add.out)" = "$(cat names)" ]
	check_stored_names
	run_split c fsck
	assert_status 0
	c add -q -r src
	[ "$(c ls -t f | wc -l)" = 30 ]
	check_stored_names
}

@test "a name that cannot be written is refused before anything of the tree is stored" {
	init_store
	make_tree 3
	mkdir other
	echo x > other/f2
	c add -q --name src/f2 other/f2
	before=$(store_snapshot)
	run_split c add -r --no-replace src
	assert_status 1
	assert_err_contains "name 'src/f2' already exists (not replaced)"
	[ "$(store_snapshot)" = "$before" ]
	[ "$(c cat src/f2)" = x ]
}
