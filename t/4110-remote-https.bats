#!/usr/bin/env bats
# A store read over HTTPS (nginx on 127.0.0.1, TLS, HTTP/2): every reading
# command byte-identical to the local store, the cache, and what a server
# that fails, stalls, cuts replies short or sends wrong bytes does.

load test_helper
load lib-https

# A store of three names (one 3 MB, one holding a space and a non-ASCII
# character, a tree with a link and an empty directory), served by nginx.
served_store() {
	need_https
	init_store
	mkdir -p src/sub src/empty
	gen_bytes 7 3000000 > src/big
	printf 'hello\n' > "src/sub/a file é"
	ln -s big src/link
	c add -q -r src
	gen_bytes 8 500000 > top
	c add -q top
	https_start "$S"
	export CDT_CA_BUNDLE=$HTTPS_CA
	R=$HTTPS_URL
	CACHE=$T/cache
}

# cdt on the remote store, through the test's cache.
r() {
	"$CDT" --cache "$CACHE" --store "$R" "$@"
}

# The files of the cache's copy of the store: its id, a hash of its URL.
cache_dir() {
	echo "$CACHE/$(sed -n 's/^store-id //p' "$S/config")-$(printf %s "$R" | sha256sum | cut -c1-16)"
}

@test "ls, cat, verify, diff, hash and restore of a store over HTTPS give what the local store gives" {
	served_store
	c ls -l > local.ls
	run_split r ls -l
	assert_status 0
	[ "$output" = "$(cat local.ls)" ] || fail "ls differs: $output"
	r cat src/big | cmp - src/big
	r cat "src/sub/a file é" | cmp - "src/sub/a file é"
	r cat top | cmp - top
	run_split r verify src/big top
	assert_status 0
	assert_out_contains "all intact"
	[ "$(r hash src/big)" = "$(c hash src/big)" ]
	run_split r diff src src
	assert_status 0
	r restore -q src restored
	diff -r src restored/src 2>/dev/null || diff -r src restored
	# HTTP/2 over TLS, and no request failed.
	grep -q ' HTTP/2.0 ' "$HTTPS_LOG" || fail "no HTTP/2 request: $(cat "$HTTPS_LOG")"
	! awk '$3 >= 400' "$HTTPS_LOG" | grep -v '/objects/' | grep . || fail "failed requests"
}

