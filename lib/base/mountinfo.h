/* mountinfo.h: the mount table of this process, as /proc/self/mountinfo shows it. */
#ifndef CDT_MOUNTINFO_H
#define CDT_MOUNTINFO_H

#include "base/strbuf.h"

/* One line of the table: the fields cdt looks at, escapes undone. */
struct cdt_mountinfo_entry {
	char *mountpoint;	/* where it is mounted, as seen by this process */
	char *fstype;		/* "ext4", "fuse.sshfs", ... */
	char *source;		/* the device or fsname ("none" when there is none) */
};

/*
 * Split a line of /proc/self/mountinfo ("ID PARENT MAJ:MIN ROOT MOUNTPOINT
 * OPTS [TAGS...] - FSTYPE SOURCE SUPEROPTS") in place, undoing the octal
 * escapes (\040 for a space) of the fields kept. 0, or -EINVAL for a line
 * of another shape (*e is then undefined).
 */
int cdt_mountinfo_parse(char *line, struct cdt_mountinfo_entry *e);

/*
 * Is the absolute, resolved `path` a mount point? 1 with the file system
 * type and source of the mount on top (the one `path` reaches; mounts stack
 * in the order they were made) in *fstype and *source, either may be NULL;
 * 0 when it is not; -errno when the table cannot be read.
 */
int cdt_mountinfo_find(const char *path, struct strbuf *fstype, struct strbuf *source);

/*
 * Resolve `path` into an absolute path without symbolic links, as
 * realpath(3) does, except that a last component that cannot be looked at
 * (the mount point of a FUSE server that has gone: ENOTCONN) is kept as it
 * is under its resolved directory, so that a dead mount can still be named
 * to unmount it. 0 or -errno.
 */
int cdt_mountinfo_resolve(const char *path, struct strbuf *out);

#endif
