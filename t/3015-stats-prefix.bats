#!/usr/bin/env bats
# cdt stats PREFIX: what some names hold, and what removing them would
# free, checked against what rm and gc then do.

load test_helper
load lib-integrity

# The bytes gc -n -v says it would remove, summed.
gc_would_free() {
	c gc -n -v > gc.out
	sed -n 's/^would remove .* (\([0-9]*\) bytes)$/\1/p' gc.out | awk '{ s += $1 } END { print s + 0 }'
}

# json FILE KEY: one member of a JSON object.
json() {
	python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"
}

@test "stats PREFIX counts its names, and what gc frees after rm is what it said" {
	# Without frames: gc then copies every kept chunk as it is (a frame
	# with dead chunks would be taken apart and compressed again).
	init_store --frame-size 0
	gen_bytes 1 700000 > a
	gen_bytes 2 500000 > b
	gen_bytes 3 300000 > x
	c add -q --name gen1/a a
	c add -q --name gen1/sub/b b
	c add -q --name gen2/a a	# shared with gen1
	c add -q --name gen2/x x
	c add -q --name other x		# shared with gen2 only
	# All in one pack: stored sizes before and after gc then compare (a
	# loose chunk, once packed, takes other bytes).
	c gc > /dev/null
	c stats --json gen1/ > g1.json
	python3 - g1.json <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
assert s["prefix"] == "gen1", s
assert (s["names"], s["manifests"], s["logical_bytes"], s["unique_bytes"]) == (2, 2, 1200000, 1200000), s
assert s["only_manifests"] == 1 and s["missing_chunks"] == 0, s
assert 500000 <= s["freed_bytes"] < s["stored_bytes"], s
assert s["freed_next_gc_bytes"] == s["freed_bytes"], s
PY
	# Removing gen2 frees nothing: a is in gen1, x in other.
	c stats --json gen2 > g2.json
	[ "$(json g2.json freed_bytes)" = 0 ]
	[ "$(json g2.json freed_chunks)" = 0 ]
	[ "$(json g2.json only_manifests)" = 0 ]
	freed=$(json g1.json freed_bytes)
	c stats --json > before.json
	c rm -q -r gen1
	[ "$(gc_would_free)" = "$freed" ]
	c gc > /dev/null
	c stats --json > after.json
	python3 - before.json after.json "$freed" <<'PY'
import json, sys
b, a = (json.load(open(f)) for f in sys.argv[1:3])
assert b["stored_bytes"] - a["stored_bytes"] == int(sys.argv[3]), (b, a, sys.argv[3])
PY
	c cat gen2/a | cmp - a
}

@test "stats PREFIX in human form, and the whole store as one prefix" {
	init_store
	gen_bytes 1 200000 > a
	c add -q --name top/a a
	c add -q --name top/b a
	run_split c stats top
	assert_status 0
	for k in names manifests chunks "logical bytes" "unique bytes" "stored bytes" \
		"only used here     1 manifest" "removing frees"; do
		assert_out_contains "$k"
	done
	c stats --json top > top.json
	c stats --json > all.json
	# Every name is under top: it holds and frees all that is stored.
	[ "$(json top.json stored_bytes)" = "$(json all.json stored_bytes)" ]
	[ "$(json top.json freed_bytes)" = "$(json all.json stored_bytes)" ]
	[ "$(json top.json chunks)" = "$(json all.json chunks)" ]
	# A name as the prefix.
	c stats --json top/a > a.json
	[ "$(json a.json names)" = 1 ]
	[ "$(json a.json freed_bytes)" = 0 ]
}

@test "stats PREFIX: a missing prefix and bad arguments" {
	init_store
	echo x > f
	c add -q --name g/f f
	run_split c stats nosuch
	assert_status 1
	assert_one_line_err
	assert_err_contains "no such name or directory of names: 'nosuch'"
	run_split c stats g f
	assert_status 2
	assert_err_contains "stats takes at most one prefix"
	run_split c stats /abs
	assert_status 2
	assert_err_contains "bad prefix '/abs'"
}

@test "stats counts directories and links as names; a prefix of links alone is found" {
	init_store
	mkdir -p t/d/empty
	echo x > t/d/f
	ln -s d/f t/link
	c add -q -r --prefix g t
	mkdir links
	ln -s nowhere links/l
	c add -q -r links
	c stats --json g > g.json
	# t, t/d, t/d/empty, t/d/f, t/link: one content among them.
	[ "$(json g.json names)" = 5 ] || fail "$(cat g.json)"
	[ "$(json g.json manifests)" = 1 ]
	run_split c stats links
	assert_status 0
	# links and links/l.
	assert_out_contains "names              2"
	assert_out_contains "manifests          0"
}

