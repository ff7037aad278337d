/* SPDX-License-Identifier: MIT */
/*
 * sysfs.c: every read and write of kernel state (STYLE R3).
 *
 * All paths are relative to one root directory fd.  Names are resolved here,
 * one component at a time, so that nothing (a name from the config, a
 * directory entry, a symlink the simulator or kernel put there) can lead
 * outside the root:
 *   - a caller's path must be relative and must not contain "..";
 *   - symlinks are followed by reading them and splicing their target into
 *     the remaining path; absolute targets and ".." that would climb above
 *     the root are refused with -EXDEV, loops with -ELOOP;
 *   - every component is looked up from its parent directory's descriptor
 *     (O_PATH, kept in a small cache), and the last one is opened with
 *     O_NOFOLLOW from there.
 * This is what openat2(RESOLVE_BENEATH) does in the kernel.  It is done in
 * user space because openat2 is not available everywhere (seccomp filters in
 * containers, valgrind before 3.22, kernels before 5.6) and the results must
 * not depend on that.  sysfs only uses relative symlinks, so nothing real is
 * lost.  Where openat2 works it serves as a shortcut for paths without any
 * symlink (RESOLVE_NO_SYMLINKS): one system call from the nearest cached
 * directory opens what the walk would open, and a path it refuses takes
 * the walk, so the results are the same either way.
 *
 * Writes are one O_WRONLY write(2) each, and the kernel's errno is handed
 * back unchanged (R16): it is what tells EADDRINUSE from EADDRNOTAVAIL.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <linux/openat2.h>
#include <limits.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "macro.h"
#include "sysfs.h"

#define SYSFS_MAX_ATTR (64 * 1024)
#define SYSFS_MAX_LINKS 40
#define SYSFS_DIR_CACHE 16

/* A directory reached without symlinks, held open (O_PATH) for look-ups below it. */
struct dir_slot {
	char *path; /* root-relative; NULL = free slot */
	int fd;
	unsigned long used; /* for least-recently-used replacement */
};

struct sysfs {
	int root_fd;
	char *root;
	char *vfio_dir; /* this host's vfio group devices (/dev/vfio), or NULL: unknown */
	sysfs_write_hook hook;
	void *hook_userdata;
	/*
	 * Directories recently resolved, each with an O_PATH descriptor, so
	 * that the next path below one of them is looked up from there: on
	 * sysfs a look-up is a path walk, on FUSE a round trip per component,
	 * and reading or writing one attribute of an mdev would otherwise walk
	 * devices/vfio_ap/matrix/UUID every time.  Emptied by a write to
	 * `remove`, the only write of ours that takes a directory away.
	 */
	struct dir_slot dirs[SYSFS_DIR_CACHE];
	unsigned long clock;
	char *last_parent; /* of the last open_beneath(): a parent used twice in a row is cached */
};

/* openat2 failed with ENOSYS or EPERM (old kernel, seccomp, valgrind < 3.22): walk only, in this process */
static bool no_openat2;

/* The cached descriptor of the directory at path, or -1. */
static int dir_cache_fd(struct sysfs *s, const char *path)
{
	for (unsigned i = 0; i < SYSFS_DIR_CACHE; i++)
		if (s->dirs[i].path && streq(s->dirs[i].path, path)) {
			s->dirs[i].used = ++s->clock;
			return s->dirs[i].fd;
		}
	return -1;
}

/* Keep fd (owned from now on) as the directory at path; returns fd. */
static int dir_cache_add(struct sysfs *s, const char *path, int fd)
{
	struct dir_slot *v = &s->dirs[0];

	for (unsigned i = 1; i < SYSFS_DIR_CACHE && v->path; i++)
		if (!s->dirs[i].path || s->dirs[i].used < v->used)
			v = &s->dirs[i];
	if (v->path) {
		free(v->path);
		(void)close(v->fd); /* O_PATH descriptor: nothing to flush */
	}
	*v = (struct dir_slot){ .path = xstrdup(path), .fd = fd, .used = ++s->clock };
	return fd;
}

static void dir_cache_clear(struct sysfs *s)
{
	for (unsigned i = 0; i < SYSFS_DIR_CACHE; i++)
		if (s->dirs[i].path) {
			free(s->dirs[i].path);
			(void)close(s->dirs[i].fd); /* O_PATH descriptor */
			s->dirs[i].path = NULL;
		}
}

