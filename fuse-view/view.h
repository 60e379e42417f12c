/* view.h: the read-only FUSE view of a store, as started by cdt mount (mounted by mount.c). */
#ifndef CDT_VIEW_H
#define CDT_VIEW_H

#include <stdint.h>
#include "format/store.h"
#include "base/strbuf.h"

/*
 * The view's subtype: it is mounted as "fuse.cdt", which is how cdt mount
 * and cdt umount recognise a view in the mount table.
 */
#define CDT_VIEW_SUBTYPE "cdt"

struct cdt_view_options {
	const char *mountpoint;
	int foreground;		/* stay attached, messages on stderr */
	uint64_t cache_size;	/* bytes of inflated chunks kept */
	uint64_t readahead;	/* bytes read ahead of a sequential reader */
	double refresh;		/* seconds between checks for changed names */
	double remote_refresh;	/* a remote store: seconds between fetches of its lists (0: never) */
	int loaders;		/* threads reading and checking chunks */
	const char *log;	/* append messages here (else syslog when detached) */
	const char *fuse_opts;	/* other -o options, comma-separated, for libfuse */
	int debug;		/* libfuse debug output (implies foreground) */
};

/*
 * Mount the store read-only and serve it until unmounted or signalled.
 * Unless opt->foreground, returns in the parent once the mount is up (the
 * server continues in a detached child). Errors before the mount is up are
 * reported on stderr. Returns 0, or -1 after reporting.
 */
int cdt_view_mount(struct cdt_store *s, const struct cdt_view_options *opt);

#endif
