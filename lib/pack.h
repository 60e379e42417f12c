/* pack.h: pack files: many chunk objects in one immutable file, found through a sorted index. */
#ifndef CDT_PACK_H
#define CDT_PACK_H

#include <stdint.h>
#include "hash.h"
#include "store.h"

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
void cdt_pack_close(struct cdt_pack *p);
/* Index of id in the pack, or -1. */
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

/* Writing a new pack: objects are appended to a temporary file. */
struct cdt_pack_writer;
int cdt_pack_writer_new(struct cdt_store *s, struct cdt_pack_writer **out);
int cdt_pack_writer_add(struct cdt_pack_writer *w, const struct cdt_id *id,
			const void *obj, size_t len);
uint64_t cdt_pack_writer_count(const struct cdt_pack_writer *w);
uint64_t cdt_pack_writer_bytes(const struct cdt_pack_writer *w);
/*
 * Write the index, sync the store so both files are durable, then move the
 * pack and then the index into packs/: a pack is visible only complete and
 * durable. (The renames are made durable by the caller's next sync.)
 * Returns 0 (the pack's name in name_out, if given) or -errno.
 */
int cdt_pack_writer_commit(struct cdt_pack_writer *w, char *name_out);
/* Discard an uncommitted pack. */
void cdt_pack_writer_free(struct cdt_pack_writer *w);

#endif
