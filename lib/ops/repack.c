/* repack.c: rewrite packs without their dead objects, dead-first and in bounded space. */
#include "ops/repack.h"
#include "ops/chunks.h"
#include "base/compress.h"
#include "base/idset.h"
#include "format/object.h"
#include "format/pack.h"
#include "format/sketch.h"
#include "ops/packset.h"
#include "ops/serverinfo.h"
#include "base/util.h"
#include "base/testpoint.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define REPACK_DEAD 0.2
#define SMALL_PACK (16ull << 20)
#define PACK_TARGET (512ull << 20)
/* The smallest output pack gc aims for, however little space is free. */
#define PACK_FLOOR (1ull << 20)

/* Output packs of at most half the free space: never more than one output's worth needed. */
static uint64_t output_target(struct cdt_store *s, uint64_t freed)
{
	struct statvfs sv;
	uint64_t avail;

	if (fstatvfs(cdt_store_rootfd(s), &sv) < 0)
		return PACK_TARGET;
	avail = (uint64_t)sv.f_bavail * (uint64_t)sv.f_frsize + freed;
	return MIN(PACK_TARGET, MAX(avail / 2, PACK_FLOOR));
}

void cdt_repack_plan(struct cdt_store *s, struct cdt_live *l, size_t nloose,
		     struct cdt_repack_plan *plan)
{
	size_t i, nsmall = 0;
	uint64_t k, dead_packs = 0;
	int merge;

	(void)l;
	memset(plan, 0, sizeof(*plan));
	plan->n = cdt_packs_list(s, &plan->packs);
	plan->rewrite = xcalloc(plan->n + 1, 1);
	plan->live_bytes = xcalloc(plan->n + 1, sizeof(uint64_t));
	plan->live_count = xcalloc(plan->n + 1, sizeof(uint64_t));
	plan->total_bytes = xcalloc(plan->n + 1, sizeof(uint64_t));
	/* Live bytes per pack; a second copy of a chunk counts as dead. */
	for (i = 0; i < plan->n; i++) {
		for (k = 0; k < plan->packs[i]->count; k++) {
			uint32_t len = cdt_pack_entry_size(plan->packs[i], k);

			plan->total_bytes[i] += len;
			if (cdt_live_packed(plan->packs[i], k)) {
				plan->live_bytes[i] += len;
				plan->live_count[i]++;
			}
		}
		if (plan->total_bytes[i] < SMALL_PACK)
			nsmall++;
		if (!plan->live_bytes[i])
			dead_packs += plan->total_bytes[i];
	}
	/*
	 * Merging small packs pays only when what comes out is not small
	 * again: with too little room for that (output packs are at most half
	 * the free space), they are left for a gc with more room.
	 */
	merge = output_target(s, dead_packs) >= SMALL_PACK;
	for (i = 0; i < plan->n; i++) {
		uint64_t dead = plan->total_bytes[i] - plan->live_bytes[i];

		if (!plan->live_bytes[i] || (double)dead > REPACK_DEAD * (double)plan->total_bytes[i] ||
		    (plan->total_bytes[i] < SMALL_PACK && ((merge && nsmall > 1) || nloose))) {
			plan->rewrite[i] = 1;
			plan->dead_objects += plan->packs[i]->count - plan->live_count[i];
			plan->dead_bytes += dead;
		}
	}
}

void cdt_repack_plan_release(struct cdt_repack_plan *plan)
{
	free(plan->packs);
	free(plan->rewrite);
	free(plan->live_bytes);
	free(plan->live_count);
	free(plan->total_bytes);
	memset(plan, 0, sizeof(*plan));
}

