/* push.c: copying names and what they need from one store to another (cdt push, cdt pull). */
#include "ops/push.h"
#include "ops/chunks.h"
#include "ops/ingest.h"
#include "ops/restore.h"
#include "format/config.h"
#include "format/info.h"
#include "format/manifest.h"
#include "base/hash.h"
#include "base/idset.h"
#include "base/util.h"
#include "base/testpoint.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct push {
	struct cdt_store *src, *dst;
	const struct cdt_push_options *opt;
	struct cdt_push_result *res;
	struct cdt_ingest *ing;
	struct cdt_restore *reader;
	uint64_t seen;		/* names the walk gave */
	struct cdt_idset counted;	/* -n: the contents counted to copy, each once */
	struct cdt_chunk_reader *dst_reader;	/* -n: what the destination holds */
	unsigned char *dst_buf;
};

/* The restore of one content into a pipe, beside the ingest reading it. */
struct feeder {
	struct cdt_restore *r;
	const struct cdt_name_entry *e;
	int fd;
	int ret;
};

static void *feed(void *data)
{
	struct feeder *f = data;

	/* Set before the reader sees the end of the bytes. */
	__atomic_store_n(&f->ret, cdt_restore_fd(f->r, f->e, f->fd, f->e->name, 0), __ATOMIC_RELEASE);
	close(f->fd);
	cdt_hash_thread_cleanup();	/* this thread's SHA-256 context */
	return NULL;
}

/*
 * Does the destination hold this name already, the same (type, content,
 * link target)? 1 yes, 0 no such name, -1 it holds something else.
 */
/* The metadata an entry stores beside its type, content and target. */
static int same_meta(const struct cdt_name_entry *a, const struct cdt_name_entry *b)
{
	return a->mode == b->mode && a->uid == b->uid && a->gid == b->gid &&
	       a->mtime_sec == b->mtime_sec && a->mtime_nsec == b->mtime_nsec &&
	       a->xattrs_len == b->xattrs_len &&
	       (!a->xattrs_len || !memcmp(a->xattrs, b->xattrs, a->xattrs_len));
}

/*
 * Does the destination hold name as e? 1 the same, 2 the same but for its
 * metadata (mode, owner, mtime, extended attributes), 0 not at all, -1
 * other content or another type, -2 an entry that cannot be read (why
 * says why).
 */
static int same_at_dest(struct push *p, const char *name, const struct cdt_name_entry *e,
			struct strbuf *why)
{
	struct cdt_name_entry *d = xmalloc(sizeof(*d));
	int ret = cdt_name_read(p->dst, name, d, why);

	if (ret == -ENOENT || ret == -ENOTDIR) {
		ret = 0;
	} else if (ret < 0) {
		/* A damaged entry is not the same. */
		if (!why->len)
			strbuf_addstr(why, cdt_strerror(ret));
		ret = -2;
	} else {
		/* (A hard link's target only says which name it was first stored under.) */
		ret = d->type == e->type &&
		      (e->type != CDT_NAME_SYMLINK || !strcmp(d->target, e->target)) &&
		      (!cdt_name_has_content(e) ||
		       (cdt_id_eq(&d->content, &e->content) && d->size == e->size)) ?
		      (same_meta(d, e) ? 1 : 2) : -1;
		cdt_name_entry_release(d);
	}
	free(d);
	return ret;
}

/* The cookie of a name whose content was read from the source (copy_content()). */
static char content_copied;

/* Called by the ingest once a queued name is durable on the destination (or failed). */
static void name_done(const struct cdt_name_entry *e, const struct cdt_ingest_result *res,
		      int err, void *cookie, void *data)
{
	struct push *p = data;

	if (err < 0) {
		p->res->failed++;
		return;
	}
	p->res->names++;
	/* Counted once committed: a content whose name then failed was not copied. */
	if (cookie == &content_copied) {
		p->res->contents++;
		p->res->bytes += res->size;
	}
	if (res && cdt_name_has_content(e))
		p->res->stored += res->new_stored;
	if (p->opt->copied)
		p->opt->copied(e->name, e, p->opt->data);
}

