#!/usr/bin/env bats
# cat -o: what each kind of output path gets. A regular file is replaced
# atomically; a device or FIFO is written into and stays what it was; a
# symbolic link is followed; a directory is refused.

load test_helper

need_root() {
	[ "$(id -u)" = 0 ] || skip_or_fail "making device nodes needs root"
}

# The type of a file as stat names it ("character special file", "fifo"...).
file_type() {
	stat -c %F "$1"
}

@test "cat -o replaces an existing file" {
	init_store
	echo new > f
	c add -q f
	echo old > out
	c cat -o out f
	[ "$(cat out)" = new ]
}

@test "cat -o /dev/null reads and checks the file and leaves /dev/null a device" {
	need_root
	command -v unshare > /dev/null || skip_or_fail "unshare is not installed"
	init_store
	gen_bytes 1 300000 > f
	c add -q f
	# In a mount namespace with a /dev of its own, so that a cdt that
	# replaced /dev/null would replace a throwaway node, not the machine's.
	cat > in-ns.sh <<-'EOF'
	mount -t tmpfs -o size=16m,mode=755 cdt-test-dev /dev || exit 99
	mknod -m 666 /dev/null c 1 3 || exit 99
	"$CDT" --store "$S" cat -o /dev/null f 2> err
	echo $? > rc
	stat -c '%F %t:%T' /dev/null > type
	echo discarded > /dev/null
	wc -c < /dev/null > size
	EOF
	CDT=$CDT S=$S unshare --mount --propagation private sh in-ns.sh 2> ns.err || true
	[ -f rc ] || skip_or_fail "cannot mount a private /dev in a mount namespace here: $(cat ns.err)"
	[ "$(cat rc)" = 0 ] || fail "cat -o /dev/null failed: $(cat err)"
	[ ! -s err ] || fail "cat -o /dev/null printed: $(cat err)"
	[ "$(cat type)" = "character special file 1:3" ] || fail "/dev/null became: $(cat type)"
	[ "$(cat size)" = 0 ]
}

@test "cat -o into a character device writes into it and leaves it in place" {
	need_root
	init_store
	gen_bytes 2 300000 > f
	c add -q f
	mknod -m 666 null c 1 3
	mknod -m 666 full c 1 7
	run_split c cat -o null f
	assert_status 0
	[ "$(file_type null)" = "character special file" ]
	# The device's own mode is not replaced by the stored file's.
	[ "$(stat -c %a null)" = 666 ]
	# A device that refuses the bytes fails the command, and stays a device.
	run_split c cat -o full f
	assert_status 1
	assert_one_line_err
	[ "$err" = "error: cannot write 'f' to full: No space left on device" ]
	[ "$(file_type full)" = "character special file" ]
	[ -z "$(ls -A | grep cdt)" ] || fail "left behind: $(ls -A)"
}

@test "cat -o into a FIFO gives its reader the bytes and leaves the FIFO" {
	init_store
	gen_bytes 3 3000000 > f
	c add -q f
	mkfifo fifo
	timeout 20 cat fifo > got &
	reader=$!
	run_split timeout 20 "$CDT" --store "$S" cat -o fifo f
	wait "$reader" || fail "the reader did not get the bytes"
	assert_status 0
	cmp got f
	[ "$(file_type fifo)" = fifo ]
	[ -z "$(ls -A | grep cdt)" ] || fail "left behind: $(ls -A)"
}

@test "cat -o onto a block device writes the image into it" {
	need_root
	command -v losetup > /dev/null || skip_or_fail "losetup is not installed"
	init_store --chunker fixed --chunk-size 4K
	gen_bytes 4 1000000 > img
	c add -q img
	truncate -s 2M backing
	dev=$(losetup -f --show backing 2> /dev/null) || skip_or_fail "no loop device can be set up here"
	# A node of our own for the loop device: whatever happens to it stays here.
	mknod blk b "$((0x$(stat -c %t "$dev")))" "$((0x$(stat -c %T "$dev")))"
	run_split c cat -o blk img
	losetup -d "$dev"
	assert_status 0
	[ "$(file_type blk)" = "block special file" ]
	head -c 1000000 backing | cmp - img
	# The rest of the device is left as it was, as cp leaves it.
	[ "$(tail -c +1000001 backing | tr -d '\0' | wc -c)" = 0 ]
}

