/* cmd/mount.c: cdt mount, the read-only FUSE view of a store. */
#include "cmd.h"
#include "base/strbuf.h"
#include "base/util.h"
#include "base/workers.h"
#ifdef CDT_HAVE_FUSE
#include "../fuse-view/view.h"
#endif

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

const char usage_mount[] =
	"usage: cdt mount [--store DIR] [-f] [-o OPT] MOUNTPOINT\n"
	"\n"
	"Mount the store read-only at MOUNTPOINT: directories as the stored names\n"
	"imply them, each file with its stored size, mode, owner and mtime, and\n"
	"its content id in the extended attribute user.cdt.id. Every chunk read\n"
	"is checked against its id; a damaged chunk gives EIO for its range only.\n"
	"Names added or removed show up within twice the refresh interval.\n"
	"Unmount with 'cdt umount MOUNTPOINT' or 'fusermount3 -u MOUNTPOINT'.\n"
	"A MOUNTPOINT that is already a cdt view is refused.\n"
	"\n"
	"    -f, --foreground   stay in the foreground, messages on stderr\n"
	"    -o OPT[,OPT...]    cache_size=SIZE  inflated chunks kept (default 64M)\n"
	"                       readahead=SIZE   read ahead of sequential readers\n"
	"                                        (default 8M, 0: none)\n"
	"                       refresh=SECONDS  how often to look for changed names\n"
	"                                        (default 1, 0: never)\n"
	"                       remote_refresh=SECONDS  a remote store: how often to\n"
	"                                        fetch its lists again (default 60,\n"
	"                                        0: never)\n"
	"                       loaders=N        threads reading chunks (default: CPUs)\n"
	"                       log=FILE         append messages to FILE (default:\n"
	"                                        syslog once detached)\n"
	"                       debug            libfuse's debug output (implies -f)\n"
	"                       anything else goes to libfuse (e.g. allow_other)\n"
	"    -h, --help         show this help\n";

#define DEFAULT_CACHE (64u << 20)
#define DEFAULT_READAHEAD (8u << 20)
/* A remote store's lists are fetched whole: not every second. */
#define DEFAULT_REMOTE_REFRESH 60.0
#define MIN_CACHE (1u << 20)

struct mount_opts {
	uint64_t cache_size, readahead;
	double refresh, remote_refresh;
	int loaders, debug;
	const char *log;
	struct strbuf fuse;
};

static int parse_one(struct cmd_ctx *ctx, char *o, struct mount_opts *mo)
{
	char *val = strchr(o, '=');
	char *end;

	if (val)
		*val++ = '\0';
	if (!strcmp(o, "cache_size") || !strcmp(o, "readahead")) {
		uint64_t *dst = o[0] == 'c' ? &mo->cache_size : &mo->readahead;

		if (!val || parse_size(val, dst) < 0)
			return usage_error(ctx, "-o %s needs a size like 256M, not '%s'", o,
					   quote(val ? val : ""));
		if (dst == &mo->cache_size && *dst < MIN_CACHE)
			return usage_error(ctx, "-o cache_size must be at least 1M");
		return 0;
	}
	if (!strcmp(o, "refresh") || !strcmp(o, "remote_refresh")) {
		double *dst = !strcmp(o, "refresh") ? &mo->refresh : &mo->remote_refresh;

		errno = 0;
		*dst = val ? strtod(val, &end) : -1;
		if (!val || errno || end == val || *end || !(*dst >= 0) || *dst > 86400)
			return usage_error(ctx, "-o %s needs seconds between 0 and 86400, not '%s'",
					   o, quote(val ? val : ""));
		return 0;
	}
	if (!strcmp(o, "loaders")) {
		long n = 0;

		errno = 0;
		if (val)
			n = strtol(val, &end, 10);
		if (!val || errno || end == val || *end || n < 1 || n > 256)
			return usage_error(ctx, "-o loaders needs a number of threads between 1 and 256, not '%s'",
					   quote(val ? val : ""));
		mo->loaders = (int)n;
		return 0;
	}
	if (!strcmp(o, "log")) {
		if (!val || !*val)
			return usage_error(ctx, "-o log needs a file name");
		mo->log = val;
		return 0;
	}
	if (!strcmp(o, "debug") && !val) {
		mo->debug = 1;
		return 0;
	}
	if (!strcmp(o, "rw"))
		return usage_error(ctx, "the view is read-only: -o rw is not possible");
	/*
	 * A stored set-id program or device node must never act as one from
	 * the view: a store is data, perhaps restored from elsewhere.
	 */
	if (!strcmp(o, "suid") || !strcmp(o, "dev"))
		return usage_error(ctx, "the view is always nosuid and nodev: -o %s is not possible", o);
	/* Everything else is libfuse's to accept or refuse. */
	if (mo->fuse.len)
		strbuf_addch(&mo->fuse, ',');
	strbuf_addstr(&mo->fuse, o);
	if (val) {
		strbuf_addch(&mo->fuse, '=');
		strbuf_addstr(&mo->fuse, val);
	}
	return 0;
}

