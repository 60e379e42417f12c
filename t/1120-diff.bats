#!/usr/bin/env bats
# cdt diff: names added, removed and changed between two prefixes.

load test_helper

# Two generations: gen1 and gen2 differ in every way a name can.
two_generations() {
	init_store
	mkdir -p d/sub
	echo same > d/same
	echo old > d/changed
	echo gone > d/gone
	echo meta > d/sub/meta
	touch -d @1000000000 d/same d/changed d/gone d/sub/meta
	chmod 644 d/sub/meta
	(cd d && "$CDT" --store "$S" add -q -r --prefix gen1 .)
	echo newer > d/changed
	rm d/gone
	echo new > d/added
	chmod 600 d/sub/meta
	touch -d @1000000000 d/changed d/added
	(cd d && "$CDT" --store "$S" add -q -r --prefix gen2 .)
}

@test "diff shows added, removed, changed and metadata-only names in byte order" {
	two_generations
	run_split c diff gen1 gen2
	assert_status 0
	[ -z "$err" ] || fail "stderr: $err"
	cat > want <<'OUT'
+ added
M changed
- gone
m sub/meta (mode)
1 added, 1 removed, 1 changed, 1 metadata only; 3 unchanged
OUT
	printf '%s\n' "$output" > got
	diff -u want got
}

@test "diff says which metadata changed beside the content" {
	init_store
	echo a > f
	touch -d @1000000000 f
	c add -q --name g1/f f
	echo b > f
	chmod 600 f
	c add -q --name g2/f f
	run_split c diff g1/ g2/
	assert_status 0
	[ "$output" = "M f (mode, mtime)
0 added, 0 removed, 1 changed, 0 metadata only; 0 unchanged" ] || fail "$output"
	# A prefix that is itself a name is the relative name '.'.
	run_split c diff g1/f g2/f
	assert_status 0
	assert_out_contains "M . (mode, mtime)"
}

@test "the same content stored again is no difference" {
	init_store
	echo a > f
	c add -q --name g1/f f
	sleep 1.1	# a later time of adding does not count
	c add -q --name g2/f f
	run_split c diff --exit-code g1 g2
	assert_status 0
	[ "$output" = "0 added, 0 removed, 0 changed, 0 metadata only; 1 unchanged" ] || fail "$output"
}

@test "diff orders names by bytes across directories" {
	init_store
	echo 1 > f
	for n in a.b a/c a0; do c add -q --name "g1/$n" f; done
	echo 2 > f
	for n in a.b a/c a0; do c add -q --name "g2/$n" f; done
	c add -q --name g2/a/b f
	run_split c diff --porcelain g1 g2
	assert_status 0
	printf '%s\n' "$output" | cut -f1,5 > got
	printf 'M\ta.b\n+\ta/b\nM\ta/c\nM\ta0\n' > want
	diff -u want got
}

@test "diff --porcelain and --json give every field" {
	two_generations
	run_split c diff --porcelain gen1 gen2
	assert_status 0
	printf '+\t-\t-\t4\tadded\nM\tcontent\t4\t6\tchanged\n-\t-\t5\t-\tgone\nm\tmode\t5\t5\tsub/meta\n' > want
	printf '%s\n' "$output" > got
	diff -u want got
	c diff --json gen1 gen2 > out.json
	python3 - out.json <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
assert [(l["status"], l["path"]) for l in lines[:-1]] == \
    [("+", "added"), ("M", "changed"), ("-", "gone"), ("m", "sub/meta")], lines
assert lines[1]["differs"] == ["content"] and lines[1]["old_size"] == 4 and lines[1]["new_size"] == 6
assert lines[0]["old_size"] is None and lines[2]["new_size"] is None
assert lines[3]["differs"] == ["mode"]
s = lines[-1]["summary"]
assert (s["added"], s["removed"], s["changed"], s["metadata_only"], s["unchanged"]) == (1, 1, 1, 1, 3), s
assert (s["added_bytes"], s["removed_bytes"], s["changed_old_bytes"], s["changed_new_bytes"]) == (4, 5, 4, 6), s
assert "new_chunks" not in s
PY
}

@test "diff --stat counts the chunks the second prefix needs and the first does not" {
	init_store
	gen_bytes 1 700000 > a
	gen_bytes 2 500000 > b
	touch -d @1000000000 a b
	c add -q --name g1/a a
	c add -q --name g1/b b
	gen_bytes 3 300000 > n
	c add -q --name g2/a a
	c add --porcelain --name g2/n n > add.out
	# b under g2 is a's content: shared with g1, nothing new.
	c add -q --name g2/b a
	new_stored=$(cut -f3 add.out)
	run_split c diff --stat g1 g2
	assert_status 0
	assert_out_contains "M b (500000 -> 700000 bytes)"
	assert_out_contains "+ n (300000 bytes)"
	assert_out_contains "300000 bytes added (293.0 KiB), 0 removed (0 B); changed names 500000 -> 700000 bytes"
	c diff --stat --json g1 g2 > out.json
	python3 - out.json "$new_stored" <<'PY'
import json, sys
s = json.loads(open(sys.argv[1]).read().splitlines()[-1])["summary"]
assert s["new_raw_bytes"] == 300000, s
assert s["new_stored_bytes"] == int(sys.argv[2]) and s["new_chunks"] > 0, (s, sys.argv[2])
PY
	# The other way round: g1's b is new to g2.
	c diff --stat --json g2 g1 > out.json
	python3 - out.json <<'PY'
import json, sys
s = json.loads(open(sys.argv[1]).read().splitlines()[-1])["summary"]
assert s["new_raw_bytes"] == 500000 and s["removed"] == 1, s
PY
}

@test "diff --stat of trees with links and directories counts only file contents" {
	init_store
	mkdir -p t/d/empty
	gen_bytes 1 100000 > t/d/f
	ln -s d/f t/link
	c add -q -r --prefix g1 t
	gen_bytes 2 50000 > t/d/g
	ln -s elsewhere t/d/link2
	ln -sfn d t/link
	c add -q -r --prefix g2 t
	run_split c diff --stat g1 g2
	assert_status 0
	[ -z "$err" ] || fail "diff --stat said: $err"
	assert_out_contains "+ t/d/g (50000 bytes)"
	# A link has no bytes to count, nor has a link whose target changed.
	printf '%s\n' "$output" | grep -qx '+ t/d/link2' || fail "link line: $output"
	printf '%s\n' "$output" | grep -Eqx 'M t/link( \(mtime\))?' || fail "link line: $output"
	assert_out_contains "50000 bytes added"
}

@test "diff --stat of a name whose manifest is missing calls it that" {
	init_store
	echo a > a
	echo b > b
	c add -q --name g1/f a
	id=$(c add --porcelain --name g2/f b | cut -f4)
	rm "$S/manifests/${id:0:2}/${id:2}"
	run_split c diff --stat g1 g2
	assert_status 2
	assert_err_contains "error: manifest $id cannot be read"
	case "$err" in *"while it was read"*) fail "stderr: $err" ;; esac
}

