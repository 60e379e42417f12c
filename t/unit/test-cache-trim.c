/* test-cache-trim.c: the bound of a remote store's cache and the order its contents are evicted in. */
#include "ops/cache-trim.h"
#include "unit.h"

#include <stdio.h>
#include <string.h>

#define GIB ((uint64_t)1 << 30)

static struct cdt_cache_item item(int64_t used, uint64_t bytes, int is_pack, const char *name)
{
	struct cdt_cache_item it;

	memset(&it, 0, sizeof(it));
	it.used = used;
	it.bytes = bytes;
	it.is_pack = is_pack;
	snprintf(it.name, sizeof(it.name), "%s", name);
	return it;
}

static void test_default_size(void)
{
	/* A tenth of the room, counting what the cache holds, at least 1 GiB. */
	CHECK(cdt_cache_default_size(100 * GIB, 0) == 10 * GIB);
	CHECK(cdt_cache_default_size(90 * GIB, 10 * GIB) == 10 * GIB);
	CHECK(cdt_cache_default_size(2 * GIB, 0) == GIB);
	CHECK(cdt_cache_default_size(0, 0) == GIB);
	/* No wrap-around on absurd figures. */
	CHECK(cdt_cache_default_size(UINT64_MAX, UINT64_MAX) == UINT64_MAX / 10);
}

static void test_under_bound(void)
{
	struct cdt_cache_item v[2] = { item(1, 100, 0, "a"), item(2, 100, 1, "b") };
	uint64_t part = 7;

	CHECK(cdt_cache_trim_plan(v, 2, 200, 200, &part) == 0);
	CHECK(part == 0);
	CHECK(cdt_cache_trim_plan(v, 2, 200, 1000, &part) == 0);
}

static void test_oldest_first(void)
{
	struct cdt_cache_item v[4] = {
		item(40, 100, 0, "manifests/new"),
		item(10, 100, 0, "objects/old"),
		item(30, 100, 0, "manifests/mid"),
		item(20, 100, 0, "objects/older"),
	};
	uint64_t part;
	size_t k;

	/* 400 held, 150 wanted: the two oldest (200) are not enough, three are. */
	k = cdt_cache_trim_plan(v, 4, 400, 150, &part);
	CHECK(k == 3);
	CHECK(part == 0);
	CHECK(!strcmp(v[0].name, "objects/old"));
	CHECK(!strcmp(v[1].name, "objects/older"));
	CHECK(!strcmp(v[2].name, "manifests/mid"));
	CHECK(!strcmp(v[3].name, "manifests/new"));
	/* Exactly enough stops there. */
	CHECK(cdt_cache_trim_plan(v, 4, 400, 200, &part) == 2 && part == 0);
}

static void test_ties_by_name(void)
{
	struct cdt_cache_item v[3] = { item(5, 10, 0, "c"), item(5, 10, 0, "a"), item(5, 10, 0, "b") };
	uint64_t part;

	CHECK(cdt_cache_trim_plan(v, 3, 30, 15, &part) == 2);
	CHECK(!strcmp(v[0].name, "a") && !strcmp(v[1].name, "b"));
}

static void test_pack_in_part(void)
{
	struct cdt_cache_item v[3] = {
		item(1, 50, 0, "objects/x"),
		item(2, 1000, 1, "packs/big"),
		item(3, 50, 0, "manifests/y"),
	};
	uint64_t part;

	/* 1100 held, 800 wanted: x goes whole, then 250 of the big pack. */
	CHECK(cdt_cache_trim_plan(v, 3, 1100, 800, &part) == 2);
	CHECK(part == 250);
	CHECK(v[1].is_pack);
	/* A pack no bigger than what is still needed goes whole. */
	v[0] = item(1, 50, 0, "objects/x");
	v[1] = item(2, 250, 1, "packs/small");
	v[2] = item(3, 50, 0, "manifests/y");
	CHECK(cdt_cache_trim_plan(v, 3, 350, 50, &part) == 2);
	CHECK(part == 0);
	/* A whole file is never split, even when it overshoots. */
	v[0] = item(1, 500, 0, "objects/x");
	v[1] = item(2, 250, 1, "packs/small");
	CHECK(cdt_cache_trim_plan(v, 2, 750, 700, &part) == 1);
	CHECK(part == 0);
}

static void test_not_enough(void)
{
	struct cdt_cache_item v[2] = { item(1, 10, 0, "a"), item(2, 10, 0, "b") };
	uint64_t part;

	/* Everything goes when even that is not enough (the rest is not evictable). */
	CHECK(cdt_cache_trim_plan(v, 2, 500, 0, &part) == 2);
	CHECK(part == 0);
	CHECK(cdt_cache_trim_plan(NULL, 0, 500, 0, &part) == 0);
}

int main(void)
{
	test_default_size();
	test_under_bound();
	test_oldest_first();
	test_ties_by_name();
	test_pack_in_part();
	test_not_enough();
	UNIT_DONE();
}
