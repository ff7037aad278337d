/* SPDX-License-Identifier: MIT */
/*
 * fuse-null MOUNTPOINT: a FUSE file system that does no work, mounted and
 * served by the simulator's own code (tests/sim/simfs.c: high-level
 * libfuse3, the multi-threaded loop with the same thread limits, zero
 * entry, attribute and negative timeouts, direct_io, allow_other and
 * default_permissions).
 * It holds one attribute at the same depth as the simulator's
 * bus/ap/config_time: reading gives "30\n", any write is taken whole and
 * forgotten.  .requests counts the operations, as the simulator's
 * .sim/requests does (reading it does not count; writing it resets it).
 *
 * bench/session runs the simulator-cost loops against it as well: what the
 * kernel's FUSE round trips cost by themselves on this machine, so that the
 * simulator's own work per request is the difference (bench/RESULTS.md,
 * "Simulator cost").  It returns once mounted; stop it with
 * `fusermount3 -u MOUNTPOINT`.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "simfs.h"

#define ATTR "/bus/ap/config_time"
#define COUNTER "/.requests"

static const char value[] = "30\n";
static unsigned long requests;

static void count(const char *path)
{
	if (!path || strcmp(path, COUNTER))
		__atomic_fetch_add(&requests, 1, __ATOMIC_RELAXED);
}

static int null_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	(void)fi;
	count(path);
	memset(st, 0, sizeof(*st));
	if (!strcmp(path, "/") || !strcmp(path, "/bus") || !strcmp(path, "/bus/ap")) {
		st->st_mode = S_IFDIR | 0755;
		st->st_nlink = 2;
	} else if (!strcmp(path, ATTR) || !strcmp(path, COUNTER)) {
		st->st_mode = S_IFREG | 0644;
		st->st_nlink = 1;
		st->st_size = 4096;
	} else {
		return -ENOENT;
	}
	st->st_blksize = 4096;
	return 0;
}

static int null_open(const char *path, struct fuse_file_info *fi)
{
	count(path);
	if (strcmp(path, ATTR) && strcmp(path, COUNTER))
		return -ENOENT;
	fi->direct_io = 1;
	fi->keep_cache = 0;
	return 0;
}

static int null_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
	char text[32];
	size_t len;

	(void)fi;
	count(path);
	if (!strcmp(path, COUNTER))
		len = (size_t)snprintf(text, sizeof(text), "%lu\n", __atomic_load_n(&requests, __ATOMIC_RELAXED));
	else
		len = (size_t)snprintf(text, sizeof(text), "%s", value);
	if (off < 0 || (size_t)off >= len)
		return 0;
	if (size > len - (size_t)off)
		size = len - (size_t)off;
	memcpy(buf, text + off, size);
	return (int)size;
}

static int null_write(const char *path, const char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
	(void)buf, (void)off, (void)fi;
	count(path);
	if (!strcmp(path, COUNTER))
		__atomic_store_n(&requests, 0, __ATOMIC_RELAXED);
	return (int)size;
}

static int null_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	(void)size, (void)fi;
	count(path);
	return 0;
}

static int null_release(const char *path, struct fuse_file_info *fi)
{
	(void)fi;
	count(path);
	return 0;
}

static void *null_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	(void)conn;
	simfs_config(cfg);
	return NULL;
}

/* the simulator's own set, less what the loops never call */
static const struct fuse_operations ops = {
	.init = null_init,
	.getattr = null_getattr,
	.open = null_open,
	.read = null_read,
	.write = null_write,
	.truncate = null_truncate,
	.release = null_release,
};

int main(int argc, char **argv)
{
	if (argc != 2) {
		fputs("usage: fuse-null MOUNTPOINT\n", stderr);
		return 64;
	}
	return simfs_serve(argv[0], "fuse-null", &ops, argv[1], false);
}
