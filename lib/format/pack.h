/* pack.h: pack files: many chunk objects in one immutable file, found through a sorted index. */
#ifndef CDT_PACK_H
#define CDT_PACK_H

#include <stdint.h>
#include "base/hash.h"
#include "format/store.h"

/*
 * packs/pack-<H>.pack, H the hex of the pack's checksum:
 *   "CDTP" version(1) reserved(3)=0
 *   objects: in version 1 each exactly a loose chunk object (12-byte
 *   header, payload); in version 2 such objects and frames (object.h),
 *   which hold several chunks
 *   count of chunks (LE64), checksum (32): SHA-256 of every byte before it
 *
 * packs/pack-<H>.idx, which makes the pack visible (written after it), of
 * the pack's version:
 *   "CDTI" version(1) reserved(3)=0 count(LE64)
 *   fan-out: 256 x LE32, entry k = number of ids whose first byte <= k
 *   count x id (32), sorted
 *   count x { offset (LE64), length (LE32), CRC-32 of the object (LE32) }
 *     in version 2 followed by the chunk's offset in the object's raw
 *     bytes (LE32) and its raw length (LE32): the chunks of one frame share
 *     the object's offset, length and CRC
 *   pack checksum (32), must equal the pack's trailer
 *   checksum (32): SHA-256 of every byte of the index before it
 */
#define CDT_PACK_MAGIC "CDTP"
#define CDT_IDX_MAGIC "CDTI"
#define CDT_PACK_VERSION 1
#define CDT_PACK_VERSION_FRAMES 2
#define CDT_PACK_HDR 8
#define CDT_PACK_TRAILER 40
#define CDT_IDX_HDR 16
#define CDT_IDX_FANOUT (256 * 4)
#define CDT_IDX_LOC 16
#define CDT_IDX_LOC_V2 24
/* Bytes of an index entry's location in an index of that version. */
static inline size_t cdt_idx_loc_size(unsigned version)
{
	return version >= CDT_PACK_VERSION_FRAMES ? CDT_IDX_LOC_V2 : CDT_IDX_LOC;
}
/* An index never describes more objects than this (bounds what a reader maps). */
#define CDT_PACK_MAX_OBJECTS (1u << 26)

/* A pack as seen through its mapped index. */
struct cdt_pack {
	char name[CDT_ID_HEXLEN + 6];	/* "pack-<64 hex>" */
	const unsigned char *map;	/* the whole index */
	size_t map_len;
	uint64_t count;
	unsigned version;		/* 1, or 2 (frames) */
	size_t loc_size;
	const unsigned char *ids;
	const unsigned char *locs;
	int fd;				/* the .pack while open for reading, else -1 */
	uint64_t pack_size;		/* known once opened */
	/* Among the open pack files (pack.c), most recently used first. */
	struct cdt_pack *lru_prev, *lru_next;
	int readers;			/* reads under way on fd, which stays open until none */
	unsigned char *mark;		/* a bit per entry, for gc's mark phase */
	uint32_t *sizes;		/* cdt_pack_entry_size(), built on first use */
};

/*
 * Map packs/<name>.idx and check its shape (magic, version, reserved bytes,
 * length, fan-out order); the checksums are fsck's to check. 0, -ENOENT or -CDT_ECORRUPT.
 */
int cdt_pack_open(int packsfd, const char *name, struct cdt_pack *p);
/*
 * Pack data that may not be here yet: a cache of a remote store holds its
 * packs as sparse files filled on demand (remote.md). Before pack data is
 * read, `fill` is asked to make the bytes [off, off + len) of the pack
 * `name` in the directory packsfd present (0, or -errno, reported in why).
 * One filler per process; NULL (the default) means every pack is whole.
 */
typedef int (*cdt_pack_fill_fn)(int packsfd, const char *name, uint64_t off, uint64_t len,
				int again, struct strbuf *why, void *data);
void cdt_pack_set_filler(cdt_pack_fill_fn fill, void *data);
/*
 * Make [off, off + len) of p present (a no-op without a filler); with
 * `again` 1, what is there failed a check: it is dropped and fetched anew;
 * with 2, it failed again: it is only dropped. 0 if there may be
 * something new to read (a filler), 1 if not, or -errno.
 */
int cdt_pack_fill(const struct cdt_pack *p, int packsfd, uint64_t off, uint64_t len,
		  int again, struct strbuf *why);
/* Unmap the index and close the pack file. */
void cdt_pack_close(struct cdt_pack *p);
/* Returns the index of id in the pack, or -1. */
int64_t cdt_pack_find(const struct cdt_pack *p, const struct cdt_id *id);
/* Entry i: id, offset, length and CRC-32 of the object that holds it. */
void cdt_pack_entry(const struct cdt_pack *p, uint64_t i, struct cdt_id *id,
		    uint64_t *off, uint32_t *len, uint32_t *crc);
