/* SPDX-License-Identifier: MIT */
/*
 * trust.h: opening configuration files only when nobody but root (or the
 * user running apmatrix) could have written them, like sshd's StrictModes.
 *
 * A file or directory is trusted when it is owned by root or by the
 * effective user, and is writable by neither its group nor others.  Every
 * directory on the way to it, from "/" down, must be trusted the same way,
 * except that a directory with the sticky bit (/tmp) may be writable by
 * all, since nobody can rename or delete another user's entries in it.
 * Symlinks are resolved first (realpath); then the resolved path is walked
 * one component at a time with openat(O_NOFOLLOW) from "/", checking each
 * directory through the descriptor that opens the next one, so nothing can
 * be swapped in between the check and the read.
 *
 * The configuration must also be a regular file: a FIFO, a device
 * (/dev/zero), a socket or a directory is refused, so a read never blocks
 * and never runs on forever.
 */
#pragma once

#include <sys/types.h>

/*
 * Open path for reading as a trusted regular file.  Returns the fd, or
 * -errno.  When the file is there but refused, *ret_why is a malloc'd
 * one-line reason with the fix, without the path, and the error is -EPERM
 * (not trusted), -EISDIR (a directory) or -EPERM (another non-regular
 * file).  Errors that leave *ret_why NULL are plain errno failures.
 */
int trust_open_file(const char *path, char **ret_why);

/* Same for a directory (the drop-in directory): an O_RDONLY|O_DIRECTORY fd; -ENOTDIR for a non-directory. */
int trust_open_dir(const char *path, char **ret_why);

/* The owner trusted besides root: the effective uid. */
uid_t trust_user(void);
