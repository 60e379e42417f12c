/* cmd/repair.c: cdt repair, heal missing or damaged chunks and manifests from local files holding the same data. */
#include "cmd.h"
#include "ops/repair.h"
#include "base/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char usage_repair[] =
	"usage: cdt repair [-j N] --from FILE [FILE...]\n"
	"   or: cdt repair [-j N] --scan DIR [DIR...]\n"
	"   or: cdt repair [-j N]\n"
	"\n"
	"Find every chunk that is missing or damaged (reading the whole store, as\n"
	"fsck does), then cut each local FILE as the store cuts files and write\n"
	"back each wanted chunk it holds: atomically, then read back and checked.\n"
	"FILE need not be the file that was stored: any file sharing the damaged\n"
	"chunks heals them. A good chunk is never replaced; FILE is only read.\n"
	"A missing or damaged manifest is written again from a FILE of exactly\n"
	"the stored file's bytes (found by its size, then its content id).\n"
	"First, with or without FILEs, a pack whose index is missing or damaged\n"
	"is indexed again from its own objects, and a damaged multi-pack index\n"
	"written again: that needs no file. Nor does a damaged config, written\n"
	"again from its copy config.copy, or a damaged name entry, written back\n"
	"from its copy in info/names/ when that is known current.\n"
	"Holds the store's writer lock; cat and verify work meanwhile.\n"
	"\n"
	"    --from FILE        read FILE (repeatable; more FILEs may follow)\n"
	"    --scan DIR         read every regular file under DIR (repeatable),\n"
	"                       skipping unread those that cannot hold a wanted\n"
	"                       chunk, and stopping once nothing is wanted\n"
	"    -j, --jobs N       threads for reading and hashing (default: CPUs)\n"
	PROGRESS_HELP
	"    -h, --help         show this help\n"
	"\n"
	"Exit status: 0 if nothing the store's names use is still damaged, 1 if\n"
	"something is (or a FILE could not be read), 2 usage error.\n";

struct repair_progress {
	struct progress p;
	int phase;		/* the phase of the check the line shows */
	uint64_t total;		/* the bytes of the --from FILEs (0: --scan, unknown) */
};

static void check_progress(enum cdt_fsck_phase phase, uint64_t done, uint64_t total,
			   uint64_t bytes, void *data)
{
	struct repair_progress *rp = data;

	show_fsck_progress(&rp->p, "repair", &rp->phase, phase, done, total, bytes);
}

static void scan_progress(const char *what, uint64_t bytes, void *data)
{
	struct repair_progress *rp = data;
	struct strbuf label = STRBUF_INIT;

	strbuf_addf(&label, "repair: reading %s", what);
	if (rp->total)
		progress_show_total(&rp->p, label.buf, bytes, rp->total);
	else
		progress_show_count(&rp->p, label.buf, 0, 0, NULL, bytes);
	strbuf_release(&label);
}

static void restored(const struct cdt_id *id, uint32_t len, const char *what, uint64_t offset,
		     void *data)
{
	char hex[CDT_ID_HEXLEN + 1];

	progress_clear(&((struct repair_progress *)data)->p);
	printf("restored chunk %s (%u bytes) from '%s' at offset %llu\n", cdt_id_to_hex(id, hex),
	       len, quote(what), (unsigned long long)offset);
	fflush(stdout);
}

static void manifest_restored(const struct cdt_id *content, const char *name, const char *what,
			      uint64_t added, void *data)
{
	char hex[CDT_ID_HEXLEN + 1];

	progress_clear(&((struct repair_progress *)data)->p);
	printf("restored manifest %s of '%s' from '%s'", cdt_id_to_hex(content, hex),
	       quote(name), quote(what));
	if (added)
		printf(", with %llu missing chunk%s it lists", (unsigned long long)added,
		       added == 1 ? "" : "s");
	printf("\n");
	fflush(stdout);
}

static void mpack_rewritten(const char *old_name, const char *new_name, void *data)
{
	progress_clear(&((struct repair_progress *)data)->p);
	if (!new_name)
		printf("removed the damaged manifest pack manifests/pack/%s: it held no whole "
		       "manifest that a name uses\n", old_name);
	else if (!strcmp(old_name, new_name))
		printf("wrote the damaged manifest pack manifests/pack/%s again whole\n", old_name);
	else
		printf("wrote the damaged manifest pack manifests/pack/%s again as %s, without its "
		       "damaged manifests\n", old_name, new_name);
	fflush(stdout);
}