@test "a second read comes from the cache: no pack data is fetched again" {
	served_store
	r cat src/big > /dev/null
	first=$(https_bytes_sent '/packs/.*\.pack')
	[ "$first" -gt 1000000 ] || fail "only $first bytes of packs fetched"
	r cat src/big | cmp - src/big
	[ "$(https_bytes_sent '/packs/.*\.pack')" = "$first" ] || fail "pack data fetched again"
	# Only what was read was fetched: top's blocks of the pack may come along, not more.
	size=$(stat -c %s "$S"/packs/*.pack | awk '{ s += $1 } END { print s }')
	[ "$first" -le "$size" ]
}

@test "the cache follows the store: names added and removed, packs collected" {
	served_store
	r ls > /dev/null
	printf 'new\n' > later
	c add -q later
	run_split r cat later
	assert_status 0
	[ "$output" = new ]
	c rm -q top
	run_split r ls
	assert_status 0
	case "$output" in *top*) fail "removed name still listed: $output" ;; esac
	c gc > /dev/null
	run_split r verify src/big later
	assert_status 0
	# Packs gc removed are gone from the cache too.
	for p in "$(cache_dir)"/packs/*.idx; do
		[ -e "$S/packs/$(basename "$p")" ] || fail "cache keeps $p"
	done
}

@test "cdt mount of a store over HTTPS shows the same bytes" {
	served_store
	load lib-mount
	need_fuse
	M=$T/mnt
	mkdir -p "$M"
	run_split r mount "$M"
	assert_status 0
	cmp "$M/src/big" src/big
	cmp "$M/src/sub/a file é" "src/sub/a file é"
	[ "$(readlink "$M/src/link")" = big ]
	"$CDT" umount "$M"
}

@test "a view of a store over HTTPS follows it: names added in new packs, removed, collected" {
	served_store
	load lib-mount
	need_fuse
	M=$T/mnt
	mkdir -p "$M"
	run_split r mount -o refresh=0.2,remote_refresh=0.5 "$M"
	assert_status 0
	exec 9< "$M/src/big"	# held open while gc takes its pack away
	cmp "$M/top" top
	gen_bytes 9 2000000 > later
	c add -q later
	wait_for "[ -f '$M/later' ]" 10 || fail "a name added on the server never showed up"
	cmp "$M/later" later
	c rm -q top
	wait_for "[ ! -e '$M/top' ]" 10 || fail "a name removed on the server is still shown"
	# gc there repacks: the packs the view listed go, new ones come.
	c rm -q -r src
	c add -q --name again/big src/big
	c gc > /dev/null
	wait_for "[ -f '$M/again/big' ] && [ ! -e '$M/src' ]" 10 ||
		fail "the names after gc never showed up"
	cmp "$M/again/big" src/big
	cmp "$M/later" later
	# The file open before reads what it read (cached) or fails, never wrong bytes.
	if cat <&9 > held 2> /dev/null; then cmp held src/big; fi
	exec 9<&-
	"$CDT" umount "$M"
}

@test "a chunk whose listed pack a gc on the server replaced is read from the new pack" {
	served_store
	load lib-mount
	need_fuse
	# Half of one pack that gc will write again without the other half.
	gen_bytes 10 2000000 > one
	gen_bytes 11 2000000 > two
	c add -q one two
	M=$T/mnt
	mkdir -p "$M"
	# Lists fetched once: only a read that fails can have them fetched again.
	run_split r mount -o remote_refresh=0 "$M"
	assert_status 0
	old=$(cd "$S/packs" && ls ./*.pack)
	c rm -q two
	c gc > /dev/null
	[ "$(cd "$S/packs" && ls ./*.pack)" != "$old" ] || fail "gc on the server wrote no pack"
	# one was never read: its chunks are asked of a pack gone from the server.
	cmp "$M/one" one
	"$CDT" umount "$M"
	# The same for cat, stopped after it opened the store and before it reads.
	CDT_TEST_PAUSE=restore-open "$CDT" --cache "$CACHE" --store "$R" cat src/big \
		> big.out 2> big.err &
	pid=$!
	wait_stopped $pid
	c rm -q top
	c add -q --name again/big src/big
	c rm -q -r src
	c gc > /dev/null
	kill -CONT $pid
	wait $pid || fail "cat of a name whose pack was replaced failed: $(cat big.err)"
	cmp big.out src/big
}

@test "a view with remote_refresh=0 fetches the lists once, and a server gone later is a warning" {
	served_store
	load lib-mount
	need_fuse
	M=$T/mnt
	mkdir -p "$M"
	run_split r mount -o refresh=0.2,remote_refresh=0,log="$T/view.log" "$M"
	assert_status 0
	sleep 1.5
	[ "$(https_requests '/info/packs')" = 1 ] || fail "info/packs fetched again"
	"$CDT" umount "$M"
	run_split r mount -o refresh=0.2,remote_refresh=0.3,log="$T/view.log" "$M"
	assert_status 0
	https_stop
	sleep 1.5
	cmp "$M/top" top 2> /dev/null || [ -f "$M/top" ] || fail "the view lost its names"
	grep -q "warning: .*info/packs" "$T/view.log" || fail "no warning: $(cat "$T/view.log")"
	"$CDT" umount "$M"
}

@test "pull from a store over HTTPS into an empty store: fsck clean, every name the same" {
	served_store
	"$CDT" init -q "$T/copy"
	run_split "$CDT" --cache "$CACHE" --store "$T/copy" pull "$R"
	assert_status 0
	run_split "$CDT" --store "$T/copy" fsck
	assert_status 0
	"$CDT" --store "$T/copy" cat src/big | cmp - src/big
	"$CDT" --store "$T/copy" cat top | cmp - top
}

@test "commands that change a store refuse one over HTTPS, and change nothing" {
	served_store
	before=$(store_snapshot)
	for cmd in "add later" "rm top" "gc" "repair --from src/big"; do
		: > later
		run_split r $cmd
		assert_status 1
		assert_one_line_err
		assert_err_contains "a store given by URL is written only by push and pull"
	done
	"$CDT" init -q "$T/other"
	run_split "$CDT" --store "$T/other" push "$R"
	assert_status 1
	assert_err_contains "cannot push to '$R': a store over HTTP is read-only"
	run_split r pull "$T/other"
	assert_status 1
	assert_err_contains "cannot pull into '$R'"
	[ "$(store_snapshot)" = "$before" ]
}

@test "a server that answers 503 or 404 gives one clear line and exit 1" {
	served_store
	run_split "$CDT" --cache "$CACHE" --store "$HTTPS_URL/fail503" ls
	assert_status 1
	assert_one_line_err
	assert_err_contains "HTTP 503"
	assert_err_contains "$HTTPS_URL/fail503/config"
	run_split "$CDT" --cache "$CACHE" --store "$HTTPS_URL/notfound" ls
	assert_status 1
	assert_err_contains "is not a cdt store (no config)"
	# The pack vanished from the server after the cache listed it.
	r ls > /dev/null
	mv "$S"/packs/*.pack "$T/"
	run_split r cat src/big
	assert_status 1
	assert_err_contains "src/big"
	assert_err_contains "HTTP 404"
	[ -z "$output" ]
}

@test "a served store whose config is damaged is read through its copy; both damaged, or a newer format, refused" {
	served_store
	cmp "$S/config" "$S/config.copy"
	cp "$S/config" "$T/config.good"
	sed -i 's/^level 3$/level 4/' "$S/config"
	run_split r cat top
	assert_status 0
	cmp "$T/.out" top
	assert_one_line_err
	assert_err_contains "store '$R' has a damaged config (config checksum does not match its contents): using its copy 'config.copy'"
	# A cache made before, from the sound config, goes on with the copy.
	run_split r cat "src/sub/a file é"
	assert_status 0
	[ "$output" = hello ]
	assert_one_line_err
	# fsck of the served store says so, as of a local one.
	run_split r fsck
	assert_status 64
	assert_out_contains "config-corrupt config: config checksum does not match its contents; its copy config.copy is whole and stands in for it"
	cp "$S/config" "$S/config.copy"
	run_split "$CDT" --cache "$T/cache2" --store "$R" ls
	assert_status 1
	assert_one_line_err
	assert_err_contains "cannot use store '$R': config checksum does not match its contents"
	# A config of a newer format is refused as such, never replaced by its copy.
	cp "$T/config.good" "$S/config.copy"
	sed 's/^format 4$/format 5/' "$T/config.good" > "$S/config"
	run_split r ls
	assert_status 1
	assert_one_line_err
	assert_err_contains "store format 5 is newer than this cdt supports (4)"
}

@test "a flipped byte on the server is an error naming file, offset and chunk, and is not kept" {
	served_store
	pack=$(ls "$S"/packs/*.pack)
	cp "$pack" good.pack
	flip_byte "$pack" 1500000
	run_split r cat src/big
	assert_status 1
	assert_err_contains "cannot read 'src/big' at offset"
	assert_err_contains "fails its CRC"
	# The bad block is not marked as held: once the server is right, so is the read.
	cp good.pack "$pack"
	r cat src/big | cmp - src/big
}

@test "a reply cut short and a server sending wrong bytes: errors, never wrong output" {
	served_store
	need_bad_https
	bad_https_start "$S" truncate
	run_split "$CDT" --cache "$T/c1" --store "$BAD_HTTPS_URL" ls
	assert_status 1
	assert_err_contains "cut short"
	bad_https_stop
	bad_https_start "$S" flip
	run_split "$CDT" --cache "$T/c2" --store "$BAD_HTTPS_URL" cat src/big
	assert_status 1
	[ -z "$output" ] || [ "$(printf '%s' "$output" | wc -c)" -lt 3000000 ]
}

@test "a stalled server makes the command fail within the stall time, with a clear error" {
	served_store
	r ls > /dev/null
	https_stall
	start=$(date +%s)
	CDT_HTTP_TIMEOUT=1 run_split r cat src/big
	https_resume
	assert_status 1
	assert_err_contains "no reply for 1 s"
	[ $(( $(date +%s) - start )) -lt 20 ]
	r cat src/big | cmp - src/big
}

@test "a store without info/ says what to do" {
	served_store
	rm -rf "$S/info"
	run_split r ls
	assert_status 1
	assert_one_line_err
	assert_err_contains "has no info/packs"
}

@test "with yesterday's file as a seed, today's 200 MB file of which 1% changed fetches under 15% of its bytes" {
	need_https
	init_store
	gen_bytes 11 200000000 > day1
	cp day1 day2
	# 100 changes of 20 kB spread over the file: 1% of its bytes.
	for i in $(seq 1 100); do
		gen_bytes $((100 + i)) 20000 |
			dd of=day2 bs=20000 seek=$(( (i * 97) % 9999 )) conv=notrunc status=none
	done
	c add -q --name day1/dump day1
	c add -q --name day2/dump day2
	https_start "$S"
	export CDT_CA_BUNDLE=$HTTPS_CA
	run_split "$CDT" --cache "$T/cache" --seed day1 --store "$HTTPS_URL" cat -o out day2/dump
	assert_status 0
	cmp out day2
	seeded=$(https_bytes_sent '/packs/')
	[ "$seeded" -lt 30000000 ] || fail "fetched $seeded bytes of packs with a seed"
	# A local store holding yesterday's file serves as a seed file does.
	"$CDT" init -q "$T/yesterday"
	"$CDT" --store "$T/yesterday" add -q day1
	before=$(https_bytes_sent '/packs/')
	rm -f out
	"$CDT" --cache "$T/cache3" --seed "$T/yesterday" --store "$HTTPS_URL" cat -o out day2/dump
	cmp out day2
	[ $(( $(https_bytes_sent '/packs/') - before )) -lt 30000000 ] || fail "seed store unused"
	# A seed that changes after it was cut only costs fetches, never wrong bytes.
	rm -f out
	before=$(https_bytes_sent '/packs/')
	CDT_TEST_PAUSE=seeds-cut "$CDT" --cache "$T/cache4" --seed day1 --store "$HTTPS_URL" \
		cat -o out day2/dump &
	pid=$!
	wait_stopped $pid
	gen_bytes 99 4000000 | dd of=day1 bs=1M seek=50 conv=notrunc status=none
	kill -CONT $pid
	wait $pid
	cmp out day2
	# The 4 MB of the seed that changed came over the wire instead (so the
	# count above counts what a seed saves).
	fetched=$(( $(https_bytes_sent '/packs/') - before ))
	[ "$fetched" -gt 4000000 ] || fail "the changed part of the seed was not fetched: $fetched"
}

@test "--seed of a file that is not there, or of something else, is one clear error" {
	served_store
	run_split "$CDT" --cache "$CACHE" --seed "$T/nosuch" --store "$R" ls
	assert_status 1
	assert_one_line_err
	assert_err_contains "cannot open seed '$T/nosuch'"
	mkdir notastore
	run_split "$CDT" --cache "$CACHE" --seed notastore --store "$R" ls
	assert_status 1
	assert_one_line_err
	assert_err_contains "seed 'notastore' is neither a file nor a store"
}

@test "fsck of a store over HTTPS: clean when it is, and what is missing or damaged on the server named" {
	served_store
	run_split r fsck --quick
	assert_status 0
	assert_out_contains "no problems found"
	run_split r fsck
	assert_status 0
	assert_out_contains "no problems found"
	run_split r fsck --rebuild-refs
	assert_status 1
	assert_err_contains "written only by push and pull"
	# A manifest gone from the server: the names it serves are named.
	id=$(c hash top | cut -c1-64)
	mv "$S/manifests/${id:0:2}/${id:2}" "$T/manifest"
	run_split "$CDT" --cache "$T/cache2" --store "$R" fsck --quick
	[ "$status" -ne 0 ] || fail "fsck --quick found nothing"
	assert_out_contains "manifest-missing"
	assert_out_contains "top"
	mv "$T/manifest" "$S/manifests/${id:0:2}/${id:2}"
	# A flipped byte in a pack on the server: found by reading, with the name it hurts.
	pack=$(ls "$S"/packs/*.pack)
	flip_byte "$pack" 1500000
	run_split "$CDT" --cache "$T/cache3" --store "$R" fsck
	[ "$status" -ne 0 ] || fail "fsck found nothing"
	assert_out_contains "src/big"
}

@test "fsck of a store over HTTPS whose cache holds a damaged block fetches it again: no damage said" {
	served_store
	r fsck > /dev/null
	pack=$(cd "$(cache_dir)/packs" && ls *.pack | head -n 1)
	# Bit rot in the cache alone: in an object, then in the pack's header.
	flip_byte "$(cache_dir)/packs/$pack" 1500000
	run_split r fsck
	assert_status 0
	assert_out_contains "no problems found"
	r cat src/big | cmp - src/big
	printf 'XXXX' | dd of="$(cache_dir)/packs/$pack" bs=1 seek=0 conv=notrunc status=none
	run_split r fsck
	assert_status 0
	assert_out_contains "no problems found"
	# The server's copy damaged too: damage, named as before, and nothing wrong kept.
	flip_byte "$(cache_dir)/packs/$pack" 1500000
	flip_byte "$S/packs/$pack" 1500000
	run_split r fsck
	[ "$status" -ne 0 ] || fail "fsck found nothing"
	assert_out_contains "src/big"
}

@test "a damaged cached chunk whose fetch fails is a read error, not damage" {
	served_store
	gen_bytes 9 200000 > small
	c add -q small
	r cat small | cmp - small
	o=$(cd "$(cache_dir)/objects" && find . -type f | head -n 1)
	o=${o#./}
	[ -f "$S/objects/$o" ] || fail "no loose chunk of small was fetched"
	flip_byte "$(cache_dir)/objects/$o" 50
	# The server cannot send it: nginx answers 301 for a directory.
	mv "$S/objects/$o" "$T/object"
	mkdir "$S/objects/$o"
	run_split r cat -o "$T/out" small
	assert_status 1
	assert_one_line_err
	assert_err_contains "cannot read 'small' at offset"
	assert_err_contains "cannot fetch it: GET $R/objects/$o: unexpected reply (HTTP 301); another copy is damaged"
	# Once the server sends it, the read is right.
	rmdir "$S/objects/$o"
	mv "$T/object" "$S/objects/$o"
	r cat small | cmp - small
}

@test "a chunk whose pack and loose copy both fail to come names both reasons in its one line" {
	served_store
	r ls > /dev/null
	# The packs vanish from the server (404)...
	mkdir "$T/packs"
	mv "$S"/packs/*.pack "$T/packs/"
	run_split r cat src/big
	assert_status 1
	chunk=$(printf '%s\n' "$err" | sed -n 's/.* chunk \([0-9a-f]\{64\}\) .*/\1/p')
	[ -n "$chunk" ] || fail "no chunk named: $err"
	o=${chunk:0:2}/${chunk:2}
	# ...and where the chunk's loose copy would be stands a directory (301).
	mkdir -p "$S/objects/$o"
	run_split r cat src/big
	assert_status 1
	assert_one_line_err
	assert_err_contains "cannot read 'src/big' at offset 0: chunk $chunk"
	assert_err_contains "/packs/pack-"
	assert_err_contains "HTTP 404"
	assert_err_contains "; cannot fetch it: GET $R/objects/$o: unexpected reply (HTTP 301)"
	# Once the server has its packs back, the read is right.
	rmdir "$S/objects/$o"
	mv "$T"/packs/*.pack "$S/packs/"
	r cat src/big | cmp - src/big
}

@test "a manifest the server sends damaged is not kept: once the server is right, so is the read" {
	served_store
	id=$(c hash top | cut -c1-64)
	m="$S/manifests/${id:0:2}/${id:2}"
	cp "$m" good
	flip_byte "$m" 40
	run_split r cat -o "$T/out" top
	assert_status 1
	assert_one_line_err
	assert_err_contains "cannot read 'top'"
	assert_err_contains "cannot fetch manifest: $R/manifests/${id:0:2}/${id:2}: damaged manifest (checksum or file id)"
	[ ! -e "$(cache_dir)/manifests/${id:0:2}/${id:2}" ] || fail "the damaged manifest was kept"
	# Whole, but another file's.
	other=$(c hash src/big | cut -c1-64)
	cp "$S/manifests/${other:0:2}/${other:2}" "$m"
	run_split r cat -o "$T/out" top
	assert_status 1
	assert_err_contains "damaged manifest (checksum or file id)"
	[ ! -e "$(cache_dir)/manifests/${id:0:2}/${id:2}" ] || fail "another file's manifest was kept"
	cp good "$m"
	r cat top | cmp - top
}

@test "info/packs that lists a pack larger than its index allows is refused, not allocated" {
	served_store
	# A listing a server made up, with its checksum right: the pack 4 EiB.
	python3 - "$S/info/packs" <<'PY'
import hashlib, re, sys
p = sys.argv[1]
b = open(p, 'rb').read()
body = re.sub(rb'(pack-[0-9a-f]{64}) \d+ ', rb'\1 4611686018427387904 ', b[:b.rindex(b'checksum ')])
open(p, 'wb').write(body + b'checksum ' + hashlib.sha256(body).hexdigest().encode() + b'\n')
PY
	run_split r cat -o "$T/out" top
	assert_status 1
	assert_one_line_err
	assert_err_contains "info/packs lists pack-"
	assert_err_contains "with 4611686018427387904 bytes; its index says"
	[ ! -e "$T/out" ]
}

# cdt on the remote store; its peak resident size (KiB) then in $T/rss.
r_rss() {
	# A sanitizer build keeps freed memory aside (its quarantine), which
	# would count as peak RSS: none, so that the figure is what is live.
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=0" \
	python3 - "$T/rss" "$CDT" --cache "$CACHE" --store "$R" "$@" <<'PY'
import resource, subprocess, sys
rc = subprocess.call(sys.argv[2:])
open(sys.argv[1], "w").write("%d\n" % resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.exit(rc)
PY
}

@test "a loose object or a manifest the server makes huge is refused in bounded memory, and not kept" {
	served_store
	gen_bytes 9 200000 > small
	c add -q small
	# A loose chunk of small: one that a read of it fetches. The peak RSS
	# of that read, with nothing refused, is what any read has in this
	# build (a sanitizer's adds some 30 MB) and on this machine now: a
	# refused read stays near it, where one holding 96 MB would not.
	CACHE=$T/c0 r_rss cat -o "$T/out" small
	cmp "$T/out" small
	most=$(($(cat "$T/rss") + 49152))
	o=$(cd "$T/c0"/*/objects && find . -type f | head -n 1)
	o=${o#./}
	[ -f "$S/objects/$o" ] || fail "no loose chunk of small was fetched"
	# 96 MB where a chunk object of at most 128 KiB and its header belongs.
	cp "$S/objects/$o" "$T/object"
	truncate -s 96M "$S/objects/$o"
	run_split r_rss cat -o "$T/out" small
	assert_status 1
	assert_one_line_err
	assert_err_contains "GET $R/objects/$o: larger than 131084 bytes"
	[ "$(cat "$T/rss")" -lt "$most" ] || fail "peak RSS $(cat "$T/rss") KiB for a refused object"
	[ ! -e "$(cache_dir)/objects/$o" ] || fail "the object was kept"
	cp "$T/object" "$S/objects/$o"
	# A manifest has no size its format bounds: it comes to a file, never to memory.
	id=$(c hash top | cut -c1-64)
	m="$S/manifests/${id:0:2}/${id:2}"
	cp "$m" "$T/manifest"
	truncate -s 96M "$m"
	run_split r_rss cat -o "$T/out" top
	assert_status 1
	assert_one_line_err
	assert_err_contains "manifests/${id:0:2}/${id:2}: damaged manifest (checksum or file id)"
	[ "$(cat "$T/rss")" -lt "$most" ] || fail "peak RSS $(cat "$T/rss") KiB for a refused manifest"
	[ ! -e "$(cache_dir)/manifests/${id:0:2}/${id:2}" ] || fail "the manifest was kept"
	[ -z "$(ls "$(cache_dir)/tmp")" ] || fail "left in tmp/: $(ls "$(cache_dir)/tmp")"
	cp "$T/manifest" "$m"
	r cat small | cmp - small
	r cat top | cmp - top
}

@test "a server that trickles a byte now and then fails the command within the stall time" {
	command -v python3 >/dev/null || skip_or_fail "python3 is not installed"
	init_store
	printf 'hello\n' > f
	c add -q f
	# Plain HTTP, every body two bytes a second: never quite stalled.
	cat > "$T/trickle.py" <<'PY'
import http.server, os, sys, threading, time
root, port_file = sys.argv[1], sys.argv[2]
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a):
        pass
    def do_GET(self):
        p = os.path.join(root, self.path.lstrip("/"))
        b = open(p, "rb").read() if os.path.isfile(p) else b""
        self.send_response(200 if os.path.isfile(p) else 404)
        self.send_header("Content-Length", str(len(b)))
        self.end_headers()
        for i in range(len(b)):
            self.wfile.write(b[i:i + 1])
            self.wfile.flush()
            time.sleep(0.5)
threading.Timer(60, lambda: os._exit(0)).start()
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
s.daemon_threads = True
open(port_file + ".tmp", "w").write("%d" % s.server_address[1])
os.rename(port_file + ".tmp", port_file)
s.serve_forever()
PY
	python3 "$T/trickle.py" "$S" "$T/port" </dev/null >/dev/null 2>"$T/server.log" 3>&- &
	pid=$!
	for _ in $(seq 1 100); do
		[ -s "$T/port" ] && break
		sleep 0.05
	done
	[ -s "$T/port" ] || fail "the server did not start: $(cat "$T/server.log")"
	url=http://127.0.0.1:$(cat "$T/port")
	start=$(date +%s)
	CDT_HTTP_TIMEOUT=1 run_split timeout 20 "$CDT" --cache "$T/cache" --store "$url" ls
	kill "$pid"
	assert_status 1
	assert_one_line_err
	assert_err_contains "GET $url/config: less than 1024 bytes a second for 1 s"
	[ $(( $(date +%s) - start )) -lt 15 ]
}

