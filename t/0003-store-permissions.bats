#!/usr/bin/env bats
# Who may use a store: private to its owner by default, whatever the umask;
# shared with a group by 'cdt init --shared=group', whatever the umask of
# each member who writes to it.

load test_helper

need_root() {
	[ "$(id -u)" = 0 ] || skip_or_fail "running cdt as other users needs root"
	command -v setpriv > /dev/null || skip_or_fail "setpriv is not installed"
}

# N ids in 60000..64999 that name no user and no group here: the users and
# the group of these tests exist only as numbers, so there is nothing to add
# to /etc/passwd or /etc/group, nor to clean up after, and nothing that
# another test running at the same time could collide with in those files.
free_ids() {
	local n=$1 id

	for id in $(seq "$((60000 + RANDOM % 4000))" 64999); do
		getent passwd "$id" > /dev/null || getent group "$id" > /dev/null || {
			echo "$id"
			n=$((n - 1))
			[ "$n" -gt 0 ] || return 0
		}
	done
	fail "not enough free ids between 60000 and 64999"
}

# as UID GROUPS UMASK CMD...: run CMD as user UID (primary group UID) with
# the supplementary groups GROUPS ("-" for none) and the umask UMASK.
as() {
	local uid=$1 groups=$2 mask=$3

	shift 3
	if [ "$groups" = - ]; then
		setpriv --reuid "$uid" --regid "$uid" --clear-groups sh -c 'umask "$0"; exec "$@"' "$mask" "$@"
	else
		setpriv --reuid "$uid" --regid "$uid" --groups "$groups" sh -c 'umask "$0"; exec "$@"' "$mask" "$@"
	fi
}

@test "a new store is private to its owner, whatever the umask" {
	for mask in 022 000 077; do
		rm -rf "$S"
		umask "$mask"
		init_store
		[ "$(stat -c %a "$S")" = 700 ] || fail "umask $mask: store mode $(stat -c %a "$S")"
	done
	# An empty directory made a store becomes private too.
	rm -rf "$S"
	umask 022
	mkdir -m 755 "$S"
	init_store
	[ "$(stat -c %a "$S")" = 700 ]
}

@test "inside a private store, files follow the umask" {
	umask 027
	init_store
	gen_bytes 2 3000000 > big
	echo small > small
	c add -q big small
	bad=$(find "$S" -perm /007 ! -type l | head -n 3)
	[ -z "$bad" ] || fail "open to others despite umask 027: $bad"
	umask 022
	rm -rf "$S"
	init_store
	c add -q small
	[ "$(stat -c %a "$S/config")" = 644 ]
	[ "$(stat -c %a "$S/objects")" = 755 ]
}

@test "another user cannot read a file from a store made under umask 022" {
	need_root
	chmod 755 "$T"
	umask 022
	init_store
	printf 'private\n' > priv
	printf 'public\n' > pub
	chmod 600 priv
	chmod 644 pub
	c add -q priv pub
	run_split as 65534 - 022 "$CDT" --store "$S" cat priv
	assert_status 1
	assert_one_line_err
	[ "$err" = "error: cannot open store '$S': Permission denied" ]
	[ -z "$output" ]
	# Nor by going around cdt.
	run_split as 65534 - 022 cat "$S/config"
	[ "$status" -ne 0 ] || fail "another user read the store's config"
	run_split as 65534 - 022 find "$S" -type f
	[ -z "$output" ] || fail "another user listed the store: $output"
	# The owner still reads both.
	c cat priv > got
	cmp got priv
}

