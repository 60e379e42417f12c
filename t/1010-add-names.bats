#!/usr/bin/env bats
# How add names files, and which names it refuses.

load test_helper

@test "the default name is the path made relative" {
	init_store
	mkdir -p d/e
	echo x > d/e/f
	run_split c add ./d/./e//f
	assert_status 0
	assert_out_contains "added d/e/f"
	run_split c add "$T/d/e/f"
	assert_status 0
	assert_out_contains "added ${T#/}/d/e/f"
}

@test "a path with '..' needs --name or --prefix" {
	init_store
	mkdir sub
	echo x > f
	cd sub
	run_split c add ../f
	assert_status 1
	assert_one_line_err
	assert_err_contains "'..'"
	run_split c add --prefix up ../f
	assert_status 0
	assert_out_contains "added up/f"
	run_split c add --name other ../f
	assert_status 0
	assert_out_contains "added other"
}

@test "--prefix names files by base name and trees by their directory" {
	init_store
	mkdir -p tree/a/b
	echo 1 > tree/one; echo 2 > tree/a/two; echo 3 > tree/a/b/three
	echo top > top
	run_split c add -r --prefix nightly/2026-11-26 tree top
	assert_status 0
	c ls -t f > list
	printf '%s\n' nightly/2026-11-26/top nightly/2026-11-26/tree/a/b/three \
		nightly/2026-11-26/tree/a/two nightly/2026-11-26/tree/one > want
	cmp list want
}

@test "-r adds files, links and directories in name order and passes over a FIFO with a warning" {
	init_store
	mkdir -p src/z src/a src/empty
	echo a > src/a/f; echo b > src/b; echo z > src/z/g
	ln -s b src/link
	mkfifo src/fifo
	run_split c add -r src
	assert_status 0
	[ "$err" = "warning: skipping 'src/fifo': a FIFO is not stored" ] || fail "stderr: $err"
	c ls > list
	printf '%s\n' src src/a src/a/f src/b src/empty src/link src/z src/z/g > want
	cmp list want
	c ls -t l > list
	[ "$(cat list)" = src/link ]
	c ls -t d > list
	printf '%s\n' src src/a src/empty src/z > want
	cmp list want
	c ls -l src/link > list
	grep -q '^lrwxrwxrwx .* src/link -> b$' list
}

@test "a directory without -r is refused and nothing is stored" {
	init_store
	mkdir d
	echo x > d/f
	echo y > g
	before=$(store_snapshot)
	run_split c add g d
	assert_status 1
	assert_one_line_err
	assert_err_contains "'d': it is a directory (use -r)"
	[ "$(store_snapshot)" = "$before" ]
}

@test "a missing file is refused and nothing is stored" {
	init_store
	echo y > g
	before=$(store_snapshot)
	run_split c add g nosuchfile
	assert_status 1
	assert_one_line_err
	assert_err_contains "cannot add 'nosuchfile': No such file or directory"
	[ "$(store_snapshot)" = "$before" ]
}

@test "hostile and malformed names are refused" {
	init_store
	echo x > f
	before=$(store_snapshot)
	for name in ../x /abs a/../b a//b ./a a/. '' "$(printf 'a\nb')" "$(printf 'tab\there')" \
		"$(printf 'bad\377utf8')" "$(head -c 256 /dev/zero | tr '\0' x)"; do
		run_split c add --name "$name" f
		assert_status 1
		assert_one_line_err
		assert_err_contains "bad name"
	done
	[ "$(store_snapshot)" = "$before" ]
	# Non-ASCII UTF-8 is fine.
	run_split c add --name "données/été.tar" f
	assert_status 0
}

@test "names longer than the limit are refused" {
	init_store
	echo x > f
	long=$(for i in $(seq 1 25); do printf '%0200d/' 0; done)x
	run_split c add --name "$long" f
	assert_status 1
	assert_err_contains "longer than 4096"
}

@test "a name of the longest length allowed is stored and read back" {
	init_store
	echo x > f
	# 16 components of 254 bytes and one of 16: 4096 bytes, PATH_MAX.
	long=$(for i in $(seq 1 16); do printf '%0254d/' 0; done)$(printf '%016d' 1)
	[ "${#long}" -eq 4096 ]
	run_split c add -q --name "$long" f
	assert_status 0
	run_split c cat "$long"
	assert_status 0
	[ "$output" = x ] || fail "cat gave '$output'"
	run_split c ls -l "$long"
	assert_status 0
}