static void pack_rewritten(const char *old_name, const char *new_name, uint64_t replaced,
			   uint64_t dropped, void *data)
{
	progress_clear(&((struct repair_progress *)data)->p);
	if (!strcmp(old_name, "multi-pack-index")) {
		printf("rewrote the damaged multi-pack index\n");
		fflush(stdout);
		return;
	}
	if (new_name && !strcmp(old_name, new_name) && strstr(old_name, ".sketch")) {
		printf("wrote the missing or damaged sketch packs/%s again\n", old_name);
		fflush(stdout);
		return;
	}
	if (!new_name) {
		printf("removed pack %s: its index cannot be read, and every chunk a name needs has a good copy\n",
		       old_name);
		fflush(stdout);
		return;
	}
	printf("rewrote damaged pack %s as %s (%llu object%s from good copies, %llu damaged and unneeded dropped)\n",
	       old_name, new_name, (unsigned long long)replaced, replaced == 1 ? "" : "s",
	       (unsigned long long)dropped);
	fflush(stdout);
}

static void pack_reindexed(const char *name, const char *why, void *data)
{
	progress_clear(&((struct repair_progress *)data)->p);
	if (!strcmp(name, "multi-pack-index"))
		printf("rewrote the damaged multi-pack index\n");
	else
		printf("%s: %s\n", name, why);
	fflush(stdout);
}

static void name_restored(const char *name, const char *from, const char *why, void *data)
{
	progress_clear(&((struct repair_progress *)data)->p);
	if (from)
		printf("restored name '%s' from %s\n", quote(name), quote(from));
	else
		printf("name '%s' is damaged; %s: not restored\n", quote(name), why);
	fflush(stdout);
}

struct name_counts {
	uint64_t healthy, damaged;
	uint64_t unchecked;	/* problems that kept part of the store from being checked */
};

static void still_wrong(const struct cdt_fsck_item *it, void *data)
{
	struct name_counts *nc = data;
	struct strbuf sb = STRBUF_INIT;

	if (it->kind == CDT_FSCK_UNCHECKED)
		nc->unchecked++;
	add_fsck_item(&sb, it);
	puts(sb.buf);
	strbuf_release(&sb);
}

static void name_state(const char *name, int damaged, void *data)
{
	struct name_counts *nc = data;

	printf("%s: '%s'\n", damaged ? "still damaged" : "healthy again", quote(name));
	if (damaged)
		nc->damaged++;
	else
		nc->healthy++;
}

