#!/usr/bin/env bats
# contrib/bench-peers.sh, the comparison with borg, restic, casync, bup and zbackup: its table, results file and exit codes.

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

# A stand-in for zbackup in fake/zbackup, strict where zbackup is: it wants
# --non-encrypted, an initialised repository, a new backup file under
# REPO/backups and the data on stdin; it restores to stdout and talks on
# stderr. With ZBACKUP_BAD set, its restore adds a byte.
fake_zbackup() {
	mkdir -p fake
	cat >fake/zbackup <<'EOF'
#!/bin/sh
echo "[DEBUG] at main( zbackup.cc:19 ): ZBackup version 1.4" >&2
case $1 in
--help) echo "ZBackup, a versatile deduplicating backup tool, version 9.9" >&2; exit 1 ;;
esac
[ "${2:-}" = --non-encrypted ] || { echo "Specify either --password-file or --non-encrypted" >&2; exit 1; }
case $1 in
init) [ ! -e "$3" ] && mkdir -p "$3/backups" && touch "$3/info" ;;
backup)
	[ -f "${3%/backups/*}/info" ] || { echo "not a repository: $3" >&2; exit 1; }
	[ ! -e "$3" ] || { echo "Won't overwrite existing file $3" >&2; exit 1; }
	cat >"$3" ;;
restore)
	cat "$3" || exit 1
	[ -z "${ZBACKUP_BAD:-}" ] || printf x ;;
*) exit 1 ;;
esac
EOF
	chmod +x fake/zbackup
}

# PATH without the peers: links to everything in /usr/bin but them.
path_without_peers() {
	mkdir -p nopeers
	for f in /usr/bin/*; do
		case ${f##*/} in
		borg | borgfs | restic | casync | bup | zbackup) ;;
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
	PATH="$T/fake:$p" RUNS=1 TOOLS="cdt borg restic zbackup" BENCH_DIR="$T/bench" run_split sh "$PEERS" data
	assert_status 0
	assert_err_contains "skipping restic: not found on PATH"
	assert_err_contains "skipping zbackup: not found on PATH"
	assert_out_contains "zbackup: not measured (not found on PATH)"
	assert_err_contains "borg failed (storing gen1.tar)"
	assert_err_contains "cannot store"
	assert_out_contains "restic: not measured (not found on PATH)"
	assert_out_contains "borg: FAILED (storing gen1.tar)"
	grep -q '^borg_failed=storing gen1.tar$' bench/peers-results.txt
	grep -q '^cdt_later_mbps=[0-9]' bench/peers-results.txt
}

@test "bench-peers stores through zbackup's stdin, restores from its stdout and checks the result" {
	make_series
	fake_zbackup
	PATH="$T/fake:$PATH" RUNS=1 TOOLS="cdt zbackup" BENCH_DIR="$T/bench" run_split sh "$PEERS" data
	assert_status 0
	assert_out_contains "zbackup  9.9 "
	assert_out_contains "  zbackup: zbackup init --non-encrypted;"
	grep -q '^tools=cdt zbackup$' bench/peers-results.txt
	grep -q '^zbackup_restore_mbps=[0-9]' bench/peers-results.txt
	grep -q '^zbackup_duplicate_mbps=[0-9]' bench/peers-results.txt
	# The stand-in keeps whole copies: gen1..5 and nothing else.
	size=$(cat data/gen?.tar | wc -c)
	grep -q "^zbackup_store_file_bytes=$size$" bench/peers-results.txt
	! grep -q '^zbackup_failed=' bench/peers-results.txt || fail "zbackup marked failed: $err"

	ZBACKUP_BAD=1 PATH="$T/fake:$PATH" RUNS=1 TOOLS="cdt zbackup" BENCH_DIR="$T/bench" run_split sh "$PEERS" data
	assert_status 0
	assert_err_contains "zbackup failed (restore differs)"
	assert_out_contains "zbackup: FAILED (restore differs)"
	grep -q '^zbackup_failed=restore differs$' bench/peers-results.txt
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