struct repacker {
	struct cdt_store *store;
	struct cdt_live *live;
	const struct cdt_repack_plan *plan;
	void (*say)(const char *what, const char *item, uint64_t bytes, void *data);
	void *data;
	struct cdt_repack_result *res;
	int packsfd;
	uint64_t target;		/* bytes per output pack */
	struct cdt_pack_writer *w;
	struct cdt_idset written;	/* in a committed or the current output */
	struct cdt_chunk_reader *reader;
	struct cdt_compressor *comp;
	struct cdt_decompressor *dec;
	uint32_t raw_max;
	unsigned char *raw, *obj, *base;
	size_t cap;			/* of obj: any object a pack may hold */
	uint32_t frame_size;		/* the store's: output packs take frames */
	/* The input frame decoded last. */
	unsigned char *in_frame;
	size_t in_cap, in_len;
	const struct cdt_pack *in_pack;
	uint64_t in_off;
	int in_valid;
	char (*made)[CDT_ID_HEXLEN + 6];
	size_t nmade, made_alloc;
	/* Inputs whose live objects are all in outputs, waiting for them to be durable. */
	size_t *pending;
	size_t npending, pending_alloc;
	const struct cdt_id *loose;
	size_t loose_in;		/* loose[0..loose_in) went into outputs */
	size_t loose_done;		/* loose[0..loose_done) are removed */
	unsigned char *keep;		/* per pack: must stay */
	void (*progress)(uint64_t done, uint64_t total, void *data);
	uint64_t done, total;		/* of the bytes to rewrite: inputs and live loose chunks */
};

static void tell_progress(struct repacker *rp, uint64_t done)
{
	if (rp->progress)
		rp->progress(MIN(done, rp->total), rp->total, rp->data);
}

/* Remove a pack: its index first, so that it is never an index without a pack. */
static int remove_pack(struct repacker *rp, size_t i)
{
	const struct cdt_repack_plan *pl = rp->plan;
	size_t j;
	int ret;

	for (j = 0; j < rp->nmade; j++)
		if (!strcmp(rp->made[j], pl->packs[i]->name))
			return 0;	/* rewritten into an identical pack */
	rp->say("pack", pl->packs[i]->name, pl->total_bytes[i] - pl->live_bytes[i], rp->data);
	cdt_serverinfo_unlist_pack(rp->store, pl->packs[i]->name);
	ret = cdt_pack_remove_files(rp->store, pl->packs[i]->name);
	if (ret < 0)
		return error_code(ret, "cannot remove 'packs/%s.idx': %s", pl->packs[i]->name,
				  cdt_strerror(ret));
	/* Its space comes back only once nothing holds it open. */
	cdt_pack_close_file(pl->packs[i]);
	rp->res->packs_removed++;
	rp->res->chunks += pl->packs[i]->count - pl->live_count[i];
	rp->res->chunk_bytes += pl->total_bytes[i] - pl->live_bytes[i];
	return 0;
}

/*
 * Commit the current output, make it durable, then remove what it (and
 * the outputs before it) made redundant.
 */
static int flush_output(struct repacker *rp)
{
	char name[CDT_ID_HEXLEN + 6];
	int objfd = cdt_store_dirfd(rp->store, CDT_DIR_OBJECTS);
	size_t i;
	int ret;

	if (rp->w) {
		ret = cdt_pack_writer_commit(rp->w, name);
		cdt_pack_writer_free(rp->w);
		rp->w = NULL;
		if (ret < 0)
			return error_code(ret, "cannot write a pack: %s", cdt_strerror(ret));
		ALLOC_GROW(rp->made, rp->nmade + 1, rp->made_alloc);
		strcpy(rp->made[rp->nmade++], name);
		rp->res->packs_written++;
		cdt_serverinfo_packs(rp->store);
	}
	if (!rp->npending && rp->loose_done == rp->loose_in)
		return 0;
	/* The new packs' names are durable before what they replace goes. */
	ret = cdt_store_sync(rp->store);
	if (ret < 0)
		return error_code(ret, "cannot sync the store: %s", cdt_strerror(ret));
	for (i = 0; i < rp->npending; i++) {
		ret = remove_pack(rp, rp->pending[i]);
		if (ret < 0)
			break;
	}
	if (rp->npending)
		cdt_serverinfo_packs(rp->store);
	if (ret < 0)
		return ret;
	rp->npending = 0;
	for (i = rp->loose_done; i < rp->loose_in; i++) {
		char path[CDT_ID_HEXLEN + 2], hex[CDT_ID_HEXLEN + 1];

		if (!cdt_idset_has(&rp->written, &rp->loose[i]))
			continue;
		if (unlinkat(objfd, cdt_id_path(&rp->loose[i], path), 0) == 0) {
			rp->res->loose_packed++;
		} else if (errno != ENOENT) {
			/* Nothing is lost: the pack holds it, and the next gc tries again. */
			warning("cannot remove loose chunk %s, packed now: %s",
				cdt_id_to_hex(&rp->loose[i], hex), cdt_strerror(errno));
		}
	}
	rp->loose_done = rp->loose_in;
	return 0;
}