/*
 * Where in its object entry i's chunk lies: *raw_len 0 when the object is
 * the chunk's own (version 1 entries, or a one-chunk object in a version 2
 * pack), else its offset and length in the frame's raw bytes.
 */
void cdt_pack_entry_part(const struct cdt_pack *p, uint64_t i, uint32_t *raw_off,
			 uint32_t *raw_len);
/*
 * The stored bytes entry i accounts for: its object's length, or for a
 * chunk in a frame the frame's length shared out by the chunks' raw
 * lengths (so that the entries of a pack add up to its objects).
 */
uint32_t cdt_pack_entry_size(struct cdt_pack *p, uint64_t i);
/*
 * The entries of p in the order of the pack (by object, then by place in
 * the object), as an array the caller frees.
 */
uint64_t *cdt_pack_entry_order(const struct cdt_pack *p);

/*
 * The largest object a reader may meet in a store whose chunks are at most
 * raw_max bytes and frames at most frame_max raw bytes: what a buffer for
 * cdt_pack_read() must hold.
 */
size_t cdt_pack_object_max(uint32_t raw_max, uint64_t frame_max);
/*
 * Read object i into buf (len bytes; at most `cap`), opening the pack file
 * if needed. Checks the range against the pack and the CRC. 0, -ENOENT
 * (pack gone), -CDT_ECORRUPT (with why) or -errno.
 */
int cdt_pack_read(struct cdt_pack *p, int packsfd, uint64_t i, unsigned char *buf,
		  size_t cap, size_t *len, struct strbuf *why);

/*
 * The codec byte of the header of object i (enum cdt_codec), read without
 * the rest of the object and unchecked beyond its magic: only a hint of
 * what form the pack keeps its chunks in (gc --recompress decides from it
 * what to store again, never what to delete). >= 0, or -errno.
 */
int cdt_pack_object_codec(struct cdt_pack *p, int packsfd, uint64_t i);

/*
 * Close the pack file if it is open and no read is under way (a removed
 * pack's space is freed only when nothing holds it open); a later read
 * opens it again, or finds it gone. The index stays mapped.
 */
void cdt_pack_close_file(struct cdt_pack *p);

/*
 * Pack files are opened for reading as needed and at most this many stay
 * open in the process, the least recently used closed first (one being
 * read never is: while more readers than that read at once, as many are
 * open). By default a quarter of the limit of open files, between
 * CDT_PACK_FILES_MIN and CDT_PACK_FILES_MAX.
 */
#define CDT_PACK_FILES_MIN 2
#define CDT_PACK_FILES_MAX 256
unsigned cdt_pack_files_max(void);
/* Keep at most n (at least CDT_PACK_FILES_MIN) pack files open from now on. */
void cdt_pack_set_files_max(unsigned n);

/*
 * Verify a whole pack: the index checksum, that the index's ids are sorted
 * and its fan-out agrees with them, the pack checksum, that every
 * entry lies inside the pack with a matching CRC and that the pack holds
 * exactly the indexed objects (the entries of one frame sharing it). fn
 * (optional) gets each entry with its object's bytes for deeper checks. 0 or -CDT_ECORRUPT (with why) or -errno.
 */
int cdt_pack_verify(struct cdt_pack *p, int packsfd,
		    int (*fn)(const struct cdt_pack *p, uint64_t i, const unsigned char *obj,
			      size_t len, void *data),
		    void *data, struct strbuf *why);

/*
 * Check an index on its own, without reading the pack: its checksum, that
 * it names this pack (its pack checksum is the one in the pack's name), the
 * order of its ids and its fan-out. 0 or -CDT_ECORRUPT (with why).
 */
int cdt_pack_check_index(const struct cdt_pack *p, struct strbuf *why);

/* A chunk met reading a pack from start to end. */
struct cdt_pack_object {
	struct cdt_id id;	/* the SHA-256 of its decoded bytes */
	uint64_t off;
	uint32_t len;		/* of the object holding it in the pack */
	uint32_t crc;		/* of that object */
	uint32_t raw_off;	/* in a frame's raw bytes (0 otherwise) */
	uint32_t raw_len;
	int in_frame;
	int is_delta;		/* stored against a base */
};
typedef int (*cdt_pack_scan_fn)(const struct cdt_pack_object *o, const unsigned char *raw,
				void *data);
/*
 * Where a scan finds the base of a delta that the pack itself does not
 * hold: read() puts the base's len bytes in out, checked against id, and
 * returns 0, or -ENOENT / -CDT_ECORRUPT / -errno (reason in why).
 */
struct cdt_base_source {
	int (*read)(const struct cdt_id *id, uint32_t len, unsigned char *out, void *data,
		    struct strbuf *why);
	void *data;
};
/* A pack's version from the header of the pack file open at fd: 1, 2, or -CDT_ECORRUPT. */
int cdt_pack_file_version(int fd);
/*
 * A read of a pack that did not give what the format says is there:
 * ret is -errno (an error, returned as it is, "cannot read pack file: ..."
 * in why), or 0, 1 or -CDT_ECORRUPT (the file ends early or holds other
 * bytes: -CDT_ECORRUPT, with `damage` in why).
 */
