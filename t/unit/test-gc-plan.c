/* test-gc-plan.c: which packs gc rewrites, in stores whose live and dead shares are known. */
#include "base/hash.h"
#include "ops/ingest.h"
#include "ops/mark.h"
#include "format/names.h"
#include "format/pack.h"
#include "ops/repack.h"
#include "base/util.h"
#include "unit.h"
#include "unit-store.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

/*
 * The stores cut fixed blocks of BLOCK bytes, and the data is random, so
 * that every block is one chunk stored raw in an object of the same size:
 * dead and live shares of a pack are exact counts of blocks. Block i of a
 * file of seed n is the same in every file of that seed, so a shorter file
 * of the same seed shares the longer one's first chunks.
 */
#define BLOCK 4096u
#define MiB (1ull << 20)

static void block(uint64_t seed, size_t i, unsigned char *out)
{
	uint64_t st = seed << 32 | i, w;
	size_t k;

	for (k = 0; k < BLOCK; k += 8) {
		uint64_t z = (st += 0x9e3779b97f4a7c15ull);

		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
		w = z ^ (z >> 31);
		memcpy(out + k, &w, 8);
	}
}

/* Add the first `blocks` blocks of seed under `name`, as cdt add does. */
static void add(struct cdt_store *s, const char *name, uint64_t seed, size_t blocks)
{
	struct cdt_ingest_options io = { 0 };
	struct cdt_ingest_result res;
	struct cdt_name_entry meta = { 0 };
	struct cdt_ingest *ing;
	unsigned char buf[BLOCK];
	int fd = memfd_create("data", MFD_CLOEXEC);
	size_t i;

	if (fd < 0)
		die("memfd_create: %s", cdt_strerror(errno));
	for (i = 0; i < blocks; i++) {
		block(seed, i, buf);
		if (write_all(fd, buf, BLOCK) < 0)
			die("cannot write data: %s", cdt_strerror(errno));
	}
	lseek(fd, 0, SEEK_SET);
	snprintf(meta.name, sizeof(meta.name), "%s", name);
	meta.mode = 0644;
	io.jobs = 1;
	if (cdt_store_lock(s, CDT_LOCK_SHARED) < 0)
		die("cannot lock the store");
	ing = cdt_ingest_new(s, &io);
	if (cdt_ingest_fd(ing, fd, name, &meta, &res) < 0)
		die("cannot add '%s'", name);
	cdt_ingest_free(ing);
	cdt_store_unlock(s);
	close(fd);
}

static void rm(struct cdt_store *s, const char *name)
{
	if (cdt_name_remove(s, name, 0) < 0)
		die("cannot remove '%s'", name);
}

/* A store's plan, with what was marked to make it. */
struct planned {
	struct cdt_live live;
	struct cdt_repack_plan plan;
	size_t nloose;
};

/* Mark, then plan as gc does, passing the live loose chunks found. */
static void plan(struct cdt_store *s, struct planned *p)
{
	CHECK(cdt_live_mark(s, &p->live) == 0 && p->live.damaged == 0);
	p->nloose = p->live.loose_live.nr;
	cdt_repack_plan(s, &p->live, p->nloose, &p->plan);
}

static void unplan(struct planned *p)
{
	cdt_repack_plan_release(&p->plan);
	cdt_live_release(&p->live);
}

/* Index in the plan of the pack holding block 0 of seed; dies if none does. */
static size_t pack_of(const struct planned *p, uint64_t seed)
{
	unsigned char buf[BLOCK];
	struct cdt_id id;
	size_t i;

	block(seed, 0, buf);
	cdt_hash(buf, BLOCK, &id);
	for (i = 0; i < p->plan.n; i++)
		if (cdt_pack_find(p->plan.packs[i], &id) >= 0)
			return i;
	die("no pack holds the data of seed %llu", (unsigned long long)seed);
}

static int rewrites(const struct planned *p, uint64_t seed)
{
	return p->plan.rewrite[pack_of(p, seed)];
}

/* A pack is left alone while everything in it is live, and rewritten once nothing is. */
static void test_all_dead(const char *dir)
{
	struct cdt_store *s = unit_store_new(dir, "dead", CDT_CHUNKER_FIXED, BLOCK);
	struct planned p;
	size_t a;

	add(s, "a", 1, 32);
	plan(s, &p);
	a = pack_of(&p, 1);
	CHECK(p.plan.n == 1 && p.nloose == 0);
	CHECK(p.plan.live_count[a] == 32 && p.plan.live_bytes[a] == p.plan.total_bytes[a]);
	CHECK(p.plan.total_bytes[a] >= 32 * BLOCK);
	CHECK(!p.plan.rewrite[a] && p.plan.dead_objects == 0 && p.plan.dead_bytes == 0);
	unplan(&p);

	rm(s, "a");
	plan(s, &p);
	a = pack_of(&p, 1);
	CHECK(p.plan.live_count[a] == 0 && p.plan.live_bytes[a] == 0);
	CHECK(p.plan.rewrite[a]);
	CHECK(p.plan.dead_objects == 32 && p.plan.dead_bytes == p.plan.total_bytes[a]);
	unplan(&p);
	cdt_store_close(s);
}

