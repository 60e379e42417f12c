#!/usr/bin/env bats
# cdt mount: names added, replaced or removed while mounted.

load test_helper
load lib-mount

@test "a name added while mounted shows up without a remount" {
	need_fuse
	make_tree
	mount_view -o refresh=0.2
	[ ! -e "$M/later/new.txt" ]
	echo new > new.txt
	c add -q --name later/new.txt new.txt
	# The documented bound: twice the refresh interval plus a listing.
	wait_for "[ -f '$M/later/new.txt' ]" 3 || fail "new name not visible"
	cmp new.txt "$M/later/new.txt"
	ls "$M" > got
	printf '%s\n' later src > want
	diff want got
}

@test "a name removed while mounted disappears" {
	need_fuse
	make_tree
	mount_view -o refresh=0.2
	[ -f "$M/src/docs/log.txt" ]
	c rm -q src/docs/log.txt
	wait_for "[ ! -e '$M/src/docs/log.txt' ]" 3 || fail "removed name still visible"
	ls "$M/src/docs" > got
	echo deep > want
	diff want got
}

@test "a name replaced while mounted shows its new content" {
	need_fuse
	init_store
	echo one > f
	c add -q f
	mount_view -o refresh=0.2
	cmp f "$M/f"
	echo "two, longer" > f
	c add -q f
	wait_for "cmp -s f '$M/f'" 3 || fail "old content still shown"
	[ "$(stat -c %s "$M/f")" = "$(stat -c %s f)" ]
}

@test "a name whose manifest has gone gives an error, and the server lives on" {
	need_fuse
	make_tree
	mount_view
	id=$(content_id src/docs/log.txt)
	rm "$S/manifests/${id:0:2}/${id:2}"
	run_split cat "$M/src/docs/log.txt"
	assert_status 1
	assert_err_contains "No such file or directory"
	grep -q "cannot open 'src/docs/log.txt': manifest $id: manifest is missing" "$T/mount.log" ||
		fail "log: $(cat "$T/mount.log")"
	cmp src/media/video.bin "$M/src/media/video.bin"
}

@test "with refresh=0 the tree stays as it was at mount time" {
	need_fuse
	make_tree
	mount_view -o refresh=0
	echo new > new.txt
	c add -q new.txt
	sleep 1
	[ ! -e "$M/new.txt" ]
}

@test "rm and gc under an open file give EIO, not a crash" {
	need_fuse
	# Loose objects (15 chunks at most), which gc deletes outright.
	init_store --chunker fixed --chunk-size 64K
	gen_bytes 23 900000 > f
	c add -q f
	mount_view -o cache_size=1M,readahead=0
	exec 5< "$M/f"
	head -c 100000 <&5 > /dev/null
	c rm -q f
	c gc > /dev/null
	[ -z "$(find "$S/objects" -type f)" ]
	rc=0
	cat <&5 > rest 2> err || rc=$?
	exec 5<&-
	[ "$rc" = 1 ] || fail "cat exited with $rc"
	err=$(cat err)
	assert_err_contains "Input/output error"
	server_pid "$M" >/dev/null
	wait_for "[ ! -e '$M/f' ]" 3
	ls "$M" > got
	[ ! -s got ]
}

@test "a file open while its name is replaced never mixes its pages with the new content" {
	need_fuse
	init_store
	gen_bytes 24 1048576 > A
	gen_bytes 25 1048576 > B
	cp A f
	c add -q f
	mount_view -o refresh=0.2
	python3 - "$M/f" A B "$CDT" "$S" <<'PY'
import os, subprocess, sys, time
path, a, b = sys.argv[1], open(sys.argv[2], 'rb').read(), open(sys.argv[3], 'rb').read()
old = os.open(path, os.O_RDONLY)
assert os.pread(old, 4096, 0) == a[:4096]
subprocess.run([sys.argv[4], '--store', sys.argv[5], 'add', '-q', '--name', 'f', sys.argv[3]], check=True)
for i in range(30):
    new = os.open(path, os.O_RDONLY)
    if os.pread(new, 4096, 0) == b[:4096]:
        break
    os.close(new)
    time.sleep(0.1)
else:
    sys.exit('the new content never showed')
# The old handle reads its own content, and what it reads reaches no
# other open of the name, now or later.
assert os.pread(new, 65536, 200000) == b[200000:265536], 'new open read old bytes'
assert os.pread(old, 65536, 500000) == a[500000:565536], 'old open read new bytes'
assert os.pread(new, 65536, 500000) == b[500000:565536], 'new open read old bytes'
later = os.open(path, os.O_RDONLY)
assert os.pread(later, 1048576, 0) == b, 'a later open read old bytes'
os.close(old)
os.close(new)
os.close(later)
last = os.open(path, os.O_RDONLY)
assert os.pread(last, 1048576, 0) == b, 'an open after the old one closed read old bytes'
PY
}

@test "a directory open while its names are removed still lists '.' and '..'" {
	need_fuse
	make_tree
	mount_view -o refresh=0.2
	python3 - "$M/src/docs" "$CDT" "$S" <<'PY'
import ctypes, os, struct, subprocess, sys, time
path = sys.argv[1]
fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
subprocess.run([sys.argv[2], '--store', sys.argv[3], 'rm', '-q', '-r', 'src/docs'], check=True)
for i in range(30):
    if not os.path.exists(path):
        break
    time.sleep(0.1)
else:
    sys.exit('the removed directory still shows')
libc = ctypes.CDLL(None, use_errno=True)
buf = ctypes.create_string_buffer(65536)
names = []
while True:
    n = libc.syscall(217, fd, buf, len(buf))  # getdents64
    if n < 0:
        sys.exit('getdents64: ' + os.strerror(ctypes.get_errno()))
    if n == 0:
        break
    off = 0
    while off < n:
        reclen = struct.unpack_from('H', buf.raw, off + 16)[0]
        names.append(buf.raw[off + 19:off + reclen].split(b'\0')[0])
        off += reclen
assert sorted(names) == [b'.', b'..'], names
os.close(fd)
PY
}
