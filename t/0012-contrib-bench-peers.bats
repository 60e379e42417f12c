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

# Another series, as GENS names one: three releases in rel/ (no random/),
# the third in a subdirectory.
make_releases() {
	mkdir -p rel/new
	gen_bytes 11 260000 >rel/r-1.0.tar
	{ head -c 200000 rel/r-1.0.tar; gen_bytes 12 30000; } >rel/r-1.1.tar
	{ head -c 150000 rel/r-1.1.tar; gen_bytes 13 40000; } >rel/new/r-2.0.tar
}

# A stand-in for zbackup in fake/zbackup, strict where zbackup is: it wants
# --non-encrypted, an initialised repository, a new backup file under
# REPO/backups and the data on stdin; it restores to stdout and talks on
# stderr. With ZBACKUP_BAD set, its restore adds a byte; with ZBACKUP_NO_NULL
# set, a restore to /dev/null fails.
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
	if [ -n "${ZBACKUP_NO_NULL:-}" ] && [ "$(readlink /proc/$$/fd/1)" = /dev/null ]; then
		echo "no restore to /dev/null" >&2
		exit 1
	fi
	cat "$3" || exit 1
	[ -z "${ZBACKUP_BAD:-}" ] || printf x ;;
*) exit 1 ;;
esac
EOF
	chmod +x fake/zbackup
}

