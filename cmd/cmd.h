/* cmd.h: what every subcommand shares: the command table's types, exit codes, and the helpers of cmd/common.c.
 *
 * Adding a command:
 *  1. cmd/<name>.c with cmd_<name>() and a usage string (first line is the
 *     synopsis; it must match the man page's SYNOPSIS, which a test checks);
 *  2. a line in the table in cdt.c (alphabetical), with NEED_STORE if it works
 *     on a store;
 *  3. the file in CMD_SOURCES in the Makefile;
 *  4. Documentation/cdt-<name>.1, a case in contrib/completion/cdt.bash, and
 *     tests in t/.
 * What two commands would otherwise both write (reporting a bad option,
 * reading a name, the progress line) goes in cmd/common.c, declared below;
 * cdt.c is only the table and the dispatcher.
 */
#ifndef CDT_CMD_H
#define CDT_CMD_H

#include <getopt.h>
#include <stdint.h>
#include "format/store.h"

/* The exit-code scheme of every command (documented in cdt(1)). */
#define EXIT_OK 0
#define EXIT_FAIL 1
#define EXIT_USAGE 2
/* add: done, but some inputs were skipped, each reported; the rest is stored. */
#define EXIT_SKIPPED 3

/* Set up by the dispatcher for commands that need a store. */
struct cmd_ctx {
	struct cdt_store *store;	/* NULL unless the command needs one */
	const char *store_path;		/* --store, if given */
	const char *usage;		/* the running command's usage text */
};

typedef int (*cmd_fn)(int argc, char **argv, struct cmd_ctx *ctx);

int cmd_add(int argc, char **argv, struct cmd_ctx *ctx);
int cmd_cat(int argc, char **argv, struct cmd_ctx *ctx);
int cmd_diff(int argc, char **argv, struct cmd_ctx *ctx);
int cmd_fsck(int argc, char **argv, struct cmd_ctx *ctx);
int cmd_gc(int argc, char **argv, struct cmd_ctx *ctx);
int cmd_hash(int argc, char **argv, struct cmd_ctx *ctx);
int cmd_init(int argc, char **argv, struct cmd_ctx *ctx);
int cmd_ls(int argc, char **argv, struct cmd_ctx *ctx);
int cmd_mount(int argc, char **argv, struct cmd_ctx *ctx);
int cmd_pull(int argc, char **argv, struct cmd_ctx *ctx);
int cmd_push(int argc, char **argv, struct cmd_ctx *ctx);
int cmd_repair(int argc, char **argv, struct cmd_ctx *ctx);
int cmd_restore(int argc, char **argv, struct cmd_ctx *ctx);
int cmd_rm(int argc, char **argv, struct cmd_ctx *ctx);
int cmd_stats(int argc, char **argv, struct cmd_ctx *ctx);
int cmd_umount(int argc, char **argv, struct cmd_ctx *ctx);
int cmd_verify(int argc, char **argv, struct cmd_ctx *ctx);

extern const char usage_add[];
extern const char usage_cat[];
extern const char usage_diff[];
extern const char usage_fsck[];
extern const char usage_gc[];
extern const char usage_hash[];
extern const char usage_init[];
extern const char usage_ls[];
extern const char usage_mount[];
extern const char usage_pull[];
extern const char usage_push[];
extern const char usage_repair[];
extern const char usage_restore[];
extern const char usage_rm[];
extern const char usage_stats[];
extern const char usage_umount[];
extern const char usage_verify[];

/* cmd/common.c */