@test "cat -o writes through a symbolic link to a file and keeps the link" {
	init_store
	echo data > f
	chmod 640 f
	c add -q f
	mkdir real
	echo precious > real/target
	ln -s real/target link
	run_split c cat -o link f
	assert_status 0
	[ -L link ]
	[ "$(readlink link)" = real/target ]
	[ "$(cat real/target)" = data ]
	[ "$(stat -c %a real/target)" = 640 ]
	# The temporary file was made next to the target, and is gone.
	[ -z "$(ls -A real | grep cdt)" ] || fail "left behind: $(ls -A real)"
}

@test "cat -o through a symbolic link to a device writes into the device" {
	need_root
	init_store
	echo data > f
	c add -q f
	mknod -m 666 null c 1 3
	ln -s null link
	run_split c cat -o link f
	assert_status 0
	[ -L link ]
	[ "$(file_type null)" = "character special file" ]
}

@test "cat -o refuses a symbolic link to nothing" {
	init_store
	echo data > f
	c add -q f
	ln -s missing link
	run_split c cat -o link f
	assert_status 1
	assert_one_line_err
	[ "$err" = "error: refusing to write 'link': it is a symbolic link to nothing" ]
	[ -L link ]
	[ ! -e missing ]
}

@test "cat -o refuses a directory, and a link to one" {
	init_store
	echo data > f
	c add -q f
	mkdir d
	ln -s d dlink
	run_split c cat -o d f
	assert_status 1
	assert_one_line_err
	[ "$err" = "error: cannot write 'd': it is a directory" ]
	run_split c cat -o dlink f
	assert_status 1
	[ "$err" = "error: cannot write 'dlink': it is a directory" ]
	[ -z "$(ls -A d)" ]
	[ -L dlink ]
	run_split c cat -o nodir/ f
	assert_status 1
	[ "$err" = "error: cannot write 'nodir/': Not a directory" ]
}

@test "cat -o refuses a file in the store, and a link to one" {
	init_store
	echo data > f
	c add -q f
	cp "$S/config" config.before
	run_split c cat -o "$S/config" f
	assert_status 1
	assert_one_line_err
	[ "$err" = "error: cannot write '$S/config': it is in the store '$S'" ] || fail "$err"
	ln -s "$S/config" conflink
	run_split c cat -o conflink f
	assert_status 1
	[ "$err" = "error: cannot write 'conflink': it is in the store '$S'" ] || fail "$err"
	run_split c cat -o "$S/tmp/new" f
	assert_status 1
	cmp config.before "$S/config"
	[ -z "$(ls -A "$S/tmp")" ]
	c fsck > /dev/null
}

@test "cat -o refuses a socket" {
	command -v python3 > /dev/null || skip_or_fail "python3 is not installed"
	init_store
	echo data > f
	c add -q f
	python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' sock
	run_split c cat -o sock f
	assert_status 1
	assert_one_line_err
	[ "$err" = "error: cannot write 'sock': it is not a regular file, a device or a FIFO" ]
	[ -S sock ]
}

@test "cat -o writes a file whose name is as long as a name can be" {
	init_store
	gen_bytes 3 100000 > f
	c add -q f
	long=$(printf 'n%.0s' $(seq 255))
	echo old > "$long"
	run_split c cat -o "$long" f
	assert_status 0
	[ -z "$err" ] || fail "$err"
	cmp f "$long"
	[ "$(ls -A | grep -c '\.cdt-')" = 0 ] || fail "a temporary file is left: $(ls -A)"
}