@test "a prefix whose chunks are bases of other names' deltas frees only what gc frees" {
	init_store --chunk-size 4K --frame-size 16K
	"$TEST_TOOL" gen-text 11 300000 > v1
	near_copy v1 v2
	c add -q --name g1/v v1
	c add -q --name g2/v v2
	c stats --json > all.json
	[ "$(json all.json delta_chunks)" -ge 10 ] || fail "no deltas: $(cat all.json)"
	c stats --json g1 > g1.json
	c stats --json g2 > g2.json
	python3 - g1.json g2.json <<'PY'
import json, sys
g1, g2 = (json.load(open(f)) for f in sys.argv[1:])
# g2's deltas need g1's chunks as bases: g2 counts them, g1 cannot free them.
assert g2["base_chunks"] > 0, g2
assert g1["freed_bytes"] < g1["stored_bytes"], g1
PY
	freed=$(json g1.json freed_bytes)
	c rm -q -r g1
	# The packs gc then rewrites are what it frees now; the rest stays dead in its pack.
	[ "$(gc_would_free)" = "$(json g1.json freed_next_gc_bytes)" ]
	c stats --json > rm.json
	python3 - rm.json "$freed" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
assert s["reclaimable_bytes"] + s["dead_packed_bytes"] == int(sys.argv[2]), (s, sys.argv[2])
PY
	c gc > /dev/null
	c cat g2/v | cmp - v2
	assert_fsck_clean
}

@test "a prefix sharing frames with kept names: freed counts its chunks' shares, as gc does" {
	init_store --chunk-size 4K --frame-size 16K
	"$TEST_TOOL" gen-text 3 400000 > a
	"$TEST_TOOL" gen-text 4 400000 > b
	mkdir g1 g2
	cp a g1/a
	cp b g2/b
	# One add: one pack, frames across both names.
	c add -q -r g1 g2
	c stats --json g1 > g1.json
	c stats --json > all.json
	freed=$(json g1.json freed_bytes)
	[ "$freed" -gt 0 ]
	c rm -q -r g1
	[ "$(gc_would_free)" = "$(json g1.json freed_next_gc_bytes)" ]
	c stats --json > rm.json
	python3 - rm.json "$freed" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
assert s["reclaimable_bytes"] + s["dead_packed_bytes"] == int(sys.argv[2]), (s, sys.argv[2])
PY
	c gc > /dev/null
	c cat g2/b | cmp - b
	assert_fsck_clean
}

@test "a small part of a big pack: freed once gc rewrites the pack" {
	init_store
	gen_bytes 1 9000000 > big
	gen_bytes 2 600000 > small
	mkdir keep drop
	cp big keep/big
	cp small drop/small
	c add -q -r keep drop
	c gc > /dev/null	# one pack holds both
	c stats --json drop > d.json
	[ "$(json d.json freed_next_gc_bytes)" = 0 ]
	[ "$(json d.json freed_bytes)" -gt 600000 ]
	run_split c stats drop
	assert_out_contains "of which in packs"
	c rm -q -r drop
	c stats --json > rm.json
	[ "$(json rm.json dead_packed_bytes)" = "$(json d.json freed_bytes)" ]
	[ "$(gc_would_free)" = 0 ]
}

@test "stats PREFIX with a damaged name says, as rm -n does, that what removing frees is not known" {
	init_store
	echo one > one
	echo two > two
	c add -q --name gen/one one
	c add -q --name bad two
	echo garbage > "$S/names/bad"
	run_split c rm -n -r gen
	assert_status 1
	assert_err_contains "cannot tell what removing would free"
	run_split c stats gen
	assert_status 1
	assert_err_contains "name 'bad' is damaged"
	assert_out_contains "only used here     not known"
	assert_out_contains "removing frees     not known (names or manifests are damaged; run 'cdt fsck')"
	[[ $output != *"after 'cdt gc'"* ]] || fail "a figure shown: $output"
	c stats --json gen > g.json && fail "stats --json exited 0"
	python3 - g.json <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
for k in ("only_manifests", "freed_chunks", "freed_bytes", "freed_next_gc_bytes"):
    assert s[k] is None, (k, s)
assert s["names"] == 1 and s["logical_bytes"] == 4, s
PY
}
