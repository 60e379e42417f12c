#!/usr/bin/env bats
# The manual pages of fsck, verify and repair agree with their -h.

load test_helper

@test "the synopsis of each integrity command's man page is its usage" {
	command -v man >/dev/null || skip_or_fail "man(1) is not installed"
	top=$(cd "$BATS_TEST_DIRNAME/.." && pwd)
	for cmd in fsck verify repair; do
		"$CDT" "$cmd" -h > usage
		sed -n 's/^usage: //p; s/^   or: //p' usage > want
		LC_ALL=C MANWIDTH=250 man -l "$top/Documentation/cdt-$cmd.1" 2>/dev/null |
			sed -n '/^SYNOPSIS/,/^DESCRIPTION/p' | sed '1d;$d' | sed 's/^ *//; /^$/d' > got
		cmp -s want got || fail "cdt-$cmd.1 SYNOPSIS: $(cat got) -- usage: $(cat want)"
	done
}

@test "each integrity command's help names its exit status" {
	for cmd in fsck verify repair; do
		run_split "$CDT" "$cmd" -h
		assert_status 0
		assert_out_contains "Exit status:"
	done
}
