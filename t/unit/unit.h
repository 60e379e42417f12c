/* unit.h: a minimal harness for the library's C unit tests. */
#ifndef CDT_UNIT_H
#define CDT_UNIT_H

#include <stdio.h>
#include <stdlib.h>

static int unit_failures;
static int unit_checks;

#define CHECK(cond) \
	do { \
		unit_checks++; \
		if (!(cond)) { \
			unit_failures++; \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
		} \
	} while (0)

#define UNIT_DONE() \
	do { \
		fprintf(stderr, "%d checks, %d failed\n", unit_checks, unit_failures); \
		return unit_failures ? 1 : 0; \
	} while (0)

#endif
