/* testpoint.h: hooks a test sets through the environment: crash, fail and pause points, small batches. */
#ifndef CDT_TESTPOINT_H
#define CDT_TESTPOINT_H

#include <stddef.h>
#include <stdint.h>

/*
 * Testing hook: when $CDT_TEST_CRASH names a point ("objects", "refs",
 * "manifest", "name", "info": names changed by add or rm, their tables
 * of info/names/ not yet; "name-room": add, each name removed where a name
 * of another kind goes), the process kills itself with SIGKILL on reaching it
 * ("POINT:N": the Nth time).
 */
void cdt_crash_point(const char *point);
/*
 * Testing hook: when $CDT_TEST_FAIL names a point (each time it is met, or
 * with "POINT:N" the Nth time, by any thread), returns -EIO there, else 0.
 * Points:
 * "name-records" (add, staging a batch's table of name records: a failure
 * of the commit that names of the next batch may depend on).
 */
int cdt_fail_point(const char *point);
/*
 * Testing hook for races: when $CDT_TEST_PAUSE names the point, the process
 * stops itself (SIGSTOP) on reaching it, so that a test can change an input
 * at exactly that moment and then let it go on (SIGCONT). Points:
 * "catch-up" (add, before it reads skipped bytes again), "delta-base" (add,
 * once, before it reads the base of a delta back from its input) and
 * "repack" (gc, once packs with nothing live are removed and before
 * anything is written), "recompress" (gc --recompress, once its first
 * new pack is committed), "recompress-remove" (gc --recompress, all
 * new packs durable, before any old one is removed), "restore-dir"
 * (restore, once, when the first directory under the target is open and
 * nothing is written in it yet), "files-cache" (add, before it asks
 * the files cache about a file the walk found), "ahead" (add, once, when
 * the reader of small files has read its first one and not yet cut it),
 * "info-mark" (add, once, when its first commit has marked info/ as being
 * changed and changed no name yet), "info-wait" (add, once, after a
 * commit whose names wait for their tables of info/names/, info/lock
 * released), "restore-unpark" (restore, once, before it opens again a
 * directory it closed while deeper ones were written), "pack-in-place"
 * (add, once, when its first pack is in packs/ and info/packs not yet
 * written again), "restore-manifest" (cat, restore, verify, push: the
 * first read of a name, its entry read and its manifest not yet opened;
 * verify --against too; diff --stat, its names walked and no manifest
 * opened), "restore-open" (the same read, its manifest open
 * and no chunk read yet)
 * and "nameref-list" (any
 * reader of the tables of name records, once they are listed and before
 * they are mapped, the first time).
 */
void cdt_pause_point(const char *point);
/*
 * Testing hook: $CDT_TEST_BATCH_BYTES, a number of bytes, replaces `dflt`
 * as the size at which add and gc --recompress commit the new chunks they
 * have staged (a pack), so that a test crosses a commit with little data.
 */
uint64_t cdt_test_batch_bytes(uint64_t dflt);
/* Names per group commit: dflt, or CDT_TEST_GROUP for tests. */
size_t cdt_test_group(size_t dflt);
/*
 * Testing hook: $CDT_TEST_AHEAD_ENCODE=1 has add's reader of small files
 * (ops/ahead.h) encode every file's frames as soon as it has read it, not
 * only when it has nothing else to do, so that a test meets that path.
 */
int cdt_test_ahead_encode(void);

#endif
