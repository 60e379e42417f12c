/* mount.c: mounting the FUSE view, its libfuse options, the refresh thread and logging. */
#define FUSE_USE_VERSION 31

#include "view.h"
#include "ops.h"
#include "cache.h"
#include "tree.h"
#include "ops/chunks.h"
#include "ops/packset.h"
#include "ops/remote.h"
#include "base/util.h"

#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

/* The view the handlers share, and the refresh thread beside them. */
struct server {
	struct view v;
	const struct cdt_view_options *opt;
	pthread_mutex_t stop_lock;
	pthread_cond_t stop_cond;
	int stop;
	pthread_t refresher;
	int have_refresher;
	struct fuse *fuse;
};

/* Messages once detached: to the -o log file, else to syslog. */
static int log_fd = -1;

static void log_line(const char *prefix, const char *msg)
{
	char when[32], line[4608];
	struct tm tm;
	time_t now = time(NULL);
	int n;

	if (log_fd < 0) {
		syslog(!strcmp(prefix, "warning: ") ? LOG_WARNING : LOG_ERR, "%s%s", prefix, msg);
		return;
	}
	if (!localtime_r(&now, &tm) || !strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm))
		when[0] = '\0';
	n = snprintf(line, sizeof(line), "%s cdt mount[%d]: %s%s\n", when, (int)getpid(), prefix, msg);
	if (n > (int)sizeof(line) - 1)
		n = (int)sizeof(line) - 1;
	/* One write per line: O_APPEND keeps lines from threads whole. */
	if (n > 0 && write(log_fd, line, (size_t)n) < 0) {
		/* Nowhere left to say it. */
	}
}

static void log_report(const char *prefix, const char *fmt, va_list ap)
{
	char msg[4096];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	log_line(prefix, msg);
}

static void fuse_log_report(enum fuse_log_level level, const char *fmt, va_list ap)
{
	char msg[4096];
	size_t len;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	len = strlen(msg);
	while (len && msg[len - 1] == '\n')
		msg[--len] = '\0';
	if (level <= FUSE_LOG_WARNING)
		log_line(level <= FUSE_LOG_ERR ? "error: " : "warning: ", msg);
}

/*
 * The kernel keeps a file's attributes (its size among them: reads stop
 * there) and pages for up to a refresh interval: for a name that now
 * holds other content, they are dropped once the new tree is shown.
 * (-ENOENT: the kernel never looked the name up.)
 */
static void forget_changed(struct server *srv, const struct view_tree *t)
{
	size_t i;

	for (i = 0; i < t->nchanged; i++)
		fuse_invalidate_path(srv->fuse, t->changed[i]);
}

static double seconds_now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/*
 * A remote store's cache brought up to date with the server once
 * opt->remote_refresh seconds have passed since the last time (the names
 * it changes are then found changed as a local store's are). A failure is
 * a warning (said by cdt_remote_refresh()): the view goes on showing what
 * it showed, and tries again after the same interval.
 */
static void refresh_remote(struct server *srv, double *last, int *failed)
{
	struct view *v = &srv->v;
	double now = seconds_now();
	int ret, was;

	if (!cdt_store_remote_url(v->store) || !(srv->opt->remote_refresh > 0) ||
	    now - *last < srv->opt->remote_refresh)
		return;
	*last = now;
	was = cdt_errors_as_warnings(1);
	ret = cdt_remote_refresh(v->store);
	cdt_errors_as_warnings(was);
	if (ret < 0) {
		*failed = 1;
	} else if (*failed) {
		warning("the names of store '%s' can be fetched again", cdt_store_remote_url(v->store));
		*failed = 0;
	}
}

/*
 * Every opt->refresh seconds, rebuild the tree if names/ has changed
 * (for a remote store, once its cache has been refreshed, now and then).
 */
static void *refresher(void *arg)
{
	struct server *srv = arg;
	struct view *v = &srv->v;
	double every = srv->opt->refresh, remote_last = seconds_now();
	struct timespec when;
	int failed = 0, remote_failed = 0;

	pthread_mutex_lock(&srv->stop_lock);
	while (!srv->stop) {
		struct view_tree *t, *fresh;
		int stale;

		clock_gettime(CLOCK_MONOTONIC, &when);
		when.tv_sec += (time_t)every;
		when.tv_nsec += (long)((every - (double)(time_t)every) * 1e9);
		if (when.tv_nsec >= 1000000000L) {
			when.tv_sec++;
			when.tv_nsec -= 1000000000L;
		}
		while (!srv->stop &&
		       pthread_cond_timedwait(&srv->stop_cond, &srv->stop_lock, &when) != ETIMEDOUT)
			;
		if (srv->stop)
			break;
		pthread_mutex_unlock(&srv->stop_lock);

		refresh_remote(srv, &remote_last, &remote_failed);
		t = view_tree_get(&v->tree);
		stale = view_tree_stale(v->store, t);
		if (stale) {
			int ret = view_tree_build(v->store, t, &fresh);

			if (ret < 0) {
				if (!failed++)
					error("cannot list the names of store '%s': %s",
					      quote(cdt_store_path(v->store)), cdt_strerror(ret));
			} else {
				if (failed)
					warning("names of store '%s' can be listed again",
						quote(cdt_store_path(v->store)));
				failed = 0;
				view_current_set(&v->tree, fresh);
				forget_changed(srv, fresh);
			}
		}
		view_tree_put(&v->tree, t);
		pthread_mutex_lock(&srv->stop_lock);
	}
	pthread_mutex_unlock(&srv->stop_lock);
	cdt_hash_thread_cleanup();
	return NULL;
}

