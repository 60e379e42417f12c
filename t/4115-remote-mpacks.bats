#!/usr/bin/env bats
# A store whose manifests are in manifest packs, read over HTTPS: the
# packs info/mpacks lists are fetched whole and checked, no manifest is
# asked for loose, and a gc or damage on the server is followed.

load test_helper
load lib-https

# 30 small files added in one go (their manifests in one pack), served by nginx.
served_small() {
	need_https
	init_store
	mkdir src
	for i in $(seq 1 30); do gen_bytes "$((700 + i))" "$((2000 + i * 41))" > "src/f$i"; done
	c add -q -r src
	ls "$S"/manifests/pack/pack-*.mpack > /dev/null || fail "no manifest pack"
	https_start "$S"
	export CDT_CA_BUNDLE=$HTTPS_CA
	R=$HTTPS_URL
	CACHE=$T/cache
}

r() {
	"$CDT" --cache "$CACHE" --store "$R" "$@"
}

cache_dir() {
	echo "$CACHE/$(sed -n 's/^store-id //p' "$S/config")-$(printf %s "$R" | sha256sum | cut -c1-16)"
}

check_remote() {
	local f
	for f in src/*; do
		r cat "$f" | cmp - "$f" || fail "$f differs over HTTPS"
	done
}

@test "names whose manifests are packed read over HTTPS as locally, with no request for a loose manifest" {
	served_small
	c ls -l > local.ls
	run_split r ls -l
	assert_status 0
	[ "$output" = "$(cat local.ls)" ] || fail "ls differs: $output"
	check_remote
	run_split r verify src
	assert_status 0
	assert_out_contains "all intact"
	[ "$(https_requests '^/manifests/pack/pack-[0-9a-f]+[.]mpack$')" = 1 ] ||
		fail "$(grep /manifests/ "$HTTPS_LOG")"
	[ "$(https_requests '^/manifests/[0-9a-f][0-9a-f]/')" = 0 ] || fail "$(grep /manifests/ "$HTTPS_LOG")"
	! awk '$3 >= 400' "$HTTPS_LOG" | grep . || fail "failed requests"
	cmp "$(cache_dir)/manifests/pack/$(basename "$S"/manifests/pack/*.mpack)" "$S"/manifests/pack/*.mpack
}

@test "a gc on the server that writes the pack again is followed: the old one leaves the cache" {
	served_small
	check_remote
	old=$(basename "$S"/manifests/pack/*.mpack)
	c rm -q src/f1 src/f2 src/f3
	c gc > /dev/null
	rm src/f1 src/f2 src/f3
	new=$(basename "$S"/manifests/pack/*.mpack)
	[ "$new" != "$old" ]
	check_remote
	[ ! -e "$(cache_dir)/manifests/pack/$old" ] || fail "the old pack stays in the cache"
	[ -e "$(cache_dir)/manifests/pack/$new" ]
	run_split r cat src/f1
	assert_status 1
	assert_one_line_err
}

@test "a pack listed, then replaced by a gc on the server before it is fetched: listed again and read" {
	served_small
	old=$(basename "$S"/manifests/pack/*.mpack)
	CDT_TEST_PAUSE=mpacks-listed "$CDT" --cache "$CACHE" --store "$R" ls > ls.out 2> ls.err &
	pid=$!
	wait_stopped $pid
	c rm -q src/f1 src/f2
	c gc > /dev/null
	rm src/f1 src/f2
	[ ! -e "$S/manifests/pack/$old" ]
	kill -CONT $pid
	rc=0
	wait $pid || rc=$?
	[ "$rc" = 0 ] || fail "ls exited $rc: $(cat ls.err)"
	[ "$(grep -c '^src/f' ls.out)" = 28 ] || fail "$(cat ls.out)"
	grep -q " 404 " "$HTTPS_LOG" || fail "the old pack was not asked for"
	check_remote
}

@test "a damaged manifest pack on the server is refused by name and never kept" {
	served_small
	p=$(ls "$S"/manifests/pack/*.mpack)
	cp "$p" good.mpack
	flip_byte "$p" 100
	run_split r ls
	assert_status 1
	assert_one_line_err
	assert_err_contains "damaged manifest pack"
	assert_err_contains "/manifests/pack/$(basename "$p")"
	[ ! -e "$(cache_dir)/manifests/pack/$(basename "$p")" ] || fail "kept"
	# The server mended: read as usual.
	cp good.mpack "$p"
	check_remote
}
