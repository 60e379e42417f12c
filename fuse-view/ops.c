/* ops.c: the operations of the read-only FUSE view (libfuse 3, high-level API). */
#define FUSE_USE_VERSION 31

#include "ops.h"
#include "ops/chunks.h"
#include "format/manifest.h"
#include "format/names.h"
#include "base/util.h"

#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <pthread.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define XATTR_ID "user.cdt.id"

/* Chunks pinned at once by one read; a longer read goes in rounds. */
#define READ_BATCH 64

/* One stored content opened by one or more file handles. */
struct cfile {
	struct cdt_id content;
	struct cdt_manifest *m;	/* find and pget only: both are thread-safe */
	uint64_t size, count;
	unsigned refs;
	struct cfile *next;
};

/* One open file or directory handle (fi->fh). */
struct ofile {
	int is_dir;
	char *name;		/* without the leading '/' */
	/*
	 * The name's attributes at open (no pointers kept), and for files
	 * its content.
	 */
	struct view_node attr;
	struct cfile *cf;
	/* Guards hint and ra: reads of one handle may run at once. */
	pthread_mutex_t lock;
	/* The chunk found last, so that a sequential read needs no search. */
	struct cdt_manifest_entry hint;
	uint64_t hint_idx;
	int have_hint;
	struct read_ahead ra;
	/* In v->handles, freed there if the kernel never releases it. */
	struct ofile *prev, *next;
};

/*
 * Link `of`. Returns 1 if a file handle of the same name with other content
 * is open: the kernel keeps one set of pages for a name, shared by its
 * handles, so that one of them must bypass it (see view_open()).
 */
static int handle_link(struct view *v, struct ofile *of)
{
	struct ofile *o;
	int other = 0;

	pthread_mutex_lock(&v->files_lock);
	if (!of->is_dir)
		for (o = v->handles; o && !other; o = o->next)
			other = !o->is_dir && !strcmp(o->name, of->name) &&
				!cdt_id_eq(&o->attr.content, &of->attr.content);
	of->prev = NULL;
	of->next = v->handles;
	if (v->handles)
		v->handles->prev = of;
	v->handles = of;
	pthread_mutex_unlock(&v->files_lock);
	return other;
}

static void handle_unlink(struct view *v, struct ofile *of)
{
	pthread_mutex_lock(&v->files_lock);
	if (of->prev)
		of->prev->next = of->next;
	else
		v->handles = of->next;
	if (of->next)
		of->next->prev = of->prev;
	pthread_mutex_unlock(&v->files_lock);
}

static struct view *this_view(void)
{
	return fuse_get_context()->private_data;
}

/*
 * Bytes the chunks of `content` take in the store, each distinct chunk
 * counted once. Computed on first use and remembered: a content id's chunks
 * never change. 0 if the manifest cannot be read.
 */
static uint64_t stored_bytes(struct view *v, const struct cdt_id *content, int compute, int *known)
{
	struct cdt_idset seen = CDT_IDSET_INIT;
	struct cdt_manifest_entry e;
	struct cdt_manifest *m;
	uint64_t total = 0, i, *p;

	pthread_mutex_lock(&v->blocks_lock);
	p = cdt_idset_get(&v->blocks, content);
	if (p)
		total = *p;
	pthread_mutex_unlock(&v->blocks_lock);
	*known = !!p;
	if (p || !compute)
		return total;
	if (cdt_manifest_open(v->store, content, &m, NULL) < 0)
		return 0;
	for (i = 0; i < cdt_manifest_count(m); i++) {
		int64_t n;

		if (cdt_manifest_pget(m, i, &e) < 0)
			break;
		if (!cdt_idset_add(&seen, &e.id))
			continue;
		n = cdt_chunk_stored_size(v->store, &e.id);
		if (n > 0)
			total += (uint64_t)n;
	}
	cdt_manifest_close(m);
	cdt_idset_clear(&seen);
	pthread_mutex_lock(&v->blocks_lock);
	cdt_idset_put(&v->blocks, content, total);
	pthread_mutex_unlock(&v->blocks_lock);
	*known = 1;
	return total;
}

