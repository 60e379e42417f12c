/* cmd/push.h: what cdt push and cdt pull share (cmd/push.c). */
#ifndef CDT_CMD_PUSH_H
#define CDT_CMD_PUSH_H

#include "cmd.h"

/* Run push (pull 0) or pull (pull 1) with the command's arguments. */
int push_or_pull(int argc, char **argv, struct cmd_ctx *ctx, int pull);

#endif