@test "adding to an existing name replaces it unless --no-replace" {
	init_store
	echo one > f
	c add -q --name n f
	echo two > f
	run_split c add --no-replace --name n f
	assert_status 1
	assert_one_line_err
	assert_err_contains "already exists"
	c cat n > out
	[ "$(cat out)" = one ]
	run_split c add --name n f
	assert_status 0
	c cat n > out
	[ "$(cat out)" = two ]
}

@test "a name cannot be both a file and a directory of names" {
	init_store
	echo x > f
	c add -q --name a/b f
	run_split c add --name a f
	assert_status 1
	assert_err_contains "cannot store 'a': it is a directory of names in the store ('cdt rm -r a' first)"
	# So is a directory stored empty: only its own entry.
	mkdir -p t/e
	c add -q -r t
	rmdir t/e
	echo now-a-file > t/e
	run_split c add --no-replace -r t
	assert_status 1
	assert_err_contains "cannot store 't/e': it is a directory of names in the store ('cdt rm -r t/e' first)"
	[ "$(c ls -t d t)" = "$(printf 't\nt/e')" ]
	run_split c add --name a/b/c f
	assert_status 1
	assert_err_contains "a parent of it is a stored name"
	[ "$(c ls)" = "$(printf 'a/b\nt\nt/e')" ]
}

@test "add -r follows a tree whose directories became files and files directories" {
	init_store
	mkdir -p t/d/e t/g t/k
	echo f > t/d/f
	echo f2 > t/d/e/f2
	echo h > t/h
	ln -s h t/l
	echo k1 > t/k/k1
	c add -q -r t
	c add -q --name keep/t/d/f t/d/f
	# Each kind turned into another: directory <-> file, link -> directory,
	# directory -> link, and a file deep below a file that was one.
	rm -r t/d t/g t/h t/l
	echo now-a-file > t/d
	ln -s d t/g
	mkdir -p t/h/i t/l
	echo deep > t/h/i/j
	run_split c add -r t
	assert_status 0
	[ "$(c ls)" = "$(printf 'keep/t/d/f\nt\nt/d\nt/g\nt/h\nt/h/i\nt/h/i/j\nt/k\nt/k/k1\nt/l')" ]
	[ "$(c ls -t d t)" = "$(printf 't\nt/h\nt/h/i\nt/k\nt/l')" ]
	[ "$(c cat t/d)" = now-a-file ]
	[ "$(c cat t/h/i/j)" = deep ]
	c ls -l t/g | grep -q -- '-> d$'
	# The tables remote readers use follow, and no name is left half-replaced.
	run_split c fsck
	assert_status 0
	c restore t out
	diff -r --no-dereference t out
	# What only the replaced names used stays until gc; what another name uses stays.
	c gc >/dev/null
	[ "$(c cat keep/t/d/f)" = f ]
	run_split c fsck
	assert_status 0
	case "$output$err" in *garbage*) fail "garbage left: $output $err" ;; esac
	# A file given on the command line never replaces a directory of names.
	run_split c add --name t/k t/d
	assert_status 1
	assert_err_contains "cannot store 't/k': it is a directory of names in the store"
	[ "$(c cat t/k/k1)" = k1 ]
}

@test "add -r killed while it replaces a directory of names: the next add finishes it" {
	local rc=0

	init_store
	mkdir -p t/d/e
	for i in 1 2 3 4; do echo "$i" > "t/d/e/f$i"; done
	echo g > t/g
	c add -q -r t
	rm -r t/d
	echo now-a-file > t/d
	CDT_TEST_CRASH=name-room:3 c add -q -r t || rc=$?
	[ "$rc" = 137 ] || fail "add exited $rc, not killed"
	# Killed with some names under t/d removed: what is left is whole.
	n=$(c ls | grep -c '^t/d/' || true)
	[ "$n" -lt 5 ] && [ "$n" -gt 0 ] || fail "expected some names under t/d left: $(c ls)"
	c ls | while read -r name; do c cat "$name" > /dev/null || [ "$(c ls -t d "$name")" = "$name" ]; done
	c add -q -r t
	[ "$(c ls)" = "$(printf 't\nt/d\nt/g')" ]
	[ "$(c cat t/d)" = now-a-file ]
	run_split c fsck
	assert_status 0
}

