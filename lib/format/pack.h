/* pack.h: pack files: many chunk objects in one immutable file, found through a sorted index. */
#ifndef CDT_PACK_H
#define CDT_PACK_H

#include <stdint.h>
#include "base/hash.h"
#include "format/store.h"

/*
 * packs/pack-<H>.pack, H the hex of the pack's checksum:
 *   "CDTP" version(1)=1 reserved(3)=0
 *   objects, each exactly a loose chunk object (12-byte header, payload)
 *   count (LE64), checksum (32): SHA-256 of every byte before it
 *
 * packs/pack-<H>.idx, which makes the pack visible (written after it):
 *   "CDTI" version(1)=1 reserved(3)=0 count(LE64)
 *   fan-out: 256 x LE32, entry k = number of ids whose first byte <= k
 *   count x id (32), sorted
 *   count x { offset (LE64), length (LE32), CRC-32 of the object (LE32) }
 *   pack checksum (32), must equal the pack's trailer
 *   checksum (32): SHA-256 of every byte of the index before it
 */
#define CDT_PACK_MAGIC "CDTP"
#define CDT_IDX_MAGIC "CDTI"
#define CDT_PACK_VERSION 1
#define CDT_PACK_HDR 8
#define CDT_PACK_TRAILER 40
#define CDT_IDX_HDR 16
#define CDT_IDX_FANOUT (256 * 4)
#define CDT_IDX_LOC 16
/* An index never describes more objects than this (bounds what a reader maps). */
#define CDT_PACK_MAX_OBJECTS (1u << 26)

/* A pack as seen through its mapped index. */
struct cdt_pack {
	char name[CDT_ID_HEXLEN + 6];	/* "pack-<64 hex>" */
	const unsigned char *map;	/* the whole index */
	size_t map_len;
	uint64_t count;
	const unsigned char *ids;
	const unsigned char *locs;
	int fd;				/* the .pack, opened on first read; -1 before */
	uint64_t pack_size;		/* known once opened */
	unsigned char *mark;		/* a bit per entry, for gc's mark phase */
};

/*
 * Map packs/<name>.idx and check its shape (magic, version, reserved bytes,
 * length, fan-out order); the checksums are fsck's to check. 0, -ENOENT or -CDT_ECORRUPT.
 */
int cdt_pack_open(int packsfd, const char *name, struct cdt_pack *p);
/* Unmap the index and close the pack file. */
void cdt_pack_close(struct cdt_pack *p);
/* Returns the index of id in the pack, or -1. */
int64_t cdt_pack_find(const struct cdt_pack *p, const struct cdt_id *id);
/* Entry i: id, offset, length and CRC-32. */
void cdt_pack_entry(const struct cdt_pack *p, uint64_t i, struct cdt_id *id,
		    uint64_t *off, uint32_t *len, uint32_t *crc);
/*
 * Read object i into buf (len bytes; at most `cap`), opening the pack file
 * if needed. Checks the range against the pack and the CRC. 0, -ENOENT
 * (pack gone), -CDT_ECORRUPT (with why) or -errno.
 */
int cdt_pack_read(struct cdt_pack *p, int packsfd, uint64_t i, unsigned char *buf,
		  size_t cap, size_t *len, struct strbuf *why);

/*
 * Close the pack file if it is open (a removed pack's space is freed only
 * when nothing holds it open); a later read opens it again, or finds it
 * gone. The index stays mapped.
 */
void cdt_pack_close_file(struct cdt_pack *p);

/*
 * Verify a whole pack: the index checksum, that the index's ids are sorted
 * and its fan-out agrees with them, the pack checksum, that every
 * entry lies inside the pack with a matching CRC and that the pack holds
 * exactly the indexed objects. fn (optional) gets each object's id and
 * bytes for deeper checks. 0 or -CDT_ECORRUPT (with why) or -errno.
 */
int cdt_pack_verify(struct cdt_pack *p, int packsfd,
		    int (*fn)(const struct cdt_id *id, const unsigned char *obj, size_t len,
			      void *data),
		    void *data, struct strbuf *why);

/*
 * Check an index on its own, without reading the pack: its checksum, that
 * it names this pack (its pack checksum is the one in the pack's name), the
 * order of its ids and its fan-out. 0 or -CDT_ECORRUPT (with why).
 */
int cdt_pack_check_index(const struct cdt_pack *p, struct strbuf *why);

/* An object met reading a pack from start to end. */
struct cdt_pack_object {
	struct cdt_id id;	/* the SHA-256 of its decoded bytes */
	uint64_t off;
	uint32_t len;		/* of the object in the pack */
	uint32_t crc;
	uint32_t raw_len;
};
typedef int (*cdt_pack_scan_fn)(const struct cdt_pack_object *o, const unsigned char *raw,
				void *data);
/*
 * Read packs/<name>.pack from start to end without its index: every object
 * is parsed, decoded and hashed, so what the pack holds is learned from its
 * own bytes; fn (optional) gets each one (raw: its decoded bytes) and may
 * stop the scan with a non-zero return, which is returned. The pack's
 * checksum must match its trailer and its name, and the trailer's count
 * the objects; objects are passed on before that is known. 0,
 * -CDT_ECORRUPT (reason in why) or -errno.
 */
int cdt_pack_scan(int packsfd, const char *name, uint32_t raw_max, cdt_pack_scan_fn fn,
		  void *data, struct strbuf *why);
/*
 * Write packs/<name>.idx again from the pack's own objects (a missing or
 * damaged index), replacing any index there: only when the whole pack
 * checks (cdt_pack_scan()). The new index is durable when this returns.
 * *count (optional) gets the number of objects. 0, -CDT_ECORRUPT or -errno
 * (reason in why).
 */
int cdt_pack_reindex(struct cdt_store *s, const char *name, uint64_t *count, struct strbuf *why);

/*
 * Writing a new pack: objects are appended to a temporary file in tmp/
 * through the checksummed-file writer (csum-file.h).
 */
struct cdt_pack_writer;
/* Start a pack in s's tmp/. 0 with the writer in *out, or -errno. */
int cdt_pack_writer_new(struct cdt_store *s, struct cdt_pack_writer **out);
/* Append one encoded object under id. 0, -EFBIG (the pack is full) or -errno. */
int cdt_pack_writer_add(struct cdt_pack_writer *w, const struct cdt_id *id,
			const void *obj, size_t len);
/* Returns the number of objects added so far. */
uint64_t cdt_pack_writer_count(const struct cdt_pack_writer *w);
/* Returns the size of the pack so far, its header included. */
uint64_t cdt_pack_writer_bytes(const struct cdt_pack_writer *w);
/*
 * Write the trailer and the index, sync the store so both files are
 * durable, then move the pack and then the index into packs/: a pack is
 * visible only complete and durable. (The renames are made durable by the
 * caller's next sync.) Returns 0 (the pack's name in name_out, if given),
 * -EEXIST if an id was added twice, or -errno.
 */
int cdt_pack_writer_commit(struct cdt_pack_writer *w, char *name_out);
/* Discard an uncommitted pack. */
void cdt_pack_writer_free(struct cdt_pack_writer *w);

#endif
