#!/usr/bin/env bats
# Server info (info/): the lists of packs and tables of names every store
# keeps for readers that cannot list a directory, after each command that
# changes packs or names; fsck finds it stale, --rebuild-refs mends it.

load test_helper

# info/packs lists exactly the packs of packs/ (with index), with their sizes.
check_packs() {
	"$TEST_TOOL" info packs "$S/info/packs" > got || fail "info/packs does not parse"
	local p
	: > want
	for p in "$S"/packs/pack-*.idx; do
		[ -e "$p" ] || continue
		p=${p%.idx}
		[ -e "$p.pack" ] || continue
		printf '%s %s %s\n' "${p##*/}" "$(stat -c %s "$p.pack")" "$(stat -c %s "$p.idx")" >> want
	done
	sort want > want.sorted
	cmp got want.sorted || fail "info/packs: $(cat got) / want $(cat want.sorted)"
}

# Every table parses and holds exactly the entries of names/ under its
# prefix, byte for byte; info/prefixes lists exactly the tables.
check_tables() {
	local p n
	: > got
	: > want
	for p in "$S"/info/names/*; do
		[ -e "$p" ] || continue
		"$TEST_TOOL" info names "$p" "${p##*/}" >> got || fail "table ${p##*/} does not parse"
	done
	(cd "$S/names" && find . -type f | sed 's|^\./||') > files
	while IFS= read -r n; do
		case $n in
		*/$'\001'dir) printf '%s\t%s\n' "${n%/*}" "$(sha256sum < "$S/names/$n" | cut -d' ' -f1)" ;;
		*) printf '%s\t%s\n' "$n" "$(sha256sum < "$S/names/$n" | cut -d' ' -f1)" ;;
		esac
	done < files | LC_ALL=C sort > want
	LC_ALL=C sort got > got.sorted
	cmp got.sorted want || fail "tables differ from names/: $(diff got.sorted want)"
	"$TEST_TOOL" info prefixes "$S/info/prefixes" > got || fail "info/prefixes does not parse"
	: > want
	for p in "$S"/info/names/*; do
		[ -e "$p" ] || continue
		printf '%s %s %s\n' "$(tail -c 32 "$p" | od -An -tx1 | tr -d ' \n')" "$(stat -c %s "$p")" "${p##*/}" >> want
	done
	LC_ALL=C sort -k3 want > want.sorted
	cmp got want.sorted || fail "info/prefixes: $(cat got) / want $(cat want.sorted)"
}

check_info() {
	check_packs
	check_tables
	run_split c fsck --quick
	assert_status 0
}

make_tree() {
	mkdir -p src/sub "src/with space" src/other
	for i in 1 2 3 4 5; do printf 'file %s\n' "$i" > "src/f$i"; done
	gen_bytes 1 400000 > src/sub/big
	gen_bytes 2 300000 > "src/with space/x"
	echo other > src/other/o
	ln -s f1 src/link
}

@test "init makes an empty info/, and fsck finds it up to date" {
	init_store
	[ -d "$S/info/names" ]
	"$TEST_TOOL" info packs "$S/info/packs" > got
	[ ! -s got ]
	"$TEST_TOOL" info prefixes "$S/info/prefixes" > got
	[ ! -s got ]
	check_info
}

@test "add, add -r, rm, gc, repack and recompress keep info/ equal to packs/ and names/" {
	init_store
	make_tree
	c add -q --name top src/f1
	check_info
	CDT_TEST_GROUP=3 c add -q -r src
	check_info
	c add -q -r --prefix g2 src
	check_info
	[ -s "$S/info/names/g2" ] && [ -s "$S/info/names/src" ] && [ -s "$S/info/names/top" ]
	c rm -q -r src/sub
	check_info
	# A table left empty goes, with its line.
	c rm -q top
	[ ! -e "$S/info/names/top" ]
	check_info
	c rm -q -r g2
	[ ! -e "$S/info/names/g2" ]
	check_info
	# Packs removed and written by gc (a pack with nothing live goes).
	gen_bytes 3 500000 > big3
	c add -q --name gone big3
	c rm -q gone
	c gc > /dev/null
	check_info
	c gc --recompress > /dev/null
	check_info
}