static int start_output(struct repacker *rp);

/* The sketch of a chunk stored whole, for the output's sketch file (stores with deltas). */
static void sketch_chunk(struct repacker *rp, const struct cdt_id *id, const unsigned char *raw,
			 uint32_t len)
{
	struct cdt_sketch_sf sf;

	if (!cdt_pack_writer_sketches(rp->w))
		return;
	cdt_sketch_compute(raw, len, &sf);
	cdt_pack_writer_sketch(rp->w, id, &sf);
}

/*
 * Copy a chunk's own object (or a delta) as it is, its CRC checked; a
 * whole one is decoded for its sketch, in a store with deltas.
 */
static int put_object(struct repacker *rp, const struct cdt_id *id, const unsigned char *obj,
		      size_t len)
{
	int ret = start_output(rp);

	if (ret < 0)
		return ret;
	ret = cdt_pack_writer_add(rp->w, id, obj, len);
	if (ret < 0)
		return error_code(ret, "cannot write a pack: %s", cdt_strerror(ret));
	cdt_idset_add(&rp->written, id);
	if (cdt_pack_writer_sketches(rp->w) && !cdt_object_is_delta(obj, len)) {
		uint32_t raw_len;

		if (cdt_object_decode(rp->dec, id, obj, len, 0, rp->raw_max, rp->raw, &raw_len,
				      NULL) == 0)
			sketch_chunk(rp, id, rp->raw, raw_len);
	}
	return 0;
}

static int start_output(struct repacker *rp)
{
	int ret;

	if (rp->w)
		return 0;
	ret = cdt_pack_writer_new(rp->store, &rp->w);
	if (ret < 0)
		return error_code(ret, "cannot start a pack: %s", cdt_strerror(ret));
	return 0;
}

/* Write chunk id (raw bytes) into the output: into its next frame, in a store with frames. */
static int put_chunk(struct repacker *rp, const struct cdt_id *id, const unsigned char *raw,
		     uint32_t len)
{
	int ret = start_output(rp);

	if (ret < 0)
		return ret;
	ret = cdt_pack_writer_add_chunk(rp->w, rp->comp, id, raw, len);
	if (ret < 0)
		return error_code(ret, "cannot write a pack: %s", cdt_strerror(ret));
	cdt_idset_add(&rp->written, id);
	return 0;
}

/* Start a new output once this one is big enough (only between inputs' objects). */
static int maybe_flush(struct repacker *rp)
{
	if (rp->w && cdt_pack_writer_bytes(rp->w) >= rp->target)
		return flush_output(rp);
	return 0;
}

/*
 * Copy a chunk by reading a good copy wherever it is (loose copies first),
 * checking it fully, and encoding it again. 1 if copied, 0 if no good copy
 * exists, -errno (reported) when a copy cannot be read (an I/O error: then
 * whether a good one exists is not known) or on a write error.
 */
static int copy_checked(struct repacker *rp, const struct cdt_id *id, uint32_t want)
{
	struct strbuf why = STRBUF_INIT;
	char hex[CDT_ID_HEXLEN + 1];
	uint32_t len;
	int ret;

	ret = cdt_chunk_read(rp->reader, id, want, rp->raw, &len, &why);
	if (cdt_err_is_damage(ret)) {
		ret = 0;
	} else if (ret < 0) {
		/* Worded as fsck words it. */
		ret = error_code(ret, "chunk %s: %s", cdt_id_to_hex(id, hex),
				 why.len ? why.buf : cdt_strerror(ret));
	} else {
		ret = put_chunk(rp, id, rp->raw, len);
		ret = ret < 0 ? ret : 1;
	}
	strbuf_release(&why);
	return ret;
}

/*
 * What entry k of p really holds, from the pack's bytes: 1 with its raw
 * bytes (*raw, valid until the next call) and their id, 0 when it cannot
 * be read or decoded. A frame is decoded once for all its entries.
 */
