/* test-tool.c: library internals for tests and benchmarks (not installed). */
#include "../../lib/chunker.h"
#include "../../lib/util.h"

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
	(void)argc; (void)argv;
	return 0;
}
