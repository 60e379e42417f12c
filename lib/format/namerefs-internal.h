/* namerefs-internal.h: what namerefs.c (tables, lookups) and namerefs-walk.c (old layout, walk, rewriting) share. */
#ifndef CDT_NAMEREFS_INTERNAL_H
#define CDT_NAMEREFS_INTERNAL_H

#include "format/namerefs.h"

/* A table's file name: <64 hex>.rec */
#define TABLE_FILE_LEN (CDT_ID_HEXLEN + 4)

/* A table, mapped and checked in full (store-format.md). */
struct table {
	char file[TABLE_FILE_LEN + 1];
	const unsigned char *map;
	size_t size;
	uint64_t n, nbytes;
	const unsigned char *recs;
	const char *names;
};

/* The tables of refs/names, mapped (and its fd). */
struct cdt_namerefs {
	struct cdt_store *store;
	int namesfd;		/* -1: no refs/names */
	struct table *tables;
	size_t ntables, alloc;
};

int nr_is_table_file(const char *n);
/* Map and check refs/names/<file>. 0, -CDT_ECORRUPT (why says), or -errno. */
int nr_table_map(int dfd, const char *file, struct table *t, struct strbuf *why);
void nr_table_unmap(struct table *t);
/* refs/names, made first with `create`: an fd or -errno. */
int nr_open_dir(struct cdt_store *s, int create);
/*
 * Map every good table in refs/names into r (bad() gets the others and
 * stray() what is neither a table nor a directory of the old layout, if
 * given). 0 or -errno; with no refs/names, 0 and r->namesfd -1.
 */
int nr_load_tables(struct cdt_namerefs *r, int create,
		   void (*bad)(const char *path, int err, const char *why, void *data),
		   int (*stray)(int dirfd, const char *file, const char *path, const char *why,
				void *data),
		   void *data);
void nr_release(struct cdt_namerefs *r);
/* Record k of t as a visit (name and path kept in the two buffers). */
void nr_visit(const struct table *t, uint64_t k, struct strbuf *name, struct strbuf *path,
	      struct cdt_nameref_visit *v);
/* Add a record whose name is len bytes. */
void nr_writer_add_len(struct cdt_nameref_writer *w, const struct cdt_id *m, const char *name,
		       size_t len);

/* The old layout: the directory of m's records (XX/<62 hex>), and reading one. */
void nr_old_dir(const struct cdt_id *m, char *buf);
/* 0 with the record's name in sb, or -CDT_ECORRUPT / -errno. */
int nr_old_read(int dfd, const char *file, struct strbuf *sb);

#endif
