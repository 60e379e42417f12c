# test_helper.bash: shared set-up for the bats suite. Each test gets a fresh
# directory ($T) and a store path ($S, not yet created); $CDT is the binary.

: "${CDT:?set CDT to the cdt binary (make test does)}"

# The tests' Python is the system's (python3 is one of the Debian packages
# the suite installs), not whatever comes first in PATH: a version
# manager's shim there runs a shell script and five other processes before
# Python starts, 0.5 s a call against 0.07 s, and the suite calls it often.
# A directory of its own first in PATH, not a shell function: a function
# started with & runs in a subshell, so $! would be that shell and not the
# server a test starts, stops and checks for by its pid.
if [ -x /usr/bin/python3 ] && [ "$(command -v python3)" != /usr/bin/python3 ]; then
	_cdt_python_dir=${BATS_RUN_TMPDIR:-${BATS_TMPDIR:-/tmp}}/cdt-python
	if [ ! -x "$_cdt_python_dir/python3" ]; then
		mkdir -p "$_cdt_python_dir" &&
		ln -sf /usr/bin/python3 "$_cdt_python_dir/python3"
	fi
	PATH=$_cdt_python_dir:$PATH
	unset _cdt_python_dir
fi

setup() {
	T=$(mktemp -d "${BATS_TMPDIR:-/tmp}/cdt-test.XXXXXX")
	S="$T/store"
	export CDT_STORE=
	unset CDT_STORE
	cd "$T"
}

teardown() {
	cd /
	if [ -n "${T:-}" ] && [ -d "$T" ]; then
		# Unmount anything a FUSE test left behind before removing.
		for m in $(awk -v t="$T" 'index($2, t) == 1 { print $2 }' /proc/mounts 2>/dev/null); do
			fusermount3 -u "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
		done
		rm -rf "$T"
	fi
}

# cdt with the test store.
c() {
	"$CDT" --store "$S" "$@"
}

# Run and keep stdout and stderr apart: $status, $output (stdout), $err.
# Output is written to files, never piped into an assertion.
run_split() {
	local rc=0
	"$@" >"$T/.out" 2>"$T/.err" || rc=$?
	status=$rc
	output=$(cat "$T/.out")
	err=$(cat "$T/.err")
}

fail() {
	echo "$@" >&2
	return 1
}

assert_status() {
	[ "$status" -eq "$1" ] || fail "expected exit status $1, got $status; stdout: $output; stderr: ${err:-}"
}

assert_err_contains() {
	case "$err" in
	*"$1"*) ;;
	*) fail "stderr does not contain '$1': $err" ;;
	esac
}

assert_out_contains() {
	case "$output" in
	*"$1"*) ;;
	*) fail "stdout does not contain '$1': $output" ;;
	esac
}

# Exactly one line on stderr.
assert_one_line_err() {
	local n
	n=$(printf '%s\n' "$err" | grep -c .)
	[ "$n" -eq 1 ] || fail "expected one line on stderr, got $n: $err"
}

# Skip with a reason, except in strict mode (CI), where a skip is a failure.
skip_or_fail() {
	if [ "${CDT_TEST_STRICT:-0}" = 1 ]; then
		fail "cannot run here (strict mode forbids skipping): $*"
	else
		skip "$*"
	fi
}

# Reproducible pseudo-random bytes: gen_bytes SEED COUNT > file
gen_bytes() {
	"$TEST_TOOL" gen-random "$1" "$2"
}

# Invert the byte at OFFSET of FILE: damage that always changes it,
# whatever was there (a fixed byte written over one that varies from run
# to run, a time or compressed data, leaves it as it was now and then).
flip_byte() {
	python3 - "$1" "$2" <<'EOF'
import sys
with open(sys.argv[1], 'r+b') as f:
    f.seek(int(sys.argv[2]))
    b = f.read(1)
    if len(b) != 1:
        sys.exit('flip_byte: %s has no byte at %s' % (sys.argv[1], sys.argv[2]))
    f.seek(int(sys.argv[2]))
    f.write(bytes([b[0] ^ 0xff]))
EOF
}

# A snapshot of every file in the store (path, size, checksum), to show
# that a failed command left the store as it was.
store_snapshot() {
	(cd "$S" && find . -type f ! -name lock -print0 | sort -z | xargs -0 -r sha256sum)
}

init_store() {
	"$CDT" init -q "$@" "$S"
}

# The content ids of the manifests the store holds, loose or in manifest
# packs, one a line, sorted.
stored_manifests() {
	{
		find "$S/manifests" -mindepth 2 -maxdepth 2 -type f -path "$S/manifests/??/*" |
			sed 's|.*/\(..\)/\([0-9a-f]*\)$|\1\2|'
		"$TEST_TOOL" mpack --list "$S" | cut -d' ' -f1
	} | sort -u
}

# The content id the store gives FILE (what names its manifest).
content_id() {
	"$CDT" --store "$S" hash "$1" | cut -c1-64
}

# The same, computed without cdt: the SHA-256 of FILE, or in a store of
# format 3 or later its tree id (t/lib/tree-id.py, from the format's
# definition).
ref_content_id() {
	if grep -qxE 'format ([3-9]|[1-9][0-9]+)' "$S/config"; then
		python3 "$BATS_TEST_DIRNAME/lib/tree-id.py" "$1" | cut -c1-64
	else
		sha256sum "$1" | cut -c1-64
	fi
}

# Wait until process $1 has stopped itself at a CDT_TEST_PAUSE point.
# strace with LeakSanitizer off: it cannot run under ptrace (the rest of
# the sanitizers can).
traced() {
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" strace "$@"
}

wait_stopped() {
	local i
	for i in $(seq 1 500); do
		[ "$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)" = T ] && return 0
		sleep 0.02
	done
	fail "process $1 never reached its pause point"
}
