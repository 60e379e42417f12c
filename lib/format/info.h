/* info.h: server info (info/): the lists of packs and tables of names that let a reader that cannot list a directory use the store. */
#ifndef CDT_INFO_H
#define CDT_INFO_H

#include <stddef.h>
#include <stdint.h>
#include "base/hash.h"
#include "base/strbuf.h"
#include "format/names.h"
#include "format/store.h"

/*
 * A store served by a plain web server cannot be listed, so every store
 * keeps under info/ (store-format.md, "Server info"):
 *   info/packs          the packs (text: one line per pack with its index,
 *                       sorted, and a checksum line)
 *   info/mpacks         in a store of format 4 or later, the manifest
 *                       packs of manifests/pack/ (text, as info/packs)
 *   info/names/<P>      one table per top-level component P of the names:
 *                       every entry under P, as in names/, sorted by name
 *   info/prefixes       the tables (text: checksum, bytes and P of each)
 *   info/lock           flock()ed (exclusive) by every update
 * All of it is derived data: written again from packs/ and names/ when
 * doubted, never edited in place (temporary file in tmp/, renamed).
 */
#define CDT_INFO_DIR "info"
#define CDT_INFO_TABLE_MAGIC "CDTI"
#define CDT_INFO_TABLE_VERSION 1
#define CDT_INFO_TABLE_HDR 16
/* The smallest entry (version 1, a one-byte name) and the smallest table that holds one. */
#define CDT_INFO_ENTRY_MIN (CDT_NAME_FIXED + 1 + CDT_ID_LEN)
#define CDT_INFO_TABLE_MIN (CDT_INFO_TABLE_HDR + 4 + CDT_INFO_ENTRY_MIN + CDT_ID_LEN)
/* The most bytes info/packs or info/prefixes may have (a reader reads them whole). */
#define CDT_INFO_TEXT_MAX (64u << 20)

/* One line of info/packs. */
struct cdt_info_pack {
	char name[CDT_ID_HEXLEN + 6];	/* "pack-<hex>" */
	uint64_t pack_bytes, idx_bytes;
};
/*
 * Parse info/packs held in buf: its header line, lines in strict order of
 * name, and a checksum line that matches. 0, or -CDT_ECORRUPT with the
 * reason in why. *out is xmalloc'd (NULL when there are no packs).
 */
int cdt_info_packs_parse(const char *buf, size_t len, struct cdt_info_pack **out, size_t *n,
			 struct strbuf *why);
/*
 * Walk info/packs in the file fd in bounded memory, as
 * cdt_info_packs_parse() parses it: nothing reaches fn before the whole
 * file has checked (its header, every line, its checksum), then fn gets
 * each line in order. A non-zero return of fn stops the walk and is
 * returned. 0, fn's value, -errno (a read failed) or -CDT_ECORRUPT with
 * the reason in why.
 */
typedef int (*cdt_info_pack_fn)(const struct cdt_info_pack *p, void *data);
int cdt_info_packs_walk_fd(int fd, cdt_info_pack_fn fn, void *data, struct strbuf *why);
/* info/packs for these packs (sorted here by name; no name twice), appended to out. */
void cdt_info_packs_format(struct cdt_info_pack *p, size_t n, struct strbuf *out);

/* One line of info/mpacks: a manifest pack ("pack-<hex>.mpack") and its size. */
struct cdt_info_mpack {
	char name[5 + CDT_ID_HEXLEN + 7];
	uint64_t bytes;
};
/* Parse info/mpacks held in buf, as cdt_info_packs_parse(). */
int cdt_info_mpacks_parse(const char *buf, size_t len, struct cdt_info_mpack **out, size_t *n,
			  struct strbuf *why);
/* info/mpacks for these manifest packs (sorted here by name; no name twice), appended to out. */
void cdt_info_mpacks_format(struct cdt_info_mpack *v, size_t n, struct strbuf *out);

