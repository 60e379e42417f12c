#!/usr/bin/env bats
# Interrupted by SIGINT or SIGTERM, a command exits by the signal and leaves no temporary files.

load test_helper

# Start an add of a large file in the background, wait until it is writing,
# then send the signal; echo the exit status.
interrupt_add() {
	local sig=$1
	# Background jobs start with SIGINT ignored; restore its default, as a terminal has.
	env --default-signal=INT,QUIT "$CDT" --store "$S" add -q big &
	local p=$!
	# Wait until a temporary file exists (the add is inside its work).
	for _ in $(seq 1 200); do
		[ -n "$(ls -A "$S/tmp")" ] && break
		sleep 0.01
	done
	kill -s "$sig" $p
	local rc=0
	wait $p || rc=$?
	echo $rc
}

@test "SIGINT during add removes its temporary files and stores nothing" {
	init_store
	gen_bytes 1 400000000 > big
	rc=$(interrupt_add INT)
	[ "$rc" -eq 130 ] || fail "exit status $rc"
	[ -z "$(ls -A "$S/tmp")" ] || fail "left: $(ls "$S/tmp")"
	[ -z "$(c ls)" ]
	# The store is consistent and the next add works.
	c add -q big
	c cat big | cmp - big
}

@test "SIGTERM during add removes its temporary files" {
	init_store
	gen_bytes 2 400000000 > big
	rc=$(interrupt_add TERM)
	[ "$rc" -eq 143 ] || fail "exit status $rc"
	[ -z "$(ls -A "$S/tmp")" ] || fail "left: $(ls "$S/tmp")"
}

@test "SIGINT during cat -o leaves no partial output file" {
	init_store
	gen_bytes 3 300000000 > big
	c add -q big
	env --default-signal=INT "$CDT" --store "$S" cat -o out big &
	p=$!
	for _ in $(seq 1 200); do
		[ -n "$(ls -A | grep '^\.out\.cdt')" ] && break
		sleep 0.01
	done
	kill -INT $p
	rc=0
	wait $p || rc=$?
	[ "$rc" -eq 130 ] || [ "$rc" -eq 0 ] || fail "exit status $rc"
	[ -z "$(ls -A | grep cdt-)" ] || fail "temporary file left: $(ls -A)"
	if [ "$rc" -eq 130 ]; then [ ! -e out ]; else cmp out big; fi
}