static int entry_bytes(struct repacker *rp, struct cdt_pack *p, uint64_t k,
		       const unsigned char **raw, uint32_t *raw_len, struct cdt_id *id)
{
	uint32_t roff, rlen, len;
	uint64_t off;
	size_t n, obj_len;

	cdt_pack_entry_part(p, k, &roff, &rlen);
	if (!rlen) {
		if (cdt_pack_read(p, rp->packsfd, k, rp->obj, rp->cap, &n, NULL) < 0)
			return 0;
		if (p->version >= CDT_PACK_VERSION_FRAMES && cdt_object_is_delta(rp->obj, n)) {
			/* Decoded against its base (read whole, checked), then named by its bytes. */
			struct cdt_delta_info di;

			if (cdt_delta_parse(rp->obj, n, rp->raw_max, &di, NULL) < 0 ||
			    di.obj_len != n ||
			    cdt_chunk_read_base(rp->reader, &di.base, di.base_len, rp->base, NULL) < 0 ||
			    cdt_decompress_ref(rp->dec, rp->base, di.base_len, di.payload,
					       di.payload_len, rp->raw, di.raw_len) < 0)
				return 0;
			cdt_hash(rp->raw, di.raw_len, id);
			*raw = rp->raw;
			*raw_len = di.raw_len;
			return 1;
		}
		if (cdt_object_parse(rp->dec, rp->obj, n, rp->raw_max, rp->raw, &len, &obj_len, id,
				     NULL) < 0 ||
		    obj_len != n)
			return 0;
		*raw = rp->raw;
		*raw_len = len;
		return 1;
	}
	cdt_pack_entry(p, k, NULL, &off, NULL, NULL);
	if (!(rp->in_valid && rp->in_pack == p && rp->in_off == off)) {
		struct cdt_frame_info fi;

		rp->in_valid = 0;
		if (cdt_pack_read(p, rp->packsfd, k, rp->obj, rp->cap, &n, NULL) < 0 ||
		    cdt_frame_parse(rp->obj, n, rp->raw_max, CDT_FRAME_RAW_HARD_MAX, &fi, NULL) < 0 ||
		    fi.obj_len != n)
			return 0;
		if (rp->in_cap < fi.raw_total) {
			free(rp->in_frame);
			rp->in_cap = (size_t)fi.raw_total;
			rp->in_frame = xmalloc(rp->in_cap);
		}
		if (cdt_frame_decode(rp->dec, &fi, rp->in_frame, NULL) < 0)
			return 0;
		rp->in_len = (size_t)fi.raw_total;
		rp->in_pack = p;
		rp->in_off = off;
		rp->in_valid = 1;
	}
	if ((uint64_t)roff + rlen > rp->in_len)
		return 0;
	*raw = rp->in_frame + roff;
	*raw_len = rlen;
	cdt_hash(*raw, rlen, id);
	return 1;
}

/*
 * Entry k of pack i, which its index calls dead: drop it only when its
 * bytes say it is not a live chunk that lookups miss. Returns 1 if it was
 * kept (copied), 0 if dropped, -1 if the pack must stay, or -errno.
 */
static int settle_dead(struct repacker *rp, size_t i, uint64_t k)
{
	struct cdt_pack *p = rp->plan->packs[i];
	struct cdt_id said, id;
	char hex[CDT_ID_HEXLEN + 1], hex2[CDT_ID_HEXLEN + 1];
	const unsigned char *raw;
	uint32_t len;
	int ret;

	cdt_pack_entry(p, k, &said, NULL, NULL, NULL);
	if (!entry_bytes(rp, p, k, &raw, &len, &id)) {
		if (!rp->live->missing.nr)
			return 0;	/* every live chunk was found elsewhere: it is none of them */
		warning("pack %s: object %llu cannot be read while live chunks are missing; "
			"keeping the pack (run 'cdt fsck')", p->name, (unsigned long long)k);
		return -1;
	}
	if (!cdt_idset_has(&rp->live->missing, &id) || cdt_idset_has(&rp->written, &id))
		return 0;
	if (!cdt_id_eq(&id, &said))
		warning("pack %s: its index calls chunk %s %s; keeping it under its own id",
			p->name, cdt_id_to_hex(&id, hex), cdt_id_to_hex(&said, hex2));
	ret = put_chunk(rp, &id, raw, len);
	return ret < 0 ? ret : 1;
}

/* Is entry k of p to be kept: live, or a second copy of a live chunk not yet written? */
static int wanted(struct repacker *rp, struct cdt_pack *p, uint64_t k, const struct cdt_id *id)
{
	/*
	 * A second copy of a live chunk is copied too: the copy that was
	 * marked may be the damaged one.
	 */
	return (cdt_live_packed(p, k) || cdt_live_chunk(rp->live, id)) &&
	       !cdt_idset_has(&rp->written, id);
}

