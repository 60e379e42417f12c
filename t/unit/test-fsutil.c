/* test-fsutil.c: directories made with their missing parents, and temporary files under names that never repeat. */
#include "unit.h"
#include "base/fsutil.h"
#include "base/idset.h"
#include "base/hash.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int is_dir(int dirfd, const char *path)
{
	struct stat st;

	return fstatat(dirfd, path, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
}

int main(void)
{
	char root[] = "/tmp/cdt-unit-fsutil-XXXXXX", abs[256];
	struct strbuf name = STRBUF_INIT;
	struct cdt_idset seen = CDT_IDSET_INIT;
	int dfd, fd, i, distinct = 1;

	if (!mkdtemp(root)) {
		perror("mkdtemp");
		return 1;
	}
	dfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	CHECK(dfd >= 0);

	/* Every missing level is made, synced or not. */
	CHECK(mkdirat_p(dfd, "a/b/c") == 0);
	CHECK(is_dir(dfd, "a") && is_dir(dfd, "a/b") && is_dir(dfd, "a/b/c"));
	CHECK(mkdirat_p_flags(dfd, "a/x/y/z", 0) == 0);
	CHECK(is_dir(dfd, "a/x/y/z"));
	/* There already: nothing to do. */
	CHECK(mkdirat_p(dfd, "a/b/c") == 0);
	CHECK(mkdirat_p(dfd, "a") == 0);
	/* Repeated and trailing slashes. */
	CHECK(mkdirat_p(dfd, "a//d///e/") == 0);
	CHECK(is_dir(dfd, "a/d/e"));
	/* A file where a directory should be, at the end or on the way. */
	fd = openat(dfd, "a/f", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	CHECK(fd >= 0);
	if (fd >= 0)
		close(fd);
	CHECK(mkdirat_p(dfd, "a/f") == -ENOTDIR);
	CHECK(mkdirat_p(dfd, "a/f/g") == -ENOTDIR);
	/* A symbolic link is not a directory made. */
	CHECK(symlinkat("b", dfd, "a/l") == 0);
	CHECK(mkdirat_p(dfd, "a/l") == -ENOTDIR);
	/* Absolute paths (mkdir_p). */
	snprintf(abs, sizeof(abs), "%s/p/q", root);
	CHECK(mkdir_p(abs) == 0);
	CHECK(is_dir(dfd, "p/q"));
	CHECK(mkdir_p(abs) == 0);

	/* Temporary files: each name new, made with O_EXCL. */
	CHECK(mkdirat_p(dfd, "tmp") == 0);
	{
		int tfd = openat(dfd, "tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		for (i = 0; i < 500; i++) {
			struct cdt_id id;

			fd = tmpfile_openat(tfd, "t", &name);
			CHECK(fd >= 0);
			if (fd < 0)
				break;
			close(fd);
			CHECK(!strncmp(name.buf, "t-", 2));
			cdt_hash(name.buf, name.len, &id);
			if (!cdt_idset_add(&seen, &id))
				distinct = 0;
			CHECK(unlinkat(tfd, name.buf, 0) == 0);
			tmpfile_forget(tfd, name.buf);
		}
		CHECK(distinct);
		cdt_idset_clear(&seen);
		close(tfd);
	}

	/* A listing is racy until CDT_RACY_SECONDS after the later of mtime and ctime. */
	{
		struct timespec m = { 1000, 500 }, c = { 1000, 900 }, at;

		at = (struct timespec){ 1000, 999999999 };
		CHECK(listing_racy(&at, &m, &c));	/* the same second */
		at = (struct timespec){ 1001, 0 };
		CHECK(listing_racy(&at, &m, &c));
		at = (struct timespec){ 1000 + CDT_RACY_SECONDS, 0 };
		CHECK(!listing_racy(&at, &m, &c));
		at = (struct timespec){ 5000, 0 };
		CHECK(!listing_racy(&at, &m, &c));
		c.tv_sec = 4999;	/* the change time is the later one */
		CHECK(listing_racy(&at, &m, &c));
		c.tv_sec = 9000;	/* a time in the future proves nothing either */
		CHECK(listing_racy(&at, &m, &c));
		m.tv_sec = 9000;
		c.tv_sec = 10;
		CHECK(listing_racy(&at, &m, &c));
	}

	strbuf_release(&name);
	close(dfd);
	CHECK(remove_tree_at(AT_FDCWD, root, 0) == 0);
	UNIT_DONE();
}
