/* cdt.c: the command table and dispatcher: global options, help, store set-up, exit status. */
#include "cmd/cmd.h"
#include "base/compress.h"
#include "base/fsutil.h"
#include "ops/remote.h"
#include "base/strbuf.h"
#include "base/util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#ifndef CDT_VERSION
#define CDT_VERSION "unknown"
#endif

#define NEED_STORE 1
#define OWN_SIGNALS 2
/* The store is opened even with a damaged config (for fsck to report). */
#define SALVAGE_STORE 4
/* Shows a progress line: takes --progress and --no-progress. */
#define SHOWS_PROGRESS 8
/* Only reads the store: works on a store given by URL (read through a cache). */
#define READS_REMOTE 16

/* Without FUSE, cdt mount only says so, store or no store. */
#ifdef CDT_HAVE_FUSE
#define MOUNT_FLAGS (NEED_STORE | OWN_SIGNALS | READS_REMOTE)
#else
#define MOUNT_FLAGS OWN_SIGNALS
#endif

struct command {
	const char *name;
	cmd_fn fn;
	unsigned flags;
	const char *usage;
	const char *summary;
};

/* Alphabetical. */
static const struct command commands[] = {
	{ "add", cmd_add, NEED_STORE | SHOWS_PROGRESS, usage_add, "store files (deduplicated and compressed)" },
	{ "cat", cmd_cat, NEED_STORE | READS_REMOTE | SHOWS_PROGRESS, usage_cat, "restore stored files, checking every chunk" },
	{ "diff", cmd_diff, NEED_STORE | READS_REMOTE, usage_diff, "show the names added, removed and changed between two prefixes" },
	{ "fsck", cmd_fsck, NEED_STORE | SALVAGE_STORE | READS_REMOTE | SHOWS_PROGRESS, usage_fsck, "check the whole store and say what is damaged" },
	{ "gc", cmd_gc, NEED_STORE | SHOWS_PROGRESS, usage_gc, "delete what no stored name needs" },
	{ "hash", cmd_hash, NEED_STORE | READS_REMOTE, usage_hash, "print the content id the store gives local files" },
	{ "init", cmd_init, 0, usage_init, "create a store" },
	{ "ls", cmd_ls, NEED_STORE | READS_REMOTE, usage_ls, "list stored names" },
	{ "mount", cmd_mount, MOUNT_FLAGS, usage_mount, "browse the store as a read-only file system" },
	{ "pull", cmd_pull, NEED_STORE | READS_REMOTE, usage_pull, "copy names and what they need from another store" },
	{ "push", cmd_push, NEED_STORE | READS_REMOTE, usage_push, "copy names and what they need into another store" },
	{ "repair", cmd_repair, NEED_STORE | SHOWS_PROGRESS, usage_repair, "heal damaged chunks and manifests from local files holding the same data" },
	{ "restore", cmd_restore, NEED_STORE | READS_REMOTE | SHOWS_PROGRESS, usage_restore, "write the names under a prefix back into a directory" },
	{ "rm", cmd_rm, NEED_STORE, usage_rm, "remove stored names" },
	{ "stats", cmd_stats, NEED_STORE, usage_stats, "show what the store holds" },
	{ "umount", cmd_umount, 0, usage_umount, "unmount a view made by cdt mount" },
	{ "verify", cmd_verify, NEED_STORE | READS_REMOTE | SHOWS_PROGRESS, usage_verify, "read stored files as cat would and report damage" },
};

static const char main_usage[] =
	"usage: cdt [--store DIR|URL] [--cache DIR] [--cache-size SIZE] [--seed PATH]... COMMAND [ARGS...]\n"
	"       cdt help COMMAND | cdt --version\n";

static void print_main_help(FILE *f)
{
	size_t i;

	fputs(main_usage, f);
	fputs("\ncommands:\n", f);
	for (i = 0; i < ARRAY_SIZE(commands); i++)
		fprintf(f, "   %-8s %s\n", commands[i].name, commands[i].summary);
	fputs("\nThe store is --store DIR, else $CDT_STORE, else a .cdt directory in the\n"
	      "current directory or above. A store given as an http:// or https:// URL\n"
	      "is read through a local cache (--cache DIR, else ~/.cache/cdt) kept\n"
	      "within --cache-size SIZE (else a tenth of its file system's room, at\n"
	      "least 1G), and --seed FILE|STORE names local data holding some of its\n"
	      "chunks.\n"
	      "'cdt COMMAND -h' shows a command's options; 'man cdt-COMMAND' documents it.\n", f);
}

