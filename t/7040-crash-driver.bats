#!/usr/bin/env bats
# The crash driver: add, rm, gc (packing and repacking) and repair killed
# with SIGKILL at random moments, CDT_CRASH_KILLS times (make test: 120). After every kill fsck
# finds nothing but garbage (and server info left stale) and every committed name restores
# byte-identical.

load test_helper

src_of() {
	printf 'src/%s' "${1##*/}"
}

# Every listed name restores to its source; fsck reports no error.
check_store() {
	local n
	local rc=0
	c fsck --quick > fsck.out 2>&1 || rc=$?
	# A kill between names and their tables leaves info/ stale: derived
	# data fsck reports (exit 32), which the next gc writes again.
	if [ "$rc" = 32 ] && ! grep -E '^[a-z]+-[a-z-]+ ' fsck.out | grep -qv '^info-stale '; then
		rc=0
	fi
	[ "$rc" = 0 ] || fail "fsck after kill $kills (round $round): $(cat fsck.out)"
	c ls > names
	[ -s names ] || return 0
	# One cat of them all, each name's source in the same order; name by
	# name only to say which failed.
	# shellcheck disable=SC2046 # stored names hold no blanks
	if c cat $(cat names) > out 2> /dev/null &&
	   while IFS= read -r n; do cat "$(src_of "$n")"; done < names | cmp -s - out; then
		return 0
	fi
	while IFS= read -r n; do
		c cat "$n" > out || fail "cannot restore $n after kill $kills"
		cmp -s out "$(src_of "$n")" || fail "$n differs after kill $kills"
	done < names
	fail "the names restore one by one but not together after kill $kills"
}

@test "SIGKILLs at random moments of add, rm, gc and repair lose nothing committed" {
	init_store --chunk-size 8K
	mkdir src
	for i in $(seq 1 10); do
		if [ $((i % 2)) = 0 ]; then
			"$TEST_TOOL" gen-text $i $((400000 + i * 100000)) > src/f$i
		else
			gen_bytes $i $((300000 + i * 150000)) > src/f$i
		fi
	done
	kills=0 round=0
	want=${CDT_CRASH_KILLS:-120}
	deadline=$((SECONDS + ${CDT_CRASH_SECONDS:-240}))
	# The delay before each kill, per command, adapts to how long the
	# command takes here: shorter after it finished first, longer after a
	# kill, so that kills land all along its run on any machine.
	declare -A delay=([add]=100 [rm]=20 [gc]=50 [repair]=100)
	while [ $kills -lt "$want" ] && [ $SECONDS -lt $deadline ]; do
		round=$((round + 1))
		a=$((RANDOM % 10 + 1)) b=$((RANDOM % 10 + 1))
		[ $a = $b ] && b=$((a % 10 + 1))
		names=$(c ls | wc -l)
		op=$((RANDOM % 5))
		# Keep the store small, so that checking it stays cheap.
		[ "$names" -gt 16 ] && op=2
		case $op in
		0|1) set -- add -q --prefix "r$round" src/f$a src/f$b ;;
		2) set -- rm -q --ignore-missing $(c ls | shuf -n 3) ;;
		3) set -- gc ;;
		4)
			# Damage a chunk of a stored file, then repair it from its source.
			obj=$(find "$S/objects" "$S/packs" -type f \( -name '*.pack' -o -path '*/objects/*' \) | shuf -n 1)
			[ -n "$obj" ] || continue
			flip_byte "$obj" "$(( $(stat -c %s "$obj") / 2 ))"
			set -- repair --from src/f1 src/f2 src/f3 src/f4 src/f5 src/f6 src/f7 src/f8 src/f9 src/f10
			;;
		esac
		[ "$1" = rm ] && [ $# -lt 4 ] && continue
		d=${delay[$1]}
		"$CDT" --store "$S" "$@" > /dev/null 2>&1 &
		p=$!
		sleep "$(printf '0.%03d' $((RANDOM % d)))"
		if kill -9 $p 2>/dev/null; then
			kills=$((kills + 1))
			d=$((d * 9 / 8 + 1))
		else
			d=$((d * 3 / 4 + 1))
		fi
		[ $d -gt 999 ] && d=999
		delay[$1]=$d
		wait $p 2>/dev/null || true
		if [ "$1" = repair ]; then
			# A killed repair may leave the damage it was healing: finish it.
			c repair --from src/f* > /dev/null 2>&1 || true
		fi
		check_store
	done
	echo "# $round rounds, $kills processes killed" >&3
	[ $kills -ge "$want" ] || fail "only $kills kills in the time allowed"
	c gc > /dev/null
	c fsck > fsck.out || fail "full fsck at the end: $(cat fsck.out)"
	check_store
}
