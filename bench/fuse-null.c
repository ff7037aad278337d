/* SPDX-License-Identifier: MIT */
/*
 * fuse-null MOUNTPOINT: a FUSE file system that does no work, mounted the
 * way apmatrix-sim mounts itself (tests/sim/main.c: high-level libfuse3,
 * the multi-threaded loop with the same thread limits, zero entry, attribute
 * and negative timeouts, direct_io, allow_other and default_permissions).
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
#define FUSE_USE_VERSION 312

#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	cfg->entry_timeout = 0;
	cfg->attr_timeout = 0;
	cfg->negative_timeout = 0;
	cfg->direct_io = 1;
	cfg->kernel_cache = 0;
	cfg->use_ino = 0;
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
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct fuse_loop_config *cfg;
	struct fuse *f;
	int r;

	if (argc != 2) {
		fputs("usage: fuse-null MOUNTPOINT\n", stderr);
		return 64;
	}
	if (fuse_opt_add_arg(&args, argv[0]) < 0 ||
	    fuse_opt_add_arg(&args, "-oallow_other,default_permissions,fsname=fuse-null,subtype=fuse-null") < 0)
		return 1;
	f = fuse_new(&args, &ops, sizeof(ops), NULL);
	if (!f)
		return 1;
	if (fuse_mount(f, argv[1]) < 0) {
		fuse_destroy(f);
		return 1;
	}
	if (fuse_daemonize(0) < 0 || fuse_set_signal_handlers(fuse_get_session(f)) < 0) {
		fuse_unmount(f);
		fuse_destroy(f);
		return 1;
	}
	cfg = fuse_loop_cfg_create();
	fuse_loop_cfg_set_max_threads(cfg, 64);
	fuse_loop_cfg_set_idle_threads(cfg, 8);
	r = fuse_loop_mt(f, cfg);
	fuse_loop_cfg_destroy(cfg);
	fuse_remove_signal_handlers(fuse_get_session(f));
	fuse_unmount(f);
	fuse_destroy(f);
	fuse_opt_free_args(&args);
	return r == 0 ? 0 : 1;
}