/*
 * The descriptor of the symlink-free directory at path ("" = the root), from
 * the cache or opened below the root; -errno when it is gone.  Borrowed:
 * valid until the cache changes.
 */
static int dir_fd(struct sysfs *s, const char *path)
{
	int fd;

	if (!*path)
		return s->root_fd;
	fd = dir_cache_fd(s, path);
	if (fd >= 0)
		return fd;
	fd = openat(s->root_fd, path, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	return dir_cache_add(s, path, fd);
}

/* Caller paths: relative, non-empty, no ".." component. */
static bool path_is_safe(const char *path)
{
	const char *p = path;

	if (!path || !*path || *path == '/')
		return false;
	while (*p) {
		size_t n = strcspn(p, "/");

		if (n == 2 && p[0] == '.' && p[1] == '.')
			return false;
		p += n;
		if (*p == '/')
			p++;
	}
	return true;
}

/* A path resolved below the root. */
struct resolved {
	char *rel;        /* root-relative, without symlinks; "." for the root itself */
	int dir_fd;       /* the directory holding the last component (borrowed) */
	const char *name; /* the last component, inside rel ("." for the root) */
	bool is_dir;      /* the last component was resolved and is a directory */
};

static void resolved_done(struct resolved *r)
{
	free(r->rel);
	r->rel = NULL;
}

/* "a/b", or b when a is empty (an asprintf costs a thousand instructions; resolve() joins per component) */
static char *join(const char *a, const char *b)
{
	size_t na = strlen(a), nb = strlen(b);
	char *p = xmalloc(na + nb + 2);

	if (na) {
		memcpy(p, a, na);
		p[na++] = '/';
	}
	memcpy(p + na, b, nb + 1);
	return p;
}

/* Drop the consumed head of todo: rest points into it. */
static void advance(char *todo, const char *rest)
{
	memmove(todo, rest, strlen(rest) + 1);
}

/*
 * Resolve path below the root; with follow_last false the last component is
 * left as it is (it may be a symlink, or missing).  Every directory is
 * looked up from its parent's descriptor, one component and one look-up
 * at a time.
 */
static int resolve(struct sysfs *s, const char *path, bool follow_last, struct resolved *ret)
{
	_cleanup_free_ char *todo = NULL, *done = NULL;
	unsigned links = 0;
	int cur = s->root_fd; /* the descriptor of done */
	bool is_dir = true;

	if (!path_is_safe(path))
		return -EINVAL;
	todo = xstrdup(path);
	done = xstrdup("");

	while (*todo) {
		size_t n = strcspn(todo, "/");
		const char *rest = todo[n] ? todo + n + 1 : todo + n;
		char comp[NAME_MAX + 1];
		_cleanup_free_ char *cand = NULL;
		struct stat st;
		bool last;
		char *t;
		int fd;

		if (n > NAME_MAX)
			return -ENAMETOOLONG;
		memcpy(comp, todo, n);
		comp[n] = '\0';
		while (*rest == '/')
			rest++;
		last = !*rest;

		if (n == 0 || streq(comp, ".")) {
			advance(todo, rest);
			continue;
		}
		if (streq(comp, "..")) {
			char *slash = strrchr(done, '/');

			if (!*done)
				return -EXDEV; /* would climb above the root */
			if (slash)
				*slash = '\0';
			else
				*done = '\0';
			cur = dir_fd(s, done);
			if (cur < 0)
				return cur;
			advance(todo, rest);
			continue;
		}

		cand = join(done, comp);
		if (last && !follow_last) {
			free(done);
			done = TAKE_PTR(cand);
			is_dir = false;
			break;
		}
		fd = dir_cache_fd(s, cand);
		if (fd < 0) {
			/* a directory opens in one look-up; anything else is looked at */
			fd = openat(cur, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (fd >= 0)
				fd = dir_cache_add(s, cand, fd);
			else if (errno != ENOTDIR)
				return -errno;
		}
		if (fd >= 0) {
			cur = fd;
			is_dir = true;
			free(done);
			done = TAKE_PTR(cand);
			advance(todo, rest);
			continue;
		}
		if (fstatat(cur, comp, &st, AT_SYMLINK_NOFOLLOW) < 0)
			return -errno;
		if (S_ISLNK(st.st_mode)) {
			_cleanup_free_ char *target = NULL;
			size_t sz = st.st_size > 0 ? (size_t)st.st_size + 1 : 256;
			ssize_t k;

			if (++links > SYSFS_MAX_LINKS)
				return -ELOOP;
			for (;;) {
				target = xrealloc(target, sz);
				k = readlinkat(cur, comp, target, sz);
				if (k < 0)
					return -errno;
				if ((size_t)k < sz)
					break;
				sz *= 2;
			}
			target[k] = '\0';
			if (target[0] == '/')
				return -EXDEV;
			t = *rest ? join(target, rest) : xstrdup(target);
			free(todo);
			todo = t;
			continue;
		}
		if (!last)
			return -ENOTDIR;
		/* the last component, and no directory */
		free(done);
		done = TAKE_PTR(cand);
		is_dir = false;
		break;
	}

	if (!*done) {
		free(done);
		done = xstrdup(".");
		ret->dir_fd = s->root_fd;
		ret->name = done;
		ret->is_dir = true;
	} else {
		char *slash = strrchr(done, '/');

		ret->name = slash ? slash + 1 : done;
		ret->is_dir = is_dir;
		if (slash) {
			*slash = '\0';
			ret->dir_fd = dir_fd(s, done);
			*slash = '/';
			if (ret->dir_fd < 0)
				return ret->dir_fd;
		} else
			ret->dir_fd = s->root_fd;
	}
	ret->rel = TAKE_PTR(done);
	return 0;
}

/* Resolve path and open its last component with O_NOFOLLOW; fd or -errno. */
static int open_resolved(struct sysfs *s, const char *path, bool follow_last, int flags)
{
	struct resolved rel = {};
	int r;

	r = resolve(s, path, follow_last, &rel);
	if (r >= 0) {
		r = openat(rel.dir_fd, rel.name, flags | O_CLOEXEC | O_NOFOLLOW);
		if (r < 0)
			r = -errno;
	}
	resolved_done(&rel);
	return r;
}

static long openat2_beneath(int dir, const char *path, int flags)
{
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC | O_NOFOLLOW),
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};

	return syscall(SYS_openat2, dir, path, &how, sizeof(how));
}