@test "push keeps the destination's info/ up to date" {
	init_store
	make_tree
	c add -q -r src
	D=$T/dest
	"$CDT" init -q "$D"
	c push "$D" > /dev/null
	S=$D check_info
}

@test "concurrent adds under the same prefix lose no entry of the table" {
	init_store
	for j in 1 2 3 4; do
		mkdir -p "in$j"
		for i in $(seq 1 30); do printf '%s %s\n' "$j" "$i" > "in$j/f$i"; done
	done
	for j in 1 2 3 4; do
		CDT_TEST_GROUP=4 c add -q -r --prefix "p/$j" "in$j" &
	done
	wait
	[ "$(c ls -t f | wc -l)" = 120 ]
	check_info
}

@test "the table of a new prefix is made from the add's own entries, not read back from names/" {
	command -v strace > /dev/null || skip_or_fail "strace is not installed"
	init_store
	make_tree
	c add -q -r --prefix old src
	# Batches of 2 names: the table of "new" is made by the first batch,
	# then merged with each next one.
	CDT_TEST_GROUP=2 traced -f -o trace.log -e trace=openat,openat2 \
		"$CDT" --store "$S" add -q -r --prefix new src
	# An entry file read opens it O_RDONLY|O_NOFOLLOW by its base name.
	run grep -E '"(f[1-5]|big|x|o|link)", O_RDONLY\|O_NOFOLLOW\|O_CLOEXEC\)' trace.log
	[ "$status" = 1 ] || fail "entries of names/ read back: $output"
	check_info
	# A prefix whose table is listed but missing is read from names/.
	rm "$S/info/names/new"
	echo more > src/f6
	c add -q -r --prefix new src
	check_info
}

@test "a name another writer replaces while an add's tables wait is in the tables as it is now" {
	init_store
	mkdir src
	for i in 1 2 3 4 5 6; do echo "first $i" > "src/f$i"; done
	# Batches of 2 names: stopped after the first (src and src/f1),
	# its tables not written yet (they are written at the end).
	CDT_TEST_GROUP=2 CDT_TEST_PAUSE=info-wait "$CDT" --store "$S" add -q -r src &
	pid=$!
	wait_stopped $pid
	[ -e "$S/names/src/f1" ] || fail "src/f1 not stored by the first batch"
	# Meanwhile another add replaces src/f1, with its tables.
	echo other > other
	c add -q --name src/f1 other
	kill -CONT $pid
	wait $pid
	[ "$(c cat src/f1)" = other ]
	check_info
	[ -z "$(ls "$S/info" | grep changing)" ] || fail "marks left: $(ls "$S/info")"
}

@test "fsck alongside an add whose tables wait finds nothing stale, and still finds damage" {
	init_store
	make_tree
	c add -q --name top src/f1
	c add -q src/f2
	mkdir new
	echo n > new/n
	# Stopped after its first batch (new, new/n, src): the table of new
	# is not made yet, that of src lacks src; both are written at the end.
	CDT_TEST_GROUP=3 CDT_TEST_PAUSE=info-wait "$CDT" --store "$S" add -q -r new src &
	pid=$!
	wait_stopped $pid
	run_split c fsck --quick
	status1=$status out1=$output
	# A table the add does not write is still checked.
	cp "$S/info/names/top" top.table
	printf 'x' >> "$S/info/names/top"
	run_split c fsck --quick
	status2=$status out2=$output
	cp top.table "$S/info/names/top"
	kill -CONT $pid
	wait $pid
	[ "$status1" = 0 ] || fail "fsck alongside the add: $status1: $out1"
	[ "$status2" = 32 ] || fail "damaged table: $status2: $out2"
	[[ $out2 == *"info-stale info/names/top: does not hold the entries under 'top' (table checksum does not match its contents)"* ]] ||
		fail "$out2"
	[ "$(grep -c '^info-stale' <<< "$out2")" = 2 ] || fail "$out2"
	check_info
}

