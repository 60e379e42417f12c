#include "base/testpoint.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/*
 * Is this the meeting of `point` that $var names (POINT, or POINT:N for
 * the Nth time)? Counted across threads.
 */
static int test_point_met(const char *var, const char *point, pthread_mutex_t *mu,
			  unsigned long *seen)
{
	const char *want = getenv(var), *colon;
	size_t len;
	unsigned long nth;
	int met;

	if (!want)
		return 0;
	colon = strchr(want, ':');
	len = colon ? (size_t)(colon - want) : strlen(want);
	nth = colon ? strtoul(colon + 1, NULL, 10) : 1;
	if (strlen(point) != len || strncmp(want, point, len))
		return 0;
	pthread_mutex_lock(mu);
	met = ++*seen == nth || (!colon && *seen >= nth);
	pthread_mutex_unlock(mu);
	return met;
}

void cdt_crash_point(const char *point)
{
	static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	static unsigned long seen;

	/* add commits names on a thread of its own: any thread may meet the point. */
	if (test_point_met("CDT_TEST_CRASH", point, &mu, &seen))
		kill(getpid(), SIGKILL);
}

int cdt_fail_point(const char *point)
{
	static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	static unsigned long seen;

	return test_point_met("CDT_TEST_FAIL", point, &mu, &seen) ? -EIO : 0;
}

/* The positive number $var holds, or dflt if it is unset or holds anything else. */
static uint64_t test_number(const char *var, uint64_t dflt)
{
	const char *v = getenv(var);
	char *end;
	unsigned long long n;

	if (!v || !*v)
		return dflt;
	errno = 0;
	n = strtoull(v, &end, 10);
	return errno || *end || !n ? dflt : (uint64_t)n;
}

size_t cdt_test_group(size_t dflt)
{
	return (size_t)test_number("CDT_TEST_GROUP", dflt);
}

void cdt_pause_point(const char *point)
{
	/* Asked each time: points are met on several threads. */
	const char *want = getenv("CDT_TEST_PAUSE");

	if (want && !strcmp(want, point))
		raise(SIGSTOP);
}

uint64_t cdt_test_batch_bytes(uint64_t dflt)
{
	return test_number("CDT_TEST_BATCH_BYTES", dflt);
}

int cdt_test_ahead_encode(void)
{
	return test_number("CDT_TEST_AHEAD_ENCODE", 0) != 0;
}
