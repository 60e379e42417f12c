/* test-mountinfo.c: lines of /proc/self/mountinfo split as the kernel writes them, and mount points found and resolved. */
#include "unit.h"
#include "base/mountinfo.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

static int parse(const char *line, struct cdt_mountinfo_entry *e, char *buf, size_t size)
{
	snprintf(buf, size, "%s", line);
	return cdt_mountinfo_parse(buf, e);
}

int main(void)
{
	struct cdt_mountinfo_entry e;
	struct strbuf a = STRBUF_INIT, b = STRBUF_INIT, c = STRBUF_INIT;
	char buf[512];

	/* No optional tags. */
	CHECK(parse("43 27 0:40 / /tmp/m ro,nosuid,nodev,relatime - fuse.cdt /tmp/s ro,user_id=0\n",
		    &e, buf, sizeof(buf)) == 0);
	CHECK(!strcmp(e.mountpoint, "/tmp/m"));
	CHECK(!strcmp(e.fstype, "fuse.cdt"));
	CHECK(!strcmp(e.source, "/tmp/s"));

	/* Tags before the separator, and escaped spaces, tabs and backslashes. */
	CHECK(parse("36 35 98:0 /mnt1 /mnt/a\\040b rw,noatime master:1 shared:2 - ext3 /dev/root\\134x rw\n",
		    &e, buf, sizeof(buf)) == 0);
	CHECK(!strcmp(e.mountpoint, "/mnt/a b"));
	CHECK(!strcmp(e.fstype, "ext3"));
	CHECK(!strcmp(e.source, "/dev/root\\x"));
	CHECK(parse("1 2 0:1 / /a\\011b rw - tmpfs tmp\\040fs rw", &e, buf, sizeof(buf)) == 0);
	CHECK(!strcmp(e.mountpoint, "/a\tb"));
	CHECK(!strcmp(e.source, "tmp fs"));
	/* Not an escape: kept as it is. */
	CHECK(parse("1 2 0:1 / /a\\9b rw - tmpfs x rw", &e, buf, sizeof(buf)) == 0);
	CHECK(!strcmp(e.mountpoint, "/a\\9b"));

	/* Lines of other shapes. */
	CHECK(parse("", &e, buf, sizeof(buf)) == -EINVAL);
	CHECK(parse("43 27 0:40 / /tmp/m ro\n", &e, buf, sizeof(buf)) == -EINVAL);
	CHECK(parse("43 27 0:40 / /tmp/m ro - fuse.cdt\n", &e, buf, sizeof(buf)) == -EINVAL);
	/* A "-" among the first six fields is not the separator. */
	CHECK(parse("43 27 0:40 / - - fuse.cdt src\n", &e, buf, sizeof(buf)) == -EINVAL);

	/* The root is always mounted; a fresh directory is not a mount point. */
	CHECK(cdt_mountinfo_find("/", &a, &b) == 1);
	CHECK(a.len > 0 && b.len > 0);
	{
		char dir[] = "/tmp/cdt-unit-mountinfo-XXXXXX";

		CHECK(mkdtemp(dir) != NULL);
		CHECK(cdt_mountinfo_find(dir, NULL, NULL) == 0);
		/* Resolving: symbolic links and "." go, as with realpath(3). */
		CHECK(cdt_mountinfo_resolve(dir, &a) == 0);
		strbuf_reset(&b);
		strbuf_addf(&b, "%s/./", dir);
		CHECK(cdt_mountinfo_resolve(b.buf, &c) == 0);
		CHECK(!strcmp(a.buf, c.buf));
		strbuf_reset(&b);
		strbuf_addf(&b, "%s/none", dir);
		CHECK(cdt_mountinfo_resolve(b.buf, &a) == -ENOENT);
		rmdir(dir);
	}
	strbuf_release(&a);
	strbuf_release(&b);
	strbuf_release(&c);
	UNIT_DONE();
}