@test "an add whose last batch changes nothing still writes the tables of the batches before" {
	init_store
	mkdir src
	for i in 1 2 3 4 5 6; do echo "first $i" > "src/f$i"; done
	c add -q -r --no-cache src
	# Only the first batch changes a name.
	echo changed > src/f1
	CDT_TEST_GROUP=2 c add -q -r src
	[ "$(c cat src/f1)" = changed ]
	check_info
	[ -z "$(ls "$S/info" | grep changing)" ] || fail "marks left: $(ls "$S/info")"
}

@test "one add's changes under listed and new top-level prefixes in between keep every line of info/prefixes" {
	init_store
	for p in a c e g; do echo "$p" > "$p"; done
	c add -q a c e g
	check_info
	# New b, d and f between the listed ones, c changed, a and e left.
	for p in b d f; do echo "$p" > "$p"; done
	echo changed > c
	c add -q b c d f
	check_info
	c rm -q d g
	check_info
	[ "$("$TEST_TOOL" info prefixes "$S/info/prefixes" | cut -d' ' -f3 | tr '\n' ' ')" = "a b c e f " ]
}

@test "fsck finds a damaged, missing or stale info file, and --rebuild-refs mends it" {
	init_store
	make_tree
	c add -q -r src
	printf 'x' >> "$S/info/names/src"
	run_split c fsck --quick
	assert_status 32
	assert_out_contains "info-stale info/names/src: does not hold the entries under 'src' (table checksum does not match its contents); affects no stored name"
	assert_out_contains "info-stale info/prefixes: line of 'src' does not match its table; affects no stored name"
	rm "$S/info/packs"
	echo junk > "$S/info/names/nothing"
	run_split c fsck --quick
	assert_status 32
	assert_out_contains "info-stale info/packs: missing; affects no stored name"
	assert_out_contains "info-stale info/names/nothing: no names under 'nothing'; affects no stored name"
	run_split c fsck --quick --rebuild-refs
	assert_status 0
	[ ! -e "$S/info/names/nothing" ]
	check_info
	# A pack info/packs does not list, and sizes that differ.
	cp "$S/info/packs" packs.old
	gen_bytes 4 3000000 > more
	c add -q --name more more
	cp packs.old "$S/info/packs"
	run_split c fsck --quick
	assert_status 32
	assert_out_contains "info-stale info/packs: does not list pack-"
	c fsck --rebuild-refs > /dev/null
	check_info
}

@test "a directory where a file of info/ goes is replaced by gc and --rebuild-refs" {
	init_store
	make_tree
	c add -q -r src
	rm "$S/info/names/src" "$S/info/prefixes"
	mkdir -p "$S/info/names/src/x" "$S/info/prefixes"
	run_split c fsck --quick
	assert_status 32
	assert_out_contains "info-stale info/names/src: "
	run_split c fsck --quick --rebuild-refs
	assert_status 0
	check_info
	rm "$S/info/packs"
	mkdir "$S/info/packs"
	run_split c gc
	assert_status 0
	check_info
}

@test "a store made before info/ is reported once, and gets all of it at its first update" {
	init_store
	make_tree
	c add -q -r src
	c add -q --name top src/f1
	rm -rf "$S/info"
	run_split c fsck --quick
	assert_status 32
	[ "$(grep -c '^info-stale' <<< "$output")" = 1 ]
	assert_out_contains "info-stale info: missing (a store made before server info); affects no stored name"
	# An add of one name writes every table and info/packs.
	c add -q --name new src/f2
	check_info
	[ -s "$S/info/names/top" ]
	# rm does the same.
	rm -rf "$S/info"
	c rm -q new
	check_info
}

