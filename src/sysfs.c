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
 *   - the final open() uses O_NOFOLLOW on a path that no longer contains
 *     symlinks.
 * This is what openat2(RESOLVE_BENEATH) does in the kernel.  It is done in
 * user space because openat2 is not available everywhere (seccomp filters in
 * containers, valgrind before 3.22, kernels before 5.6) and the results must
 * not depend on that.  sysfs only uses relative symlinks, so nothing real is
 * lost.
 *
 * Writes are one O_WRONLY write(2) each, and the kernel's errno is handed
 * back unchanged (R16): it is what tells EADDRINUSE from EADDRNOTAVAIL.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "macro.h"
#include "sysfs.h"

#define SYSFS_MAX_ATTR (64 * 1024)
#define SYSFS_MAX_LINKS 40
#define SYSFS_DIR_CACHE 16

struct sysfs {
	int root_fd;
	char *root;
	sysfs_write_hook hook;
	void *hook_userdata;
	/*
	 * Root-relative paths recently found to be directories reached without
	 * symlinks, so that reading many attributes of one device does not stat
	 * every component of its path again (each look-up is a round trip on
	 * FUSE and a path walk on sysfs).  Emptied by a write to `remove`,
	 * the only write of ours that takes a directory away (a gone
	 * directory only makes the open fail, as it would anyway).
	 */
	char *dirs[SYSFS_DIR_CACHE];
	unsigned next_dir;
};

static bool dir_cached(const struct sysfs *s, const char *path)
{
	for (unsigned i = 0; i < SYSFS_DIR_CACHE; i++)
		if (s->dirs[i] && streq(s->dirs[i], path))
			return true;
	return false;
}

static void dir_cache_add(struct sysfs *s, const char *path)
{
	unsigned i = s->next_dir++ % SYSFS_DIR_CACHE;

	free(s->dirs[i]);
	s->dirs[i] = xstrdup(path);
}