@test "two names with the same content keep their own metadata" {
	init_store
	echo same > f1
	cp f1 f2
	chmod 0600 f1
	chmod 0755 f2
	touch -d 2001-01-01 f1
	c add -q f1 f2
	c ls -l > list
	grep -q '^-rw------- .* 2001-01-01 .* f1$' list
	grep -q '^-rwxr-xr-x .* f2$' list
	# One manifest serves both.
	[ "$(find "$S/manifests" -type f | wc -l)" = 1 ]
}

@test "stdin needs --name" {
	init_store
	run_split c add - < /dev/null
	assert_status 2
	assert_err_contains "needs --name"
}

@test "two paths that would get one name are refused before storing anything" {
	init_store
	mkdir x y
	echo 1 > x/f; echo 2 > y/f
	before=$(store_snapshot)
	run_split c add --prefix p x/f y/f
	assert_status 1
	assert_one_line_err
	assert_err_contains "would both be stored as 'p/f'"
	[ "$(store_snapshot)" = "$before" ]
	mkdir -p q/f a
	echo 3 > q/f/g
	echo 4 > a/q
	run_split c add -r --prefix p a/q q
	assert_status 1
	assert_err_contains "would both be stored as 'p/q'"
	[ "$(store_snapshot)" = "$before" ]
}

@test "-r never adds the store itself" {
	mkdir top
	"$CDT" init -q top/store
	echo data > top/file
	run_split "$CDT" --store top/store add -r top
	assert_status 0
	assert_err_contains "skipping 'top/store': it is the store"
	[ "$("$CDT" --store top/store ls -t f)" = top/file ]
	run_split "$CDT" --store top/store add -r top/store
	assert_status 1
	assert_err_contains "it is the store"
}

@test "-r skips a file whose name is too long once escaped, stores the rest, and exits 3" {
	init_store
	mkdir d
	echo good > d/good
	# 100 bytes that are not UTF-8: 400 once escaped, more than a component may hold.
	long=$(printf '\377%.0s' $(seq 100))
	echo bad > "d/$long"
	run_split c add -r d
	assert_status 3
	assert_err_contains "component longer than 255 bytes"
	assert_err_contains "1 path skipped"
	[ "$(c ls -t f)" = d/good ]
}

@test "names that are not UTF-8 or hold control characters are stored escaped" {
	init_store
	mkdir d "d/$(printf 'dir\377')"
	echo good > d/good
	echo 1 > "d/$(printf 'inv\377\376')"
	echo 2 > "d/$(printf 'nl\nesc\033[1m')"
	echo 3 > "d/$(printf 'c1\302\233')"
	echo 4 > "d/$(printf 'dir\377')/f"
	echo 5 > "d/back\\slash"
	ln -s good "d/$(printf 'link\375')"
	run_split c add -r d
	assert_status 0
	[ -z "$err" ] || fail "unexpected stderr: $err"
	c ls > list
	printf '%s\n' d 'd/back\\slash' 'd/c1\xc2\x9b' 'd/dir\xff' 'd/dir\xff/f' d/good \
		'd/inv\xff\xfe' 'd/link\xfd' 'd/nl\x0aesc\x1b[1m' > want
	cmp want list
	# Each name gives its own content back under its escaped form.
	[ "$(c cat 'd/inv\xff\xfe')" = 1 ]
	[ "$(c cat 'd/nl\x0aesc\x1b[1m')" = 2 ]
	[ "$(c cat 'd/back\\slash')" = 5 ]
	# Only the one escaped form is a name.
	run_split c cat 'd/inv\xFF\xfe'
	assert_status 1
	assert_err_contains "not an escape"
	# A path on the command line is escaped the same way in messages.
	run_split c add "$(printf 'inv\377\376')"
	assert_status 1
	[ "$err" = "error: cannot add 'inv\\xff\\xfe': No such file or directory" ] ||
		fail "unexpected stderr: $err"
}