static int parse_o(struct cmd_ctx *ctx, char *list, struct mount_opts *mo)
{
	char *save = NULL, *o;

	for (o = strtok_r(list, ",", &save); o; o = strtok_r(NULL, ",", &save)) {
		int ret = parse_one(ctx, o, mo);

		if (ret)
			return ret;
	}
	return 0;
}

int cmd_mount(int argc, char **argv, struct cmd_ctx *ctx)
{
	static const struct option opts[] = {
		{ "foreground", no_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 }
	};
	struct mount_opts mo = { .cache_size = DEFAULT_CACHE, .readahead = DEFAULT_READAHEAD,
				 .refresh = 1.0, .remote_refresh = DEFAULT_REMOTE_REFRESH,
				 .fuse = STRBUF_INIT };
	struct strbuf mnt = STRBUF_INIT, store = STRBUF_INIT;
	struct stat st;
	int c, fg = 0, ret = EXIT_OK;

	while ((c = getopt_long(argc, argv, ":fo:", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			fg = 1;
			break;
		case 'o':
			ret = parse_o(ctx, optarg, &mo);
			if (ret)
				goto out;
			break;
		default:
			ret = option_error(ctx, c, argv);
			goto out;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc != 1) {
		ret = usage_error(ctx, argc ? "too many arguments" : "no mount point given");
		goto out;
	}
#ifndef CDT_HAVE_FUSE
	(void)fg;
	(void)st;
	error("this cdt was built without FUSE support");
	ret = EXIT_FAIL;
#else
	/*
	 * A second view on top of the first would hide it, and 'cdt umount'
	 * would take away only the one on top: refuse. Other mount points
	 * may be mounted over, as mount(8) and fusermount3 allow.
	 */
	ret = find_view(argv[0], "mount on", &mnt, &store);
	if (ret) {
		if (ret > 0)
			error("'%s' is already a cdt view of store '%s': unmount it first with 'cdt umount %s'",
			      quote(argv[0]), quote(store.buf), quote(argv[0]));
		ret = EXIT_FAIL;
		goto out;
	}
	if (stat(argv[0], &st) < 0) {
		error("cannot mount on '%s': %s", quote(argv[0]), cdt_strerror(errno));
		ret = EXIT_FAIL;
		goto out;
	}
	if (!S_ISDIR(st.st_mode)) {
		error("cannot mount on '%s': not a directory", quote(argv[0]));
		ret = EXIT_FAIL;
		goto out;
	}
	{
		struct cdt_view_options vo;

		memset(&vo, 0, sizeof(vo));
		vo.mountpoint = argv[0];
		vo.foreground = fg;
		vo.cache_size = mo.cache_size;
		vo.readahead = mo.readahead;
		vo.refresh = mo.refresh;
		vo.remote_refresh = mo.remote_refresh;
		vo.loaders = mo.loaders ? mo.loaders : MAX(2, cdt_online_cpus());
		vo.log = mo.log;
		vo.fuse_opts = mo.fuse.buf;
		vo.debug = mo.debug;
		ret = cdt_view_mount(ctx->store, &vo) < 0 ? EXIT_FAIL : EXIT_OK;
	}
#endif
out:
	strbuf_release(&mo.fuse);
	strbuf_release(&mnt);
	strbuf_release(&store);
	return ret;
}