# A store holding "first", and an add -r of src/ killed at crash point
# "info": its names in place, the tables of info/names/ not yet written.
add_killed_at_info() {
	local rc=0

	init_store
	make_tree
	c add -q --name first src/f1
	CDT_TEST_CRASH=info c add -q -r src || rc=$?
	[ "$rc" = 137 ]
}

@test "an add killed after its names are in place leaves info/ stale, which fsck finds" {
	add_killed_at_info
	c ls src > /dev/null
	run_split c fsck --quick
	assert_status 32
	assert_out_contains "info-stale info/names/src: missing (names under 'src' exist); affects no stored name"
	c fsck --quick --rebuild-refs > /dev/null
	check_info
}

@test "the next writer after one killed between its names and its tables writes info/ again" {
	add_killed_at_info
	# The killed add's mark is left, unlocked.
	ls "$S/info" | grep -q '^changing-' || fail "no mark: $(ls "$S/info")"
	run_split c fsck --quick
	assert_status 32
	# Any later writer (here an add of another name) writes every table again.
	echo other > other
	c add -q other
	check_info
	[ -z "$(ls "$S/info" | grep changing)" ] || fail "marks left: $(ls "$S/info")"
	# rm the same way: killed after its names are gone, mended by the next add.
	rc=0
	CDT_TEST_CRASH=info c rm -q -r src || rc=$?
	[ "$rc" = 137 ]
	run_split c fsck --quick
	assert_status 32
	c add -q --name third src/f1
	check_info
	[ "$(c ls)" = "$(printf 'first\nother\nthird')" ] || fail "$(c ls)"
}

@test "the same add run again after it was killed between its names and its tables mends info/" {
	add_killed_at_info
	# Every name is in place already: the add run again keeps them all,
	# and still writes the tables the killed one did not.
	c add -q -r src
	check_info
	[ -z "$(ls "$S/info" | grep changing)" ] || fail "marks left: $(ls "$S/info")"
}

@test "a writer whose process id a killed one had does not take over its mark" {
	add_killed_at_info
	mark=$(ls "$S/info" | grep '^changing-')
	# The next writer runs with the id the dead one had (as in a container,
	# where every run may get the same): its first mark has that name.
	echo other > other
	CDT="$CDT" S="$S" mark="$mark" bash -c \
		'mv "$S/info/$mark" "$S/info/changing-$$-1"; exec "$CDT" --store "$S" add -q other'
	check_info
	[ -z "$(ls "$S/info" | grep changing)" ] || fail "marks left: $(ls "$S/info")"
}

@test "a writer's mark is not taken for a dead one while the writer lives" {
	init_store
	make_tree
	# Stopped with its mark made, before any of its names: alive.
	CDT_TEST_PAUSE=info-mark "$CDT" --store "$S" add -q -r src &
	pid=$!
	wait_stopped $pid
	before=$(ls "$S/info" | grep '^changing-' || true)
	# Another writer meanwhile leaves the live mark alone.
	echo other > other
	rc=0
	c add -q other || rc=$?
	after=$(ls "$S/info" | grep '^changing-' || true)
	kill -CONT $pid
	wait $pid
	[ "$rc" = 0 ]
	[ -n "$before" ] || fail "no mark"
	[ "$after" = "$before" ] || fail "mark gone: $after"
	check_info
	[ -z "$(ls "$S/info" | grep changing)" ] || fail "marks left: $(ls "$S/info")"
}