/*
 * Open path, free of symlinks, with one openat2() below the nearest cached
 * directory.  -EAGAIN when that cannot say (a symlink on the way, no
 * openat2): then the walk decides.  A parent directory used by two opens
 * in a row (the writes to one mdev) is opened and cached for the next
 * ones: on FUSE every component below the cached directory is a round trip.
 */
static int open_beneath(struct sysfs *s, const char *path, int flags)
{
	const char *rest = path, *last = strrchr(path, '/');
	char prefix[PATH_MAX];
	int dir = s->root_fd;
	long fd;

	if (no_openat2 || !path_is_safe(path) || strlen(path) >= sizeof(prefix))
		return -EAGAIN;
	/* the longest cached directory that is a prefix of path */
	for (const char *slash = last; slash; slash = memrchr(path, '/', (size_t)(slash - path))) {
		size_t n = (size_t)(slash - path);
		int fd_dir;

		memcpy(prefix, path, n);
		prefix[n] = '\0';
		fd_dir = dir_cache_fd(s, prefix);
		if (fd_dir >= 0) {
			dir = fd_dir;
			rest = slash + 1;
			break;
		}
	}
	if (last && rest <= last) {
		/* the parent is not cached */
		memcpy(prefix, path, (size_t)(last - path));
		prefix[last - path] = '\0';
		if (s->last_parent && streq(s->last_parent, prefix)) {
			/* the same directory as the last time: keep it open from now on */
			fd = openat2_beneath(dir, prefix + (rest - path), O_PATH | O_DIRECTORY);
			if (fd >= 0) {
				dir = dir_cache_add(s, prefix, (int)fd);
				rest = last + 1;
			}
		} else {
			free(s->last_parent);
			s->last_parent = xstrdup(prefix);
		}
	}
	fd = openat2_beneath(dir, rest, flags);
	if (fd >= 0)
		return (int)fd;
	if (errno == ENOSYS || errno == EPERM)
		no_openat2 = true;
	return errno == ENOENT ? -ENOENT : -EAGAIN;
}

