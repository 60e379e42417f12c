#!/usr/bin/env bats
# cdt stats: counts and ratios.

load test_helper

@test "stats counts names, content and savings" {
	init_store
	gen_bytes 1 1000000 > r
	"$TEST_TOOL" gen-text 1 1000000 > t
	c add -q r t
	c add -q --name r2 r
	c stats --json > out.json
	python3 - out.json <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
assert s["names"] == 3 and s["manifests"] == 2, s
assert s["logical_bytes"] == 3000000, s
assert s["unique_bytes"] == 2000000, s
assert abs(s["dedup_ratio"] - 1.5) < 1e-3, s
assert s["compression_ratio"] > 1.2, s
assert s["reclaimable_bytes"] == 0 and s["missing_chunks"] == 0, s
PY
	c rm -q t
	c stats --json > out.json
	python3 - out.json <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
assert s["reclaimable_bytes"] > 0 and s["garbage_chunks"] > 0, s
PY
}

@test "stats in human form names every figure" {
	init_store
	echo x > f
	c add -q f
	run_split c stats
	assert_status 0
	for k in names manifests chunks "logical bytes" "unique bytes" "stored bytes" \
		"dedup ratio" "compression ratio" "reclaimable bytes"; do
		assert_out_contains "$k"
	done
}