/* Print "error: MSG" and the command's synopsis to stderr; returns EXIT_USAGE. */
int usage_error(struct cmd_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Report a getopt_long failure (c is '?' or ':'; optstrings start with ':')
 * as a usage error naming the option.
 */
int option_error(struct cmd_ctx *ctx, int c, char **argv);

/* Parse a -j value (1..1024). 0 or -1 (reported as a usage error). */
int parse_jobs(struct cmd_ctx *ctx, const char *arg, int *out);

/*
 * The progress line: one line on stderr, rewritten in place, shown only
 * when the command wants it and stderr is a terminal, unless --progress
 * or --no-progress decided otherwise. Anything else a command prints while
 * the line may be up is preceded by progress_clear(), so that no message
 * starts in the middle of it.
 *
 * Figures look the same from every command: progress_show_total() for
 * work whose size is known up front ("LABEL  45%  1.2 GiB of 2.7 GiB
 * 310 MB/s  ETA 0:05"), progress_show_count() for items counted as they
 * are found ("LABEL  1234/13000 files  210.0 MiB  95 MB/s"). Both show at
 * most ten lines a second, so they may be called as often as convenient.
 *
 * How add uses them: progress_start(&p, !quiet) before the first file,
 * and then from the ingest progress callback (lib/ops/ingest.h, `done`
 * bytes of the current file):
 *  - one big file: progress_show_total(&p, name, done, st.st_size), the
 *    size from the fstat() of the open file;
 *  - a tree: progress_show_count(&p, "add", files_done, files_found,
 *    "files", bytes_before + done), files_found growing while the walk
 *    goes on (0 while nothing is counted yet);
 * progress_clear() before each per-file line, progress_finish() at the end.
 */
struct progress {
	int enabled;		/* lines are shown at all */
	int shown;		/* a line is up: clear it before other output */
	int columns;		/* the terminal's width (0: unknown, no limit) */
	double start;		/* when the work measured began (set either way) */
	double stage;		/* when the stage that rates and ETAs measure began */
	double last;		/* when a line was last shown */
};

/* --progress and --no-progress, as the dispatcher found them. */
enum progress_choice {
	PROGRESS_AUTO,		/* shown if the command wants it and stderr is a terminal */
	PROGRESS_ALWAYS,	/* --progress: shown, terminal or not, even with -q */
	PROGRESS_NEVER,		/* --no-progress */
};
void progress_choose(enum progress_choice choice);

/* The --help lines of --progress and --no-progress, for commands that show progress. */
#define PROGRESS_HELP \
	"    --progress         show the progress line even if stderr is not a terminal\n" \
	"    --no-progress      never show it\n"

/*
 * Start the clock; lines will be shown if `wanted` and stderr is a
 * terminal (unless --progress or --no-progress said otherwise).
 */
void progress_start(struct progress *p, int wanted);

/* Clear the line and start the clock again, for the next stage of the work. */
void progress_restart(struct progress *p);

/*
 * Measure rates and ETAs anew from now, for a new stage of the work
 * (progress_seconds() keeps counting from the start).
 */
void progress_stage(struct progress *p);

/*
 * Does a line shown now come at least `interval` seconds after the last?
 * 0 when lines are not shown at all.
 */
int progress_due(const struct progress *p, double interval);

/* Replace the line with the formatted text (nothing if not enabled). */
void progress_show(struct progress *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * "LABEL  45%  1.2 GiB of 2.7 GiB  310 MB/s  ETA 0:05": `done` bytes of
 * `total` known up front, the rate since progress_stage() (or the start),
 * the rate and ETA only after the first second. A label too long for the
 * terminal loses its beginning, not the figures.
 */
void progress_show_total(struct progress *p, const char *label, uint64_t done, uint64_t total);

/*
 * "LABEL  1234/13000 files  210.0 MiB  95 MB/s": `done` items (`unit`,
 * e.g. "files") of `found` so far ("1234 files" while found is 0), and the
 * bytes they hold; with `unit` NULL, only the bytes and the rate.
 */
void progress_show_count(struct progress *p, const char *label, uint64_t done, uint64_t found,
			 const char *unit, uint64_t bytes);

/* Take the line away, if one is up. */
void progress_clear(struct progress *p);

/* Clear the line for good: progress_show() shows nothing after this. */
void progress_finish(struct progress *p);

/* Seconds since progress_start() or progress_restart(). */
double progress_seconds(const struct progress *p);

/* MB/s (10^6 bytes a second) for `bytes` in `seconds`; 0 for no time. */
double mb_per_s(uint64_t bytes, double seconds);

struct cdt_name_entry;
/*
 * Read the entry of stored name `name` into *e, reporting a bad name, a
 * missing one (with a hint when it is a directory of names) or a damaged
 * entry in one line. 0 or -1.
 */
int read_name(struct cdt_store *s, const char *name, struct cdt_name_entry *e);

/*
 * Look up every name in argv (as read_name() does, reporting each that is
 * bad, missing or damaged), so that a typo fails before any work. 0 or -1.
 */
int read_names(struct cdt_store *s, int argc, char **argv);

/* Drop the trailing '/'s of a prefix as given ("dir/" is "dir"), keeping a lone '/'. */
void trim_slashes(struct strbuf *sb);

/*
 * The progress line of fsck's check (also repair's first step): "COMMAND:
 * PHASE  45%  1.2 GiB of 2.7 GiB  310 MB/s  ETA 0:05" while chunk data
 * is read (its bytes known up front), "COMMAND: PHASE  1234/5678" or
 * "COMMAND: PHASE  1234" while things are counted. Rates and ETAs start
 * again with each phase (*last_phase, -1 at first, is the one shown last).
 */
void show_fsck_progress(struct progress *p, const char *command, int *last_phase, int phase,
			uint64_t done, uint64_t total, uint64_t bytes);

struct cdt_fsck_item;
/*
 * Append fsck's line for a problem or garbage item, "KIND OBJECT: DETAIL",
 * and for a problem that affects names "; affects 'a', 'b'": one wording
 * for fsck and repair.
 */
void add_fsck_item(struct strbuf *sb, const struct cdt_fsck_item *it);

/*
 * Is `path` the mount point of a view made by cdt mount (the one on top,
 * if mounts are stacked there)? Resolves `path` into *resolved (a dead
 * view's mount point too) and, for a view, puts the store it shows in
 * *store (may be NULL). 1, 0, or -1 after reporting ("cannot VERB 'path':
 * why" when `path` cannot be resolved).
 */
int find_view(const char *path, const char *verb, struct strbuf *resolved, struct strbuf *store);

/* --cache DIR (global): where stores read from a URL are cached; NULL: the default. */
extern const char *remote_cache_dir;
/* --cache-size SIZE (global): its bound; CDT_CACHE_SIZE_DEFAULT (ops/cache-trim.h): the default. */
extern uint64_t remote_cache_size;
/* --seed PATH (global, repeatable): local files and stores read before a remote store. */
extern const char **remote_seeds;
extern size_t remote_nseeds;
/*
 * Open the store at `where`: a directory, or a URL (http://, https://,
 * s3://) read through the cache (ops/remote.h). An http(s) URL is refused
 * (one line, naming `verb`) when `writes`, since such a store is
 * read-only; an s3:// one is written through cdt_remote_publish().
 * 0 or -1 (reported).
 */
int open_store_at(const char *where, int writes, const char *verb, struct cdt_store **out);

#endif