@test "diff -q and --exit-code: 0 when the same, 1 when different, nothing printed by -q" {
	two_generations
	run_split c diff -q gen1 gen2
	assert_status 1
	[ -z "$output$err" ] || fail "printed: $output $err"
	run_split c diff --exit-code gen1 gen2
	assert_status 1
	assert_out_contains "1 added"
	run_split c diff -q gen1 gen1/
	assert_status 0
	[ -z "$output$err" ] || fail "printed: $output $err"
	run_split c diff gen1 gen2
	assert_status 0
}

@test "diff of many names merges the two walks in order" {
	init_store
	mkdir g
	for i in $(seq 1 400); do echo "$i" > "g/f$i"; done
	(cd g && "$CDT" --store "$S" add -q -r --prefix g1 .)
	rm g/f7 g/f300
	echo changed > g/f150
	echo new > g/f401
	touch -r g/f1 g/f150 g/f401
	(cd g && "$CDT" --store "$S" add -q -r --prefix g2 .)
	run_split c diff --porcelain g1 g2
	assert_status 0
	printf 'M\tf150\n-\tf300\n+\tf401\n-\tf7\n' > want
	printf '%s\n' "$output" | cut -f1,5 > got
	diff -u want got
	c diff --json g1 g2 > out.json
	python3 - out.json <<'PY'
import json, sys
s = json.loads(open(sys.argv[1]).read().splitlines()[-1])["summary"]
assert s["unchanged"] == 398, s
PY
}

@test "a missing prefix is an error" {
	two_generations
	run_split c diff gen1 gen3
	assert_status 2
	assert_one_line_err
	assert_err_contains "no such name or directory of names: 'gen3'"
	[ -z "$output" ] || fail "printed: $output"
	run_split c diff -q gen0 gen1
	assert_status 2
	assert_err_contains "'gen0'"
}

@test "diff usage errors exit 2" {
	init_store
	run_split c diff a
	assert_status 2
	assert_err_contains "diff takes two prefixes"
	run_split c diff ../a b
	assert_status 2
	assert_err_contains "bad prefix '../a'"
	run_split c diff --porcelain --json a b
	assert_status 2
	run_split c diff -q --stat a b
	assert_status 2
}

@test "a damaged entry is reported, the rest compared, and the exit status is 2" {
	two_generations
	echo garbage > "$S/names/gen2/changed"
	run_split c diff gen1 gen2
	assert_status 2
	assert_err_contains "name 'gen2/changed' is damaged"
	assert_err_contains "1 damaged name could not be compared"
	assert_out_contains "+ added"
	assert_out_contains "- gone"
	case "$output" in *" changed"$'\n'*|*"+ changed"*|*"- changed"*) fail "damaged name shown as a difference: $output" ;; esac
}

