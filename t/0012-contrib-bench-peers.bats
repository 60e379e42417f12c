#!/usr/bin/env bats
# contrib/bench-peers.sh, the comparison with borg, restic, casync and bup: its table, results file and exit codes.

load test_helper

PEERS=$(cd "$BATS_TEST_DIRNAME/.." && pwd)/contrib/bench-peers.sh

# A series in the layout of gen-series.sh, small enough for the suite.
make_series() {
	mkdir -p data/random
	gen_bytes 1 300000 >data/gen1.tar
	for g in 2 3 4 5; do
		{ cat "data/gen$((g - 1)).tar"; gen_bytes "$g" 20000; } >"data/gen$g.tar"
	done
	gen_bytes 9 200000 >data/random/rand1.bin
	cp data/random/rand1.bin data/random/rand2.bin
}

# PATH without the peers: links to everything in /usr/bin but them.
path_without_peers() {
	mkdir -p nopeers
	for f in /usr/bin/*; do
		case ${f##*/} in
		borg | borgfs | restic | casync | bup) ;;
		*) ln -s "$f" "nopeers/${f##*/}" ;;
		esac
	done
	echo "$T/nopeers"
}

@test "bench-peers measures cdt on a series and writes the table and the results file" {
	make_series
	RUNS=1 TOOLS=cdt BENCH_DIR="$T/bench" SERIES_DIR="$T/none" run_split sh "$PEERS" data
	assert_status 0
	assert_out_contains "tool     version   first MB/s later MB/s    restore  store MB   duplicate"
	assert_out_contains "cdt      $("$CDT" --version | cut -d' ' -f3)"
	assert_out_contains "first generation faster than borg:"
	assert_out_contains "not measured"
	assert_out_contains "unknown ($T/none/expected-gen.sha256 not found)"
	grep -q '^cdt_first_mbps=[0-9]' bench/peers-results.txt
	grep -q '^cdt_store_bytes=[0-9]' bench/peers-results.txt
	grep -q '^cdt_dup_s_runs=[0-9.]*$' bench/peers-results.txt
	grep -q '^data_frozen_series=unknown$' bench/peers-results.txt
	[ ! -e bench/work ] || fail "the scratch repositories were left behind"
}

@test "bench-peers says which peers it skips and marks one that fails" {
	make_series
	p=$(path_without_peers)
	mkdir fake
	printf '#!/bin/sh\ncase $1 in\n--version) echo "borg 0.0" ;;\ninit) mkdir "$4" ;;\n*) echo "cannot store" >&2; exit 2 ;;\nesac\n' >fake/borg
	chmod +x fake/borg
	PATH="$T/fake:$p" RUNS=1 TOOLS="cdt borg restic" BENCH_DIR="$T/bench" run_split sh "$PEERS" data
	assert_status 0
	assert_err_contains "skipping restic: not found on PATH"
	assert_err_contains "borg failed (storing gen1.tar)"
	assert_err_contains "cannot store"
	assert_out_contains "restic: not measured (not found on PATH)"
	assert_out_contains "borg: FAILED (storing gen1.tar)"
	grep -q '^borg_failed=storing gen1.tar$' bench/peers-results.txt
	grep -q '^cdt_later_mbps=[0-9]' bench/peers-results.txt
}

@test "bench-peers fails on missing data and on bad usage" {
	mkdir empty
	run_split sh "$PEERS" empty
	assert_status 1
	assert_err_contains "'$T/empty/gen1.tar' is missing"
	run_split sh "$PEERS" "$T/nowhere"
	assert_status 1
	make_series
	RUNS=0 run_split sh "$PEERS" data
	assert_status 2
	assert_err_contains "RUNS must be a positive number"
	TOOLS="cdt zfs" run_split sh "$PEERS" data
	assert_status 2
	assert_err_contains "unknown tool 'zfs'"
	run_split sh "$PEERS" data data
	assert_status 2
	run_split sh "$PEERS" --fast
	assert_status 2
}