/* Fill st for n; returns 0, or 1 when st_blocks is not known and !compute. */
static int fill_stat(struct view *v, const struct view_node *n, struct stat *st, int compute)
{
	int known = 1;

	memset(st, 0, sizeof(*st));
	st->st_mtim.tv_sec = (time_t)n->mtime_sec;
	st->st_mtim.tv_nsec = n->mtime_nsec;
	st->st_atim = st->st_mtim;
	/* The last change to a name is when it was written. */
	st->st_ctim.tv_sec = (time_t)n->added_sec;
	st->st_blksize = 1024 * 1024;
	if (n->is_dir) {
		st->st_mode = S_IFDIR | (n->has_meta ? n->mode & 07777 : 0755);
		st->st_nlink = 2 + n->nsubdirs;
		st->st_uid = n->has_meta ? n->uid : v->uid;
		st->st_gid = n->has_meta ? n->gid : v->gid;
		st->st_size = 4096;
		st->st_blocks = 8;
		return 0;
	}
	if (n->is_link) {
		st->st_mode = S_IFLNK | 0777;
		st->st_nlink = 1;
		st->st_uid = n->uid;
		st->st_gid = n->gid;
		st->st_size = (off_t)strlen(n->target);
		return 0;
	}
	st->st_mode = S_IFREG | (n->mode & 07777);
	st->st_nlink = 1;
	st->st_uid = n->uid;
	st->st_gid = n->gid;
	st->st_size = (off_t)n->size;
	/*
	 * The time a name was written is stored in whole seconds: the
	 * nanoseconds come from the content id, so that another content under
	 * a name written in the same second shows another change time to
	 * whoever trusts an unchanged size, mtime and ctime (a backup tool's
	 * files cache, cdt add's own). The same content, the same time.
	 */
	st->st_ctim.tv_nsec = (long)(get_le32(n->content.b) % 1000000000u);
	st->st_blocks = (blkcnt_t)((stored_bytes(v, &n->content, compute, &known) + 511) / 512);
	return !known;
}

static int view_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	struct view *v = this_view();
	struct ofile *of = fi ? (struct ofile *)(uintptr_t)fi->fh : NULL;
	struct view_tree *t;
	struct view_node *n;
	int ret = -ENOENT;

	/* fstat() of an open file: what was opened, even if the name moved on since. */
	if (of && !of->is_dir) {
		fill_stat(v, &of->attr, st, 1);
		return 0;
	}
	if (of)
		path = of->name;
	t = view_tree_get(&v->tree);
	n = view_tree_lookup(t, path);
	if (n) {
		fill_stat(v, n, st, 1);
		ret = 0;
	}
	view_tree_put(&v->tree, t);
	return ret;
}

static int view_opendir(const char *path, struct fuse_file_info *fi)
{
	struct view *v = this_view();
	struct view_tree *t = view_tree_get(&v->tree);
	struct view_node *n = view_tree_lookup(t, path);
	struct view_node attr;
	int ret = 0;

	if (!n)
		ret = -ENOENT;
	else if (!n->is_dir)
		ret = -ENOTDIR;
	else if ((fi->flags & O_ACCMODE) != O_RDONLY)
		ret = -EROFS;
	if (!ret) {
		/* What the handle shows once the name is gone. */
		attr = *n;
		attr.base = attr.stored = attr.target = NULL;
		attr.kids = NULL;
		attr.nkids = attr.alloc = 0;
	}
	view_tree_put(&v->tree, t);
	if (!ret) {
		struct ofile *of = xcalloc(1, sizeof(*of));

		of->is_dir = 1;
		of->attr = attr;
		of->name = xstrdup(path + strspn(path, "/"));
		handle_link(v, of);
		fi->fh = (uint64_t)(uintptr_t)of;
	}
	return ret;
}

static int view_releasedir(const char *path, struct fuse_file_info *fi)
{
	struct ofile *of = (struct ofile *)(uintptr_t)fi->fh;

	handle_unlink(this_view(), of);
	free(of->name);
	free(of);
	return 0;
}

/*
 * The whole directory in one call: libfuse keeps the listing and serves
 * the kernel's reads from it, so a large directory costs one pass over an
 * array that is already sorted.
 */
