/* fuzz.h: what the libFuzzer targets in t/fuzz/ share: a scratch store, quiet errors, checks. */
#ifndef CDT_FUZZ_H
#define CDT_FUZZ_H

#include <stddef.h>
#include <stdint.h>

#include "base/hash.h"
#include "format/store.h"
#include "base/strbuf.h"
#include "base/util.h"

/* The entry point libFuzzer calls once per input. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * A property the code under test must keep. Unlike a sanitizer report, a
 * broken property is found only because the target checks it: abort so
 * that libFuzzer keeps the input.
 */
#define FUZZ_CHECK(cond) \
	do { \
		if (!(cond)) \
			fuzz_fail(__FILE__, __LINE__, #cond); \
	} while (0)
void fuzz_fail(const char *file, int line, const char *what) __attribute__((noreturn));

/*
 * Silence error() and warning(): damaged input is the normal case here, and
 * a line per input slows the run and buries libFuzzer's own output. Set
 * CDT_FUZZ_VERBOSE=1 to see the messages when replaying one input.
 */
void fuzz_quiet(void);
/* With CDT_FUZZ_VERBOSE=1, print what a call returned and why (for replays). */
void fuzz_note(const char *what, int ret, const struct strbuf *why);

/*
 * The process's scratch store, created on first use with the given chunker
 * parameters in a new directory under $TMPDIR (default /tmp) and removed at
 * exit. Targets write one file per input into it and remove it again.
 */
struct cdt_store *fuzz_store(enum cdt_chunker_kind kind, uint32_t chunk_size);

/* Write a whole file relative to dirfd (creating or truncating it); dies on failure. */
void fuzz_write_at(int dirfd, const char *path, const void *data, size_t len);
/* Remove every file in the directory rel (relative to dirfd), not recursing. */
void fuzz_empty_dir(int dirfd, const char *rel);

/* printf into a static buffer (for paths); valid until the next call. */
const char *fuzz_fmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* SHA-256 of data, written over the 32 bytes that follow it (the usual trailer). */
void fuzz_fix_checksum(unsigned char *data, size_t len_before_sum);

#endif