/* Copy one content from the source through a pipe into the destination's ingest. */
static int copy_content(struct push *p, struct cdt_name_entry *meta, const struct cdt_id *want)
{
	struct cdt_ingest_result ires;
	struct feeder f = { p->reader, NULL, -1, 0 };
	struct cdt_name_entry *src = xmalloc(sizeof(*src));
	pthread_t t;
	int fds[2], ret;

	*src = *meta;
	src->xattrs = NULL;
	src->xattrs_len = 0;
	if (pipe(fds) < 0) {
		ret = -errno;
		free(src);
		return error_code(ret, "cannot make a pipe: %s", cdt_strerror(ret));
	}
	f.e = src;
	f.fd = fds[1];
	if (pthread_create(&t, NULL, feed, &f)) {
		close(fds[0]);
		close(fds[1]);
		free(src);
		return error_code(-EAGAIN, "cannot start a thread");
	}
	ret = cdt_ingest_queue_expect(p->ing, fds[0], meta->name, meta, want, &f.ret,
				      &content_copied, &ires);
	/* An ingest that stopped early leaves the writer to EPIPE: let it end. */
	close(fds[0]);
	pthread_join(t, NULL);
	free(src);
	return ret < 0 ? ret : f.ret;
}

/*
 * -n: does the destination hold the content as the ingest asks it to, to
 * be named without reading it (cdt_content_stored())? 1, 0 or -errno.
 */
static int dest_holds(struct push *p, const struct cdt_id *id, uint64_t size)
{
	if (!p->dst_reader) {
		p->dst_reader = cdt_chunk_reader_new(p->dst);
		p->dst_buf = xmalloc(cdt_store_chunker(p->dst)->max_size);
	}
	return cdt_content_stored(p->dst, p->dst_reader, p->dst_buf, id, size);
}

static int push_name(const char *name, const struct cdt_name_entry *e, int err, const char *why,
		     void *data)
{
	struct push *p = data;
	struct cdt_name_entry *meta;
	struct strbuf why_dest = STRBUF_INIT;
	struct cdt_id want;
	int same, ret;

	p->seen++;
	if (!e) {
		error("cannot read name '%s' of the source: %s", quote(name),
		      why ? why : cdt_strerror(err));
		p->res->failed++;
		return 0;
	}
	same = same_at_dest(p, name, e, &why_dest);
	if (same < 0 && !p->opt->force) {
		p->res->differ++;
		if (p->opt->differs)
			p->opt->differs(name, same == -2 ? why_dest.buf : NULL, p->opt->data);
	}
	strbuf_release(&why_dest);
	if (same == 1)
		p->res->unchanged++;
	if (same == 1 || (same < 0 && !p->opt->force))
		return 0;
	ret = cdt_name_writable(p->dst, name, e->type, 0);
	/* -f: what is in the way is replaced, as add -r replaces it (not in a bucket: no removal there). */
	if ((ret == -EISDIR || ret == -ENOTDIR) && p->opt->force && !cdt_store_remote_url(p->dst))
		ret = 0;
	if (ret < 0) {
		error("cannot copy '%s': %s%s", quote(name),
		      ret == -EISDIR ? "the destination holds names under it" :
		      ret == -ENOTDIR ? "the destination holds a name where one of its directories goes" :
		      cdt_strerror(ret),
		      (ret == -EISDIR || ret == -ENOTDIR) && !cdt_store_remote_url(p->dst) ?
		      " (-f replaces it)" : "");
		p->res->failed++;
		return 0;
	}
	if (p->opt->dry_run) {
		p->res->names++;
		/* Copied once, however many names it has (as the ingest does). */
		if (cdt_name_has_content(e) && !cdt_idset_has(&p->counted, &e->content) &&
		    dest_holds(p, &e->content, e->size) != 1) {
			cdt_idset_add(&p->counted, &e->content);
			p->res->contents++;
			p->res->bytes += e->size;
		}
		if (p->opt->copied)
			p->opt->copied(name, e, p->opt->data);
		return 0;
	}
	meta = xmalloc(sizeof(*meta));
	*meta = *e;
	if (e->xattrs_len) {
		meta->xattrs = xmalloc(e->xattrs_len);
		memcpy(meta->xattrs, e->xattrs, e->xattrs_len);
	}
	want = e->content;
	/*
	 * Content the destination holds (manifest and every chunk), or that
	 * is pending there, of this size, needs only its name.
	 */
	ret = cdt_ingest_queue_entry(p->ing, meta, NULL);
	/* Else read, with its entry's size checked against the source's manifest. */
	if (ret == -ENOENT && cdt_name_has_content(e))
		ret = copy_content(p, meta, &want);
	if (ret < 0)
		p->res->failed++;
	cdt_name_entry_release(meta);
	free(meta);
	return 0;
}

