#!/bin/sh
# bench-tree.sh: a directory tree of many real files stored, stored again
# unchanged, and restored, by cdt, borg and restic side by side; and a big
# sparse file added.
#
#   make bench-tree
#   CDT=./cdt sh t/perf/bench-tree.sh
#
# The tree is BENCH_TREE (default /usr/share/doc and /usr/include, about
# 13k files). It is read once before the runs, so every tool reads it from
# the page cache. In each of ROUNDS rounds, each tool in turn, on a new
# repository:
#
#   first     the tree stored (cdt add -r; borg create; restic backup)
#   again     the same tree stored again, unchanged (a second generation)
#   same      (cdt alone) the same tree stored again under the first
#             generation's names, as a nightly add to fixed names does
#   restore   the first generation written back into an empty directory
#             (cdt restore; borg extract; restic restore)
#
# Figures are medians over the rounds: seconds, MB/s of the tree's bytes,
# files/s, CPU seconds (user and system, all threads), the system's part
# of them, the CPUs kept busy (CPU seconds / seconds), and cdt's speed as
# a ratio to each peer's (above 1: cdt faster).
# Then, cdt alone: a BENCH_SPARSE_GB (default 50) GB sparse file holding 4
# MiB of data at four places, added. Machine limits of the run: SHA-256 of
# one core (openssl speed), since the first add hashes every byte, and the
# cost of a system call (dd with 1-byte blocks), since a tree of small
# files costs tens of them per file.
#
# Environment:
#   BENCH_TREE       directories to store (default "/usr/share/doc /usr/include")
#   BENCH_DIR        scratch directory (default ${TMPDIR:-/tmp}/cdt-bench-tree)
#   BENCH_ROUNDS     rounds (default 3)
#   BENCH_TOOLS      "cdt borg restic" by default (peers not installed are left out)
#   BENCH_SPARSE_GB  size of the sparse file (0: no sparse run)
#   BENCH_FRESH_FS   1: (root) run on a new ext4 file system in an 8 GB loop
#                    image under BENCH_DIR, so that every tool creates its
#                    files on the same clean file system (a long-used one
#                    can make file creation 2x slower and noisy)
#   BENCH_OUT        key=value results (default BENCH_DIR/tree-results.txt)
#
# MB is 10^6 bytes.
set -eu
export LC_ALL=C

: "${CDT:?set CDT to the cdt binary (make bench-tree does)}"
TREE=${BENCH_TREE:-/usr/share/doc /usr/include}
BENCH_DIR=${BENCH_DIR:-${TMPDIR:-/tmp}/cdt-bench-tree}
ROUNDS=${BENCH_ROUNDS:-3}
TOOLS=${BENCH_TOOLS:-cdt borg restic}
SPARSE_GB=${BENCH_SPARSE_GB:-50}
OUT=${BENCH_OUT:-${BENCH_DIR}/tree-results.txt}

say() { echo "bench-tree: $*"; }

mkdir -p "$BENCH_DIR"
if [ "${BENCH_FRESH_FS:-0}" = 1 ]; then
	[ "$(id -u)" = 0 ] || { say "BENCH_FRESH_FS=1 needs root"; exit 1; }
	img=$BENCH_DIR/fs.img
	mnt=$BENCH_DIR/fs
	mkdir -p "$mnt"
	mountpoint -q "$mnt" && umount "$mnt"
	rm -f "$img"
	truncate -s 8G "$img"
	# Inode tables and journal written now, not by a kernel thread during the runs.
	mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$img"
	mount -o loop "$img" "$mnt"
	trap 'cd /; umount "$mnt"; rm -f "$img"' EXIT
	BENCH_DIR=$mnt
	say "on a new ext4 file system at $mnt"
fi
: > "$OUT"
have=
for t in $TOOLS; do
	case $t in
	cdt) have="$have cdt" ;;
	*) if command -v "$t" > /dev/null; then have="$have $t"; else
		say "$t is not installed: left out (apt-get install $t)"; fi ;;
	esac
done

# shellcheck disable=SC2086 # TREE is a list of directories
bytes=$(du -sb --apparent-size $TREE | awk '{ s += $1 } END { print s }')
# shellcheck disable=SC2086
files=$(find $TREE -type f | wc -l)
say "tree: $TREE: $files files, $bytes bytes"
# The tree in the page cache before each step that reads it, for every
# tool alike: borg drops files it has read from the cache
# (posix_fadvise DONTNEED), so whoever ran after it would read from the
# disk. (GNU tar does not read the files when writing to /dev/null.)
# shellcheck disable=SC2086
warm() { tar cf - $TREE 2> /dev/null | cat > /dev/null || true; }
warm