/* One line of info/prefixes: the table info/names/<prefix>. */
struct cdt_info_prefix {
	char *prefix;
	struct cdt_id sum;	/* the table's checksum (its last 32 bytes) */
	uint64_t bytes;
};
/*
 * Parse info/prefixes held in buf (header, lines in strict order of
 * prefix, each prefix a valid one-component name, checksum line). 0, or
 * -CDT_ECORRUPT with the reason in why. Free *out with cdt_info_prefixes_free().
 */
int cdt_info_prefixes_parse(const char *buf, size_t len, struct cdt_info_prefix **out,
			    size_t *n, struct strbuf *why);
/*
 * Walk info/prefixes in the file fd as cdt_info_packs_walk_fd() walks
 * info/packs; fn's p->prefix lasts until fn returns.
 */
typedef int (*cdt_info_prefix_fn)(const struct cdt_info_prefix *p, void *data);
int cdt_info_prefixes_walk_fd(int fd, cdt_info_prefix_fn fn, void *data, struct strbuf *why);
/* info/prefixes for these lines (sorted here by prefix; no prefix twice), appended to out. */
void cdt_info_prefixes_format(struct cdt_info_prefix *p, size_t n, struct strbuf *out);
void cdt_info_prefixes_free(struct cdt_info_prefix *p, size_t n);

/*
 * Walk a table of info/names/<prefix> held in buf: its header and
 * checksum, then every entry, each parsed by cdt_name_decode() (its own
 * checksum and name), named `prefix` or "prefix/...", in strict byte order
 * of name. fn gets each parsed entry and its raw bytes; a non-zero return
 * stops the walk and is returned. Nothing reaches fn before the checksum
 * of the whole table has matched; damage found further on comes after fn
 * had the entries before it, so a caller uses a table whole or not at all.
 * 0, fn's value, or -CDT_ECORRUPT with the reason in why.
 */
typedef int (*cdt_info_entry_fn)(const struct cdt_name_entry *e, const unsigned char *raw,
				 size_t len, void *data);
int cdt_info_names_parse(const unsigned char *buf, size_t len, const char *prefix,
			 cdt_info_entry_fn fn, void *data, struct strbuf *why);

/* The top-level component of a stored name (its length). */
size_t cdt_info_prefix_len(const char *name);

/*
 * info/ of an open store, locked for an update (exclusive) or a check
 * (shared) through info/lock. An update makes info/ and info/names/ when
 * missing (a store made before them); a check does not (-ENOENT).
 * 0 or -errno (reported).
 */
struct cdt_info;
int cdt_info_open(struct cdt_store *s, struct cdt_info **out);
int cdt_info_open_check(struct cdt_store *s, struct cdt_info **out);
/* Unlock and free. */
void cdt_info_close(struct cdt_info *in);
struct cdt_store *cdt_info_store(const struct cdt_info *in);
/*
 * Did info/ lack info/packs or info/prefixes when opened (a store made
 * before info/, or one whose info/ was damaged)? The caller of an update
 * then writes the whole of it.
 */
int cdt_info_is_new(const struct cdt_info *in);

/*
 * Replace info/packs (not synced: the caller's next sync makes it
 * durable). 0 or -errno (reported).
 */
int cdt_info_write_packs(struct cdt_info *in, struct cdt_info_pack *p, size_t n);
/* Replace info/mpacks with text (cdt_info_mpacks_format()), as above. */
int cdt_info_write_mpacks(struct cdt_info *in, const struct strbuf *text);

/*
 * One change a commit made to names/: entry `name` is now raw[0..len)
 * (added or replaced), or with raw NULL, it was removed.
 */
struct cdt_info_change {
	const char *name;
	const unsigned char *raw;
	size_t len;
};
/*
 * Bring the tables of the prefixes these changes touch, and
 * info/prefixes, up to date: each table is the previous one (when it
 * checks) merged with the changes (a later change of a name wins), or
 * else that prefix read again from names/; a table left empty is removed.
 * An info/prefixes that is missing or damaged makes this write every table
 * (cdt_info_names_rebuild()). Changes are sorted here. Nothing is synced.
 * 0 or -errno (reported).
 */
int cdt_info_names_update(struct cdt_info *in, struct cdt_info_change *c, size_t n);
/*
 * Write every table and info/prefixes from the walk of names/, removing
 * tables no name needs, and the marks of writers gone (below).
 */
