#!/usr/bin/env bats
# Manifest packs: an add of many small files writes the new manifests of a
# batch as one file (store-format.md, "Manifest packs"); they read back,
# are checked, dropped by rm and gc when no name uses them, listed in
# info/mpacks, and damage to them is found and healed.

load test_helper

# src/f1 .. src/fN, small files of distinct content.
make_small() {
	local i
	mkdir -p src
	for i in $(seq 1 "$1"); do gen_bytes "$((500 + i))" "$((1000 + i * 37))" > "src/f$i"; done
}

mpacks() {
	find "$S/manifests/pack" -name 'pack-*.mpack' 2> /dev/null | sort
}

loose_manifests() {
	find "$S/manifests" -path "$S/manifests/pack" -prune -o -type f -print
}

check_all() {
	local f
	for f in src/*; do
		c cat "$f" | cmp - "$f" || fail "$f differs"
	done
}

@test "a tree of small files is stored with its manifests in one pack, read back and checked" {
	init_store
	make_small 40
	c add -q -r src
	[ "$(mpacks | wc -l)" = 1 ] || fail "packs: $(mpacks)"
	[ -z "$(loose_manifests)" ] || fail "loose manifests: $(loose_manifests)"
	[ "$(stored_manifests | wc -l)" = 40 ]
	for i in $(seq 1 40); do
		stored_manifests | grep -qx "$(content_id "src/f$i")" || fail "f$i not packed"
	done
	check_all
	# One cat of them all reads each from the pack too.
	# shellcheck disable=SC2046
	c cat $(cd src && ls | sed 's|^|src/|') > all
	# shellcheck disable=SC2046
	cat $(cd src && ls | sed 's|^|src/|') | cmp - all
	run_split c fsck
	assert_status 0
	assert_out_contains "no problems found"
	# info/mpacks lists it with its size, for readers that cannot list.
	p=$(mpacks)
	grep -qx "$(basename "$p") $(stat -c %s "$p")" "$S/info/mpacks" ||
		fail "info/mpacks: $(cat "$S/info/mpacks")"
	# A batch of a few new manifests keeps them loose.
	make_small 44
	c add -q -r src
	[ "$(mpacks | wc -l)" = 1 ]
	[ "$(loose_manifests | wc -l)" = 4 ]
	check_all
	# Adding the tree again stores nothing new.
	before=$(store_snapshot | grep -v -e '/names/' -e '/info/' -e '/cache/' -e '/refs/names/')
	c add -q -r src
	[ "$(store_snapshot | grep -v -e '/names/' -e '/info/' -e '/cache/' -e '/refs/names/')" = "$before" ]
}

@test "rm drops packed manifests no name uses, gc those replaced; what stays reads back" {
	init_store
	make_small 40
	c add -q -r src
	old=$(mpacks)
	run_split c rm src/f1 src/f2 src/f3 src/f4 src/f5 src/f6 src/f7 src/f8 src/f9 src/f10
	assert_status 0
	assert_out_contains "10 names removed, 10 manifests dropped"
	[ "$(stored_manifests | wc -l)" = 30 ]
	[ "$(mpacks | wc -l)" = 1 ]
	[ "$(mpacks)" != "$old" ] || fail "the pack was not written again"
	for i in $(seq 1 10); do rm "src/f$i"; done
	check_all
	run_split c fsck
	assert_status 0
	assert_out_contains "no problems found"
	# A name given other content leaves its old manifest unused: gc drops it.
	gone=$(content_id src/f11)
	gen_bytes 999 5000 > other
	c add -q --name src/f11 other
	stored_manifests | grep -qx "$gone"
	run_split c gc -v
	assert_status 0
	assert_out_contains "removing packed manifest $gone"
	! stored_manifests | grep -qx "$gone" || fail "still stored"
	[ "$(stored_manifests | wc -l)" = 30 ]
	cp other src/f11
	check_all
	run_split c fsck
	assert_status 0
	assert_out_contains "no problems found"
	# Every name gone: so is every pack, and info/mpacks lists none.
	c rm -q -r src
	c gc > /dev/null
	[ -z "$(mpacks)" ] || fail "left: $(mpacks)"
	[ "$(grep -c '^pack-' "$S/info/mpacks")" = 0 ]
	run_split c fsck
	assert_status 0
}

@test "a dry-run gc names the packed manifests it would drop and changes nothing" {
	init_store
	make_small 20
	c add -q -r src
	gone=$(content_id src/f3)
	gen_bytes 998 5000 > other
	c add -q --name src/f3 other
	before=$(store_snapshot)
	run_split c gc -n -v
	assert_status 0
	assert_out_contains "would remove packed manifest $gone"
	[ "$(store_snapshot)" = "$before" ]
}

@test "a damaged manifest pack: reads of it fail by name, fsck reports it, gc keeps it, repair heals" {
	init_store
	make_small 20
	c add -q -r src
	p=$(mpacks)
	cp -a src good
	# The first manifest in the pack (just after its 16-byte header).
	flip_byte "$p" 40
	bad=0
	for i in $(seq 1 20); do
		rc=0
		c cat "src/f$i" > out 2> err || rc=$?
		if [ "$rc" = 0 ]; then
			cmp out "src/f$i" || fail "f$i: wrong bytes"
			continue
		fi
		bad=$((bad + 1))
		err=$(cat err)
		assert_one_line_err
		assert_err_contains "src/f$i"
		assert_err_contains "manifest"
	done
	[ "$bad" = 1 ] || fail "$bad names failed"
	run_split c fsck
	[ "$status" -ne 0 ] || fail "fsck found nothing"
	assert_out_contains "manifests/pack/$(basename "$p")"
	assert_out_contains "manifest-corrupt"
	# gc cannot tell what is live: it stops and removes nothing.
	before=$(store_snapshot)
	run_split c gc
	[ "$status" -ne 0 ] || fail "gc went on"
	[ "$(store_snapshot)" = "$before" ]
	# repair writes the manifest again from a good copy, and the pack
	# again without it.
	run_split c repair --scan good
	assert_status 0
	assert_out_contains "wrote the damaged manifest pack manifests/pack/$(basename "$p") again as pack-"
	assert_out_contains "without its damaged manifests"
	[ ! -e "$p" ] || fail "the damaged pack is still there"
	[ "$(mpacks | wc -l)" = 1 ]
	check_all
	run_split c gc
	assert_status 0
	run_split c fsck
	assert_status 0
	assert_out_contains "no problems found"
}

@test "a pack whose only damage is its checksum is written again whole, under the same name, by repair or by gc" {
	init_store
	make_small 20
	c add -q -r src
	p=$(mpacks)
	for cmd in repair gc; do
		flip_byte "$p" $(($(stat -c %s "$p") - 1))
		run_split c fsck
		[ "$status" -ne 0 ] || fail "fsck found nothing"
		assert_out_contains "manifest-corrupt manifests/pack/$(basename "$p")"
		run_split c $cmd
		assert_status 0
		[ $cmd = gc ] || assert_out_contains "wrote the damaged manifest pack manifests/pack/$(basename "$p") again whole"
		[ "$(mpacks)" = "$p" ] || fail "$cmd: $(mpacks)"
		check_all
		run_split c fsck
		assert_status 0
		assert_out_contains "no problems found"
	done
}

@test "a manifest pack that does not open: its manifests fail by name; repaired loose, gc removes it; repaired as a pack, it is whole again" {
	init_store
	make_small 20
	c add -q -r src
	cp -a src good
	p=$(mpacks)
	# The offset of the table (8 bytes before the final checksum) made impossible.
	flip_byte "$p" $(($(stat -c %s "$p") - 33))
	run_split c cat src/f7
	assert_status 1
	assert_one_line_err
	assert_err_contains "src/f7"
	assert_err_contains "manifest pack"
	run_split c fsck
	[ "$status" -ne 0 ] || fail "fsck found nothing"
	assert_out_contains "manifests/pack/$(basename "$p")"
	# Written again loose (a few at a time), the pack is left: repair
	# cannot tell what it holds.
	run_split c repair --from good/f1 good/f2 good/f3 good/f4 good/f5 good/f6 good/f7 good/f8 good/f9 good/f10
	assert_status 1
	assert_out_contains "restored 10 of 20 missing or damaged manifests"
	run_split c repair --from good/f11 good/f12 good/f13 good/f14 good/f15 good/f16 good/f17 good/f18 good/f19 good/f20
	assert_status 1
	assert_out_contains "restored 10 of 10 missing or damaged manifests"
	[ -e "$p" ]
	check_all
	run_split c gc -v
	assert_status 0
	assert_out_contains "removing damaged manifest pack manifests/pack/$(basename "$p")"
	[ ! -e "$p" ]
	check_all
	run_split c fsck
	assert_status 0
	assert_out_contains "no problems found"
	# The same damage repaired in one go writes the same pack again, whole.
	rm -rf "$S"
	init_store
	c add -q -r src
	flip_byte "$p" $(($(stat -c %s "$p") - 33))
	run_split c repair --scan good
	assert_status 0
	assert_out_contains "restored 20 of 20 missing or damaged manifests"
	[ "$(mpacks)" = "$p" ]
	check_all
	run_split c fsck
	assert_status 0
	assert_out_contains "no problems found"
}

@test "a kill while a batch's manifest pack goes in, or while rm writes it again, loses nothing committed" {
	make_small 30
	for point in manifest mpack-drop; do
		rm -rf "$S"
		init_store
		if [ $point = manifest ]; then
			rc=0
			CDT_TEST_CRASH=$point c add -q -r src > /dev/null 2>&1 || rc=$?
			[ "$rc" = 137 ] || fail "$point: add exited $rc"
		else
			c add -q -r src
			rc=0
			CDT_TEST_CRASH=$point c rm -q src/f1 src/f2 > /dev/null 2>&1 || rc=$?
			[ "$rc" = 137 ] || fail "$point: rm exited $rc"
		fi
		# Nothing but garbage and stale server info.
		rc=0
		c fsck > fsck.out 2>&1 || rc=$?
		if [ "$rc" != 0 ] && grep -E '^[a-z]+-[a-z-]+ ' fsck.out | grep -qv '^info-stale '; then
			fail "$point: $(cat fsck.out)"
		fi
		for n in $(c ls -t f src); do
			c cat "$n" | cmp - "$n" || fail "$point: $n differs"
		done
		# The next commands finish the work.
		c add -q -r src
		c rm -q src/f1 src/f2
		c gc > /dev/null
		rm src/f1 src/f2
		check_all
		run_split c fsck
		assert_status 0
		assert_out_contains "no problems found"
		make_small 30
	done
}
