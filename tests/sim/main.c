/* SPDX-License-Identifier: MIT */
/*
 * main.c: apmatrix-sim's FUSE glue.  High-level libfuse3 API, multi-threaded
 * loop, zero entry/attr timeouts and direct_io so every read sees the live
 * state, like sysfs (the mount and the loop: simfs.c).  Usage:
 * apmatrix-sim [-f] TOPOLOGY MOUNTPOINT.
 */
#define FUSE_USE_VERSION 312

#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "macro.h"
#include "sim.h"
#include "simfs.h"

static struct sim sim;
static struct timespec start_time;

static struct node *lookup(const char *path)
{
	return node_lookup(sim.root, path[0] == '/' ? path + 1 : path);
}

static bool is_control(const char *path)
{
	return strncmp(path, "/.sim/", 6) == 0;
}

/*
 * One more file system operation for path (.sim/requests); control files do
 * not count.  path is NULL for a release after the file went away.
 */
static void count(const char *path)
{
	if (!path || (strcmp(path, "/.sim") && !is_control(path)))
		__atomic_fetch_add(&sim.requests, 1, __ATOMIC_RELAXED);
}

static void fill_stat(const struct node *n, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	switch (n->type) {
	case NODE_DIR:
		st->st_mode = S_IFDIR | 0755;
		st->st_nlink = 2;
		break;
	case NODE_FILE:
		st->st_mode = S_IFREG | n->attr->mode;
		st->st_nlink = 1;
		st->st_size = 4096;
		break;
	case NODE_LINK:
		st->st_mode = S_IFLNK | 0777;
		st->st_nlink = 1;
		st->st_size = (off_t)strlen(n->target);
		break;
	}
	st->st_atim = st->st_mtim = st->st_ctim = start_time;
	st->st_blksize = 4096;
}

static int sim_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	struct node *n;
	int r = 0;

	count(path);
	(void)fi;
	pthread_mutex_lock(&sim.lock);
	n = lookup(path);
	if (n)
		fill_stat(n, st);
	else
		r = -ENOENT;
	pthread_mutex_unlock(&sim.lock);
	return r;
}

static int sim_readlink(const char *path, char *buf, size_t size)
{
	struct node *n;
	int r = 0;

	count(path);
	pthread_mutex_lock(&sim.lock);
	n = lookup(path);
	if (!n)
		r = -ENOENT;
	else if (n->type != NODE_LINK)
		r = -EINVAL;
	else
		snprintf(buf, size, "%s", n->target);
	pthread_mutex_unlock(&sim.lock);
	return r;
}

static int sim_readdir(const char *path, void *buf, fuse_fill_dir_t filler, off_t off, struct fuse_file_info *fi,
		       enum fuse_readdir_flags flags)
{
	struct node *n;
	int r = 0;

	count(path);
	(void)off, (void)fi, (void)flags;
	pthread_mutex_lock(&sim.lock);
	n = lookup(path);
	if (!n) {
		r = -ENOENT;
	} else if (n->type != NODE_DIR) {
		r = -ENOTDIR;
	} else if (!is_control(path) && (r = control_read_fault(&sim, path + 1)) < 0) {
		/* rfail: the listing fails */
	} else {
		filler(buf, ".", NULL, 0, 0);
		filler(buf, "..", NULL, 0, 0);
		for (size_t i = 0; i < n->n_children; i++) {
			struct stat st;
			fill_stat(n->children[i], &st);
			filler(buf, n->children[i]->name, &st, 0, 0);
		}
	}
	pthread_mutex_unlock(&sim.lock);
	return r;
}

/* kernfs_fop_open(): EACCES when the attribute lacks show/store for the mode */
static int sim_open(const char *path, struct fuse_file_info *fi)
{
	struct node *n;
	int acc = fi->flags & O_ACCMODE;
	int r = 0;

	count(path);
	pthread_mutex_lock(&sim.lock);
	n = lookup(path);
	if (!n)
		r = -ENOENT;
	else if (n->type != NODE_FILE)
		r = -EISDIR;
	else if (strncmp(path, "/.sim/vfio/", 11) == 0)
		r = sim_vfio_group_open(&sim, n->obj);
	else if ((acc == O_RDONLY || acc == O_RDWR) && !n->attr->show)
		r = -EACCES;
	else if ((acc == O_WRONLY || acc == O_RDWR) && !n->attr->store)
		r = -EACCES;
	pthread_mutex_unlock(&sim.lock);
	fi->direct_io = 1;
	fi->keep_cache = 0;
	return r;
}

