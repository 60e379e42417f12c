#!/usr/bin/env bats
# cdt mount and cdt umount: command line, documentation, and a build without FUSE.

load test_helper
load lib-mount

@test "mount without a mount point or with bad options is a usage error" {
	init_store
	run_split c mount
	assert_status 2
	assert_err_contains "no mount point given"
	run_split c mount a b
	assert_status 2
	assert_err_contains "too many arguments"
	mkdir mnt
	run_split c mount -o cache_size=lots mnt
	assert_status 2
	assert_err_contains "-o cache_size needs a size like 256M, not 'lots'"
	run_split c mount -o cache_size=4K mnt
	assert_status 2
	assert_err_contains "at least 1M"
	run_split c mount -o refresh=-1 mnt
	assert_status 2
	assert_err_contains "-o refresh needs seconds"
	run_split c mount -o remote_refresh=soon mnt
	assert_status 2
	assert_err_contains "-o remote_refresh needs seconds between 0 and 86400, not 'soon'"
	run_split c mount -o rw mnt
	assert_status 2
	assert_err_contains "read-only"
	for o in suid dev; do
		run_split c mount -o "$o" mnt
		assert_status 2
		assert_err_contains "the view is always nosuid and nodev: -o $o is not possible"
	done
	run_split c mount -x mnt
	assert_status 2
	assert_err_contains "unknown option '-x'"
	! is_mounted "$T/mnt"
}

@test "mount refuses a mount point that is not a directory, and a missing store" {
	need_fuse
	init_store
	touch file
	run_split c mount file
	assert_status 1
	assert_err_contains "cannot mount on 'file': not a directory"
	run_split c mount nowhere
	assert_status 1
	assert_err_contains "cannot mount on 'nowhere': No such file or directory"
	mkdir mnt
	run_split "$CDT" --store "$T/nostore" mount mnt
	assert_status 1
	assert_err_contains "not a cdt store"
	! is_mounted "$T/mnt"
}

@test "an option libfuse does not know is refused before mounting" {
	need_fuse
	init_store
	mkdir mnt
	run_split c mount -o no_such_option mnt
	assert_status 1
	assert_err_contains "no_such_option"
	! is_mounted "$T/mnt"
}

@test "the completion offers mount options and the mount points of cdt views" {
	need_fuse
	source "$BATS_TEST_DIRNAME/../contrib/completion/cdt.bash"
	complete_words() {
		COMP_WORDS=("$@")
		COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
		COMP_LINE="${COMP_WORDS[*]}"
		COMP_POINT=${#COMP_LINE}
		COMPREPLY=()
		_cdt cdt "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
		printf '%s\n' "${COMPREPLY[@]}" > "$T/comp"
	}
	complete_words cdt mount -o re
	printf '%s\n' readahead= refresh= remote_refresh= > want
	diff want comp
	make_tree
	mount_view
	complete_words cdt umount "$T/m"
	echo "$M" > want
	diff want comp
}

@test "a build without FUSE or libcurl still builds and says so" {
	command -v make >/dev/null || skip_or_fail "make is not installed"
	src="$BATS_TEST_DIRNAME/.."
	run_split make -C "$src" -j2 BUILD="$T/nofuse" FUSE=0 CURL=0 SANITIZE= "$T/nofuse/cdt"
	assert_status 0
	[ -x "$T/nofuse/cdt" ]
	! nm "$T/nofuse/cdt" | grep -q fuse_new
	! nm "$T/nofuse/cdt" | grep -q 'curl\|dlopen'
	run_split "$T/nofuse/cdt" --store https://127.0.0.1:1/x ls
	assert_status 1
	[ "$err" = "error: cannot read 'https://127.0.0.1:1/x': this cdt was built without remote stores (libcurl)" ] ||
		fail "unexpected: $err"
	run_split "$T/nofuse/cdt" init s3://127.0.0.1:1/b/x
	assert_status 1
	[ "$err" = "error: cannot create 's3://127.0.0.1:1/b/x': this cdt was built without remote stores (libcurl)" ] ||
		fail "unexpected: $err"
	init_store
	mkdir mnt
	run_split "$T/nofuse/cdt" --store "$S" mount mnt
	assert_status 1
	assert_one_line_err
	[ "$err" = "error: this cdt was built without FUSE support" ]
	run_split "$T/nofuse/cdt" mount mnt
	assert_status 1
	[ "$err" = "error: this cdt was built without FUSE support" ]
	run_split "$T/nofuse/cdt" --store "$S" ls
	assert_status 0
	! is_mounted "$T/mnt"
}