@test "members of a shared store's group add, read and remove, whatever their umask" {
	need_root
	free_ids 3 > ids
	{ read -r group; read -r alice; read -r bob; } < ids
	chmod 755 "$T"
	umask 022
	# The store gets the group of its directory.
	mkdir "$S"
	chgrp "$group" "$S"
	run_split "$CDT" init --shared=group "$S"
	assert_status 0
	[ "$output" = "initialized cdt store in $S (fastcdc, 32768-byte chunks, zstd level 3, 262144-byte frames, deltas, shared with group $group)" ]
	[ "$(stat -c %a "$S")" = 2770 ]
	printf 'from alice\n' > a
	gen_bytes 5 3000000 > b
	chown "$alice" a
	chown "$bob" b
	chmod 600 a b
	# Each writer with umask 077, the one that would keep the group out.
	run_split as "$alice" "$group" 077 "$CDT" --store "$S" add -q a
	assert_status 0
	run_split as "$bob" "$group" 077 "$CDT" --store "$S" cat a
	assert_status 0
	[ "$output" = "from alice" ]
	run_split as "$bob" "$group" 077 "$CDT" --store "$S" add -q b
	assert_status 0
	as "$alice" "$group" 077 "$CDT" --store "$S" cat b > got-b
	cmp got-b b
	run_split as "$alice" "$group" 077 "$CDT" --store "$S" rm -q a
	assert_status 0
	run_split as "$alice" "$group" 077 "$CDT" --store "$S" gc
	assert_status 0
	run_split as "$bob" "$group" 077 "$CDT" --store "$S" fsck
	assert_status 0
	[ -z "$err" ] || fail "fsck printed: $err"
	# Everything in it belongs to the group, which may read and write it.
	bad=$(find "$S" ! -group "$group" | head -n 3)
	[ -z "$bad" ] || fail "not of group $group: $bad"
	bad=$(find "$S" -type f ! -perm -060 | head -n 3)
	[ -z "$bad" ] || fail "files the group cannot read and write: $bad"
	bad=$(find "$S" -type d ! -perm -2070 | head -n 3)
	[ -z "$bad" ] || fail "directories the group cannot use: $bad"
	# Someone outside the group gets nothing.
	run_split as 65534 - 022 "$CDT" --store "$S" cat b
	assert_status 1
	[ "$err" = "error: cannot open store '$S': Permission denied" ]
}

@test "a store opened to its group later is shared from then on" {
	need_root
	free_ids 2 > ids
	{ read -r group; read -r alice; } < ids
	chmod 755 "$T"
	umask 022
	init_store
	echo before > f0
	c add -q f0
	# What store-format.md says to do to share an existing store.
	chgrp -R "$group" "$S"
	chmod -R g+rwX "$S"
	find "$S" -type d -exec chmod g+s {} +
	echo after > f1
	chown "$alice" f1
	run_split as "$alice" "$group" 077 "$CDT" --store "$S" add -q f1
	assert_status 0
	bad=$(find "$S" -type f ! -perm -060 | head -n 3)
	[ -z "$bad" ] || fail "files the group cannot read and write: $bad"
	bad=$(find "$S" ! -group "$group" | head -n 3)
	[ -z "$bad" ] || fail "not of group $group: $bad"
	c cat f0 > got
	[ "$(cat got)" = before ]
}

@test "init --shared=group fails when the store cannot get its group" {
	need_root
	free_ids 2 > ids
	{ read -r group; read -r alice; } < ids
	chmod 755 "$T"
	mkdir "$S"
	chown "$alice:$group" "$S"
	# alice is not in the group: the kernel will not make the directory set-group-ID.
	run_split as "$alice" - 022 "$CDT" init --shared=group "$S"
	assert_status 1
	assert_one_line_err
	[ "$err" = "error: cannot share store '$S' with its group: its mode stays 0770" ]
	[ ! -e "$S/config" ]
}

@test "init --shared takes only group" {
	run_split "$CDT" init --shared=world "$S"
	assert_status 2
	assert_err_contains "--shared takes 'group', not 'world'"
	[ ! -e "$S" ]
}

@test "fsck warns about a store other users can read, and passes it" {
	init_store
	echo x > f
	c add -q f
	chmod 755 "$S"
	run_split c fsck
	assert_status 0
	[ "$err" = "warning: other users can read store '$S' (mode 0755): 'chmod o-rwx' on it makes it private" ]
	# Such a store (as every store was made before) works as before.
	c cat f > got
	[ "$(cat got)" = x ]
	chmod 700 "$S"
	run_split c fsck
	assert_status 0
	[ -z "$err" ]
}