@test "a mark never made (its writer killed before renaming it) is removed once old and unlocked" {
	init_store
	make_tree
	c add -q --name first src/f1
	: > "$S/info/new-changing-999999-1"
	: > "$S/info/new-changing-999999-2"
	: > "$S/info/new-changing-999999-3"
	touch -d '2 hours ago' "$S/info/new-changing-999999-1" "$S/info/new-changing-999999-3"
	# -3 is held by a live process: not litter, however old.
	# (The subshell becomes the sleep that holds the lock, so that killing
	# it ends both; it closes bats' descriptor 3, so bats does not wait.)
	(flock 9 && exec sleep 30) 9< "$S/info/new-changing-999999-3" 3>&- &
	holder=$!
	sleep 0.5
	echo other > other
	c add -q other
	left=$(ls "$S/info" | grep '^new-changing' | tr '\n' ' ')
	kill $holder 2> /dev/null || true
	wait $holder 2> /dev/null || true
	[ "$left" = "new-changing-999999-2 new-changing-999999-3 " ] || fail "left: $left"
	check_info
	c fsck > /dev/null
}

@test "rm after packs were lost leaves info/packs listing the packs there are" {
	init_store --chunk-size 8K
	gen_bytes 1 300000 > a
	c add -q a
	echo b > b
	c add -q b
	rm "$S"/packs/pack-*
	c rm -q b
	check_packs
	run_split c fsck --quick
	assert_status 4
	[[ "$output" != *info-stale* ]] || fail "$output"
	# One that agrees already is left as it is.
	before=$(stat -c %i "$S/info/packs")
	c add -q b
	c rm -q b
	[ "$(stat -c %i "$S/info/packs")" = "$before" ] || fail "info/packs written again"
}

# An add of a (300 KB, new) killed with its pack in packs/ and info/packs
# not yet written again: fsck says info/packs is stale.
kill_add_with_pack_in_place() {
	gen_bytes 1 300000 > a
	CDT_TEST_PAUSE=pack-in-place "$CDT" --store "$S" add -q a &
	pid=$!
	wait_stopped $pid
	kill -KILL $pid
	wait $pid 2> /dev/null || true
	run_split c fsck --quick
	assert_status 32
	assert_out_contains "info-stale info/packs: does not list pack-"
}

@test "an add killed with its pack in place but not yet listed leaves info/packs stale until the next add" {
	init_store --chunk-size 8K
	kill_add_with_pack_in_place
	# The next add, of a small file that makes no pack, lists it.
	echo b > b
	c add -q b
	check_info
}

@test "a pull that changes no name still lists the pack a killed add left" {
	init_store --chunk-size 8K
	"$CDT" init -q "$T/other"
	echo b > b
	"$CDT" --store "$T/other" add -q b
	c pull "$T/other" > /dev/null
	kill_add_with_pack_in_place
	# b is here already: no name changes, no table is written.
	run_split c pull "$T/other"
	assert_status 0
	assert_out_contains "0 new contents"
	check_info
}

# A store whose pack files are lost (info/packs lists a pack that is gone), and a small file b stored.
lose_packs() {
	init_store --chunk-size 8K
	gen_bytes 1 300000 > a
	c add -q a
	echo b > b
	c add -q b
	rm "$S"/packs/pack-*
}

# info/packs lists the packs there are, and fsck finds only the chunks lost with them (status $1).
packs_settled() {
	check_packs
	run_split c fsck --quick
	assert_status "$1"
	[[ "$output" != *info-stale* ]] || fail "$output"
}

@test "an add that changes no name leaves info/packs listing the packs there are" {
	lose_packs
	c add -q b
	packs_settled 4
	# One that agrees already is left as it is.
	before=$(stat -c %i "$S/info/packs")
	c add -q b
	[ "$(stat -c %i "$S/info/packs")" = "$before" ] || fail "info/packs written again"
}

@test "a gc stopped before its end leaves info/packs listing the packs there are" {
	lose_packs
	printf x >> "$S/names/b"
	run_split c gc
	assert_status 1
	assert_err_contains "not collecting garbage: 1 damaged name or manifest"
	packs_settled 20	# (and the damaged name: 16)
}

@test "rm --ignore-missing that removes nothing leaves info/packs listing the packs there are" {
	lose_packs
	c rm -q --ignore-missing nothing
	packs_settled 4
}