@test "--prefix escapes the base name of a path as -r escapes the names under it" {
	init_store
	mkdir d 'd/dir\x41'
	echo lit > 'd/a\xff'
	echo raw > "d/$(printf 'a\377')"
	echo in > 'd/dir\x41/f'
	# Not the name of a file named with the byte 0xff.
	run_split c add --prefix p 'd/a\xff'
	assert_status 0
	run_split c add --prefix p "d/$(printf 'a\377')"
	assert_status 0
	run_split c add -r --prefix q 'd/dir\x41'
	assert_status 0
	c ls > list
	printf '%s\n' 'p/a\\xff' 'p/a\xff' 'q/dir\\x41' 'q/dir\\x41/f' > want
	cmp want list
	# Restored, each name gives back the bytes of the file it was made from.
	mkdir out
	c restore -q p out
	[ "$(cat 'out/a\xff')" = lit ]
	[ "$(cat "out/$(printf 'a\377')")" = raw ]
}

@test "--porcelain and --json together are a usage error" {
	init_store
	echo x > f
	run_split c add --porcelain --json f
	assert_status 2
	run_split c ls -l --json
	assert_status 2
}

@test "a PATH in the store, a directory or a file, is refused and nothing is stored" {
	init_store
	echo data > file
	c add -q file
	ln -s "$S" link
	before=$(store_snapshot)
	for p in "$S/names" "$S/objects/" link/names "$S/config" link/config; do
		run_split c add -r file "$p"
		assert_status 1
		assert_one_line_err
		assert_err_contains "cannot add '$p': it is in the store '$S'"
		[ "$(store_snapshot)" = "$before" ] || fail "add of '$p' changed the store"
	done
}

@test "add -r replaces a directory of names hundreds of levels deep with a file, with few descriptors" {
	init_store
	deep=$(printf 'd/%.0s' $(seq 300))
	mkdir -p "t/$deep"
	echo bottom > "t/${deep}f"
	echo middle > "t/${deep:0:300}g"
	c add -q -r t
	rm -r t/d
	echo now-a-file > t/d
	run_split bash -c 'ulimit -n 32 && "$@"' - "$CDT" --store "$S" add -q -r t
	assert_status 0
	[ "$(c ls)" = "$(printf 't\nt/d')" ]
	[ "$(c cat t/d)" = now-a-file ]
	run_split c fsck
	assert_status 0
}

@test "add -r of a directory stored as a file replaces that file" {
	init_store
	echo was-a-file > t
	c add -q t
	rm t
	mkdir t
	echo x > t/x
	run_split c add -q -r t
	assert_status 0
	[ "$(c ls)" = "$(printf 't\nt/x')" ]
	[ "$(c ls -t d t)" = t ]
	[ "$(c cat t/x)" = x ]
	run_split c fsck
	assert_status 0
	# A file given is not a directory: it still never replaces one.
	rm -r t
	echo file-again > t
	run_split c add t
	assert_status 1
	assert_err_contains "cannot store 't': it is a directory of names in the store"
}

@test "add -r whose tree has a directory where another add just stored a file replaces it" {
	local pid rc=0

	init_store
	mkdir -p a/t/d b/t/d
	echo 1 > a/t/d/f
	(cd a && c add -q -r t)
	echo x > b/t/d/x
	# b checks its names while t/d is a directory of names, and is
	# stopped before it installs them; a turns t/d into a file meanwhile.
	(cd b && CDT_TEST_PAUSE=info-mark exec "$CDT" --store "$S" add -q -r t) > b.out 2> b.err &
	pid=$!
	wait_stopped $pid
	rm -r a/t/d
	echo now-a-file > a/t/d
	(cd a && c add -q -r t)
	[ "$(c cat t/d)" = now-a-file ]
	kill -CONT $pid
	wait $pid || rc=$?
	[ "$rc" = 0 ] || fail "add exited $rc: $(cat b.err)"
	[ "$(c ls)" = "$(printf 't\nt/d\nt/d/x')" ]
	[ "$(c cat t/d/x)" = x ]
	run_split c fsck
	assert_status 0
}