static int view_readdir(const char *unused, void *buf, fuse_fill_dir_t filler, off_t off,
			struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	struct view *v = this_view();
	struct ofile *of = (struct ofile *)(uintptr_t)fi->fh;
	struct view_tree *t = view_tree_get(&v->tree);
	struct view_node *n = view_tree_lookup(t, of->name);
	struct stat st;
	size_t i;
	int ret = 0;

	/* Gone since opendir: an empty directory, as after rmdir. */
	if (n && !n->is_dir)
		n = NULL;
	fill_stat(v, n ? n : &of->attr, &st, 0);
	filler(buf, ".", &st, 0, 0);
	memset(&st, 0, sizeof(st));
	st.st_mode = S_IFDIR;
	filler(buf, "..", &st, 0, 0);
	for (i = 0; n && i < n->nkids; i++) {
		const struct view_node *k = n->kids[i];
		enum fuse_fill_dir_flags fill = 0;

		if (flags & FUSE_READDIR_PLUS) {
			/* Attributes only where st_blocks is known; else the kernel asks. */
			if (!fill_stat(v, k, &st, 0))
				fill = FUSE_FILL_DIR_PLUS;
		} else {
			memset(&st, 0, sizeof(st));
			st.st_mode = k->is_dir ? S_IFDIR : k->is_link ? S_IFLNK : S_IFREG;
		}
		if (filler(buf, k->base, &st, 0, fill)) {
			ret = -ENOMEM;
			break;
		}
	}
	view_tree_put(&v->tree, t);
	return ret;
}

static void cfile_put(struct view *v, struct cfile *cf)
{
	struct cfile **p;

	pthread_mutex_lock(&v->files_lock);
	if (--cf->refs) {
		pthread_mutex_unlock(&v->files_lock);
		return;
	}
	for (p = &v->files; *p != cf; p = &(*p)->next)
		;
	*p = cf->next;
	pthread_mutex_unlock(&v->files_lock);
	cdt_manifest_close(cf->m);
	free(cf);
}

static struct cfile *cfile_find(struct view *v, const struct cdt_id *content)
{
	struct cfile *cf;

	for (cf = v->files; cf; cf = cf->next)
		if (cdt_id_eq(&cf->content, content)) {
			cf->refs++;
			return cf;
		}
	return NULL;
}

/* The opened manifest of `content`, shared by every handle open on it. */
static int cfile_get(struct view *v, const char *name, const struct cdt_id *content,
		     uint64_t size, struct cfile **out)
{
	struct strbuf why = STRBUF_INIT;
	char hex[CDT_ID_HEXLEN + 1];
	struct cdt_manifest *m;
	struct cfile *cf;
	int ret;

	pthread_mutex_lock(&v->files_lock);
	cf = cfile_find(v, content);
	pthread_mutex_unlock(&v->files_lock);
	if (cf) {
		*out = cf;
		return 0;
	}
	/* Checked in full once per open content, outside any lock. */
	ret = cdt_manifest_open(v->store, content, &m, &why);
	if (ret < 0) {
		error("cannot open '%s': manifest %s: %s", quote(name), cdt_id_to_hex(content, hex),
		      why.len ? why.buf : cdt_strerror(ret));
		strbuf_release(&why);
		return ret == -ENOENT ? -ENOENT : -EIO;
	}
	strbuf_release(&why);
	if (cdt_manifest_size(m) != size) {
		error("cannot open '%s': its entry says %llu bytes, its manifest %llu", quote(name),
		      (unsigned long long)size, (unsigned long long)cdt_manifest_size(m));
		cdt_manifest_close(m);
		return -EIO;
	}
	pthread_mutex_lock(&v->files_lock);
	cf = cfile_find(v, content);
	if (!cf) {
		cf = xcalloc(1, sizeof(*cf));
		cf->content = *content;
		cf->m = m;
		cf->size = size;
		cf->count = cdt_manifest_count(m);
		cf->refs = 1;
		cf->next = v->files;
		v->files = cf;
		m = NULL;
	}
	pthread_mutex_unlock(&v->files_lock);
	cdt_manifest_close(m);
	*out = cf;
	return 0;
}

static int view_readlink(const char *path, char *buf, size_t size)
{
	struct view *v = this_view();
	struct view_tree *t = view_tree_get(&v->tree);
	struct view_node *n = view_tree_lookup(t, path);
	int ret = 0;

	if (!n)
		ret = -ENOENT;
	else if (!n->is_link)
		ret = -EINVAL;
	else if (size)
		snprintf(buf, size, "%s", n->target);	/* truncated as readlink(2) does */
	view_tree_put(&v->tree, t);
	return ret;
}