/*
 * A frame whose every chunk is wanted goes over as it is, bytes and CRC
 * checked, not recompressed. order[a..b) are its entries, in its order.
 * 1 if copied, 0 if it must be taken apart, or -errno.
 */
static int copy_whole_frame(struct repacker *rp, struct cdt_pack *p, const uint64_t *order,
			    uint64_t a, uint64_t b)
{
	struct cdt_id *ids;
	uint64_t k;
	size_t n;
	int ret;

	if (!rp->frame_size)	/* a store without frames takes them apart */
		return 0;
	for (k = a; k < b; k++) {
		struct cdt_id id;

		cdt_pack_entry(p, order[k], &id, NULL, NULL, NULL);
		if (!wanted(rp, p, order[k], &id))
			return 0;
	}
	if (cdt_pack_read(p, rp->packsfd, order[a], rp->obj, rp->cap, &n, NULL) < 0 ||
	    n < CDT_FRAME_HDR || get_le32(rp->obj + 8) != b - a)
		return 0;
	ret = start_output(rp);
	if (ret < 0)
		return ret;
	ids = xmalloc((size_t)(b - a) * sizeof(*ids));
	for (k = a; k < b; k++)
		cdt_pack_entry(p, order[k], &ids[k - a], NULL, NULL, NULL);
	ret = cdt_pack_writer_add_frame(rp->w, ids, rp->obj, n);
	for (k = a; !ret && k < b; k++)
		cdt_idset_add(&rp->written, &ids[k - a]);
	if (!ret && cdt_pack_writer_sketches(rp->w)) {
		/* Its chunks are bases: their sketches, from the frame decoded once. */
		for (k = a; k < b; k++) {
			const unsigned char *raw;
			uint32_t len;
			struct cdt_id got;

			if (entry_bytes(rp, p, order[k], &raw, &len, &got) &&
			    cdt_id_eq(&got, &ids[k - a]))
				sketch_chunk(rp, &got, raw, len);
		}
	}
	free(ids);
	if (ret < 0)
		return error_code(ret, "cannot write a pack: %s", cdt_strerror(ret));
	return 1;
}

/* Copy pack i's live chunks (and any second copy of a live chunk) into the outputs. */
static int copy_pack(struct repacker *rp, size_t i)
{
	struct cdt_pack *p = rp->plan->packs[i];
	uint64_t *order = cdt_pack_entry_order(p), a, b, k;
	int ret = 0;

	for (a = 0; a < p->count && !ret; a = b) {
		uint64_t off, off2;
		uint32_t roff, rlen;

		/* Within a pack, as far as its objects go (their order is the file's). */
		tell_progress(rp, rp->done + (uint64_t)((double)rp->plan->total_bytes[i] * (double)a /
						      (double)p->count));

		/* order[a..b): the entries of one object, in its order. */
		cdt_pack_entry(p, order[a], NULL, &off, NULL, NULL);
		for (b = a + 1; b < p->count; b++) {
			cdt_pack_entry(p, order[b], NULL, &off2, NULL, NULL);
			if (off2 != off)
				break;
		}
		cdt_pack_entry_part(p, order[a], &roff, &rlen);
		if (rlen) {
			ret = copy_whole_frame(rp, p, order, a, b);
			if (ret) {
				ret = ret < 0 ? ret : maybe_flush(rp);
				continue;
			}
		}
		for (k = a; k < b && !ret; k++) {
			struct cdt_id id, got;
			const unsigned char *raw;
			uint32_t len;
			size_t n;

			cdt_pack_entry(p, order[k], &id, NULL, NULL, NULL);
			if (!cdt_live_packed(p, order[k]) && !cdt_live_chunk(rp->live, &id)) {
				ret = settle_dead(rp, i, order[k]);
				if (ret == -1) {
					rp->keep[i] = 1;
					ret = 0;
				}
				continue;
			}
			if (cdt_idset_has(&rp->written, &id))
				continue;
			if (!rlen && cdt_pack_read(p, rp->packsfd, order[k], rp->obj, rp->cap, &n,
						   NULL) == 0 && !cdt_object_is_frame(rp->obj, n)) {
				/*
				 * A chunk's own object goes over as it is, its CRC
				 * checked; a delta only as the marked copy (whose
				 * base the mark kept), never as a second one.
				 */
				if (cdt_object_is_delta(rp->obj, n) && !cdt_live_packed(p, order[k]))
					continue;
				ret = put_object(rp, &id, rp->obj, n);
				continue;
			}
			if (rlen && entry_bytes(rp, p, order[k], &raw, &len, &got) &&
			    cdt_id_eq(&got, &id)) {
				ret = put_chunk(rp, &id, raw, len);
				continue;
			}
			ret = copy_checked(rp, &id, 0);
			if (ret == 0) {
				char hex[CDT_ID_HEXLEN + 1];

				/* The only copy is damaged: keep the pack, so repair can still find it. */
				warning("pack %s holds a damaged copy of chunk %s and no good copy exists; "
					"keeping the pack (run 'cdt fsck')", p->name,
					cdt_id_to_hex(&id, hex));
				rp->keep[i] = 1;
			}
			ret = ret < 0 ? ret : 0;
		}
		ret = ret < 0 ? ret : maybe_flush(rp);
	}
	free(order);
	return ret;
}

