/* test-tool.h: the test-tool subcommands, one file each, and the helpers they share. */
#ifndef CDT_TEST_TOOL_H
#define CDT_TEST_TOOL_H

#include <stdint.h>
#include <sys/types.h>

/*
 * A subcommand gets its own name as argv[0] and returns the exit status;
 * usage errors die(). To add one: t/helper/test-NAME.c with cmd__NAME(),
 * a line here, one in the table of test-tool.c, and one in the Makefile's
 * TEST_TOOL_SOURCES.
 */
int cmd__chunk(int argc, char **argv);
int cmd__gen_random(int argc, char **argv);
int cmd__gen_text(int argc, char **argv);
int cmd__ingest(int argc, char **argv);
int cmd__info(int argc, char **argv);
int cmd__limits(int argc, char **argv);
int cmd__lookup(int argc, char **argv);
int cmd__mpack(int argc, char **argv);
int cmd__namerefs(int argc, char **argv);
int cmd__pread(int argc, char **argv);
int cmd__ref_add(int argc, char **argv);
int cmd__rusage(int argc, char **argv);
int cmd__superchunk(int argc, char **argv);

/* Returns the next value of the reproducible sequence (splitmix64) whose state is *s. */
uint64_t rng_next(uint64_t *s);
/* Returns a number from the command line ("4096", "64K", "1MiB"); dies on anything else. */
uint64_t parse_u64(const char *s);
/*
 * Returns a "Key:  N kB" figure of /proc/PID/status (pid 0: this process)
 * in KiB, or -1 if unknown.
 */
long status_kb(pid_t pid, const char *key);

#endif