static int view_open(const char *path, struct fuse_file_info *fi)
{
	struct view *v = this_view();
	struct view_tree *t;
	struct view_node *n;
	struct view_node attr;
	struct cfile *cf;
	struct ofile *of;
	int ret, keep;

	if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC))
		return -EROFS;
	t = view_tree_get(&v->tree);
	n = view_tree_lookup(t, path);
	if (!n || n->is_dir || n->is_link) {
		view_tree_put(&v->tree, t);
		return !n ? -ENOENT : n->is_dir ? -EISDIR : -ELOOP;
	}
	attr = *n;
	attr.base = NULL;
	attr.kids = NULL;
	attr.nkids = attr.alloc = 0;

	while (*path == '/')
		path++;
	ret = cfile_get(v, path, &attr.content, attr.size, &cf);
	if (ret < 0) {
		view_tree_put(&v->tree, t);
		return ret;
	}
	of = xcalloc(1, sizeof(*of));
	of->attr = attr;
	of->cf = cf;
	of->name = xstrdup(path);
	pthread_mutex_init(&of->lock, NULL);
	if (handle_link(v, of)) {
		/*
		 * A handle opened before the name got other content is still
		 * open, and what it reads goes into the name's pages: this
		 * one reads past them, and leaves them to be dropped by the
		 * next open that uses them.
		 */
		fi->direct_io = 1;
		keep = 0;
	} else {
		/* Pages cached by an earlier open of this content stay valid. */
		keep = __atomic_exchange_n(&n->cached, 1, __ATOMIC_RELAXED);
	}
	view_tree_put(&v->tree, t);
	fi->fh = (uint64_t)(uintptr_t)of;
	fi->keep_cache = keep;
	return 0;
}

static int view_release(const char *path, struct fuse_file_info *fi)
{
	struct view *v = this_view();
	struct ofile *of = (struct ofile *)(uintptr_t)fi->fh;

	handle_unlink(v, of);
	cfile_put(v, of->cf);
	pthread_mutex_destroy(&of->lock);
	free(of->name);
	free(of);
	return 0;
}

static int manifest_failed(struct ofile *of, int ret, uint64_t what)
{
	char hex[CDT_ID_HEXLEN + 1];

	error("cannot read '%s' at offset %llu: manifest %s: %s", quote(of->name),
	      (unsigned long long)what, cdt_id_to_hex(&of->cf->content, hex), cdt_strerror(ret));
	return -EIO;
}

/* Index and entry of the chunk holding `off`: the last one, the next, or a search. */
static int locate(struct ofile *of, uint64_t off, uint64_t *idx, struct cdt_manifest_entry *e)
{
	struct cfile *cf = of->cf;
	uint64_t i;
	int ret, have;

	pthread_mutex_lock(&of->lock);
	have = of->have_hint;
	*e = of->hint;
	i = of->hint_idx;
	pthread_mutex_unlock(&of->lock);
	if (have && off >= e->offset) {
		if (off < e->offset + e->len) {
			*idx = i;
			return 0;
		}
		if (off == e->offset + e->len && i + 1 < cf->count) {
			ret = cdt_manifest_pget(cf->m, i + 1, e);
			if (ret < 0)
				return manifest_failed(of, ret, off);
			*idx = i + 1;
			return 0;
		}
	}
	ret = cdt_manifest_find(cf->m, off, &i);
	if (!ret)
		ret = cdt_manifest_pget(cf->m, i, e);
	if (ret < 0)
		return manifest_failed(of, ret, off);
	if (off < e->offset || off >= e->offset + e->len)
		return manifest_failed(of, -CDT_ECORRUPT, off);
	*idx = i;
	return 0;
}

static int view_read(const char *unused, char *buf, size_t size, off_t offset,
		     struct fuse_file_info *fi)
{
	struct view *v = this_view();
	struct ofile *of = (struct ofile *)(uintptr_t)fi->fh;
	struct cfile *cf = of->cf;
	struct cdt_manifest_entry ents[READ_BATCH], last;
	struct cache_entry *ces[READ_BATCH];
	uint64_t off = (uint64_t)offset, end, pos, idx, last_idx = 0;
	int ret = 0, first = 1;

