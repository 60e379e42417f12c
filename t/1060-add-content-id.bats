#!/usr/bin/env bats
# The content id is the tree id of the file (or, in a store made with
# --content-id sha256, its SHA-256), however add got to it: checked against
# an implementation of the definition that is not cdt's.

load test_helper

id_of() {
	c add --porcelain --name "$1" "$2" | cut -f4
}

sum_of() {
	ref_content_id "$1"
}

@test "content ids are right for identical, extended, cut and diverging files, in both kinds of store" {
	for kind in tree sha256; do
	rm -rf "$S"
	init_store --content-id "$kind"
	gen_bytes 1 20000000 > a
	cp a same
	{ cat a; gen_bytes 2 3000000; } > longer
	head -c 15000000 a > shorter
	{ head -c 9000000 a; gen_bytes 3 11000000; } > diverges
	{ head -c 100 a; printf 'X'; tail -c +102 a; } > early
	[ "$(id_of a a)" = "$(sum_of a)" ]
	for f in same longer shorter diverges early; do
		[ "$(id_of "$f" "$f")" = "$(sum_of "$f")" ] || fail "$f: wrong content id"
		c cat "$f" > out
		cmp out "$f"
	done
	# From standard input (which cannot be read twice) too.
	[ "$(c add --porcelain --name stdin - < diverges | cut -f4)" = "$(sum_of diverges)" ]
	# cdt hash says the same.
	[ "$(content_id early)" = "$(sum_of early)" ]
	[ "$(c hash - < shorter | cut -c1-64)" = "$(sum_of shorter)" ]
	done
	# The two kinds differ: a sha256 store's ids are what sha256sum prints.
	[ "$(content_id a)" = "$(sha256sum a | cut -c1-64)" ]
	grep -qx 'format 2' "$S/config"
}

@test "tree ids at leaf boundaries, of empty files, and of sparse files, by cdt hash and add" {
	init_store
	grep -qx 'format 4' "$S/config"
	: > empty
	for n in 1 1048575 1048576 1048577 2097152 3145733; do
		head -c "$n" /dev/zero | tr '\0' 'a' > "n$n"
	done
	truncate -s 9M sparse
	gen_bytes 7 5000 | dd of=sparse bs=4096 seek=700 conv=notrunc status=none
	for f in empty n1 n1048575 n1048576 n1048577 n2097152 n3145733 sparse; do
		want=$(sum_of "$f")
		[ "$(content_id "$f")" = "$want" ] || fail "cdt hash $f"
		[ "$(id_of "$f" "$f")" = "$want" ] || fail "cdt add $f"
	done
	run_split c fsck
	assert_status 0
}

@test "cdt hash: usage, missing files, and nothing stored" {
	init_store
	echo x > f
	run_split c hash
	assert_status 2
	run_split c hash f missing
	assert_status 1
	assert_out_contains "$(sum_of f)  f"
	assert_err_contains "cannot open 'missing': No such file or directory"
	[ -z "$(c ls)" ]
}

@test "a file sharing its start with several stored files gets its own id" {
	init_store
	gen_bytes 4 5000000 > base
	for i in 1 2 3 4 5; do
		{ cat base; gen_bytes $((10 + i)) 2000000; } > v$i
		c add -q v$i
	done
	{ cat base; gen_bytes 99 2000000; } > new
	[ "$(id_of new new)" = "$(sum_of new)" ]
	cp v3 again
	[ "$(id_of again again)" = "$(sum_of v3)" ]
}

@test "re-adding stored content stores nothing new" {
	init_store
	gen_bytes 5 30000000 > big
	c add -q big
	run_split c add --porcelain --name copy big
	[ "$(printf '%s' "$output" | cut -f3)" = 0 ]
	[ "$(printf '%s' "$output" | cut -f4)" = "$(sum_of big)" ]
}

@test "stored content skips the whole-file hash; other content is hashed whole" {
	init_store
	gen_bytes 6 30000000 > big
	c add -q big
	field() {
		sed -n "s/^$1 //p" ingest.out
	}
	# The same bytes: the chunks match the stored file's from the first
	# round on, so the whole-file hash is never needed.
	"$TEST_TOOL" ingest "$S" copy big > ingest.out
	[ "$(field hashed)" = 0 ] || fail "re-adding stored content hashed $(field hashed) bytes"
	[ "$(field content)" = "$(sum_of big)" ]
	# Differs within the first round, after its first chunk; differs later;
	# new: each is hashed in full and gets its own id.
	{ head -c 4000000 big; printf 'Y'; tail -c +4000002 big; } > early
	{ head -c 20000000 big; printf 'Z'; tail -c +20000002 big; } > late
	gen_bytes 7 30000000 > new
	for f in early late new; do
		"$TEST_TOOL" ingest "$S" "$f" "$f" > ingest.out
		[ "$(field hashed)" = 30000000 ] || fail "$f: hashed $(field hashed) bytes"
		[ "$(field content)" = "$(sum_of "$f")" ] || fail "$f: wrong content id"
		c cat "$f" | cmp - "$f"
	done
	c verify --all > /dev/null
}

@test "standard input that does not start at offset 0 gets the id of the bytes read" {
	init_store
	gen_bytes 20 33554432 > big
	c add -q big
	# 4 KiB of other bytes, then half of the stored file, then new data:
	# add reads from offset 4096, and its first rounds match the stored
	# file, so the skipped whole-file hash is caught up by reading again.
	{ gen_bytes 21 4096; head -c 16777216 big; gen_bytes 22 5000000; } > F
	tail -c +4097 F > want
	add_past_4k() {
		{ dd bs=4096 count=1 of=/dev/null status=none; c add --porcelain --name x -; } < F
	}
	run_split add_past_4k
	assert_status 0
	[ "$(printf '%s' "$output" | cut -f4)" = "$(sum_of want)" ]
	c cat x > out
	cmp out want
	run_split c verify x
	assert_status 0
	# The settled file, added again, matches what was stored for it.
	c add -q --name y want
	c cat y > out
	cmp out want
}