# PATH without the peers: links to everything in /usr/bin but them (one ln
# for them all: one a file was 1,500 processes).
path_without_peers() {
	mkdir -p nopeers
	ln -s /usr/bin/* nopeers/
	rm -f nopeers/borg nopeers/borgfs nopeers/restic nopeers/casync nopeers/bup nopeers/zbackup
	echo "$T/nopeers"
}

@test "bench-peers measures cdt on a series and writes the table and the results file" {
	make_series
	RUNS=1 TOOLS=cdt BENCH_DIR="$T/bench" SERIES_DIR="$T/none" run_split sh "$PEERS" data
	assert_status 0
	assert_out_contains "tool     version   first MB/s later MB/s    restore    to null  store MB   duplicate"
	assert_out_contains "cdt      $("$CDT" --version | cut -d' ' -f3)"
	assert_out_contains "first generation faster than borg:"
	assert_out_contains "not measured"
	assert_out_contains "unknown ($T/none/expected-gen.sha256 not found)"
	grep -q '^cdt_first_mbps=[0-9]' bench/peers-results.txt
	grep -q '^cdt_store_bytes=[0-9]' bench/peers-results.txt
	grep -q '^cdt_dup_s_runs=[0-9.]*$' bench/peers-results.txt
	grep -q '^cdt_to_null_mbps=[0-9]' bench/peers-results.txt
	grep -q '^cdt_stream_cpu_s=[0-9]' bench/peers-results.txt
	assert_out_contains " to null: gen5.tar to /dev/null, MB/s, the tool's own cost;"
	grep -q '^data_frozen_series=unknown$' bench/peers-results.txt
	[ ! -e bench/work ] || fail "the scratch repositories were left behind"
	# The default series is described as it always was.
	assert_out_contains "data:    $T/data: gen1..5.tar, 1.7 MB (first 0.3 MB), fingerprint "
	assert_out_contains "         random/rand1.bin and rand2.bin: identical, 200000 bytes each"
	assert_out_contains "(first: gen1.tar; later: gen2..5.tar, one command each; restore: gen5.tar to a file, MB/s;"
	assert_out_contains " store: du -sb of the repository after gen1..5; duplicate: storing rand2.bin after its copy rand1.bin, MB/s)"
	assert_out_contains "store MB after gen1..5, three ways (median):"
	assert_out_contains "  duplicate ingest >= 2 x borg:              n/a  = cdt "
	grep -q '^bytes_duplicate=200000$' bench/peers-results.txt
	! grep -q '^gens=' bench/peers-results.txt || fail "gens= written for the default series"
	case $output in *"DUP=0"* | *"GENS"*) fail "the default output mentions DUP or GENS: $output" ;; esac

	# Naming the default series in GENS changes nothing.
	cp bench/peers-results.txt first-results.txt
	GENS=" gen1.tar  gen2.tar gen3.tar
gen4.tar gen5.tar " RUNS=1 TOOLS=cdt BENCH_DIR="$T/bench" SERIES_DIR="$T/none" run_split sh "$PEERS" data
	assert_status 0
	assert_out_contains "data:    $T/data: gen1..5.tar, 1.7 MB (first 0.3 MB), fingerprint "
	assert_out_contains "(first: gen1.tar; later: gen2..5.tar, one command each; restore: gen5.tar to a file, MB/s;"
	sed -n '/^data/p; /^bytes_/p' first-results.txt >a
	sed -n '/^data/p; /^bytes_/p' bench/peers-results.txt >b
	cmp -s a b || fail "the results differ: $(diff a b)"
}

@test "bench-peers runs on another series with GENS and skips the duplicate ingest with DUP=0" {
	make_releases
	fake_zbackup
	GENS="r-1.0.tar r-1.1.tar new/r-2.0.tar" DUP=0 PATH="$T/fake:$PATH" RUNS=1 TOOLS="cdt zbackup" \
		BENCH_DIR="$T/bench" run_split sh "$PEERS" rel
	assert_status 0
	assert_out_contains "data:    $T/rel: 3 generations, r-1.0.tar .. new/r-2.0.tar, 0.7 MB (first 0.3 MB), fingerprint "
	assert_out_contains "GENS chooses the series (not compared with "
	assert_out_contains "         duplicate ingest: not measured (DUP=0)"
	assert_out_contains "(first: r-1.0.tar; later: r-1.1.tar .. new/r-2.0.tar (2 files), one command each; restore: new/r-2.0.tar to a file, MB/s;"
	assert_out_contains " store: du -sb of the repository after all 3 generations; duplicate: not measured (DUP=0))"
	assert_out_contains "store MB after all 3 generations, three ways (median):"
	assert_out_contains "  duplicate ingest >= 2 x borg:              not measured (DUP=0)"
	# No figure for the duplicate ingest: the last column is "-".
	echo "$output" | grep -q '^cdt      [^ ]*  *[0-9.]*  *[0-9.]*  *[0-9.]*  *[0-9.]*  *[0-9.]*  *-$' ||
		fail "cdt's row has a duplicate figure: $output"
	grep -q '^gens=r-1.0.tar r-1.1.tar new/r-2.0.tar$' bench/peers-results.txt
	grep -q '^data_frozen_series=no$' bench/peers-results.txt
	grep -q "^bytes_first=260000$" bench/peers-results.txt
	grep -q "^bytes_later=$((230000 + 190000))$" bench/peers-results.txt
	grep -q "^bytes_restore=190000$" bench/peers-results.txt
	grep -q '^bytes_duplicate=$' bench/peers-results.txt
	grep -q '^cdt_dup_s=$' bench/peers-results.txt
	grep -q '^cdt_restore_mbps=[0-9]' bench/peers-results.txt
	grep -q '^zbackup_restore_mbps=[0-9]' bench/peers-results.txt
	grep -q '^zbackup_to_null_mbps=[0-9]' bench/peers-results.txt
	# The stand-in keeps whole copies: every generation, under its own name.
	grep -q "^zbackup_store_file_bytes=$((260000 + 230000 + 190000))$" bench/peers-results.txt
	! grep -q '_failed=' bench/peers-results.txt || fail "a tool failed: $err"

	# The last generation is the one restored and checked.
	ZBACKUP_BAD=1 GENS="r-1.0.tar r-1.1.tar new/r-2.0.tar" DUP=0 PATH="$T/fake:$PATH" RUNS=1 \
		TOOLS="cdt zbackup" BENCH_DIR="$T/bench" run_split sh "$PEERS" rel
	assert_status 0
	assert_err_contains "restored new/r-2.0.tar has SHA-256 "
	assert_out_contains "zbackup: FAILED (restore differs)"
	# Writing it to /dev/null is a step of its own, and its failure is said.
	ZBACKUP_NO_NULL=1 GENS="r-1.0.tar r-1.1.tar new/r-2.0.tar" DUP=0 PATH="$T/fake:$PATH" RUNS=1 \
		TOOLS="cdt zbackup" BENCH_DIR="$T/bench" run_split sh "$PEERS" rel
	assert_status 0
	assert_err_contains "no restore to /dev/null"
	assert_out_contains "zbackup: FAILED (writing new/r-2.0.tar to /dev/null)"
	grep -q '^cdt_to_null_mbps=[0-9]' bench/peers-results.txt
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
	DUP=2 run_split sh "$PEERS" data
	assert_status 2
	assert_err_contains "DUP must be 0 or 1, not '2'"
	GENS="gen1.tar" run_split sh "$PEERS" data
	assert_status 2
	assert_err_contains "GENS needs at least two files"
	GENS="gen1.tar a/gen1.tar" run_split sh "$PEERS" data
	assert_status 2
	assert_err_contains "two files in GENS would be stored as 'gen1'"
	GENS="gen1.tar ../data/gen2.tar" run_split sh "$PEERS" data
	assert_status 2
	assert_err_contains "GENS names files inside DATA_DIR"
	GENS="gen1.tar gen9.tar" run_split sh "$PEERS" data
	assert_status 1
	assert_err_contains "'$T/data/gen9.tar' is missing"
	# Without the random files only DUP=0 goes on.
	rm -r data/random
	RUNS=1 TOOLS=cdt run_split sh "$PEERS" data
	assert_status 1
	assert_err_contains "'$T/data/random/rand1.bin' is missing"
}