	if (offset < 0)
		return -EINVAL;
	if (off >= cf->size || !size)
		return 0;
	end = off + MIN((uint64_t)size, cf->size - off);
	ret = locate(of, off, &idx, &ents[0]);
	if (ret < 0)
		return ret;
	last = ents[0];
	pos = off;
	while (pos < end && !ret) {
		int n = 0, i;

		/* Pin every chunk of the round first, so that their loads run together. */
		while (n < READ_BATCH && pos < end) {
			if (!first || n) {
				ret = cdt_manifest_pget(cf->m, idx, &ents[n]);
				if (ret < 0) {
					ret = manifest_failed(of, ret, pos);
					break;
				}
			}
			ces[n] = chunk_cache_get(v->cache, &ents[n]);
			pos = ents[n].offset + ents[n].len;
			last = ents[n];
			last_idx = idx++;
			n++;
		}
		if (first && !ret) {
			/* Start reading ahead before waiting for this read's chunks. */
			pthread_mutex_lock(&of->lock);
			chunk_cache_read_ahead(v->cache, &of->ra, cf->m, off, last_idx, end);
			pthread_mutex_unlock(&of->lock);
		}
		first = 0;
		for (i = 0; i < n; i++) {
			const unsigned char *data;
			uint32_t len = 0;
			int r = chunk_cache_wait(v->cache, ces[i], of->name, ents[i].offset, &data, &len);

			if (!r && len != ents[i].len) {
				char hex[CDT_ID_HEXLEN + 1];

				error("cannot read '%s' at offset %llu: chunk %s holds %u bytes, the manifest says %u",
				      quote(of->name), (unsigned long long)ents[i].offset,
				      cdt_id_to_hex(&ents[i].id, hex), len, ents[i].len);
				r = -CDT_ECORRUPT;
			}
			if (!r && !ret) {
				uint64_t from = MAX(ents[i].offset, off);
				uint64_t to = MIN(ents[i].offset + ents[i].len, end);

				memcpy(buf + (from - off), data + (from - ents[i].offset), to - from);
			} else if (!ret) {
				/* The chunk, the file and the offset are reported. */
				ret = -EIO;
			}
			chunk_cache_put(v->cache, ces[i]);
		}
	}
	if (ret)
		return ret;
	pthread_mutex_lock(&of->lock);
	of->hint = last;
	of->hint_idx = last_idx;
	of->have_hint = 1;
	read_ahead_done(&of->ra, end);
	pthread_mutex_unlock(&of->lock);
	return (int)(end - off);
}

static int view_getxattr(const char *path, const char *name, char *value, size_t size)
{
	struct view *v = this_view();
	struct view_tree *t;
	struct view_node *n;
	char hex[CDT_ID_HEXLEN + 1];
	int ret = CDT_ID_HEXLEN;

	t = view_tree_get(&v->tree);
	n = view_tree_lookup(t, path);
	if (!n)
		ret = -ENOENT;
	else if (n->is_dir || n->is_link || strcmp(name, XATTR_ID))
		ret = -ENODATA;
	else
		cdt_id_to_hex(&n->content, hex);
	view_tree_put(&v->tree, t);
	if (ret > 0 && size) {
		if (size < CDT_ID_HEXLEN)
			return -ERANGE;
		memcpy(value, hex, CDT_ID_HEXLEN);
	}
	return ret;
}

static int view_listxattr(const char *path, char *list, size_t size)
{
	struct view *v = this_view();
	struct view_tree *t = view_tree_get(&v->tree);
	struct view_node *n = view_tree_lookup(t, path);
	/* Files only: a link has no content id (nor may it have user.* attributes). */
	int ret = n ? (n->is_dir || n->is_link ? 0 : (int)sizeof(XATTR_ID)) : -ENOENT;

	view_tree_put(&v->tree, t);
	if (ret > 0 && size) {
		if (size < sizeof(XATTR_ID))
			return -ERANGE;
		memcpy(list, XATTR_ID, sizeof(XATTR_ID));
	}
	return ret;
}

static int view_statfs(const char *path, struct statvfs *st)
{
	struct view *v = this_view();
	struct view_tree *t;

	/* Space is the store's file system's; the inodes are the names. */
	if (fstatvfs(cdt_store_rootfd(v->store), st) < 0)
		return -errno;
	t = view_tree_get(&v->tree);
	st->f_files = t->files + t->dirs + 1;
	view_tree_put(&v->tree, t);
	st->f_ffree = 0;
	st->f_favail = 0;
	st->f_namemax = CDT_NAME_COMPONENT_MAX;
	return 0;
}

