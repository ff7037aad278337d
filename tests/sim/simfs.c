/* SPDX-License-Identifier: MIT */
/* simfs.c: apmatrix-sim's mount and loop (simfs.h), shared with bench/fuse-null. */
#include <stdio.h>

#include "macro.h"
#include "simfs.h"

void simfs_config(struct fuse_config *cfg)
{
	cfg->entry_timeout = 0;
	cfg->attr_timeout = 0;
	cfg->negative_timeout = 0;
	cfg->direct_io = 1;
	cfg->kernel_cache = 0;
	cfg->use_ino = 0;
}

int simfs_serve(const char *argv0, const char *name, const struct fuse_operations *ops, const char *mnt,
		bool foreground)
{
	_cleanup_(fuse_opt_free_args) struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct fuse_loop_config *cfg;
	char opts[256];
	struct fuse *f;
	int r;

	snprintf(opts, sizeof(opts), "-oallow_other,default_permissions,fsname=%s,subtype=%s", name, name);
	if (fuse_opt_add_arg(&args, argv0) < 0 || fuse_opt_add_arg(&args, opts) < 0)
		return 1;
	f = fuse_new(&args, ops, sizeof(*ops), NULL);
	if (!f)
		return 1;
	if (fuse_mount(f, mnt) < 0) {
		fuse_destroy(f);
		return 1;
	}
	if (fuse_daemonize(foreground) < 0 || fuse_set_signal_handlers(fuse_get_session(f)) < 0) {
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
	return r == 0 ? 0 : 1;
}