/* Wait MS milliseconds without the lock, so that other requests go on meanwhile. */
static void sleep_unlocked(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	pthread_mutex_unlock(&sim.lock);
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
	pthread_mutex_lock(&sim.lock);
}

static int sim_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
	_cleanup_free_ char *content = NULL;
	struct node *n;
	int r;

	count(path);
	(void)fi;
	pthread_mutex_lock(&sim.lock);
	if (!is_control(path)) {
		unsigned delay = control_read_delay(&sim, path + 1);

		if (delay) /* before the show: the content is what the host has after the wait */
			sleep_unlocked(delay);
	}
	n = lookup(path);
	if (!n)
		r = -ENODEV;
	else if (n->type != NODE_FILE || !n->attr->show)
		r = -EACCES;
	else if (!is_control(path) && (r = control_read_fault(&sim, path + 1)) < 0)
		; /* rfail: the read fails */
	else
		r = n->attr->show(&sim, n->obj, &content);
	pthread_mutex_unlock(&sim.lock);
	if (r < 0)
		return r;
	{
		size_t len = strlen(content);
		/* sysfs attributes are one page; control files may be longer */
		if (!is_control(path) && len > 4096)
			len = 4096;
		if ((size_t)off >= len)
			return 0;
		if (size > len - (size_t)off)
			size = len - (size_t)off;
		memcpy(buf, content + off, size);
	}
	return (int)size;
}

static int sim_write(const char *path, const char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
	_cleanup_free_ char *copy = strndup(buf, size);
	struct node *n;
	unsigned delay = 0;
	int r;

	count(path);
	(void)off, (void)fi;
	pthread_mutex_lock(&sim.lock);
	if (is_control(path)) {
		n = lookup(path);
		r = n && n->type == NODE_FILE && n->attr->store ? n->attr->store(&sim, n->obj, copy, size) : -EACCES;
		pthread_mutex_unlock(&sim.lock);
		return r < 0 ? r : (int)size;
	}
	r = control_fault(&sim, path + 1, &delay);
	if (delay)
		sleep_unlocked(delay);
	if (r == 0) {
		n = lookup(path);
		if (!n)
			r = -ENODEV;
		else if (n->type != NODE_FILE || !n->attr->store)
			r = -EACCES;
		else
			r = n->attr->store(&sim, n->obj, copy, size);
	}
	control_log_write(&sim, path + 1, buf, size, r);
	sim_check_bindings(&sim);
	pthread_mutex_unlock(&sim.lock);
	return r < 0 ? r : (int)size;
}

/* O_TRUNC on open arrives as a truncate: accepted, like on sysfs */
static int sim_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	struct node *n;
	int r = 0;

	count(path);
	(void)size, (void)fi;
	pthread_mutex_lock(&sim.lock);
	n = lookup(path);
	if (!n)
		r = -ENOENT;
	else if (n->type != NODE_FILE)
		r = -EISDIR;
	pthread_mutex_unlock(&sim.lock);
	return r;
}

static int sim_utimens(const char *path, const struct timespec tv[2], struct fuse_file_info *fi)
{
	(void)tv, (void)fi;
	return lookup(path) ? 0 : -ENOENT;
}

/* release, opendir, releasedir: no work of their own, defined so that the requests are counted */
static int sim_count_only(const char *path, struct fuse_file_info *fi)
{
	(void)fi;
	count(path);
	return 0;
}

static int deny_mkdir(const char *path, mode_t mode)
{
	(void)path, (void)mode;
	return -EPERM;
}

static int deny_path(const char *path)
{
	(void)path;
	return -EPERM;
}

static int deny_two(const char *a, const char *b)
{
	(void)a, (void)b;
	return -EPERM;
}

static int deny_rename(const char *a, const char *b, unsigned flags)
{
	(void)a, (void)b, (void)flags;
	return -EPERM;
}

static int deny_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	(void)path, (void)mode, (void)fi;
	return -EACCES;
}

static int deny_mknod(const char *path, mode_t mode, dev_t dev)
{
	(void)path, (void)mode, (void)dev;
	return -EPERM;
}

static int deny_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	(void)path, (void)mode, (void)fi;
	return -EPERM;
}

