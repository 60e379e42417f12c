#!/usr/bin/env bats
# Concurrency: parallel adds of overlapping data, rm and gc at the same time,
# readers through a mounted view; and who may read the view.

load test_helper
load lib-mount

# The source of a stored name: r<round>/j<job>/f<i> -> src/f<i>.
src_of() {
	printf 'src/%s' "${1##*/}"
}

# Read every file the view shows; a read that succeeds must give the source's
# bytes (a read of a name being removed may fail, never return other bytes).
read_view() {
	local f n=0
	while [ ! -e stop ]; do
		for f in $(cd "$M" && find . -type f 2>/dev/null); do
			if cat "$M/$f" > view.out 2>/dev/null; then
				cmp -s view.out "$(src_of "$f")" || echo "$f" >> bad
				n=$((n + 1))
			fi
		done
		echo $n > reads
	done
}

@test "parallel adds, rm and gc with a mounted view, repeated, lose nothing" {
	need_fuse
	init_store --chunk-size 8K
	mkdir src
	gen_bytes 1 1500000 > shared
	for i in 1 2 3 4 5 6; do
		# Overlapping: a common part, a part of their own, the common part again.
		{ head -c $((i * 200000)) shared; gen_bytes $((10 + i)) 300000; cat shared; } > src/f$i
	done
	mount_view -o refresh=0.2,cache_size=4M
	read_view &
	reader=$!
	rounds=${CDT_CONCURRENCY_ROUNDS:-8}
	for round in $(seq 1 "$rounds"); do
		pids=
		for j in 1 2 3 4; do
			a=$(( (round + j) % 6 + 1 )) b=$(( (round * j) % 6 + 1 ))
			[ $a = $b ] && b=$((a % 6 + 1))
			c add -q --prefix "r$round/j$j" src/f$a src/f$b 2> add.$j.err &
			pids="$pids $!"
		done
		if [ $round -gt 1 ]; then
			c rm -q -r "r$((round - 1))/j$(( (round - 1) % 4 + 1 ))" 2> rm.err &
			pids="$pids $!"
		fi
		c gc > /dev/null 2> gc.err &
		pids="$pids $!"
		for p in $pids; do
			wait "$p" || fail "a command of round $round failed: $(cat add.*.err rm.err gc.err 2>/dev/null)"
		done
		c fsck > fsck.out 2>&1 || fail "fsck after round $round: $(cat fsck.out)"
		[ "$(c ls "r$round" | wc -l)" = 8 ] || fail "round $round did not store 8 names"
	done
	touch stop
	wait $reader
	[ ! -s bad ] || fail "the view returned wrong bytes for: $(cat bad)"
	[ "$(cat reads)" -gt 0 ] || fail "the reader read nothing through the view"
	c gc > /dev/null
	c fsck > fsck.out 2>&1 || fail "final fsck: $(cat fsck.out)"
	c ls > names
	# 8 names a round, 2 removed in every round but the first.
	want=$((rounds * 6 + 2))
	[ "$(wc -l < names)" = $want ] || fail "expected $want names, got $(wc -l < names)"
	while IFS= read -r n; do
		c cat "$n" > out
		cmp out "$(src_of "$n")"
	done < names
	# The view settles on the same names, each byte-identical.
	wait_for "[ \"\$(cd '$M' && find . -type f | wc -l)\" = $want ]" 3 || fail "the view did not settle on $want names"
	while IFS= read -r n; do
		cmp "$M/$n" "$(src_of "$n")"
	done < names
	[ "$(find "$S/tmp" -type f | wc -l)" = 0 ]
}

@test "the view is not readable by other users unless allow_other is given" {
	need_fuse
	command -v setpriv > /dev/null || skip_or_fail "setpriv is not installed"
	chmod 755 "$T"
	init_store
	printf 'public\n' > pub
	printf 'private\n' > priv
	chmod 644 pub
	chmod 600 priv
	c add -q pub priv
	mount_view
	as_nobody() {
		setpriv --reuid 65534 --regid 65534 --clear-groups "$@"
	}
	# root, the owner of the mount, reads it
	[ "$(cat "$M/pub")" = public ]
	run_split as_nobody cat "$M/pub"
	[ "$status" -ne 0 ] || fail "another user read the view without allow_other"
	assert_err_contains "Permission denied"
	run_split as_nobody ls "$M"
	[ "$status" -ne 0 ] || fail "another user listed the view without allow_other"
	c umount "$M"
	mount_view -o allow_other
	run_split as_nobody cat "$M/pub"
	assert_status 0
	[ "$output" = public ]
	# The stored modes still apply (default_permissions).
	run_split as_nobody cat "$M/priv"
	[ "$status" -ne 0 ] || fail "another user read a file of mode 0600"
	assert_err_contains "Permission denied"
}

