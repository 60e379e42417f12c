#!/usr/bin/env bats
# The content id is the SHA-256 of the file, however add got to it.

load test_helper

id_of() {
	c add --porcelain --name "$1" "$2" | cut -f4
}

sum_of() {
	sha256sum "$1" | cut -c1-64
}

@test "content ids equal sha256sum for identical, extended, cut and diverging files" {
	init_store
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