/* Quote a value for a libfuse -o list: ',' and '\' need a backslash. */
static void add_opt_value(struct strbuf *sb, const char *s)
{
	for (; *s; s++) {
		if (*s == ',' || *s == '\\')
			strbuf_addch(sb, '\\');
		strbuf_addch(sb, *s);
	}
}

static int start_threads(struct server *srv)
{
	const struct cdt_view_options *opt = srv->opt;
	int ret;

	srv->v.cache = chunk_cache_new(srv->v.store, opt->cache_size, opt->loaders, opt->readahead);
	if (opt->refresh > 0) {
		ret = pthread_create(&srv->refresher, NULL, refresher, srv);
		if (ret)
			return error("cannot start a thread: %s", cdt_strerror(ret));
		srv->have_refresher = 1;
	}
	return 0;
}

static void stop_threads(struct server *srv)
{
	if (srv->have_refresher) {
		pthread_mutex_lock(&srv->stop_lock);
		srv->stop = 1;
		pthread_cond_signal(&srv->stop_cond);
		pthread_mutex_unlock(&srv->stop_lock);
		pthread_join(srv->refresher, NULL);
		srv->have_refresher = 0;
	}
	chunk_cache_free(srv->v.cache);
	srv->v.cache = NULL;
}

int cdt_view_mount(struct cdt_store *s, const struct cdt_view_options *opt)
{
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct strbuf opts = STRBUF_INIT;
	struct server srv;
	struct view_tree *tree;
	struct fuse *f = NULL;
	pthread_condattr_t ca;
	char *real, *mnt = NULL;
	int ret = -1, mounted = 0, fg = opt->foreground || opt->debug;

	memset(&srv, 0, sizeof(srv));
	srv.opt = opt;
	srv.v.store = s;
	srv.v.refresh = opt->refresh;
	srv.v.uid = getuid();
	srv.v.gid = getgid();
	view_current_init(&srv.v.tree);
	view_ops_init(&srv.v);
	pthread_mutex_init(&srv.stop_lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&srv.stop_cond, &ca);
	pthread_condattr_destroy(&ca);

	if (opt->log) {
		log_fd = open(opt->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (log_fd < 0) {
			error("cannot open log file '%s': %s", quote(opt->log), cdt_strerror(errno));
			goto out;
		}
	}
	ret = view_tree_build(s, NULL, &tree);
	if (ret < 0) {
		error("cannot list the names of store '%s': %s", quote(cdt_store_path(s)), cdt_strerror(ret));
		ret = -1;
		goto out;
	}
	view_current_set(&srv.v.tree, tree);
	ret = -1;

	/* Read-only, with the kernel checking permissions against the stored modes. */
	strbuf_addstr(&opts, "ro,default_permissions,subtype=" CDT_VIEW_SUBTYPE ",fsname=");
	real = realpath(cdt_store_path(s), NULL);
	add_opt_value(&opts, real ? real : cdt_store_path(s));
	free(real);
	if (opt->fuse_opts && *opt->fuse_opts) {
		strbuf_addch(&opts, ',');
		strbuf_addstr(&opts, opt->fuse_opts);
	}
	if (fuse_opt_add_arg(&args, "cdt") || fuse_opt_add_arg(&args, "-o") ||
	    fuse_opt_add_arg(&args, opts.buf) || (opt->debug && fuse_opt_add_arg(&args, "-d"))) {
		error("out of memory");
		goto out;
	}
	f = srv.fuse = fuse_new(&args, &view_ops, sizeof(view_ops), &srv.v);
	if (!f) {
		/* libfuse has said which option it did not take. */
		error("cannot set up the file system on '%s'", quote(opt->mountpoint));
		goto out;
	}
	/* libfuse unmounts by this path after fuse_daemonize() has changed to "/". */
	mnt = realpath(opt->mountpoint, NULL);
	if (!mnt) {
		error("cannot mount on '%s': %s", quote(opt->mountpoint), cdt_strerror(errno));
		goto out;
	}
	if (fuse_mount(f, mnt)) {
		error("cannot mount on '%s'", quote(opt->mountpoint));
		goto out;
	}
	mounted = 1;
	if (fuse_daemonize(fg)) {
		error("cannot detach from the terminal");
		goto out;
	}
	/* Threads only now: the detached server is a child of a fork. */
	if (log_fd >= 0 || !fg) {
		if (log_fd < 0)
			openlog("cdt-mount", LOG_PID, LOG_DAEMON);
		set_report_routine(log_report);
		fuse_set_log_func(fuse_log_report);
	}
	if (start_threads(&srv) < 0)
		goto out;
	if (fuse_set_signal_handlers(fuse_get_session(f))) {
		error("cannot set up signal handlers");
		goto out;
	}
	/* 0 when unmounted, the signal number when stopped by one, else an error. */
	ret = fuse_loop_mt(f, 0) < 0 ? -1 : 0;
	fuse_remove_signal_handlers(fuse_get_session(f));
out:
	if (mounted)
		fuse_unmount(f);
	stop_threads(&srv);
	if (f)
		fuse_destroy(f);
	fuse_opt_free_args(&args);
	strbuf_release(&opts);
	free(mnt);
	view_ops_release(&srv.v);
	view_current_release(&srv.v.tree);
	pthread_mutex_destroy(&srv.stop_lock);
	pthread_cond_destroy(&srv.stop_cond);
	if (log_fd >= 0) {
		set_report_routine(NULL);
		close(log_fd);
		log_fd = -1;
	}
	return ret;
}
