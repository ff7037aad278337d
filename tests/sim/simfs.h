/* SPDX-License-Identifier: MIT */
/*
 * simfs.h: how apmatrix-sim mounts and serves itself, in one place, so that
 * bench/fuse-null (the same mount without the simulator's work) is mounted
 * exactly alike.
 */
#pragma once

#define FUSE_USE_VERSION 312

#include <fuse.h>
#include <stdbool.h>

/*
 * For the init() operation: zero entry, attribute and negative timeouts,
 * direct_io and no kernel cache, so every access reaches the file system
 * and every read sees the live state, like sysfs; libfuse's own inode
 * numbers.
 */
void simfs_config(struct fuse_config *cfg);

/*
 * Mount ops on mnt as NAME (fsname and subtype) with allow_other and
 * default_permissions, go to the background once mounted unless
 * foreground, and serve with the multi-threaded loop (at most 64 threads,
 * 8 idle) until unmounted or signalled; then unmount.  argv0 is the
 * program's name for libfuse.  Returns 0, or 1 when it could not mount or
 * the loop failed.
 */
int simfs_serve(const char *argv0, const char *name, const struct fuse_operations *ops, const char *mnt,
		bool foreground);
