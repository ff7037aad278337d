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

#include <stdbool.h>
#include <sys/stat.h>
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

/*
 * A directory that apmatrix keeps its own files in (the run directory):
 * path and every directory on the way held to the rules above, path itself
 * too like one on the way (a sticky one is fine: a tmpfs mounted without
 * mode=), and named in *ret_why as "directory DIR is ...".  make: 0, or
 * the mode to make path with when it is missing (0755 for a missing
 * directory on the way); each one made is checked once it is there, so one
 * that another user made first, in a sticky directory, is refused.  Returns
 * an O_PATH descriptor of the directory, or -errno: -ENOENT when it is
 * missing and make is 0 (after the directories that are there were
 * checked), -EPERM with *ret_why when one is refused.
 */
int trust_open_workdir(const char *path, mode_t make, char **ret_why);

/*
 * Why the object st (of path) is not trusted by the rules above, or NULL;
 * malloc'd.  what: "" or "DIR is ", put before the reason.  sticky_ok: a
 * sticky directory may be writable by all.
 */
char *trust_why(const struct stat *st, const char *what, const char *path, bool sticky_ok);

/* The owner trusted besides root: the effective uid. */
uid_t trust_user(void);

/* "'NAME' (uid N)", or "uid N" when it has no name; malloc'd */
char *trust_user_name(uid_t uid);