static int sysfs_openat(struct sysfs *s, const char *path, int flags)
{
	int r;

	r = open_beneath(s, path, flags);
	if (r != -EAGAIN)
		return r;

	/*
	 * Resolve the directories only and open the last component with
	 * O_NOFOLLOW: attributes are no symlinks, so this is one look-up less
	 * per read.  Should it be one (ELOOP, or ENOTDIR for a directory),
	 * resolve it too and open what it points to.
	 */
	r = open_resolved(s, path, false, flags);
	if (r == -ELOOP || r == -ENOTDIR)
		r = open_resolved(s, path, true, flags);
	return r;
}

int sysfs_open(const char *root, struct sysfs **ret)
{
	struct sysfs *s;
	int fd;

	if (!root) {
		/* STYLE R28: overrides are read with secure_getenv() */
		root = secure_getenv("APMATRIX_SYSFS_ROOT");
		if (!root || !*root)
			root = SYSFS_DEFAULT_ROOT;
	}
	fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	s = xcalloc(1, sizeof(*s));
	s->root_fd = fd;
	s->root = xstrdup(root);
	*ret = s;
	return 0;
}

struct sysfs *sysfs_close(struct sysfs *s)
{
	if (!s)
		return NULL;
	if (s->root_fd >= 0)
		(void)close(s->root_fd); /* O_PATH descriptor: nothing to flush */
	dir_cache_clear(s);
	free(s->last_parent);
	free(s->root);
	free(s->vfio_dir);
	free(s);
	return NULL;
}

const char *sysfs_root(const struct sysfs *s)
{
	return s->root;
}

void sysfs_set_vfio_dir(struct sysfs *s, const char *dir)
{
	free(s->vfio_dir);
	s->vfio_dir = dir ? xstrdup(dir) : NULL;
}

const char *sysfs_vfio_dir(const struct sysfs *s)
{
	return s->vfio_dir;
}

void sysfs_set_write_hook(struct sysfs *s, sysfs_write_hook hook, void *userdata)
{
	s->hook = hook;
	s->hook_userdata = userdata;
}

int sysfs_read_attr(struct sysfs *s, const char *path, char **ret)
{
	_cleanup_close_ int fd = -EBADF;
	_cleanup_free_ char *buf = NULL;
	size_t len;
	int r;

	fd = sysfs_openat(s, path, O_RDONLY);
	if (fd < 0)
		return fd;
	/*
	 * A sysfs attribute comes whole in the first read: kernfs formats the
	 * value once (at most a page) and hands out as much as asked for.  A
	 * read that did not fill the buffer has returned the end, and asking
	 * again would only cost one more call (one more round trip on FUSE)
	 * to learn it.
	 */
	r = read_fd_all(fd, SYSFS_MAX_ATTR, true, &buf, &len);
	if (r < 0)
		return r;
	if (strlen(buf) != len)
		return -EBADMSG; /* attributes are text */
	*ret = TAKE_PTR(buf);
	return 0;
}

int sysfs_read_line(struct sysfs *s, const char *path, char **ret)
{
	char *v;
	size_t n;
	int r;

	r = sysfs_read_attr(s, path, &v);
	if (r < 0)
		return r;
	n = strlen(v);
	if (n > 0 && v[n - 1] == '\n')
		v[n - 1] = '\0';
	*ret = v;
	return 0;
}

int sysfs_write_attr(struct sysfs *s, const char *path, const char *value)
{
	size_t len = strlen(value);
	ssize_t k;
	int fd, r = 0;

	/* what a write can take away is a device directory: an mdev's `remove` */
	if (streq(path, "remove") || (strlen(path) > 7 && streq(path + strlen(path) - 7, "/remove")))
		dir_cache_clear(s);
	fd = sysfs_openat(s, path, O_WRONLY | O_TRUNC);
	if (fd < 0) {
		r = fd;
		goto out;
	}
	/* One write(2): sysfs hands the whole buffer to the store function. */
	k = write(fd, value, len);
	if (k < 0)
		r = -errno;
	else if ((size_t)k != len)
		r = -EIO;
	if (close(fd) < 0 && r == 0)
		r = -errno;
out:
	if (s->hook)
		s->hook(s->hook_userdata, path, value, r);
	return r;
}