@test "fsck while an add puts a pack in place finds nothing stale" {
	init_store --chunk-size 8K
	gen_bytes 1 300000 > a
	# Stopped with its pack in packs/, info/packs not yet written again.
	CDT_TEST_PAUSE=pack-in-place "$CDT" --store "$S" add -q a &
	pid=$!
	wait_stopped $pid
	"$CDT" --store "$S" fsck > fsck.out 2>&1 &
	fpid=$!
	# fsck checks info/ now, or waits for the add to be done with it.
	wait_for "! kill -0 $fpid 2> /dev/null || grep -q -- '-> FLOCK .* $fpid ' /proc/locks" 5 ||
		fail "fsck neither ended nor waited"
	kill -CONT $pid
	wait $pid
	rc=0
	wait $fpid || rc=$?
	[ "$rc" = 0 ] || fail "fsck alongside the add: $rc: $(cat fsck.out)"
	c cat a > out
	cmp out a
}

@test "a name replaced under a mounted view reads whole once the view shows the change" {
	need_fuse
	init_store
	gen_bytes 1 1000 > old
	gen_bytes 2 50000 > new
	cp old f
	c add -q f
	mount_view -o refresh=1
	cmp "$M/f" old
	cp new f
	cp old g
	c add -q f g
	# The kernel asks for f's attributes again as they expire, until the
	# view lists g: it has then taken the names of that add.
	while ! ls "$M" | grep -qx g; do
		stat "$M/f" > /dev/null
	done
	# f is one or the other, whole (not the new content cut to the old size).
	cat "$M/f" > out
	cmp -s out new || cmp -s out old || fail "f read as $(stat -c %s out) bytes"
}

# A reader paused at $1 (a pause point) while another command removes or
# replaces the name and gc deletes what it held, then let go.
# read_racing POINT CMD... : runs CMD in the background, paused at POINT.
read_racing() {
	local point=$1
	shift
	CDT_TEST_PAUSE=$point "$CDT" --store "$S" "$@" > r.out 2> r.err &
	pid=$!
	wait_stopped $pid
}

# Let the paused reader go on: $status, $output, $err as run_split sets them.
read_resume() {
	local rc=0
	kill -CONT $pid
	wait $pid || rc=$?
	status=$rc
	output=$(cat r.out)
	err=$(cat r.err)
}

@test "cat of a name removed and collected while it reads says so" {
	init_store --chunk-size 8K
	gen_bytes 1 300000 > f
	gen_bytes 2 300000 > g
	c add -q f g
	read_racing restore-open cat f
	c rm -q f
	c gc > /dev/null
	read_resume
	assert_status 1
	[ "$err" = "error: 'f' was removed while it was read; read it again" ] ||
		fail "stderr: $err"
	# Nothing is wrong with the store.
	c fsck > fsck.out 2>&1 || fail "fsck: $(cat fsck.out)"
}

@test "cat of a name replaced while it reads says so, the new content intact" {
	init_store --chunk-size 8K
	gen_bytes 1 300000 > f
	c add -q f
	read_racing restore-open cat f
	gen_bytes 2 200000 > f
	c add -q f
	c gc > /dev/null
	read_resume
	assert_status 1
	[ "$err" = "error: 'f' was replaced while it was read; read it again" ] ||
		fail "stderr: $err"
	c cat f > out
	cmp out f
}

@test "cat -o of a name removed while it reads leaves no file behind" {
	init_store --chunk-size 8K
	gen_bytes 1 300000 > f
	c add -q f
	read_racing restore-open cat -o out f
	c rm -q f
	c gc > /dev/null
	read_resume
	assert_status 1
	[ "$err" = "error: 'f' was removed while it was read; read it again" ] ||
		fail "stderr: $err"
	[ ! -e out ]
	[ -z "$(find . -maxdepth 1 -name '.out.cdt*')" ] || fail "a temporary file is left"
}