sha=$(openssl speed -evp sha256 -bytes 1048576 -seconds 1 2> /dev/null |
	awk '/^sha256/ { v = $NF; sub(/k$/, "", v); printf "%.0f", v * 1000 / 1e6 }')
say "machine: SHA-256 ${sha:-?} MB/s (one core, openssl)"
echo "sha256_mbs=${sha:-0}" >> "$OUT"
# A tree of small files costs tens of system calls per file (stat, open,
# read, close; a manifest and a name created and renamed): their cost on
# this machine bounds it as SHA-256 bounds a big file. dd with 1-byte
# blocks makes two calls a byte (a read and a write) that do no other work.
t0=$(date +%s.%N)
dd if=/dev/zero of=/dev/null bs=1 count=500000 2> /dev/null
t1=$(date +%s.%N)
syscall_us=$(echo "$t0 $t1" | awk '{ printf "%.2f", ($2 - $1) * 1e6 / (2 * 500000) }')
say "machine: a system call takes $syscall_us us (dd bs=1: a read and a write a byte)"
echo "syscall_us=$syscall_us" >> "$OUT"

export BORG_PASSPHRASE='' BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes
export RESTIC_PASSWORD=bench RESTIC_CACHE_DIR="$BENCH_DIR/restic-cache"

now() { date +%s.%N; }

# CPU seconds used so far by the processes this shell has waited for,
# "USER SYSTEM": the second line of `times`, run in this shell (in a
# command substitution it would count the subshell's children), so
# called as `cpu > FILE`.
cpu() {
	times > "$BENCH_DIR/cpu.now"
	awk 'NR == 2 {
		for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); n[i] = a[1] * 60 + a[2] }
		printf "%.2f %.2f", n[1], n[2]
	}' "$BENCH_DIR/cpu.now"
}

# step TOOL first|again|restore REPO TARGET: run one step quietly.
# shellcheck disable=SC2086 # TREE is a list of directories
step() {
	tool=$1 what=$2 repo=$3 target=$4
	case $tool.$what in
	cdt.first) "$CDT" --store "$repo" add -q -r --prefix g1 $TREE ;;
	cdt.again) "$CDT" --store "$repo" add -q -r --prefix g2 $TREE ;;
	cdt.same) "$CDT" --store "$repo" add -q -r --prefix g1 $TREE ;;
	cdt.restore) "$CDT" --store "$repo" restore -q g1 "$target" ;;
	borg.first) borg create "$repo::g1" $TREE ;;
	borg.again) borg create "$repo::g2" $TREE ;;
	borg.restore) (cd "$target" && borg extract "$repo::g1") ;;
	restic.first | restic.again) restic -q --repo "$repo" backup $TREE > /dev/null ;;
	restic.restore) restic -q --repo "$repo" restore latest --target "$target" > /dev/null ;;
	esac
}

init_repo() {
	rm -rf "$2"
	case $1 in
	cdt) "$CDT" init -q "$2" ;;
	borg) borg init -e none "$2" ;;
	restic) restic -q --repo "$2" init > /dev/null ;;
	esac
}

for r in $(seq 1 "$ROUNDS"); do
	for t in $have; do
		repo=$BENCH_DIR/repo-$t target=$BENCH_DIR/restore-$t
		init_repo "$t" "$repo"
		steps="first again restore"
		[ "$t" = cdt ] && steps="first again same restore"
		for what in $steps; do
			rm -rf "$target"
			mkdir -p "$target"
			[ "$what" = restore ] || warm
			sync
			cpu > "$BENCH_DIR/cpu.0"
			t0=$(now)
			step "$t" "$what" "$repo" "$target"
			t1=$(now)
			cpu > "$BENCH_DIR/cpu.1"
			# tool step seconds cpu user system
			paste "$BENCH_DIR/cpu.0" "$BENCH_DIR/cpu.1" | awk -v t="$t" -v w="$what" \
				-v s="$(echo "$t1 - $t0" | bc)" '{
				u = $3 - $1; y = $4 - $2
				printf "%s %s %s %.2f %.2f %.2f\n", t, w, s, u + y, u, y
			}' >> "$BENCH_DIR/times.$r"
		done
		# What restore wrote is what was stored.
		if [ "$t" = cdt ]; then
			n=$(find "$target" -type f | wc -l)
			[ "$n" = "$files" ] || say "warning: cdt restore wrote $n files of $files"
		fi
		rm -rf "$target"
	done