int cmd_repair(int argc, char **argv, struct cmd_ctx *ctx)
{
	static const struct option opts[] = {
		{ "from", required_argument, NULL, 'f' },
		{ "scan", required_argument, NULL, 's' },
		{ "jobs", required_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	struct cdt_repair_options opt = { 0 };
	struct cdt_repair_stats st;
	struct repair_progress rp = { { 0 }, -1, 0 };
	struct name_counts nc = { 0, 0, 0 };
	struct cdt_repair *r = NULL;
	const char **files = NULL, **dirs = NULL;
	size_t nfiles = 0, afiles = 0, ndirs = 0, adirs = 0, i;
	uint64_t left;
	int c, failed = 0, ret = EXIT_OK;

	while ((c = getopt_long(argc, argv, ":j:", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			ALLOC_GROW(files, nfiles + 1, afiles);
			files[nfiles++] = optarg;
			break;
		case 's':
			ALLOC_GROW(dirs, ndirs + 1, adirs);
			dirs[ndirs++] = optarg;
			break;
		case 'j':
			if (parse_jobs(ctx, optarg, &opt.jobs) < 0) {
				ret = EXIT_USAGE;
				goto out;
			}
			break;
		default:
			ret = option_error(ctx, c, argv);
			goto out;
		}
	}
	if (optind < argc && !nfiles && !ndirs) {
		ret = usage_error(ctx, "unexpected argument '%s': give files with --from FILE or --scan DIR",
				  quote(argv[optind]));
		goto out;
	}
	if (optind < argc && nfiles && ndirs) {
		ret = usage_error(ctx, "with both --from and --scan, name each FILE and DIR with its option");
		goto out;
	}
	for (; optind < argc; optind++) {
		if (nfiles) {
			ALLOC_GROW(files, nfiles + 1, afiles);
			files[nfiles++] = argv[optind];
		} else {
			ALLOC_GROW(dirs, ndirs + 1, adirs);
			dirs[ndirs++] = argv[optind];
		}
	}

	/* A typo should fail now, not after the whole store has been read. */
	for (i = 0; i < nfiles; i++) {
		struct stat sb;

		if (stat(files[i], &sb) < 0 || access(files[i], R_OK) < 0) {
			error("cannot read '%s': %s", quote(files[i]), cdt_strerror(errno));
			ret = EXIT_FAIL;
		} else if (!S_ISREG(sb.st_mode)) {
			error("cannot repair from '%s': not a regular file (use --scan for a directory)",
			      quote(files[i]));
			ret = EXIT_FAIL;
		} else {
			rp.total += (uint64_t)sb.st_size;
		}
	}
	for (i = 0; i < ndirs; i++) {
		struct stat sb;
		int fd;

		if (stat(dirs[i], &sb) < 0) {
			error("cannot read '%s': %s", quote(dirs[i]), cdt_strerror(errno));
			ret = EXIT_FAIL;
		} else if (!S_ISDIR(sb.st_mode)) {
			error("cannot scan '%s': not a directory", quote(dirs[i]));
			ret = EXIT_FAIL;
		} else if ((fd = open(dirs[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
			/* A scan leaves the store out; of the store itself, nothing would be left. */
			if (cdt_store_holds_dir(ctx->store, fd)) {
				error("cannot scan '%s': it is in the store '%s'", quote(dirs[i]),
				      cdt_store_path(ctx->store));
				ret = EXIT_FAIL;
			}
			close(fd);
		}
	}
	if (ret != EXIT_OK)
		goto out;
	if (cdt_store_lock(ctx->store, CDT_LOCK_EXCLUSIVE) < 0) {
		ret = EXIT_FAIL;
		goto out;
	}
	/* A damaged config whose copy stood in: written again from the copy first. */
	switch (cdt_store_restore_config(ctx->store)) {
	case 0:
		break;
	case 1:
		printf("restored the config from its copy %s\n", CDT_CONFIG_COPY);
		fflush(stdout);
		break;
	default:
		failed = 1;
	}
	cdt_store_keep_config_copy(ctx->store);
	progress_start(&rp.p, 1);
	if (rp.p.enabled) {
		opt.check_progress = check_progress;
		opt.scan_progress = scan_progress;
	}
	opt.restored = restored;
	opt.manifest_restored = manifest_restored;
	opt.pack_rewritten = pack_rewritten;
	opt.mpack_rewritten = mpack_rewritten;
	opt.pack_reindexed = pack_reindexed;
	opt.name_restored = name_restored;
	opt.data = &rp;
	if (cdt_repair_new(ctx->store, &opt, &r) < 0) {
		progress_finish(&rp.p);
		ret = EXIT_FAIL;
		goto out;
	}
	/* The check is done: the rate shown from here on is the files'. */
	progress_restart(&rp.p);
	for (i = 0; i < nfiles && cdt_repair_wanted(r); i++)
		if (cdt_repair_file(r, files[i]) < 0)
			failed = 1;
	for (i = 0; i < ndirs && cdt_repair_wanted(r); i++)
		if (cdt_repair_scan(r, dirs[i]) < 0)
			failed = 1;
	progress_clear(&rp.p);
	if (cdt_repair_packs(r) < 0)
		failed = 1;
	progress_finish(&rp.p);
	left = cdt_repair_finish(r, still_wrong, name_state, &nc);
	cdt_repair_get_stats(r, &st);
	if (!st.damaged && !st.packs_rewritten && !st.manifests_damaged && nc.unchecked)
		printf("no chunk found missing or damaged, but not all of the store could be checked\n");
	else if (!st.damaged && !st.packs_rewritten && !st.manifests_damaged && !st.names_damaged)
		printf("no chunk is missing or damaged: nothing to restore\n");
	else if (!st.damaged && !st.packs_rewritten)
		printf("no chunk was missing or damaged\n");
	else if (!st.damaged)
		printf("no chunk was missing or damaged; %llu damaged pack%s rewritten\n",
		       (unsigned long long)st.packs_rewritten, st.packs_rewritten == 1 ? "" : "s");
	else if (st.good_again)
		printf("restored %llu of %llu missing or damaged chunk%s, %llu more good again with their bases; %llu name%s healthy again, %llu still damaged\n",
		       (unsigned long long)st.restored, (unsigned long long)st.damaged,
		       st.damaged == 1 ? "" : "s", (unsigned long long)st.good_again,
		       (unsigned long long)nc.healthy, nc.healthy == 1 ? "" : "s",
		       (unsigned long long)nc.damaged);
	else
		printf("restored %llu of %llu missing or damaged chunk%s; %llu name%s healthy again, %llu still damaged\n",
		       (unsigned long long)st.restored, (unsigned long long)st.damaged,
		       st.damaged == 1 ? "" : "s", (unsigned long long)nc.healthy,
		       nc.healthy == 1 ? "" : "s", (unsigned long long)nc.damaged);
	if (st.manifests_damaged)
		printf("restored %llu of %llu missing or damaged manifest%s\n",
		       (unsigned long long)st.manifests_restored,
		       (unsigned long long)st.manifests_damaged, st.manifests_damaged == 1 ? "" : "s");
	if (st.names_damaged)
		printf("restored %llu of %llu damaged name entr%s\n",
		       (unsigned long long)st.names_restored, (unsigned long long)st.names_damaged,
		       st.names_damaged == 1 ? "y" : "ies");
	if (st.files || st.skipped) {
		char a[32];

		printf("read %llu file%s (%s) in %.2f s (%.0f MB/s); %llu skipped unread\n",
		       (unsigned long long)st.files, st.files == 1 ? "" : "s",
		       human_size(st.bytes, a, sizeof(a)), st.scan_seconds,
		       mb_per_s(st.bytes, st.scan_seconds),
		       (unsigned long long)st.skipped);
	}
	if (left || failed || st.failed)
		ret = EXIT_FAIL;
out:
	cdt_repair_free(r);
	free(files);
	free(dirs);
	return ret;
}