static const struct command *find_command(const char *name)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(commands); i++)
		if (!strcmp(commands[i].name, name))
			return &commands[i];
	return NULL;
}

/*
 * Take --store out of argv wherever it appears before "--", so that every
 * command accepts it in the same way. Returns the value or NULL.
 */
static const char *extract_store(int *argc, char **argv, int *bad)
{
	const char *store = NULL;
	int i, j;

	for (i = 1, j = 1; i < *argc; i++) {
		if (!strcmp(argv[i], "--")) {
			while (i < *argc)
				argv[j++] = argv[i++];
			break;
		}
		if (!strcmp(argv[i], "--store")) {
			if (i + 1 >= *argc) {
				*bad = 1;
				break;
			}
			store = argv[++i];
			continue;
		}
		if (!strncmp(argv[i], "--store=", 8)) {
			store = argv[i] + 8;
			continue;
		}
		if (!strcmp(argv[i], "--cache")) {
			if (i + 1 >= *argc) {
				*bad = 2;
				break;
			}
			remote_cache_dir = argv[++i];
			continue;
		}
		if (!strncmp(argv[i], "--cache=", 8)) {
			remote_cache_dir = argv[i] + 8;
			continue;
		}
		if (!strcmp(argv[i], "--cache-size") || !strncmp(argv[i], "--cache-size=", 13)) {
			const char *v = argv[i][12] == '=' ? argv[i] + 13 : NULL;

			if (!v && i + 1 >= *argc) {
				*bad = 4;
				break;
			}
			if (!v)
				v = argv[++i];
			if (parse_size(v, &remote_cache_size) < 0 ||
			    remote_cache_size == CDT_CACHE_SIZE_DEFAULT) {
				error("invalid --cache-size '%s' (a size such as 512M or 10G)", v);
				*bad = 5;
				break;
			}
			continue;
		}
		if (!strcmp(argv[i], "--seed") || !strncmp(argv[i], "--seed=", 7)) {
			static size_t alloc;

			if (argv[i][6] != '=' && i + 1 >= *argc) {
				*bad = 3;
				break;
			}
			ALLOC_GROW(remote_seeds, remote_nseeds + 1, alloc);
			remote_seeds[remote_nseeds++] = argv[i][6] == '=' ? argv[i] + 7 : argv[++i];
			continue;
		}
		argv[j++] = argv[i];
	}
	argv[j] = NULL;
	*argc = j;
	return store;
}

/*
 * Take --progress and --no-progress (the last one given wins) out of the
 * arguments of a command that shows progress, before "--", as --store is.
 */
static void extract_progress(int *argc, char **argv)
{
	int i, j;

	for (i = 1, j = 1; i < *argc; i++) {
		if (!strcmp(argv[i], "--")) {
			while (i < *argc)
				argv[j++] = argv[i++];
			break;
		}
		if (!strcmp(argv[i], "--progress"))
			progress_choose(PROGRESS_ALWAYS);
		else if (!strcmp(argv[i], "--no-progress"))
			progress_choose(PROGRESS_NEVER);
		else
			argv[j++] = argv[i];
	}
	argv[j] = NULL;
	*argc = j;
}

static int wants_help(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--"))
			return 0;
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
			return 1;
	}
	return 0;
}

/* Flush stdout and check it: a full disk under `cdt cat > file` is an error. */
static int close_stdout(void)
{
	if (fflush(stdout) != 0 || ferror(stdout)) {
		if (errno == EPIPE)
			return EXIT_FAIL;
		error("cannot write to standard output: %s", cdt_strerror(errno));
		return EXIT_FAIL;
	}
	if (fclose(stdout) != 0 && errno != EBADF) {
		error("cannot write to standard output: %s", cdt_strerror(errno));
		return EXIT_FAIL;
	}
	return EXIT_OK;
}