static int deny_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi)
{
	(void)path, (void)uid, (void)gid, (void)fi;
	return -EPERM;
}

static void *sim_fs_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	(void)conn;
	simfs_config(cfg);
	return NULL;
}

static const struct fuse_operations ops = {
	.init = sim_fs_init,
	.getattr = sim_getattr,
	.readlink = sim_readlink,
	.readdir = sim_readdir,
	.open = sim_open,
	.read = sim_read,
	.write = sim_write,
	.truncate = sim_truncate,
	.release = sim_count_only,
	.opendir = sim_count_only,
	.releasedir = sim_count_only,
	.utimens = sim_utimens,
	.mkdir = deny_mkdir,
	.rmdir = deny_path,
	.unlink = deny_path,
	.symlink = deny_two,
	.link = deny_two,
	.rename = deny_rename,
	.create = deny_create,
	.mknod = deny_mknod,
	.chmod = deny_chmod,
	.chown = deny_chown,
};

static bool ns_of(pid_t pid, char buf[64])
{
	_cleanup_free_ char *p = xasprintf("/proc/%d/ns/mnt", (int)pid);
	ssize_t n = readlink(p, buf, 63);

	if (n <= 0)
		return false;
	buf[n] = '\0';
	return true;
}

static pid_t parent_of(pid_t pid)
{
	_cleanup_free_ char *p = xasprintf("/proc/%d/stat", (int)pid);
	_cleanup_fclose_ FILE *f = fopen(p, "re");
	char line[1024];
	char *rp;
	int ppid;

	if (!f || !fgets(line, sizeof(line), f))
		return 0;
	rp = strrchr(line, ')');
	if (!rp || sscanf(rp + 1, " %*c %d", &ppid) != 1)
		return 0;
	return ppid;
}

/*
 * Mounting over the real /sys is only allowed in a private mount namespace:
 * ours must differ from PID 1's, or, where PID 1 cannot be inspected (inside
 * some containers), from one of our ancestors'.
 */
static int check_mountpoint(const char *mnt)
{
	char real[PATH_MAX], self[64], other[64];

	if (!realpath(mnt, real)) {
		fprintf(stderr, "apmatrix-sim: %s: %m\n", mnt);
		return -errno;
	}
	if (!streq(real, "/sys") && strncmp(real, "/sys/", 5) != 0)
		return 0;
	if (ns_of(getpid(), self)) {
		if (ns_of(1, other)) {
			if (!streq(self, other))
				return 0;
		} else {
			for (pid_t p = getppid(); p > 1; p = parent_of(p))
				if (ns_of(p, other) && !streq(self, other))
					return 0;
		}
	}
	fprintf(stderr, "apmatrix-sim: refusing to mount on %s outside a private mount namespace "
			"(use unshare --mount --propagation private, or tests/lib/with-sim)\n",
		real);
	return -EPERM;
}

static void usage(FILE *f)
{
	fputs("usage: apmatrix-sim [-f] TOPOLOGY MOUNTPOINT\n"
	      "  -f  stay in the foreground (default: return once mounted)\n"
	      "Stop it with: fusermount3 -u MOUNTPOINT\n",
	      f);
}

int main(int argc, char **argv)
{
	_cleanup_free_ char *err = NULL;
	struct topology topo;
	const char *topo_path, *mnt;
	bool foreground = false;
	int opt, r;

	while ((opt = getopt(argc, argv, "fh")) != -1) {
		switch (opt) {
		case 'f':
			foreground = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 64;
		}
	}
	if (argc - optind != 2) {
		usage(stderr);
		return 64;
	}
	topo_path = argv[optind];
	mnt = argv[optind + 1];

	if (topology_load(topo_path, &topo, &err) < 0) {
		fprintf(stderr, "apmatrix-sim: %s\n", err);
		return 65;
	}
	if (sim_init(&sim, &topo, &err) < 0) {
		fprintf(stderr, "apmatrix-sim: %s: %s\n", topo_path, err);
		topology_done(&topo);
		return 65;
	}
	topology_done(&topo);
	control_build(&sim);
	clock_gettime(CLOCK_REALTIME, &start_time);
	if (check_mountpoint(mnt) < 0)
		return 1;

	r = simfs_serve(argv[0], "apmatrix-sim", &ops, mnt, foreground);
	sim_done(&sim);
	return r;
}