/*
 * A pack is rewritten when more than a fifth of its bytes are dead: x is
 * 100 blocks, y the first `keep` of them, and x is removed.
 */
static void check_dead_share(const char *dir, size_t keep, int rewritten)
{
	char *name = xstrfmt("share-%zu", keep);
	struct cdt_store *s = unit_store_new(dir, name, CDT_CHUNKER_FIXED, BLOCK);
	struct planned p;
	size_t x;

	add(s, "x", 2, 100);
	add(s, "y", 2, keep);	/* stores nothing new */
	rm(s, "x");
	plan(s, &p);
	x = pack_of(&p, 2);
	CHECK(p.plan.n == 1 && p.nloose == 0);
	CHECK(p.plan.live_count[x] == keep);
	/* Within a frame, a chunk's share of its header is a share of a few bytes: within 1%. */
	CHECK(p.plan.live_bytes[x] * 100 + p.plan.total_bytes[x] >= p.plan.total_bytes[x] * keep &&
	      p.plan.live_bytes[x] * 100 <= p.plan.total_bytes[x] * keep + p.plan.total_bytes[x]);
	CHECK(p.plan.rewrite[x] == rewritten);
	if (rewritten)
		CHECK(p.plan.dead_objects == 100 - keep &&
		      p.plan.dead_bytes == p.plan.total_bytes[x] - p.plan.live_bytes[x]);
	else
		CHECK(p.plan.dead_objects == 0 && p.plan.dead_bytes == 0);
	unplan(&p);
	cdt_store_close(s);
	free(name);
}

static void test_dead_share(const char *dir)
{
	check_dead_share(dir, 79, 1);
	check_dead_share(dir, 81, 0);
	check_dead_share(dir, 100, 0);
}

/*
 * One small pack is not merged on its own, and a big one never for being
 * small; live loose chunks pull the small pack in (to be packed with it),
 * dead ones do not. None of this depends on free space.
 */
static void test_big_and_loose(const char *dir)
{
	struct cdt_store *s = unit_store_new(dir, "big", CDT_CHUNKER_FIXED, BLOCK);
	struct planned p;

	add(s, "big", 3, 4200);		/* a little over 16 MiB */
	add(s, "small", 4, 32);
	plan(s, &p);
	CHECK(p.plan.n == 2 && p.nloose == 0);
	CHECK(p.plan.total_bytes[pack_of(&p, 3)] > 16 * MiB);
	CHECK(!rewrites(&p, 3) && !rewrites(&p, 4));
	unplan(&p);

	add(s, "loose", 5, 8);		/* too few chunks for a pack */
	plan(s, &p);
	CHECK(p.plan.n == 2 && p.nloose == 8);
	CHECK(!rewrites(&p, 3) && rewrites(&p, 4));
	CHECK(p.plan.dead_objects == 0);
	unplan(&p);

	rm(s, "loose");
	plan(s, &p);
	CHECK(p.nloose == 0 && p.live.loose_all.nr == 8);
	CHECK(!rewrites(&p, 3) && !rewrites(&p, 4));
	unplan(&p);
	cdt_store_close(s);
}

/*
 * Make the file system of dir have `want` bytes free by growing or
 * shrinking a filler file; returns how far from `want` it got.
 */
static uint64_t set_free(const char *dir, uint64_t want)
{
	char *path = xstrfmt("%s/filler", dir);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	struct statvfs sv;
	struct stat st;
	int64_t size;
	uint64_t avail;

	if (fd < 0 || fstat(fd, &st) < 0 || fstatvfs(fd, &sv) < 0)
		die("cannot use '%s': %s", path, cdt_strerror(errno));
	size = (int64_t)st.st_size + (int64_t)((uint64_t)sv.f_bavail * sv.f_frsize) - (int64_t)want;
	if (size < 0)
		die("'%s' has less than %llu bytes free", dir, (unsigned long long)want);
	if (size > st.st_size ? posix_fallocate(fd, 0, size) : ftruncate(fd, size))
		die("cannot size '%s'", path);
	if (fstatvfs(fd, &sv) < 0)
		die("cannot stat '%s': %s", path, cdt_strerror(errno));
	close(fd);
	free(path);
	avail = (uint64_t)sv.f_bavail * sv.f_frsize;
	return avail > want ? avail - want : want - avail;
}

/*
 * Small packs are merged when there is room for an output that is not
 * small again: output packs are at most half the free space, counting the
 * space of packs with nothing live as free. In a file system of known size
 * (a private tmpfs), with a, b and c three small packs.
 */