int cdt_info_names_rebuild(struct cdt_info *in);

/*
 * A writer about to change names marks info/ first
 * (cdt_info_intent_begin(), before its first name changes), and ends the
 * mark once the tables follow its changes (followed) or it gave up on them.
 * A mark whose writer is gone (killed, or it gave up) makes the next
 * cdt_info_open() write every table again, so info/ does not stay stale
 * after a kill between names and tables. NULL (a warning) when info/
 * cannot be marked; cdt_info_intent_end(NULL, ...) does nothing.
 */
struct cdt_info_intent;
struct cdt_info_intent *cdt_info_intent_begin(struct cdt_store *s);
void cdt_info_intent_end(struct cdt_info_intent *it, int followed);
/*
 * Does info/ hold the mark of a writer that is gone (so that the next
 * cdt_info_open() writes every table again)? A writer that changes no
 * name asks, to open info/ all the same. 1 or 0.
 */
int cdt_info_intents_dead(struct cdt_store *s);
/*
 * Does a live writer hold a mark in info/ (open with cdt_info_open_check())?
 * Then it has changed names whose tables it has not written yet (an add
 * writes them once, when it ends): the tables lag behind names/ for now.
 * 1 or 0.
 */
int cdt_info_changing(struct cdt_info *in);

/*
 * The marks of writers gone in info/ of s (those cdt_info_open() would
 * write every table again for): their names in *out, to free with
 * cdt_dents_free(), and their count. A store whose names/ is made to
 * follow its tables instead (a remote store's cache, its names/ rebuilt
 * from the remote's tables) then removes those marks with
 * cdt_info_marks_remove().
 */
struct cdt_dent;
size_t cdt_info_dead_marks(struct cdt_store *s, struct cdt_dent **out);
void cdt_info_marks_remove(struct cdt_store *s, const struct cdt_dent *marks, size_t n);

/*
 * The tables names/ calls for now, one prefix after another: fn gets each
 * prefix and the bytes its table must hold, or NULL when an entry under
 * it cannot be read (a table written now leaves it out; fsck reports the
 * name, and cannot tell what the table should hold). A non-zero return
 * stops it.
 */
typedef int (*cdt_info_table_fn)(const char *prefix, const unsigned char *table, size_t len,
				 void *data);
int cdt_info_names_expected(struct cdt_store *s, cdt_info_table_fn fn, void *data);

/*
 * The copies in info/names/ of entries damaged in names/, for writing
 * them back: fn gets each of `names` (any order; each once) with the entry
 * the table of its prefix holds for it (e and its bytes raw[0..len), why
 * NULL) when that table can be trusted to hold the name's current entry,
 * else e NULL and why, one line saying why not ("its copy in
 * info/names/P may be out of date: ..."). Trusted means: no writer's mark
 * in info/ (a live writer's tables lag behind names/, a dead one's may),
 * info/prefixes checks and lists the table with its size and checksum, the
 * table checks in full, and every other entry of names/ under the prefix
 * that reads is in the table byte for byte and the table holds no entry
 * names/ lacks (only entries that cannot be read are left out of that).
 * The caller holds info/ (cdt_info_open_check()) from here until it has
 * used the copies. A non-zero return of fn stops it and is returned; else 0.
 */
typedef int (*cdt_info_copy_fn)(const char *name, const struct cdt_name_entry *e,
				const unsigned char *raw, size_t len, const char *why,
				void *data);
int cdt_info_name_copies(struct cdt_info *in, const char *const *names, size_t n,
			 cdt_info_copy_fn fn, void *data);

/*
 * Read info/<rel> whole ("packs", "prefixes", "names/<P>"), at most
 * CDT_INFO_TEXT_MAX bytes for the text files. 0, -ENOENT or -errno.
 */
int cdt_info_read(struct cdt_info *in, const char *rel, struct strbuf *out);
/* The files in info/names/ (sorted); 0 or -errno. Free with cdt_dents_free(). */
struct cdt_dent;
int cdt_info_list_tables(struct cdt_info *in, struct cdt_dent **out, size_t *n);

#endif