static int view_access(const char *path, int mask)
{
	struct view *v = this_view();
	struct view_tree *t = view_tree_get(&v->tree);
	struct view_node *n = view_tree_lookup(t, path);

	view_tree_put(&v->tree, t);
	if (!n)
		return -ENOENT;
	return mask & W_OK ? -EROFS : 0;
}

/*
 * Everything that would change the view fails with EROFS. The mount is "ro",
 * so the kernel refuses most of these itself; without a handler libfuse would
 * answer the rest with ENOSYS.
 */
static int view_mkdir(const char *path, mode_t mode) { return -EROFS; }
static int view_mknod(const char *path, mode_t mode, dev_t dev) { return -EROFS; }
static int view_unlink(const char *path) { return -EROFS; }
static int view_rmdir(const char *path) { return -EROFS; }
static int view_symlink(const char *from, const char *to) { return -EROFS; }
static int view_link(const char *from, const char *to) { return -EROFS; }
static int view_rename(const char *from, const char *to, unsigned int flags) { return -EROFS; }
static int view_chmod(const char *path, mode_t mode, struct fuse_file_info *fi) { return -EROFS; }

static int view_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi)
{
	return -EROFS;
}

static int view_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	return -EROFS;
}

static int view_utimens(const char *path, const struct timespec tv[2], struct fuse_file_info *fi)
{
	return -EROFS;
}

static int view_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	return -EROFS;
}

static int view_write(const char *path, const char *buf, size_t size, off_t off,
		      struct fuse_file_info *fi)
{
	return -EROFS;
}

static int view_setxattr(const char *path, const char *name, const char *value, size_t size,
			 int flags)
{
	return -EROFS;
}

static int view_removexattr(const char *path, const char *name)
{
	return -EROFS;
}

static void *view_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	struct view *v = this_view();

	/* The kernel may trust what it learnt for as long as we take to notice changes. */
	cfg->entry_timeout = v->refresh;
	cfg->attr_timeout = v->refresh;
	cfg->negative_timeout = v->refresh;
	cfg->nullpath_ok = 1;
	cfg->use_ino = 0;
	/* Page caching is decided per open (keep_cache): content ids tell. */
	cfg->kernel_cache = 0;
	cfg->auto_cache = 0;
	/* Requests of up to 1 MiB (libfuse derives max_pages from max_write). */
	conn->max_write = 1u << 20;
	return v;
}

const struct fuse_operations view_ops = {
	.init		= view_init,
	.getattr	= view_getattr,
	.readlink	= view_readlink,
	.access		= view_access,
	.opendir	= view_opendir,
	.readdir	= view_readdir,
	.releasedir	= view_releasedir,
	.open		= view_open,
	.read		= view_read,
	.release	= view_release,
	.statfs		= view_statfs,
	.getxattr	= view_getxattr,
	.listxattr	= view_listxattr,
	.mkdir		= view_mkdir,
	.mknod		= view_mknod,
	.unlink		= view_unlink,
	.rmdir		= view_rmdir,
	.symlink	= view_symlink,
	.link		= view_link,
	.rename		= view_rename,
	.chmod		= view_chmod,
	.chown		= view_chown,
	.truncate	= view_truncate,
	.utimens	= view_utimens,
	.create		= view_create,
	.write		= view_write,
	.setxattr	= view_setxattr,
	.removexattr	= view_removexattr,
};

void view_ops_init(struct view *v)
{
	struct cdt_idset empty = CDT_IDSET_INIT;

	pthread_mutex_init(&v->files_lock, NULL);
	v->files = NULL;
	v->handles = NULL;
	pthread_mutex_init(&v->blocks_lock, NULL);
	v->blocks = empty;
}

void view_ops_release(struct view *v)
{
	/* Handles the kernel never released, if the loop ended early (a signal). */
	while (v->handles) {
		struct ofile *of = v->handles;

		v->handles = of->next;
		if (!of->is_dir)
			pthread_mutex_destroy(&of->lock);
		free(of->name);
		free(of);
	}
	while (v->files) {
		struct cfile *cf = v->files;

		v->files = cf->next;
		cdt_manifest_close(cf->m);
		free(cf);
	}
	cdt_idset_clear(&v->blocks);
	pthread_mutex_destroy(&v->files_lock);
	pthread_mutex_destroy(&v->blocks_lock);
}