/*
 * Has live chunk id a good copy outside pack p: its loose copy, or a
 * packed one the mark kept? Read and checked against its id: the copy
 * that was marked may be the damaged one.
 */
static int good_elsewhere(struct repacker *rp, const struct cdt_pack *p, const struct cdt_id *id)
{
	struct cdt_live *l = rp->live;
	const unsigned char *raw;
	struct cdt_id got;
	uint32_t len;
	size_t i;

	if (cdt_idset_has(&l->loose_live, id) &&
	    cdt_chunk_read_loose(rp->reader, id, 0, rp->raw, &len, NULL) == 0)
		return 1;
	for (i = 0; i < l->nmarked; i++) {
		struct cdt_pack *q = l->marked[i];
		int64_t k;

		if (q == p || (k = cdt_pack_find(q, id)) < 0 || !cdt_live_packed(q, (uint64_t)k))
			continue;
		if (entry_bytes(rp, q, (uint64_t)k, &raw, &len, &got) && cdt_id_eq(&got, id))
			return 1;
	}
	return 0;
}

/*
 * A pack with nothing live: removed at once if every object's bytes
 * confirm it, before anything is written. 1 if removed, 0 if it must be
 * rewritten instead (it holds a chunk lookups miss, or the only good copy
 * of a live one), or -errno.
 */
static int drop_dead_pack(struct repacker *rp, size_t i)
{
	struct cdt_pack *p = rp->plan->packs[i];
	uint64_t k;

	for (k = 0; k < p->count; k++) {
		struct cdt_id id;
		const unsigned char *raw;
		uint32_t len;

		if (!entry_bytes(rp, p, k, &raw, &len, &id)) {
			if (rp->live->missing.nr)
				return 0;
			/*
			 * Not read (an I/O error, or damage): it may be the one
			 * good copy of the live chunk its index names.
			 */
			cdt_pack_entry(p, k, &id, NULL, NULL, NULL);
			if (cdt_live_chunk(rp->live, &id) && !good_elsewhere(rp, p, &id))
				return 0;
			continue;
		}
		if (cdt_idset_has(&rp->live->missing, &id))
			return 0;
		if (cdt_live_chunk(rp->live, &id) && !good_elsewhere(rp, p, &id))
			return 0;
	}
	return remove_pack(rp, i) < 0 ? -EIO : 1;
}

