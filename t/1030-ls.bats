#!/usr/bin/env bats
# cdt ls: listing, prefixes, long and JSON formats.

load test_helper

setup_names() {
	init_store
	echo x > f
	for n in b a/2 a/1 a.txt c/d/e; do c add -q --name "$n" f; done
}

@test "ls lists names in byte order" {
	setup_names
	c ls > out
	printf '%s\n' a.txt a/1 a/2 b c/d/e > want
	cmp out want
}

@test "ls PREFIX lists the name and the names under it" {
	setup_names
	c ls a > out
	printf '%s\n' a/1 a/2 > want
	cmp out want
	c ls a/ b > out
	printf '%s\n' a/1 a/2 b > want
	cmp out want
	c ls c/d > out
	[ "$(cat out)" = c/d/e ]
}

@test "ls of a prefix with no names fails" {
	setup_names
	run_split c ls nothing
	assert_status 1
	assert_one_line_err
	assert_err_contains "no stored name is 'nothing'"
	run_split c ls ../x
	assert_status 1
	assert_err_contains 'bad prefix'
}

@test "ls of an empty store prints nothing and succeeds" {
	init_store
	run_split c ls
	assert_status 0
	[ -z "$output" ]
}

@test "ls -l shows mode, size, time, chunks and short id" {
	init_store
	gen_bytes 1 300000 > f
	chmod 0600 f
	touch -d '2021-06-07 08:09:10' f
	c add -q f
	id=$(c add --porcelain --name g f | cut -f4)
	c ls -l f > out
	line=$(cat out)
	case "$line" in
	"-rw------- "*" 300000 2021-06-07 08:09:10 "*" ${id:0:12} f") ;;
	*) fail "unexpected: $line" ;;
	esac
}

@test "ls -l gives a symbolic link the length of its target as its size" {
	init_store
	mkdir t
	ln -s 'some/where else' t/l
	c add -q -r t
	c ls -l t/l > out
	line=$(cat out)
	case "$line" in
	"lrwxrwxrwx "*" 15 "*" t/l -> some/where else") ;;
	*) fail "unexpected: $line" ;;
	esac
	# --json keeps the size of the content, which a link has none of.
	c ls --json t/l > out.json
	grep -q '"size":0,' out.json || fail "$(cat out.json)"
}

@test "ls --json gives parseable objects" {
	setup_names
	c ls --json a > out.json
	python3 - out.json <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert [r["name"] for r in rows] == ["a/1", "a/2"]
assert rows[0]["size"] == 2 and rows[0]["chunks"] == 1 and rows[0]["mode"] == "0644"
PY
}

@test "ls -t with a letter it does not know is a usage error" {
	init_store
	echo x > f
	c add -q f
	run_split c ls -t fx
	assert_status 2
	assert_err_contains "error: -t takes letters f, d and l, not 'fx'"
	[ -z "$output" ]
	run_split c ls -t '' f
	assert_status 2
}
