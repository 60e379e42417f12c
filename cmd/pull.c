/* cmd/pull.c: cdt pull, copy names and what they need from another store into this one. */
#include "cmd.h"
#include "push.h"

const char usage_pull[] =
	"usage: cdt pull [-f] [-n] [-v] [-j N] SRC [PREFIX...]\n"
	"\n"
	"Copy the names of the store SRC (those under each PREFIX, or all) and\n"
	"everything they need into this store: cdt push run from the other side.\n"
	"Only contents this store lacks are read, and of those only chunks it\n"
	"lacks are stored. A name this store holds with other content is kept\n"
	"and reported (exit status 3) unless -f. Nothing is removed but what\n"
	"-f replaces.\n"
	"\n"
	"    -f, --force        replace names that hold other content here\n"
	"    -n, --dry-run      say what would be copied; write nothing\n"
	"    -v, --verbose      name each name copied\n"
	"    -j, --jobs N       threads reading and storing (default: CPUs)\n"
	"    -h, --help         show this help\n"
	"\n"
	"Exit status: 0 if every name is here now, 3 if some were kept because\n"
	"they differ here, 1 if some could not be copied or a PREFIX has no name\n"
	"(or on error), 2 usage error.\n";

int cmd_pull(int argc, char **argv, struct cmd_ctx *ctx)
{
	return push_or_pull(argc, argv, ctx, 1);
}