static int run_command(const struct command *cmd, int argc, char **argv, const char *store_path)
{
	struct cmd_ctx ctx = { NULL, store_path, cmd->usage };
	struct strbuf path = STRBUF_INIT;
	int ret;

	if (cmd->flags & SHOWS_PROGRESS)
		extract_progress(&argc, argv);
	if (wants_help(argc, argv)) {
		fputs(cmd->usage, stdout);
		return close_stdout();
	}
	/* The FUSE view handles its own signals (it must unmount on them). */
	if (!(cmd->flags & OWN_SIGNALS))
		tmpfile_install_signal_handlers();
	if (cmd->flags & NEED_STORE) {
		if (cdt_store_find(store_path, &path) < 0) {
			error("no cdt store found: use --store DIR, set CDT_STORE, or run 'cdt init'");
			strbuf_release(&path);
			return EXIT_FAIL;
		}
		if (cdt_remote_is_url(path.buf) && !(cmd->flags & READS_REMOTE)) {
			error("cannot %s '%s': a store given by URL is written only by push and "
			      "pull (ls, cat, verify, fsck, restore, diff, hash and mount read one)",
			      cmd->name, path.buf);
			strbuf_release(&path);
			return EXIT_FAIL;
		}
		if (cdt_remote_is_url(path.buf) ?
		    open_store_at(path.buf, 0, cmd->name, &ctx.store) < 0 :
		    cmd->flags & SALVAGE_STORE ?
		    cdt_store_open_salvage(path.buf, &ctx.store) < 0 :
		    cdt_store_open(path.buf, &ctx.store) < 0) {
			strbuf_release(&path);
			return EXIT_FAIL;
		}
		strbuf_release(&path);
	}
	ret = cmd->fn(argc, argv, &ctx);
	cdt_store_close(ctx.store);
	if (close_stdout() != EXIT_OK && ret == EXIT_OK)
		ret = EXIT_FAIL;
	return ret;
}

/*
 * Started with standard input, output or error closed, cdt would open the
 * store's files as descriptors 0 to 2: a message meant for stderr could
 * then land in a pack being written, and standard input read a store
 * file. Each closed one is taken by /dev/null opened the other way round
 * (stdin for writing, stdout and stderr for reading), so that using it
 * still fails (EBADF) as a closed one does, while no file can take its
 * place.
 */
static void keep_std_fds_taken(void)
{
	int fd;

	for (fd = 0; fd <= 2; fd++) {
		int got;

		if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
			continue;
		got = open("/dev/null", (fd ? O_RDONLY : O_WRONLY) | O_NOCTTY);
		if (got != fd) {
			/* No /dev/null: nothing safe to run on. */
			if (got >= 0)
				close(got);
			_exit(EXIT_FAIL);
		}
	}
}

int main(int argc, char **argv)
{
	const struct command *cmd;
	const char *store_path;
	int bad = 0;

	opterr = 0;	/* commands report bad options themselves */
	keep_std_fds_taken();
	raise_open_files_limit();
	/*
	 * Past a limit of file size (ulimit -f) a write fails with EFBIG,
	 * reported and cleaned up like any failed write, instead of killing
	 * cdt with its temporary files left behind.
	 */
	signal(SIGXFSZ, SIG_IGN);
	store_path = extract_store(&argc, argv, &bad);
	if (bad) {
		if (bad != 5)
			error(bad == 4 ? "--cache-size needs a size" :
			      bad == 3 ? "--seed needs a file or a store" :
			      bad == 2 ? "--cache needs a directory" : "--store needs a directory");
		fputs(main_usage, stderr);
		return EXIT_USAGE;
	}
	if (argc < 2) {
		print_main_help(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		print_main_help(stdout);
		return close_stdout();
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
		printf("cdt version %s (deflate: %s, zstd %s)\n", CDT_VERSION, cdt_deflate_backend(),
		       cdt_zstd_version());
		return close_stdout();
	}
	if (!strcmp(argv[1], "help")) {
		if (argc < 3) {
			print_main_help(stdout);
			return close_stdout();
		}
		cmd = find_command(argv[2]);
		if (!cmd) {
			error("'%s' is not a cdt command (see 'cdt help')", argv[2]);
			return EXIT_USAGE;
		}
		fputs(cmd->usage, stdout);
		printf("\nSee 'man cdt-%s' for the full description.\n", cmd->name);
		return close_stdout();
	}
	if (argv[1][0] == '-') {
		error("unknown option '%s'", argv[1]);
		fputs(main_usage, stderr);
		return EXIT_USAGE;
	}
	cmd = find_command(argv[1]);
	if (!cmd) {
		error("'%s' is not a cdt command (see 'cdt help')", argv[1]);
		return EXIT_USAGE;
	}
	return run_command(cmd, argc - 1, argv + 1, store_path);
}