done

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# Every round's times, so that the spread of this machine shows.
for r in $(seq 1 "$ROUNDS"); do
	say "round $r: $(awk '{ printf "%s %s %.2f (cpu %.2f, sys %.2f); ", $1, $2, $3, $4, $6 }' "$BENCH_DIR/times.$r")"
done

# cpu: CPU seconds (user + system, all threads): on a machine shared with
# others, a steadier figure than the wall time, though it does not show
# what a tool gains by running on several CPUs at once; sys: the system's
# part of it (system calls, page faults); busy: cpu / seconds, the CPUs
# kept busy on average (the rest of the time its threads waited: for the
# disk, for each other, or for a CPU another process held).
say "$(printf '%-8s %-8s %8s %9s %9s %8s %6s %5s' tool step seconds MB/s files/s cpu sys busy)"
for t in $have; do
	for what in first again same restore; do
		s=$(cat "$BENCH_DIR"/times.* | awk -v t="$t" -v w="$what" '$1 == t && $2 == w { print $3 }' | median)
		[ -n "$s" ] || continue	# a step of cdt alone
		c=$(cat "$BENCH_DIR"/times.* | awk -v t="$t" -v w="$what" '$1 == t && $2 == w { print $4 }' | median)
		y=$(cat "$BENCH_DIR"/times.* | awk -v t="$t" -v w="$what" '$1 == t && $2 == w { print $6 }' | median)
		mbs=$(echo "scale=1; $bytes / $s / 1000000" | bc)
		fps=$(echo "scale=0; $files / $s" | bc)
		busy=$(echo "scale=2; $c / $s" | bc)
		say "$(printf '%-8s %-8s %8.2f %9s %9s %8.2f %6.2f %5.2f' "$t" "$what" "$s" "$mbs" "$fps" "$c" "$y" "$busy")"
		{
			echo "${t}_${what}_s=$s"
			echo "${t}_${what}_cpu_s=$c"
			echo "${t}_${what}_sys_s=$y"
		} >> "$OUT"
	done
done
for peer in $have; do
	[ "$peer" = cdt ] && continue
	for what in first again restore; do
		c=$(awk -F= -v k="cdt_${what}_s" '$1 == k { print $2 }' "$OUT")
		p=$(awk -F= -v k="${peer}_${what}_s" '$1 == k { print $2 }' "$OUT")
		ratio=$(echo "scale=2; $p / $c" | bc)
		say "cdt $what: ${ratio}x $peer's speed"
		echo "ratio_${what}_vs_${peer}=$ratio" >> "$OUT"
	done
done
rm -f "$BENCH_DIR"/times.* "$BENCH_DIR"/cpu.*

if [ "$SPARSE_GB" -gt 0 ]; then
	f=$BENCH_DIR/sparse.img
	rm -f "$f"
	truncate -s "${SPARSE_GB}G" "$f"
	for at in 0 7 23 $((SPARSE_GB * 1024 - 2)); do
		head -c 1048576 /dev/urandom | dd of="$f" bs=1M seek="$at" conv=notrunc status=none
	done
	repo=$BENCH_DIR/repo-sparse
	init_repo cdt "$repo"
	t0=$(now)
	"$CDT" --store "$repo" add -q --name sparse.img "$f"
	t1=$(now)
	s=$(echo "$t1 - $t0" | bc)
	say "sparse: ${SPARSE_GB} GB file with 4 MiB of data added in $s s"
	echo "cdt_sparse_add_s=$s" >> "$OUT"
	t0=$(now)
	"$CDT" --store "$repo" cat -o "$BENCH_DIR/sparse.out" sparse.img
	t1=$(now)
	say "sparse: restored (holes kept: $(du -k "$BENCH_DIR/sparse.out" | cut -f1) KiB allocated) in $(echo "$t1 - $t0" | bc) s"
	rm -rf "$f" "$BENCH_DIR/sparse.out" "$repo"
fi
say "results in $OUT"