int cdt_repack(struct cdt_store *s, struct cdt_live *l, const struct cdt_repack_plan *plan,
	       const struct cdt_id *loose, size_t nloose, int dry_run,
	       void (*say)(const char *what, const char *item, uint64_t bytes, void *data),
	       void (*progress)(uint64_t done, uint64_t total, void *data),
	       void *data, struct cdt_repack_result *res)
{
	struct repacker rp;
	size_t i, nrewrite = 0;
	int ret = 0;

	memset(res, 0, sizeof(*res));
	for (i = 0; i < plan->n; i++)
		nrewrite += plan->rewrite[i];
	if (!nrewrite && !nloose)
		return 0;
	if (dry_run) {
		for (i = 0; i < plan->n; i++) {
			if (!plan->rewrite[i])
				continue;
			say("pack (rewriting its live objects)", plan->packs[i]->name,
			    plan->total_bytes[i] - plan->live_bytes[i], data);
			res->chunks += plan->packs[i]->count - plan->live_count[i];
			res->chunk_bytes += plan->total_bytes[i] - plan->live_bytes[i];
			res->packs_removed++;
		}
		/* Every live loose chunk goes into a pack; how many packs they make is not known. */
		res->loose_packed = nloose;
		return 0;
	}

	memset(&rp, 0, sizeof(rp));
	rp.store = s;
	rp.live = l;
	rp.plan = plan;
	rp.say = say;
	rp.data = data;
	rp.res = res;
	rp.packsfd = cdt_store_dirfd(s, CDT_DIR_PACKS);
	rp.reader = cdt_chunk_reader_new(s);
	rp.comp = cdt_store_compressor_new(s);
	rp.dec = cdt_decompressor_new();
	rp.raw_max = cdt_store_chunker(s)->max_size;
	rp.cap = cdt_pack_object_max(rp.raw_max, CDT_FRAME_RAW_HARD_MAX);
	rp.raw = xmalloc(rp.raw_max);
	rp.base = xmalloc(rp.raw_max);
	rp.obj = xmalloc(rp.cap);
	rp.frame_size = cdt_store_config(s)->frame_size;
	rp.keep = xcalloc(plan->n + 1, 1);
	rp.loose = loose;
	rp.progress = progress;
	for (i = 0; i < plan->n; i++)
		if (plan->rewrite[i] && plan->live_count[i])
			rp.total += plan->total_bytes[i];
	for (i = 0; i < nloose; i++) {
		uint64_t *want = cdt_idset_get(&l->loose_live, &loose[i]);

		rp.total += want ? *want : 0;
	}
	tell_progress(&rp, 0);

	/* Dead first: packs with nothing live free space without needing any. */
	for (i = 0; i < plan->n && !ret; i++) {
		if (!plan->rewrite[i] || plan->live_count[i])
			continue;
		ret = drop_dead_pack(&rp, i);
		if (ret == 1)
			rp.keep[i] = 2;	/* gone */
		ret = ret < 0 ? ret : 0;
	}
	/* (and the packs the check indexed again) */
	cdt_serverinfo_packs(s);
	/* What that freed counts: the outputs are sized by the space there is now. */
	cdt_pause_point("repack");
	rp.target = output_target(s, 0);
	/* Live loose chunks, checked fully as they are read. */
	for (i = 0; i < nloose && !ret; i++) {
		uint64_t *want = cdt_idset_get(&l->loose_live, &loose[i]);

		if (!cdt_idset_has(&rp.written, &loose[i])) {
			ret = copy_checked(&rp, &loose[i], want ? (uint32_t)*want : 0);
			if (ret == 0) {
				char hex[CDT_ID_HEXLEN + 1];

				warning("chunk %s has no good copy; leaving it as it is (run 'cdt fsck')",
					cdt_id_to_hex(&loose[i], hex));
			}
			ret = ret < 0 ? ret : 0;
		}
		rp.loose_in = i + 1;
		ret = ret < 0 ? ret : maybe_flush(&rp);
		if (want)
			rp.done += *want;
		tell_progress(&rp, rp.done);
	}
	/* Then the packs to rewrite, one output pack at a time. */
	for (i = 0; i < plan->n && !ret; i++) {
		if (!plan->rewrite[i] || rp.keep[i])
			continue;
		ret = copy_pack(&rp, i);
		rp.done += plan->total_bytes[i];
		tell_progress(&rp, rp.done);
		if (!ret && !rp.keep[i]) {
			ALLOC_GROW(rp.pending, rp.npending + 1, rp.pending_alloc);
			rp.pending[rp.npending++] = i;
		}
	}
	if (!ret)
		ret = flush_output(&rp);
	if (rp.w)
		cdt_pack_writer_free(rp.w);
	cdt_chunk_reader_free(rp.reader);
	cdt_compressor_free(rp.comp);
	cdt_decompressor_free(rp.dec);
	free(rp.raw);
	free(rp.base);
	free(rp.obj);
	free(rp.in_frame);
	free(rp.made);
	free(rp.pending);
	free(rp.keep);
	cdt_idset_clear(&rp.written);
	return ret;
}