bool sysfs_exists(struct sysfs *s, const char *path)
{
	struct resolved rel = {};
	int r;

	r = resolve(s, path, true, &rel);
	resolved_done(&rel);
	return r == 0;
}

bool sysfs_is_dir(struct sysfs *s, const char *path)
{
	struct resolved rel = {};
	int r;

	r = resolve(s, path, true, &rel);
	resolved_done(&rel);
	return r == 0 && rel.is_dir;
}

int sysfs_check_dir(struct sysfs *s, const char *path)
{
	struct resolved rel = {};
	int r;

	r = resolve(s, path, true, &rel);
	resolved_done(&rel);
	return r < 0 ? r : rel.is_dir ? 0 : -ENOTDIR;
}

int sysfs_read_link_name(struct sysfs *s, const char *path, char **ret)
{
	_cleanup_free_ char *target = NULL;
	struct resolved rel = {};
	size_t sz = 256;
	const char *base;
	ssize_t k;
	int r;

	r = resolve(s, path, false, &rel);
	if (r < 0) {
		resolved_done(&rel);
		return r;
	}
	for (;;) {
		target = xrealloc(target, sz);
		k = readlinkat(rel.dir_fd, rel.name, target, sz);
		if (k < 0) {
			r = -errno;
			resolved_done(&rel);
			return r;
		}
		if ((size_t)k < sz)
			break;
		sz *= 2;
	}
	resolved_done(&rel);
	target[k] = '\0';
	while (k > 0 && target[k - 1] == '/')
		target[--k] = '\0';
	base = strrchr(target, '/');
	base = base ? base + 1 : target;
	if (!*base || streq(base, ".") || streq(base, ".."))
		return -EINVAL;
	*ret = xstrdup(base);
	return 0;
}

int sysfs_foreach_entry(struct sysfs *s, const char *path, sysfs_entry_fn fn, void *userdata)
{
	struct dirent *de;
	DIR *d;
	int fd, r = 0;

	fd = sysfs_openat(s, path, O_RDONLY | O_DIRECTORY);
	if (fd < 0)
		return fd;
	d = fdopendir(fd);
	if (!d) {
		r = -errno;
		(void)close(fd); /* read-only directory */
		return r;
	}
	for (;;) {
		errno = 0;
		de = readdir(d);
		if (!de) {
			r = -errno;
			break;
		}
		if (streq(de->d_name, ".") || streq(de->d_name, ".."))
			continue;
		fn(de->d_name, userdata);
	}
	(void)closedir(d); /* read-only directory */
	return r;
}

struct strv_builder {
	char **v;
	size_t n, cap;
};

static void strv_add(const char *name, void *userdata)
{
	struct strv_builder *b = userdata;

	b->v = xgrow(b->v, &b->cap, b->n + 2, sizeof(*b->v));
	b->v[b->n++] = xstrdup(name);
}

int sysfs_list_dir(struct sysfs *s, const char *path, char ***ret)
{
	struct strv_builder b = {};
	int r;

	r = sysfs_foreach_entry(s, path, strv_add, &b);
	if (r < 0) {
		strv_free(b.v);
		return r;
	}
	if (!b.v)
		b.v = xcalloc(1, sizeof(*b.v));
	else
		strv_sort(b.v, b.n);
	b.v[b.n] = NULL;
	*ret = b.v;
	return 0;
}

char *sysfs_path_create(const char *matrix, const char *type)
{
	return xasprintf("%s/mdev_supported_types/%s/create", matrix, type);
}

char *sysfs_path_mdev_attr(const char *matrix, const char *uuid, const char *attr)
{
	return xasprintf("%s/%s/%s", matrix, uuid, attr);
}

char *sysfs_path_ap_driver_attr(const char *driver, const char *attr)
{
	return xasprintf("bus/ap/drivers/%s/%s", driver, attr);
}

char *sysfs_path_queue(unsigned adapter, unsigned domain)
{
	return xasprintf("devices/ap/card%02x/%02x.%04x", adapter & 0xff, adapter & 0xff, domain & 0xffff);
}
