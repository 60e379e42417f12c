/* test-lookup.c: the cost of asking whether a store holds a chunk. */
#include "test-tool.h"
#include "base/hash.h"
#include "ops/chunks.h"
#include "ops/packset.h"
#include "format/pack.h"
#include "format/store.h"
#include "base/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Nanoseconds per call of fn over ids[0..n); *hits counts the ids found. */
static double time_lookups(struct cdt_store *s, const struct cdt_id *ids, uint64_t n,
			   int (*fn)(struct cdt_store *, const struct cdt_id *), uint64_t *hits)
{
	double t0 = now_seconds(), t;
	uint64_t i;

	*hits = 0;
	for (i = 0; i < n; i++) {
		int r = fn(s, &ids[i]);

		if (r < 0)
			die("lookup failed: %s", cdt_strerror(r));
		*hits += (uint64_t)r;
	}
	t = now_seconds() - t0;
	return t * 1e9 / (double)n;
}

static int locate_only(struct cdt_store *s, const struct cdt_id *id)
{
	struct cdt_pack *p;
	uint64_t k;

	return cdt_chunk_locate(s, id, &p, &k);
}

/*
 * lookup STORE N [SEED]: the cost of asking whether the store holds a chunk,
 * as add does for every chunk it cuts. Times cdt_chunk_has() (loose object,
 * then packs through the multi-pack index) and cdt_chunk_locate() (the pack
 * search alone) for N random ids, which no store holds, and for N ids drawn
 * from the packs. The first pass over each set runs in a fresh process
 * with nothing of the indexes touched yet, as in a short-lived command; the
 * other figures are the best of three further passes. "key value" lines.
 */
int cmd__lookup(int argc, char **argv)
{
	struct cdt_store *s;
	struct cdt_pack **packs;
	struct cdt_id *absent, *present = NULL;
	uint64_t n, seed = 42, total = 0, *cum, i, hits, found;
	size_t npacks, uncovered, p;
	double first_absent, first_present = 0, best[4] = { 0 };
	int pass, k, ret;

	if (argc != 3 && argc != 4)
		die("usage: test-tool lookup STORE N [SEED]");
	n = parse_u64(argv[2]);
	if (argc == 4)
		seed = parse_u64(argv[3]);
	if (!n || n > (1u << 26))
		die("N must be between 1 and %u", 1u << 26);
	ret = cdt_store_open(argv[1], &s);
	if (ret < 0)
		return 1;
	npacks = cdt_packs_list(s, &packs);
	uncovered = cdt_packs_uncovered(s);
	cum = xcalloc(npacks + 1, sizeof(*cum));
	for (p = 0; p < npacks; p++) {
		total += packs[p]->count;
		cum[p + 1] = total;
	}

	absent = xmalloc((size_t)n * sizeof(*absent));
	for (i = 0; i < n; i++) {
		uint64_t w[4];

		for (k = 0; k < 4; k++)
			w[k] = rng_next(&seed);
		memcpy(absent[i].b, w, sizeof(w));
	}
	if (total) {
		present = xmalloc((size_t)n * sizeof(*present));
		for (i = 0; i < n; i++) {
			uint64_t r = rng_next(&seed) % total;
			size_t lo = 0, hi = npacks;

			/* The pack holding entry r of all of them: cum[lo] <= r < cum[lo + 1]. */
			while (hi - lo > 1) {
				size_t mid = lo + (hi - lo) / 2;

				if (cum[mid] <= r)
					lo = mid;
				else
					hi = mid;
			}
			cdt_pack_entry(packs[lo], r - cum[lo], &present[i], NULL, NULL, NULL);
		}
	}

	first_absent = time_lookups(s, absent, n, cdt_chunk_has, &found);
	if (found)
		die("%llu random ids were found in the store", (unsigned long long)found);
	if (present) {
		first_present = time_lookups(s, present, n, cdt_chunk_has, &hits);
		if (hits != n)
			die("%llu ids taken from the packs were not found",
			    (unsigned long long)(n - hits));
	}
	for (pass = 0; pass < 3; pass++) {
		double t[4];

		t[0] = time_lookups(s, absent, n, cdt_chunk_has, &hits);
		t[1] = time_lookups(s, absent, n, locate_only, &hits);
		if (present) {
			t[2] = time_lookups(s, present, n, cdt_chunk_has, &hits);
			t[3] = time_lookups(s, present, n, locate_only, &hits);
		} else {
			t[2] = t[3] = 0;
		}
		for (k = 0; k < 4; k++)
			if (!pass || t[k] < best[k])
				best[k] = t[k];
	}

	printf("packs %zu\n", npacks);
	printf("packs_in_midx %zu\n", npacks - uncovered);
	printf("packed_chunks %llu\n", (unsigned long long)total);
	printf("lookups %llu\n", (unsigned long long)n);
	printf("absent_has_first_ns %.0f\n", first_absent);
	printf("absent_has_ns %.0f\n", best[0]);
	printf("absent_packs_ns %.0f\n", best[1]);
	if (present) {
		printf("present_has_first_ns %.0f\n", first_present);
		printf("present_has_ns %.0f\n", best[2]);
		printf("present_packs_ns %.0f\n", best[3]);
	}
	/* Mapped indexes count as file-backed resident memory. */
	printf("rss_anon_kb %ld\n", status_kb(0, "RssAnon"));
	printf("rss_file_kb %ld\n", status_kb(0, "RssFile"));
	free(absent);
	free(present);
	free(cum);
	free(packs);
	cdt_store_close(s);
	cdt_hash_thread_cleanup();
	return 0;
}