int cdt_pack_read_failed(int ret, struct strbuf *why, const char *damage);
/*
 * Read packs/<name>.pack from start to end without its index: every object
 * and frame is parsed, decoded and every chunk hashed, so what the pack
 * holds is learned from its own bytes; fn (optional) gets each chunk (raw:
 * its decoded bytes) and may stop the scan with a non-zero return, which
 * is returned. The pack's checksum must match its trailer and its name,
 * and the trailer's count the objects; objects are passed on before that
 * is known, except deltas: they are decoded last, against a base in the
 * pack or else one from `bases` (NULL: a delta whose base is elsewhere
 * fails the scan). 0, -CDT_ECORRUPT (reason in why) or -errno.
 */
int cdt_pack_scan(int packsfd, const char *name, uint32_t raw_max,
		  const struct cdt_base_source *bases, cdt_pack_scan_fn fn, void *data,
		  struct strbuf *why);
/*
 * Read a pack that may be damaged for what can be saved of it, as
 * cdt_pack_scan() does, but on past damage: from the first object that
 * does not read, every later place where an object header starts is
 * tried (a header that does not decode yields nothing, and a chunk's id
 * is always the SHA-256 of the bytes it decodes to, so no false chunk can
 * be yielded), and a delta that cannot be decoded is passed over. fn gets
 * every chunk found. The pack's trailer and header are not trusted. The
 * work is bounded: linear in the pack's size. 0 (the whole pack checks,
 * as for cdt_pack_scan()), -CDT_ECORRUPT (damaged: the first damage in
 * why; what could be read was passed on), -errno, or fn's non-zero return.
 * Never a reason to index the pack: a damaged pack is not whole.
 */
int cdt_pack_salvage(int packsfd, const char *name, uint32_t raw_max,
		     const struct cdt_base_source *bases, cdt_pack_scan_fn fn, void *data,
		     struct strbuf *why);
/*
 * Write packs/<name>.idx again from the pack's own objects (a missing or
 * damaged index), replacing any index there: only when the whole pack
 * checks (cdt_pack_scan(), with `bases`). The new index is durable when this returns.
 * *count (optional) gets the number of objects. 0, -CDT_ECORRUPT or -errno
 * (reason in why).
 */
int cdt_pack_reindex(struct cdt_store *s, const char *name, const struct cdt_base_source *bases,
		     uint64_t *count, struct strbuf *why);

/*
 * Writing a new pack: objects are appended to a temporary file in tmp/
 * through the checksummed-file writer (csum-file.h).
 */
struct cdt_pack_writer;
/*
 * Start a pack in s's tmp/: of version 2 when the store keeps chunks in
 * frames, else 1. 0 with the writer in *out, or -errno.
 */
int cdt_pack_writer_new(struct cdt_store *s, struct cdt_pack_writer **out);
/* Append one encoded one-chunk object under id. 0, -EFBIG (the pack is full) or -errno. */
int cdt_pack_writer_add(struct cdt_pack_writer *w, const struct cdt_id *id,
			const void *obj, size_t len);
/*
 * Append a frame (cdt_frame_encode()) whose chunks have ids[0..n) in
 * order (version 2 packs only: -EINVAL otherwise). 0, -EFBIG or -errno.
 */
int cdt_pack_writer_add_frame(struct cdt_pack_writer *w, const struct cdt_id *ids,
			      const unsigned char *obj, size_t len);
/*
 * Append chunk id from its raw bytes, encoded with c: in a pack of
 * version 2 (a store with frames) gathered with the next ones into a frame
 * of the store's frame size, else as its own object. The last frame is
 * written at commit. 0, -EFBIG or -errno.
 */
struct cdt_compressor;
int cdt_pack_writer_add_chunk(struct cdt_pack_writer *w, struct cdt_compressor *c,
			      const struct cdt_id *id, const unsigned char *raw, uint32_t len);
/*
 * Record the sketch of chunk id (added, or to be added, to this pack) for
 * the pack's sketch file, written at commit: in a store with deltas, the
 * chunks later ones may be stored as deltas against (never a delta
 * itself). cdt_pack_writer_add_chunk() records its chunks' sketches itself.
 */
struct cdt_sketch_sf;
void cdt_pack_writer_sketch(struct cdt_pack_writer *w, const struct cdt_id *id,
			    const struct cdt_sketch_sf *sf);
/* Does the writer keep sketches (a store with deltas)? */
int cdt_pack_writer_sketches(const struct cdt_pack_writer *w);
/* Does the writer take frames (a pack of version 2)? */
int cdt_pack_writer_frames(const struct cdt_pack_writer *w);
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