@test "an index the server sends for another pack is refused at open, and not kept" {
	served_store
	idx=$(ls "$S"/packs/*.idx | head -n 1)
	p=$(basename "$idx" .idx)
	cp "$idx" "$T/good.idx"
	# Whole (its checksum right), but naming another pack as its own.
	python3 - "$idx" <<'PY'
import hashlib, sys
p = sys.argv[1]
b = bytearray(open(p, 'rb').read())
b[-64:-32] = hashlib.sha256(b'another pack').digest()
b[-32:] = hashlib.sha256(bytes(b[:-32])).digest()
open(p, 'wb').write(bytes(b))
PY
	other=$(python3 -c 'import hashlib; print(hashlib.sha256(b"another pack").hexdigest())')
	run_split r ls
	assert_status 1
	assert_one_line_err
	assert_err_contains "$R/packs/$p.idx: the index of another pack (pack-$other)"
	[ ! -e "$(cache_dir)/packs/$p.idx" ] || fail "the index was kept"
	cp "$idx" "$T/bad.idx"
	cp "$T/good.idx" "$idx"
	r cat src/big | cmp - src/big
	# A cache that holds one (from before this check) fetches the right one at open.
	cp "$T/bad.idx" "$(cache_dir)/packs/$p.idx"
	r ls > /dev/null
	cmp "$(cache_dir)/packs/$p.idx" "$T/good.idx"
}

@test "a warm open of an unchanged store is four whole GETs, as remote.md says" {
	served_store
	r ls > /dev/null
	before=$(https_requests)
	r ls > /dev/null
	[ "$(https_requests)" = $((before + 4)) ] || fail "$(tail -n +$((before + 1)) "$HTTPS_LOG")"
	tail -n 4 "$HTTPS_LOG" | cut -d' ' -f1-3 > got
	printf 'GET /config 200\nGET /info/packs 200\nGET /info/mpacks 200\nGET /info/prefixes 200\n' > want
	diff want got
}

@test "a table of info/names the server makes huge is refused at the size info/prefixes gives" {
	served_store
	# The peak RSS of the same listing with nothing refused, in this build
	# and on this machine now: a refused one stays near it, where one
	# holding the 96 MB table would not.
	CACHE=$T/c0 r_rss ls src
	most=$(($(cat "$T/rss") + 49152))
	# The table of the prefix 'src', 96 MB on the server; info/prefixes unchanged.
	tbl="$S/info/names/src"
	[ -f "$tbl" ] || fail "no table info/names/src"
	size=$(stat -c %s "$tbl")
	truncate -s 96M "$tbl"
	run_split r_rss ls src
	assert_status 1
	assert_err_contains "GET $R/info/names/src: larger than $size bytes"
	[ "$(cat "$T/rss")" -lt "$most" ] || fail "peak RSS $(cat "$T/rss") KiB for a refused table"
}

@test "info/packs and info/prefixes the server makes huge are refused in bounded memory" {
	served_store
	# The peak RSS of an open with nothing refused, in this build and on
	# this machine now: a refused open stays near it, where one holding
	# 60 MB would not.
	CACHE=$T/c0 r_rss ls
	most=$(($(cat "$T/rss") + 49152))
	# Larger than any reader takes (64 MiB): refused by its size, never held.
	cp "$S/info/packs" "$T/packs"
	truncate -s 96M "$S/info/packs"
	run_split r_rss ls
	assert_status 1
	assert_one_line_err
	assert_err_contains "GET $R/info/packs: larger than 67108864 bytes"
	[ "$(cat "$T/rss")" -lt "$most" ] || fail "peak RSS $(cat "$T/rss") KiB for a refused info/packs"
	cp "$T/packs" "$S/info/packs"
	# Within that size, its checksum right, a line of 62 MB: read in steps.
	cp "$S/info/prefixes" "$T/prefixes"
	python3 - "$S/info/prefixes" <<'PY'
import hashlib, sys
p = sys.argv[1]
b = open(p, 'rb').read()
body = b[:b.rindex(b'checksum ')] + b'x' * (62 << 20) + b'\n'
open(p, 'wb').write(body + b'checksum ' + hashlib.sha256(body).hexdigest().encode() + b'\n')
PY
	run_split r_rss ls
	assert_status 1
	assert_one_line_err
	assert_err_contains "$R/info/prefixes is damaged: info/prefixes line 3 is not a table's"
	[ "$(cat "$T/rss")" -lt "$most" ] || fail "peak RSS $(cat "$T/rss") KiB for a refused info/prefixes"
	[ -z "$(ls "$(cache_dir)/tmp")" ] || fail "left in tmp/: $(ls "$(cache_dir)/tmp")"
	cp "$T/prefixes" "$S/info/prefixes"
	r cat top | cmp - top
}

# A store of $1 one-line files in src/, each chunk in a pack of its own
# (what many small adds without gc leave), crafted from the one pack an
# add writes, and served by nginx.
served_many_packs() {
	need_https
	init_store --codec zlib
	mkdir src
	for i in $(seq 1 "$1"); do echo "file $i" > "src/f$i"; done
	c add -q -r src
	python3 "$BATS_TEST_DIRNAME/lib/split-packs.py" "$S/packs"
	rm -f "$S/packs/multi-pack-index" "$S/info/packs"
	# The next add lists the packs in info/ again.
	echo last > last
	c add -q last
	n=$(find "$S/packs" -name '*.idx' | wc -l)
	[ "$n" -ge "$1" ] || fail "$n packs, not $1"
	https_start "$S"
	export CDT_CA_BUNDLE=$HTTPS_CA
	R=$HTTPS_URL
	CACHE=$T/cache
}

# cdt on the remote store with at most $1 descriptors open.
r_limited() {
	local n=$1
	shift
	run_split bash -c 'ulimit -n "$0" && exec "$@"' "$n" \
		"$CDT" --cache "$CACHE" --store "$R" "$@"
}

@test "a store of many packs over HTTPS is read within a low limit of open files" {
	served_many_packs 100
	names=$(ls src | sed 's|^|src/|')
	# shellcheck disable=SC2086 # one word a name
	cat $names > want
	c ls -l > local.ls
	# 100 packs, 64 descriptors: fetched into the cache, then read from it.
	# shellcheck disable=SC2086
	r_limited 64 cat $names
	assert_status 0
	cmp "$T/.out" want
	r_limited 64 ls -l
	assert_status 0
	cmp "$T/.out" local.ls
	CACHE=$T/cache2 r_limited 64 restore -q -j 4 src out
	assert_status 0
	diff -r src out
	"$CDT" init -q --codec zlib "$T/copy"
	run_split bash -c 'ulimit -n 64 && exec "$@"' _ \
		"$CDT" --cache "$T/cache3" --store "$T/copy" pull "$R"
	assert_status 0
	run_split "$CDT" --store "$T/copy" fsck
	assert_status 0
	# shellcheck disable=SC2086
	"$CDT" --store "$T/copy" cat $names > copy.out
	cmp copy.out want
}

@test "a served store whose damaged config has another store's copy is refused, not read with the other's parameters" {
	served_store
	"$CDT" init -q --chunk-size 4K --content-id sha256 "$T/other"
	cp "$T/other/config.copy" "$S/config.copy"
	printf 'torn\n' >> "$S/config"
	run_split r ls
	assert_status 1
	assert_one_line_err
	assert_err_contains "cannot use store '$R': config has text after its checksum; its copy 'config.copy' is another store's (store-id $(sed -n 's/^store-id //p' "$T/other/config"),"
	[ ! -e "$CACHE" ] || [ -z "$(ls "$CACHE")" ] || fail "a cache was made: $(ls "$CACHE")"
}

@test "libcurl is loaded for a remote store alone: a local command never opens it" {
	command -v strace > /dev/null || skip "strace is not installed"
	init_store
	gen_bytes 3 100000 > f
	c add -q f
	traced -f -e trace=openat,open -o trace "$CDT" --store "$S" cat f > out
	cmp -s out f
	grep -q 'libzstd' trace || fail "the trace shows no library loaded: $(head -n 20 trace)"
	! grep 'libcurl' trace || fail "a local cat loaded libcurl"
	# A URL loads it; nothing listens there, so the request fails.
	traced -f -e trace=openat,open -o trace "$CDT" --store https://127.0.0.1:1/x ls > /dev/null 2>&1 || true
	grep -q 'libcurl[^ ]*so[^ ]*", O_RDONLY|O_CLOEXEC) = [0-9]' trace ||
		fail "a remote store did not load libcurl: $(grep -c . trace) calls"
}

@test "libcurl that cannot be loaded is one clear line for a remote store, and nothing for a local one" {
	[ "$(id -u)" = 0 ] || skip "needs root to hide libcurl in a mount namespace"
	command -v unshare > /dev/null || skip "unshare is not installed"
	lib=$(ldconfig -p | awk '$1 ~ /^libcurl\.so\.4$/ { print $NF; exit }')
	[ -n "$lib" ] || skip "ldconfig does not list libcurl.so.4"
	lib=$(readlink -f "$lib")
	init_store
	gen_bytes 3 100000 > f
	c add -q f
	# libcurl replaced by an empty file, for these commands alone.
	hidden() {
		unshare -m sh -c 'mount --bind /dev/null "$1" && shift && exec "$@"' sh "$lib" "$@"
	}
	run_split hidden "$CDT" --store "$S" cat f
	assert_status 0
	[ -z "$err" ] || fail "a local cat said: $err"
	run_split hidden "$CDT" --store https://127.0.0.1:1/x ls
	assert_status 1
	assert_err_contains "cannot read 'https://127.0.0.1:1/x': cannot load libcurl: "
	[ "$(printf '%s\n' "$err" | wc -l)" = 1 ] || fail "not one line: $err"
	run_split hidden "$CDT" init s3://127.0.0.1:1/bucket/x
	assert_status 1
	assert_err_contains "cannot create 's3://127.0.0.1:1/bucket/x': cannot load libcurl: "
}