@test "diff shows names whose extended attributes alone changed" {
	init_store
	mkdir d
	echo a > d/f
	echo b > d/g
	python3 -c 'import os, sys; os.setxattr(sys.argv[1], "user.probe", b"1")' d/f 2> /dev/null ||
		skip_or_fail "this file system refuses user.* extended attributes"
	touch -d @1000000000 d/f d/g
	(cd d && "$CDT" --store "$S" add -q -r --xattrs --prefix gen1 .)
	python3 -c 'import os; os.setxattr("d/f", "user.probe", b"2"); os.setxattr("d/g", "user.new", b"x")'
	touch -d @1000000000 d/f d/g
	(cd d && "$CDT" --store "$S" add -q -r --xattrs --prefix gen2 .)
	run_split c diff --exit-code gen1 gen2
	assert_status 1
	[ "$output" = "m f (xattrs)
m g (xattrs)
0 added, 0 removed, 0 changed, 2 metadata only; 1 unchanged" ] || fail "$output"
	run_split c diff --porcelain gen1 gen2
	assert_status 0
	[ "$output" = "$(printf 'm\txattrs\t2\t2\tf\nm\txattrs\t2\t2\tg')" ] || fail "$output"
}

@test "hard links to the same relative name under each prefix are no difference" {
	init_store
	mkdir d
	echo a > d/a
	ln d/a d/h
	(cd d && "$CDT" --store "$S" add -q -r --prefix g1 .)
	(cd d && "$CDT" --store "$S" add -q -r --prefix g2 .)
	run_split c diff --exit-code g1 g2
	assert_status 0
	[ "$output" = "0 added, 0 removed, 0 changed, 0 metadata only; 3 unchanged" ] || fail "$output"
	# A link to another name still differs.
	rm d/h
	echo b > d/b
	ln d/b d/h
	(cd d && "$CDT" --store "$S" add -q -r --prefix g3 .)
	run_split c diff --porcelain g1 g3
	assert_status 0
	printf '%s\n' "$output" | cut -f1,2,5 > got
	printf '+\t-\tb\nM\tcontent,mtime\th\n' > want
	diff -u want got
}

@test "a stored directory is merged in the order names are walked, after names that sort before '/'" {
	init_store
	mkdir -p g1/e g2/e
	echo 1 > g1/e/b
	cp -p g1/e/b g2/e/b
	echo y > g2/e.y
	touch -d @1000000000 g1/e g2/e
	c add -q -r g1 g2
	run_split c diff --porcelain g1 g2
	assert_status 0
	printf '%s\n' "$output" | cut -f1,5 > got
	printf '+\te.y\n' > want
	diff -u want got
	# A file that became a directory is one name that changed type.
	rm -r g1/e
	cp -p g2/e/b g1/e
	(cd g1 && "$CDT" --store "$S" add -q -r --prefix g3 .)
	run_split c diff --porcelain g3 g1
	assert_status 0
	printf '%s\n' "$output" | cut -f1,2,5 > got
	printf 'T\ttype\te\n+\t-\te/b\n' > want
	diff -u want got
}

@test "a name that changed type is one T line, whatever sorts between its two places" {
	init_store
	mkdir -p t/l
	echo x > t/e
	echo y > t/e.y
	ln -s e.y t/d
	(cd t && "$CDT" --store "$S" add -q -r --prefix g1 .)
	rm t/e t/d
	rmdir t/l
	mkdir t/e t/d
	echo z > t/e/z
	echo 123 > t/l
	(cd t && "$CDT" --store "$S" add -q -r --prefix g2 .)
	# e.y sorts after the file e and before the directory e ("e/").
	for args in "g1 g2" "g2 g1"; do
		run_split c diff $args
		assert_status 0
		[ -z "$err" ] || fail "stderr: $err"
		printf '%s\n' "$output" > got
		if [ "$args" = "g1 g2" ]; then
			printf '%s\n' 'T d (symlink -> directory)' 'T e (file -> directory)' '+ e/z' \
				'T l (directory -> file)' \
				'1 added, 0 removed, 3 changed, 0 metadata only; 2 unchanged' > want
		else
			printf '%s\n' 'T d (directory -> symlink)' 'T e (directory -> file)' '- e/z' \
				'T l (file -> directory)' \
				'0 added, 1 removed, 3 changed, 0 metadata only; 2 unchanged' > want
		fi
		diff -u want got
	done
	# --stat counts a file's bytes, never a directory's or a link's.
	run_split c diff --stat g1 g2
	assert_status 0
	assert_out_contains "T e (file, 2 bytes -> directory)"
	assert_out_contains "T l (directory -> file, 4 bytes)"
	assert_out_contains "6 bytes added (6 B), 2 removed (2 B); changed names 0 -> 0 bytes"
	run_split c diff --porcelain g1 g2
	assert_status 0
	printf '%s\n' "$output" | cut -f1,2,5 > got
	printf 'T\ttype\td\nT\ttype\te\n+\t-\te/z\nT\ttype\tl\n' > want
	diff -u want got
}