static void test_room(const char *dir)
{
	struct cdt_store *s = unit_store_new(dir, "store", CDT_CHUNKER_FIXED, BLOCK);
	struct planned p;

	add(s, "a", 11, 32);
	add(s, "b", 12, 32);
	add(s, "c", 13, 3000);		/* about 12 MiB, still small */

	/* 40 MiB free: outputs of 20 MiB, room to merge. */
	CHECK(set_free(dir, 40 * MiB) < MiB);
	plan(s, &p);
	CHECK(p.plan.n == 3 && p.nloose == 0);
	CHECK(p.plan.total_bytes[pack_of(&p, 13)] > 11 * MiB);
	CHECK(rewrites(&p, 11) && rewrites(&p, 12) && rewrites(&p, 13));
	CHECK(p.plan.dead_objects == 0);
	unplan(&p);

	/* 24 MiB free: outputs of 12 MiB would be small again; left alone. */
	CHECK(set_free(dir, 24 * MiB) < MiB);
	plan(s, &p);
	CHECK(!rewrites(&p, 11) && !rewrites(&p, 12) && !rewrites(&p, 13));
	unplan(&p);

	/* Live loose chunks are packed with the small packs, room or not. */
	add(s, "loose", 14, 8);
	CHECK(set_free(dir, 24 * MiB) < MiB);
	plan(s, &p);
	CHECK(p.nloose == 8);
	CHECK(rewrites(&p, 11) && rewrites(&p, 12) && rewrites(&p, 13));
	unplan(&p);

	rm(s, "loose");
	CHECK(set_free(dir, 24 * MiB) < MiB);
	plan(s, &p);
	CHECK(p.nloose == 0 && !rewrites(&p, 11) && !rewrites(&p, 12));
	unplan(&p);

	/* The same free space, but c has nothing live: its 12 MiB count, and a and b merge. */
	rm(s, "c");
	CHECK(set_free(dir, 24 * MiB) < MiB);
	plan(s, &p);
	CHECK(rewrites(&p, 13) && p.plan.live_bytes[pack_of(&p, 13)] == 0);
	CHECK(rewrites(&p, 11) && rewrites(&p, 12));
	CHECK(p.plan.dead_objects == 3000);
	unplan(&p);
	cdt_store_close(s);
}

static int write_proc(const char *file, const char *text)
{
	int fd = open(file, O_WRONLY | O_CLOEXEC), ret = 0;

	if (fd < 0)
		return -errno;
	if (write_all(fd, text, strlen(text)) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

/*
 * Mount a tmpfs of `size` on dir, seen only by this process (a mount
 * namespace of its own; a user namespace too when not root). 0 or -errno.
 */
static int private_tmpfs(const char *dir, const char *size, const char **step)
{
	char map[64], *opts;
	int ret;

	*step = "unshare";
	if (unshare(CLONE_NEWNS) < 0) {
		unsigned uid = (unsigned)getuid(), gid = (unsigned)getgid();

		if (errno != EPERM || unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0)
			return -errno;
		*step = "map the user";
		snprintf(map, sizeof(map), "%u %u 1", uid, uid);
		if ((ret = write_proc("/proc/self/setgroups", "deny")) < 0 ||
		    (ret = write_proc("/proc/self/uid_map", map)) < 0)
			return ret;
		snprintf(map, sizeof(map), "%u %u 1", gid, gid);
		if ((ret = write_proc("/proc/self/gid_map", map)) < 0)
			return ret;
	}
	*step = "make mounts private";
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return -errno;
	*step = "mount a tmpfs";
	opts = xstrfmt("size=%s,mode=0700", size);
	ret = mount("tmpfs", dir, "tmpfs", MS_NOSUID | MS_NODEV, opts) < 0 ? -errno : 0;
	free(opts);
	return ret;
}

#define SKIPPED 77

/*
 * Run test_room() in a child, in a 64 MiB tmpfs of its own. Where none
 * can be mounted it is skipped with the reason (a failure when
 * CDT_TEST_STRICT=1, as in the bats suite).
 */
static void test_room_in_tmpfs(const char *dir)
{
	const char *strict = getenv("CDT_TEST_STRICT");
	char *mnt = xstrfmt("%s/tmpfs", dir);
	int status;
	pid_t pid;

	if (mkdir(mnt, 0700) < 0)
		die("cannot make '%s': %s", mnt, cdt_strerror(errno));
	fflush(stderr);
	pid = fork();
	if (pid < 0)
		die("cannot fork: %s", cdt_strerror(errno));
	if (!pid) {
		const char *step;
		int ret = private_tmpfs(mnt, "64m", &step);

		if (ret < 0) {
			fprintf(stderr, "skipped the free-space cases: cannot %s: %s\n", step,
				cdt_strerror(ret));
			_exit(SKIPPED);
		}
		test_room(mnt);
		fprintf(stderr, "free-space cases: %d checks, %d failed\n", unit_checks,
			unit_failures);
		fflush(stderr);
		_exit(unit_failures ? 1 : 0);
	}
	if (waitpid(pid, &status, 0) < 0)
		die("wait failed: %s", cdt_strerror(errno));
	if (WIFEXITED(status) && WEXITSTATUS(status) == SKIPPED)
		CHECK(!(strict && !strcmp(strict, "1")));
	else
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	free(mnt);
}

int main(void)
{
	char *dir = unit_tmpdir("test-gc-plan");

	/* First, while this process has no threads: the child makes namespaces. */
	test_room_in_tmpfs(dir);
	test_all_dead(dir);
	test_dead_share(dir);
	test_big_and_loose(dir);
	unit_tmpdir_remove(dir);
	UNIT_DONE();
}
