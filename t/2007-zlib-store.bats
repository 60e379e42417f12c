#!/usr/bin/env bats
# A store of the zlib codec is checked and healed like any other.

load test_helper
load lib-integrity

setup() {
	T=$(mktemp -d "${BATS_TMPDIR:-/tmp}/cdt-test.XXXXXX")
	S="$T/store"
	cd "$T"
	FIXTURE_CODEC=zlib
}

@test "a zlib store is format 1, and its chunks are zlib streams" {
	make_fixture
	grep -qx 'format 1' "$S/config"
	! grep -q '^codec' "$S/config"
	C2=$(piece_id src/c 8192 4096)
	[ "$(od -An -tu1 -j5 -N1 "$(obj_path "$C2")" | tr -d ' ')" = 1 ]
	assert_all_restore
	assert_fsck_clean
}

@test "a flipped byte in a zlib chunk is found and repaired" {
	make_fixture
	C2=$(piece_id src/c 8192 4096)
	flip_byte "$(obj_path "$C2")" 40
	run_split c fsck
	assert_status 4
	assert_out_contains "chunk-corrupt $C2: compressed data does not decode to the stated length; affects 'c'"
	assert_restore_only a copy/a b
	run_split c repair --from src/c
	assert_status 0
	assert_fsck_clean
	assert_all_restore
}

@test "a zlib store is packed, collected and rebuilt by gc with its own codec" {
	make_fixture
	c rm -q b
	run_split c gc
	assert_status 0
	for o in "$S"/packs/*.pack; do
		# Each object's codec byte is 0 (raw) or 1 (zlib).
		python3 - "$o" "${o%.pack}.idx" <<'PY' || fail "a packed object is not zlib"
import struct, sys
pack = open(sys.argv[1], 'rb').read()
idx = open(sys.argv[2], 'rb').read()
n = struct.unpack_from('<Q', idx, 8)[0]
locs = 16 + 1024 + 32 * n
for i in range(n):
    off = struct.unpack_from('<Q', idx, locs + 16 * i)[0]
    assert pack[off + 5] in (0, 1), pack[off + 5]
PY
	done
	for n in a copy/a c; do
		c cat -o out "$n"
		cmp out "src/$n"
	done
	assert_fsck_clean
}