@test "cat of a name whose manifest goes before it is opened says the name was removed" {
	init_store --chunk-size 8K
	gen_bytes 1 300000 > f
	c add -q f
	# The entry is read; the manifest not yet opened.
	read_racing restore-manifest cat f
	c rm -q f
	c gc > /dev/null
	[ -z "$(find "$S/manifests" -type f)" ] || fail "gc kept the manifest"
	read_resume
	assert_status 1
	[ "$err" = "error: 'f' was removed while it was read; read it again" ] ||
		fail "stderr: $err"
	[ -z "$output" ]
}

@test "restore of a tree with a name removed while it reads restores the others and names it" {
	init_store --chunk-size 8K
	mkdir src
	for i in 1 2 3 4; do
		gen_bytes $i 100000 > src/f$i
	done
	c add -q -r src
	# One thread: the first file is paused before its chunks, the rest wait.
	read_racing restore-open restore -q -j 1 src out
	c rm -q src/f1
	c gc > /dev/null
	read_resume
	assert_status 1
	[ "$err" = "error: 'src/f1' was removed while it was read; read it again" ] ||
		fail "stderr: $err"
	for i in 2 3 4; do
		cmp src/f$i out/f$i
	done
	[ ! -e out/f1 ]
	[ -z "$(find out -name '.cdt-restore*')" ] || fail "temporary files are left"
}

@test "verify of a name removed while it reads says so, and no damage" {
	init_store --chunk-size 8K
	gen_bytes 1 300000 > f
	gen_bytes 2 300000 > g
	c add -q f g
	read_racing restore-open verify f g
	c rm -q f
	c gc > /dev/null
	read_resume
	assert_status 1
	[ "$err" = "error: 'f' was removed while it was read; read it again" ] ||
		fail "stderr: $err"
	case "$output" in
	*damaged*) fail "verify called it damage: $output" ;;
	esac
	assert_out_contains "1 could not be read"
}

@test "verify --all --json of a name replaced while it reads calls it unreadable, not damaged" {
	init_store --chunk-size 8K
	gen_bytes 1 300000 > f
	c add -q f
	read_racing restore-open verify --all --json
	gen_bytes 2 200000 > f
	c add -q f
	c gc > /dev/null
	read_resume
	assert_status 1
	[ "$err" = "error: 'f' was replaced while it was read; read it again" ] ||
		fail "stderr: $err"
	assert_out_contains '"status":"unreadable"'
	assert_out_contains '"damaged":0,'
	run_split c verify f
	assert_status 0
}

@test "verify --against of a name removed while it reads says so, not that it differs" {
	init_store --chunk-size 8K
	gen_bytes 1 300000 > f
	gen_bytes 2 300000 > g
	c add -q f
	# The manifest gone before it is opened.
	read_racing restore-manifest verify --against f f
	c rm -q f
	c gc > /dev/null
	read_resume
	assert_status 1
	[ "$err" = "error: 'f' was removed while it was read; read it again" ] ||
		fail "stderr: $err"
	# The manifest open, the chunks gone: a local file that differs.
	c add -q f
	read_racing restore-open verify --against g f
	c rm -q f
	c gc > /dev/null
	read_resume
	assert_status 1
	[ "$err" = "error: 'f' was removed while it was read; read it again" ] ||
		fail "stderr: $err"
	[ -z "$output" ] || fail "stdout: $output"
}

@test "diff --stat of a name removed or replaced before its manifest is read says so" {
	init_store --chunk-size 8K
	gen_bytes 1 100000 > f
	gen_bytes 2 100000 > g
	# Two mtimes apart whatever the clock's tick (files written within one may share it).
	touch -d '2020-01-01 00:00:00' f
	touch -d '2021-01-01 00:00:00' g
	c add -q --name g1/f f
	c add -q --name g2/f g
	# The names walked; no manifest opened yet.
	read_racing restore-manifest diff --stat g1 g2
	c rm -q g2/f
	c gc > /dev/null
	read_resume
	assert_status 2
	[ "$err" = "error: 'g2/f' was removed while it was read; read it again" ] ||
		fail "stderr: $err"
	assert_out_contains "M f (100000 -> 100000 bytes; mtime)"
	c add -q --name g2/f g
	read_racing restore-manifest diff --stat g1 g2
	c add -q --name g2/f f
	c gc > /dev/null
	read_resume
	assert_status 2
	[ "$err" = "error: 'g2/f' was replaced while it was read; read it again" ] ||
		fail "stderr: $err"
	c fsck > fsck.out 2>&1 || fail "fsck: $(cat fsck.out)"
}