static void dir_cache_clear(struct sysfs *s)
{
	for (unsigned i = 0; i < SYSFS_DIR_CACHE; i++) {
		free(s->dirs[i]);
		s->dirs[i] = NULL;
	}
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

/*
 * Resolve path below the root.  On success *ret is a root-relative path
 * without symlinks ("." for the root itself); with follow_last false the
 * last component is left as it is (it may be a symlink).
 */
static int resolve(struct sysfs *s, const char *path, bool follow_last, char **ret)
{
	_cleanup_free_ char *todo = NULL, *done = NULL;
	unsigned links = 0;

	if (!path_is_safe(path))
		return -EINVAL;
	todo = xstrdup(path);
	done = xstrdup("");

	while (*todo) {
		size_t n = strcspn(todo, "/");
		const char *rest = todo[n] ? todo + n + 1 : todo + n;
		_cleanup_free_ char *comp = strndup(todo, n);
		_cleanup_free_ char *cand = NULL;
		struct stat st;
		bool last;
		char *t;

		if (!comp)
			return -ENOMEM;
		while (*rest == '/')
			rest++;
		last = !*rest;

		if (n == 0 || streq(comp, ".")) {
			t = xstrdup(rest);
			free(todo);
			todo = t;
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
			t = xstrdup(rest);
			free(todo);
			todo = t;
			continue;
		}

		cand = *done ? xasprintf("%s/%s", done, comp) : xstrdup(comp);
		if (last && !follow_last) {
			free(done);
			done = TAKE_PTR(cand);
			break;
		}
		if (dir_cached(s, cand))
			st.st_mode = S_IFDIR;
		else if (fstatat(s->root_fd, cand, &st, AT_SYMLINK_NOFOLLOW) < 0)
			return -errno;
		else if (S_ISDIR(st.st_mode))
			dir_cache_add(s, cand);
		if (S_ISLNK(st.st_mode)) {
			_cleanup_free_ char *target = NULL;
			size_t sz = st.st_size > 0 ? (size_t)st.st_size + 1 : 256;
			ssize_t k;

			if (++links > SYSFS_MAX_LINKS)
				return -ELOOP;
			for (;;) {
				target = xrealloc(target, sz);
				k = readlinkat(s->root_fd, cand, target, sz);
				if (k < 0)
					return -errno;
				if ((size_t)k < sz)
					break;
				sz *= 2;
			}
			target[k] = '\0';
			if (target[0] == '/')
				return -EXDEV;
			t = *rest ? xasprintf("%s/%s", target, rest) : xstrdup(target);
			free(todo);
			todo = t;
			continue;
		}
		if (!last && !S_ISDIR(st.st_mode))
			return -ENOTDIR;
		free(done);
		done = TAKE_PTR(cand);
		t = xstrdup(rest);
		free(todo);
		todo = t;
	}
	if (!*done) {
		free(done);
		done = xstrdup(".");
	}
	*ret = TAKE_PTR(done);
	return 0;
}

static int sysfs_openat(struct sysfs *s, const char *path, int flags)
{
	_cleanup_free_ char *rel = NULL;
	int r, fd;

	/*
	 * Resolve the directories only and open the last component with
	 * O_NOFOLLOW: attributes are no symlinks, so this is one look-up less
	 * per read.  Should it be one (ELOOP, or ENOTDIR for a directory),
	 * resolve it too and open what it points to.
	 */
	r = resolve(s, path, false, &rel);
	if (r < 0)
		return r;
	fd = openat(s->root_fd, rel, flags | O_CLOEXEC | O_NOFOLLOW);
	if (fd >= 0 || (errno != ELOOP && errno != ENOTDIR))
		return fd < 0 ? -errno : fd;
	free(rel);
	rel = NULL;
	r = resolve(s, path, true, &rel);
	if (r < 0)
		return r;
	fd = openat(s->root_fd, rel, flags | O_CLOEXEC | O_NOFOLLOW);
	return fd < 0 ? -errno : fd;
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
	free(s->root);
	free(s);
	return NULL;
}

const char *sysfs_root(const struct sysfs *s)
{
	return s->root;
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
	size_t len = 0, cap = 4096;

	fd = sysfs_openat(s, path, O_RDONLY);
	if (fd < 0)
		return fd;
	buf = xmalloc(cap + 1);
	for (;;) {
		ssize_t k;

		if (len == cap) {
			if (cap >= SYSFS_MAX_ATTR)
				return -EFBIG;
			cap *= 2;
			buf = xrealloc(buf, cap + 1);
		}
		k = read(fd, buf + len, cap - len);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (k == 0)
			break;
		len += (size_t)k;
	}
	buf[len] = '\0';
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
	_cleanup_free_ char *rel = NULL;

	return resolve(s, path, true, &rel) == 0;
}

bool sysfs_is_dir(struct sysfs *s, const char *path)
{
	_cleanup_free_ char *rel = NULL;
	struct stat st;

	if (resolve(s, path, true, &rel) < 0)
		return false;
	if (dir_cached(s, rel)) /* resolve() has just seen it */
		return true;
	return fstatat(s->root_fd, rel, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
}

int sysfs_read_link_name(struct sysfs *s, const char *path, char **ret)
{
	_cleanup_free_ char *rel = NULL, *target = NULL;
	size_t sz = 256;
	const char *base;
	ssize_t k;
	int r;

	r = resolve(s, path, false, &rel);
	if (r < 0)
		return r;
	for (;;) {
		target = xrealloc(target, sz);
		k = readlinkat(s->root_fd, rel, target, sz);
		if (k < 0)
			return -errno;
		if ((size_t)k < sz)
			break;
		sz *= 2;
	}
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

static int strv_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int sysfs_list_dir(struct sysfs *s, const char *path, char ***ret)
{
	char **v = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	DIR *d;
	int fd;

	fd = sysfs_openat(s, path, O_RDONLY | O_DIRECTORY);
	if (fd < 0)
		return fd;
	d = fdopendir(fd);
	if (!d) {
		int r = -errno;

		(void)close(fd); /* read-only directory */
		return r;
	}
	for (;;) {
		errno = 0;
		de = readdir(d);
		if (!de)
			break;
		if (streq(de->d_name, ".") || streq(de->d_name, ".."))
			continue;
		v = xgrow(v, &cap, n + 2, sizeof(*v));
		v[n++] = xstrdup(de->d_name);
	}
	if (errno != 0) {
		int r = -errno;

		(void)closedir(d); /* read-only directory */
		sysfs_strv_free(v);
		return r;
	}
	(void)closedir(d); /* read-only directory */
	if (!v)
		v = xcalloc(1, sizeof(*v));
	else
		qsort(v, n, sizeof(*v), strv_cmp);
	v[n] = NULL;
	*ret = v;
	return 0;
}

void sysfs_strv_free(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
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
