#!/usr/bin/env bats
# Kill add, rm and gc at random moments, over and over: nothing committed is lost.

load test_helper

# Every name the store lists restores to the file it was made from.
check_all() {
	local n
	c ls > names
	while IFS= read -r n; do
		c cat "$n" > out || fail "cannot restore $n"
		cmp out "src/${n##*/}" || fail "$n differs"
	done < names
	c stats --json > stats.json || fail "stats failed"
	grep -q '"missing_chunks":0' stats.json || fail "missing chunks: $(cat stats.json)"
}

@test "random kills of add, rm and gc never lose a committed name" {
	init_store
	mkdir src
	for i in $(seq 1 12); do
		if [ $((i % 3)) = 0 ]; then
			"$TEST_TOOL" gen-text $i $((200000 + i * 50000)) > src/f$i
		else
			gen_bytes $i $((200000 + i * 80000)) > src/f$i
		fi
	done
	kills=0
	deadline=$((SECONDS + ${CDT_CRASH_SECONDS:-25}))
	round=0
	while [ $SECONDS -lt $deadline ]; do
		round=$((round + 1))
		case $((RANDOM % 3)) in
		0) a=$((RANDOM % 12 + 1)) b=$((RANDOM % 12 + 1))
		   [ $a = $b ] && b=$((a % 12 + 1))
		   "$CDT" --store "$S" add -q --prefix "r$round" src/f$a src/f$b & ;;
		1) victim=$(c ls | shuf -n 1 2>/dev/null)
		   "$CDT" --store "$S" rm -q --ignore-missing "${victim:-none}" & ;;
		2) "$CDT" --store "$S" gc > /dev/null & ;;
		esac
		p=$!	# the cdt process itself: killing a subshell would leave it running
		# Between 0 and ~60 ms: inside the command most of the time.
		sleep "0.0$((RANDOM % 60 / 10))$((RANDOM % 10))"
		if kill -9 $p 2>/dev/null; then kills=$((kills + 1)); fi
		wait $p 2>/dev/null || true
		check_all
	done
	echo "# $round rounds, $kills kills" >&3
	[ $kills -ge 10 ]
	c gc > /dev/null
	check_all
}