/*
 * A writer killed between its names and their tables left a mark in
 * info/: the next writer writes every table again. A push with nothing
 * to write commits no batch that would: info/ is opened to mend it, as
 * add's commit of names it keeps opens it.
 */
static void mend_info(struct cdt_store *dst)
{
	struct cdt_info *info;
	int was, ret;

	if (cdt_store_remote_url(dst) || !cdt_info_intents_dead(dst))
		return;
	/* The names are all there: what goes wrong here is a warning. */
	was = cdt_errors_as_warnings(1);
	if (!cdt_info_open(dst, &info)) {
		cdt_info_close(info);
		ret = cdt_store_sync(dst);
		if (ret < 0)
			warning("cannot sync store '%s': %s", cdt_store_path(dst),
				cdt_strerror(ret));
	}
	cdt_errors_as_warnings(was);
}

static int replaces_type(void *cookie, void *data)
{
	(void)cookie;
	(void)data;
	return 1;
}

/* A store as the user named it: its URL, or its directory. */
static const char *where(const struct cdt_store *s)
{
	return cdt_store_remote_url(s) ? cdt_store_remote_url(s) : cdt_store_path(s);
}

/*
 * Are the two stores one directory (a symbolic link, "A/.", a bind
 * mount)? 1, 0 or -errno. Not their store ids: a copy made with cp -a or
 * rsync keeps its id, and is a store of its own to push to and pull from.
 * A remote store is its local cache here (one remote store per command).
 */
static int same_dir(struct cdt_store *a, struct cdt_store *b)
{
	struct stat sa, sb;

	if (fstat(cdt_store_rootfd(a), &sa) < 0 || fstat(cdt_store_rootfd(b), &sb) < 0)
		return -errno;
	return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

int cdt_push(struct cdt_store *src, struct cdt_store *dst, const char *const *prefixes, size_t n,
	     const struct cdt_push_options *opt, struct cdt_push_result *res)
{
	struct push p = { src, dst, opt, res, NULL, NULL, 0, CDT_IDSET_INIT,
			  NULL, NULL };
	struct cdt_ingest_options io = { 0 };
	size_t i;
	int ret = 0;

	memset(res, 0, sizeof(*res));
	if (cdt_config_cid(cdt_store_config(src)) != cdt_config_cid(cdt_store_config(dst)))
		return error_code(-EINVAL,
				  "'%s' and '%s' name contents differently (store formats %u and %u: "
				  "tree ids and SHA-256 ids); copying between them is not supported",
				  cdt_store_path(src), cdt_store_path(dst),
				  cdt_store_config(src)->format, cdt_store_config(dst)->format);
	ret = same_dir(src, dst);
	if (ret)
		return ret < 0 ? error_code(ret, "cannot stat '%s' or '%s': %s", cdt_store_path(src),
					    cdt_store_path(dst), cdt_strerror(ret)) :
		       error_code(-EINVAL, "'%s' and '%s' are the same store", where(src), where(dst));
	io.jobs = opt->jobs;
	/* The new files of a remote store's cache are sent afterwards: packs only. */
	io.pack_always = cdt_store_remote_url(dst) != NULL;
	io.group = cdt_test_group(1024);
	io.done = name_done;
	io.done_data = &p;
	if (opt->force && !cdt_store_remote_url(dst))
		io.replace_type = replaces_type;
	if (!opt->dry_run)
		p.ing = cdt_ingest_new(dst, &io);
	p.reader = cdt_restore_new(src, opt->jobs);
	for (i = 0; i < (n ? n : 1) && !ret; i++) {
		p.seen = 0;
		ret = cdt_names_walk(src, n ? prefixes[i] : NULL, push_name, &p);
		if (ret < 0) {
			error("cannot list the names of '%s': %s", cdt_store_path(src),
			      cdt_strerror(ret));
		} else if (n && !p.seen) {
			/* A prefix mistyped must not pass for one copied. */
			error("no stored name is '%s' or under it in '%s'", quote(prefixes[i]),
			      where(src));
			res->missing++;
		}
	}
	if (p.ing) {
		cdt_ingest_commit(p.ing);
		cdt_ingest_free(p.ing);
		mend_info(dst);
	}
	cdt_restore_free(p.reader);
	cdt_idset_clear(&p.counted);
	if (p.dst_reader)
		cdt_chunk_reader_free(p.dst_reader);
	free(p.dst_buf);
	return ret < 0 ? ret : 0;
}
