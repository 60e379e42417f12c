# lib-mount.bash: helpers for the cdt mount tests (load after test_helper).

# Skip (fail in strict mode) where FUSE cannot work.
need_fuse() {
	[ -c /dev/fuse ] || skip_or_fail "/dev/fuse is missing"
	command -v fusermount3 >/dev/null || skip_or_fail "fusermount3 is not installed"
	"$CDT" help mount >/dev/null 2>&1 || skip_or_fail "cdt has no mount command"
	run_split "$CDT" mount "$T"
	case "$err" in
	*"built without FUSE"*) skip_or_fail "this cdt was built without FUSE" ;;
	esac
}

is_mounted() {
	awk -v m="$1" '$2 == m { found = 1 } END { exit !found }' /proc/mounts
}

# mount_view [OPTIONS...]: mount $S at $M (detached), logging to $T/mount.log.
mount_view() {
	M="$T/mnt"
	mkdir -p "$M"
	run_split c mount -o log="$T/mount.log" "$@" "$M"
	assert_status 0
	is_mounted "$M" || fail "$M is not mounted after cdt mount"
}

# The pid of the server of mount point $1 (its command line names the mount point).
server_pid() {
	local p
	for p in $(pgrep -f -- "$1" 2>/dev/null); do
		if [ "$(awk '{ print $3 }' /proc/$p/stat 2>/dev/null)" != Z ] &&
		   tr '\0' ' ' < /proc/$p/cmdline 2>/dev/null | grep -q " mount "; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

# Wait up to $2 seconds (default 10) for command $1 to succeed.
wait_for() {
	local i n=$(( ${2:-10} * 10 ))
	for i in $(seq "$n"); do
		eval "$1" && return 0
		sleep 0.1
	done
	return 1
}

# A store with a few files of each kind, and their copies under $T/src.
make_tree() {
	init_store "$@"
	mkdir -p src/docs/deep/er src/media
	gen_bytes 1 3000000 > src/media/video.bin
	"$TEST_TOOL" gen-text 2 700000 > src/docs/log.txt
	printf 'hello\n' > src/docs/deep/er/hello.txt
	: > src/empty
	gen_bytes 3 70000 > "src/name with spaces"
	cp src/media/video.bin src/media/copy.bin
	c add -q -r src >/dev/null
}