@test "a file changed before its skipped bytes are read again is not stored" {
	init_store
	gen_bytes 23 33554432 > big
	c add -q big
	# The first 24 MiB match the stored file (the whole-file hash waits),
	# then the file differs: its first bytes must be read again.
	{ head -c 25165824 big; gen_bytes 24 4000000; } > f
	cp f orig
	for keep_mtime in 0 1; do
		cp orig f
		touch -r orig f
		CDT_TEST_PAUSE=catch-up "$CDT" --store "$S" add --porcelain --name "f$keep_mtime" f \
			> add.out 2> add.err &
		pid=$!
		wait_stopped $pid
		# Change bytes that were already chunked, in place; then, in
		# the second round, put the old times back so that no stat can
		# tell.
		gen_bytes 25 1000 | dd of=f bs=1000 seek=100 conv=notrunc status=none
		[ "$keep_mtime" = 0 ] || touch -r orig f
		kill -CONT $pid
		rc=0
		wait $pid || rc=$?
		[ "$rc" = 1 ] || fail "add of a changed file exited $rc: $(cat add.err)"
		grep -q "'f' changed while it was read; not stored (add it again)" add.err ||
			fail "unexpected message: $(cat add.err)"
		run_split c ls "f$keep_mtime"
		[ "$status" -ne 0 ] || fail "f$keep_mtime was stored"
	done
	# Every manifest's chunks add up to its id.
	run_split c fsck
	assert_status 0
	# The file as it is now is stored under its own id.
	c add -q --name settled f
	c cat settled > out
	cmp out f
}

@test "adding files that change while add reads them never records a wrong content id" {
	init_store
	gen_bytes 26 33554432 > big
	c add -q big
	stored=0
	for i in $(seq 1 24); do
		# Half the time a copy of the stored file (no byte would be
		# hashed if it stayed so), else one that differs late.
		if [ $((i % 2)) = 0 ]; then
			cp big f
		else
			{ head -c 25165824 big; gen_bytes $((100 + i)) 4000000; } > f
		fi
		# One change to the start of the file at a moment within the
		# add (which takes some tens of milliseconds here).
		delay=$(awk -v i=$i 'BEGIN { srand(i); printf "%.3f", rand() * 0.06 }')
		( sleep "$delay"
		  gen_bytes $((300 + i)) 65536 | dd of=f bs=65536 seek=3 conv=notrunc status=none ) &
		"$CDT" --store "$S" add -q --name "f$i" f 2> add.err || true
		wait
		# Whatever add stored, its bytes hash to its content id.
		if c ls "f$i" > /dev/null 2>&1; then
			stored=$((stored + 1))
			run_split c verify "f$i"
			assert_status 0
		fi
	done
	echo "# $stored of 24 adds stored their file" >&3
	run_split c fsck
	assert_status 0
}

# Rewrite manifest $2 to list the chunks of manifest $1 (with a valid
# checksum): what add could record before it checked bytes read again.
forge_manifest() {
	python3 - "$S/manifests/${1:0:2}/${1:2}" "$S/manifests/${2:0:2}/${2:2}" "$2" <<'PY'
import hashlib, os, sys
src, dst, fid = sys.argv[1], sys.argv[2], bytes.fromhex(sys.argv[3])
body = open(src, 'rb').read()[:-80 + 16]
body += fid
body += hashlib.sha256(body).digest()
os.chmod(dst, 0o644)
open(dst, 'wb').write(body)
PY
}

@test "fsck finds a manifest whose chunks do not hash to its id; adding the file again replaces it" {
	init_store
	gen_bytes 30 3000000 > a
	gen_bytes 31 3000000 > b
	a_id=$(id_of a a)
	b_id=$(id_of b b)
	forge_manifest "$a_id" "$b_id"
	c fsck --rebuild-refs > /dev/null || true
	c gc > /dev/null
	# Every chunk, reference and size is sound: only the whole-file hash tells.
	run_split c fsck --quick
	assert_status 0
	run_split c fsck
	assert_status 8
	assert_out_contains "manifest-content $b_id: its chunks hash to $a_id, not to its id"
	assert_out_contains "affects 'b'"
	assert_out_contains "1 problem (manifest-content 1)"
	# The right file, added again, is not matched to the wrong manifest.
	run_split c add --name b2 b
	assert_status 0
	assert_err_contains "manifest $b_id does not list the chunks of the content it is named for; replacing it"
	c cat b2 > out
	cmp out b
	c cat b > out
	cmp out b
	# And gc keeps every chunk of it; the old manifest's reverse
	# references are dropped by a rebuild.
	c gc > /dev/null
	c cat b2 > out
	cmp out b
	run_split c fsck --rebuild-refs
	assert_status 0
}

@test "cdt hash escapes a file name as sha256sum does: one line per file" {
	init_store --content-id sha256
	printf a > 'back\slash'
	printf b > "$(printf 'new\nline')"
	printf c > "$(printf 'carriage\rreturn')"
	printf d > plain
	c hash 'back\slash' "$(printf 'new\nline')" "$(printf 'carriage\rreturn')" plain > got
	sha256sum 'back\slash' "$(printf 'new\nline')" "$(printf 'carriage\rreturn')" plain > want
	cmp want got || fail "cdt hash printed: $(cat -A got)"
	sha256sum -c --status got
}
