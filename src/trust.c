/* SPDX-License-Identifier: MIT */
/*
 * trust.c: see trust.h.  Only reads: the descriptors are O_PATH for the
 * directories on the way and O_RDONLY for the file itself.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "macro.h"
#include "trust.h"

uid_t trust_user(void)
{
	return geteuid();
}

char *trust_user_name(uid_t uid)
{
	struct passwd *pw = getpwuid(uid);

	return pw ? xasprintf("'%s' (uid %u)", pw->pw_name, (unsigned)uid) : xasprintf("uid %u", (unsigned)uid);
}

static char *group_name(gid_t gid)
{
	struct group *gr = getgrgid(gid);

	return gr ? xasprintf("'%s'", gr->gr_name) : xasprintf("%u", (unsigned)gid);
}

static const char *kind(mode_t m)
{
	switch (m & S_IFMT) {
	case S_IFREG:
		return "a regular file";
	case S_IFDIR:
		return "a directory";
	case S_IFIFO:
		return "a FIFO";
	case S_IFCHR:
		return "a character device";
	case S_IFBLK:
		return "a block device";
	case S_IFSOCK:
		return "a socket";
	case S_IFLNK:
		return "a symlink";
	}
	return "not a regular file";
}

char *trust_why(const struct stat *st, const char *what, const char *path, bool sticky_ok)
{
	uid_t me = trust_user();

	if (st->st_uid != 0 && st->st_uid != me) {
		_cleanup_free_ char *owner = trust_user_name(st->st_uid);
		_cleanup_free_ char *mine = me ? trust_user_name(me) : NULL;

		if (me)
			return xasprintf("%sowned by user %s, not by root or by you, %s; "
					 "fix: chown root %s, or use a copy that you own",
					 what, owner, mine, path);
		return xasprintf("%sowned by user %s, not by root, so that user could change what apmatrix "
				 "does as root; fix: chown root %s",
				 what, owner, path);
	}
	if ((st->st_mode & (S_IWGRP | S_IWOTH)) && !(sticky_ok && S_ISDIR(st->st_mode) && (st->st_mode & S_ISVTX))) {
		_cleanup_free_ char *grp = group_name(st->st_gid);
		const char *who = (st->st_mode & S_IWOTH) ? "everyone" : NULL;
		_cleanup_free_ char *by = who ? xstrdup(who) : xasprintf("group %s", grp);

		return xasprintf("%swritable by %s (mode %04o); fix: chmod go-w %s", what, by,
				 (unsigned)(st->st_mode & 07777), path);
	}
	return NULL;
}

/*
 * Walk the absolute, symlink-free path real from "/" and open its last
 * component with flags (O_NOFOLLOW added).  Every directory on the way and
 * the target are checked.  want_dir: the target must be a directory, else
 * a regular file.  workdir: the target is a directory held to the rules of
 * one on the way and named like one; make: the mode to make a missing
 * target with (0755 for a missing directory on the way), 0 to make none.
 */
static int walk_open(const char *real, int flags, bool want_dir, bool workdir, mode_t make, char **ret_why)
{
	_cleanup_close_ int dfd = -1;
	_cleanup_free_ char *copy = xstrdup(real);
	char *p = copy + 1, *slash;
	struct stat st;

	dfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	if (fstat(dfd, &st) < 0)
		return -errno;
	if ((*ret_why = trust_why(&st, "directory / is ", "/", true)))
		return -EPERM;

	while (*p) {
		bool last;
		int fd;

		slash = strchr(p, '/');
		if (slash)
			*slash = '\0';
		last = !slash || !slash[1];
		if (last && !workdir) {
			/* the target */
			fd = openat(dfd, p, flags | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
			if (fd < 0)
				return -errno;
			if (fstat(fd, &st) < 0) {
				int r = -errno;
				(void)close(fd); /* read-only */
				return r;
			}
			if (want_dir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode)) {
				(void)close(fd); /* read-only */
				*ret_why = xasprintf("is %s, not %s%s", kind(st.st_mode),
						     want_dir ? "a directory" : "a regular file",
						     want_dir ? "" : " (use -c - to read standard input)");
				return want_dir ? -ENOTDIR : S_ISDIR(st.st_mode) ? -EISDIR : -EPERM;
			}
			*ret_why = trust_why(&st, "", real, false);
			if (*ret_why) {
				(void)close(fd); /* read-only */
				return -EPERM;
			}
			return fd;
		}
		fd = openat(dfd, p, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0 && errno == ENOENT && make) {
			/* made in a checked directory, then checked itself: one that someone else made first is refused */
			if (mkdirat(dfd, p, last ? make : 0755) < 0 && errno != EEXIST)
				return -errno;
			fd = openat(dfd, p, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		}
		if (fd < 0)
			return -errno; /* ELOOP/ENOTDIR: swapped for a symlink since realpath() */
		(void)close(dfd); /* O_PATH */
		dfd = fd;
		if (fstat(dfd, &st) < 0)
			return -errno;
		{
			_cleanup_free_ char *what = xasprintf("directory %s is ", copy);
			if ((*ret_why = trust_why(&st, what, copy, true)))
				return -EPERM;
		}
		if (last) {
			fd = dfd;
			dfd = -1;
			return fd;
		}
		*slash = '/';
		p = slash + 1;
	}
	/* real was "/": the only caller's directory is the run directory */
	*ret_why = xasprintf("the run directory is / itself; give APMATRIX_RUNDIR a directory of its own");
	return -EPERM;
}

/* The next component of the path at *pp (malloc'd), *pp moved past it; NULL at the end. */
static char *next_component(char **pp)
{
	char *p = *pp + strspn(*pp, "/");
	size_t n = strcspn(p, "/");

	*pp = p + n;
	return n ? xasprintf("%.*s", (int)n, p) : NULL;
}

/*
 * realpath() of path, followed by hand so that every symbolic link and
 * every directory on the way is checked, not only those of the result
 * (walk_open() checks those, the last one by its own rules): a link that
 * another user owns, or one below a directory another user may write (a
 * sticky one is fine: it keeps others from replacing root's entries),
 * could be pointed elsewhere after the walk checked where it led; so
 * could a directory that ".." goes back up from.  tail: the last components need not exist (the run
 * directory); they are appended, without empty and "." components, and ".."
 * among them is refused (a directory that is never used would be made).
 * NULL with errno; EPERM with *ret_why.
 */
static char *resolve_checked(const char *path, bool tail, char **ret_why)
{
	_cleanup_free_ char *todo = NULL, *real = xstrdup("");
	unsigned links = 0;
	char *p;

	if (path[0] == '/')
		todo = xstrdup(path);
	else {
		_cleanup_free_ char *cwd = getcwd(NULL, 0);

		if (!cwd)
			return NULL;
		todo = xasprintf("%s/%s", cwd, path);
	}
	p = todo;
	for (;;) {
		_cleanup_free_ char *next = NULL, *comp = next_component(&p);
		struct stat st;

		if (!comp)
			break;
		if (streq(comp, "."))
			continue;
		if (streq(comp, "..")) {
			char *last = strrchr(real, '/');

			if (last)
				*last = '\0';
			continue;
		}
		next = xasprintf("%s/%s", real, comp);
		if (lstat(next, &st) < 0) {
			if (errno != ENOENT || !tail)
				return NULL;
			/* the rest does not exist: appended as written */
			for (; comp; free(comp), comp = next_component(&p)) {
				char *longer;

				if (streq(comp, "..")) {
					*ret_why = xasprintf("has '..' after %s, which does not exist", next);
					errno = EPERM;
					return NULL;
				}
				if (!streq(comp, ".")) {
					longer = xasprintf("%s/%s", real, comp);
					free(real);
					real = longer;
				}
			}
			break;
		}
		if (S_ISLNK(st.st_mode)) {
			_cleanup_free_ char *target = NULL, *rest = NULL;
			ssize_t k;

			if (++links > 40) {
				errno = ELOOP;
				return NULL;
			}
			if (st.st_uid != 0 && st.st_uid != trust_user()) {
				_cleanup_free_ char *owner = trust_user_name(st.st_uid);

				*ret_why = xasprintf("symbolic link %s is owned by user %s, not by root, so that user "
						     "could point it elsewhere; fix: use the path it leads to",
						     next, owner);
				errno = EPERM;
				return NULL;
			}
			/* not st_size: /proc's links (/dev/stdin, /proc/self/fd/N) report 0 or 64 */
			target = xmalloc(PATH_MAX);
			k = readlink(next, target, PATH_MAX);
			if (k < 0)
				return NULL;
			if (k >= PATH_MAX) {
				errno = ENAMETOOLONG;
				return NULL;
			}
			target[k] = '\0';
			rest = xasprintf("%s%s", target, p);
			if (target[0] == '/')
				real[0] = '\0';
			free(todo);
			todo = TAKE_PTR(rest);
			p = todo;
			continue;
		}
		if (*p == '/' && !S_ISDIR(st.st_mode)) {
			errno = ENOTDIR; /* "file/x", "file/.." or "file/", as the kernel says */
			return NULL;
		}
		if (S_ISDIR(st.st_mode) && p[strspn(p, "/")]) {
			/*
			 * each directory passed through, not only those of the
			 * result (".." and links go back up); the last one is
			 * walk_open()'s to judge, by the rules of what it is
			 */
			_cleanup_free_ char *what = xasprintf("directory %s is ", next);

			if ((*ret_why = trust_why(&st, what, next, true))) {
				errno = EPERM;
				return NULL;
			}
		}
		free(real);
		real = TAKE_PTR(next);
	}
	if (!real[0]) {
		free(real);
		real = xstrdup("/");
	}
	return TAKE_PTR(real);
}

static int open_trusted(const char *path, int flags, bool want_dir, char **ret_why)
{
	_cleanup_free_ char *real = NULL;

	*ret_why = NULL;
	real = resolve_checked(path, false, ret_why);
	if (!real)
		return -errno;
	return walk_open(real, flags, want_dir, false, 0, ret_why);
}

int trust_open_file(const char *path, char **ret_why)
{
	int fd = open_trusted(path, O_RDONLY, false, ret_why);

	if (fd >= 0) {
		/* O_NONBLOCK was only for the open: reads of a regular file do not block */
		int fl = fcntl(fd, F_GETFL);
		if (fl >= 0)
			(void)fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
	}
	return fd;
}

int trust_open_dir(const char *path, char **ret_why)
{
	return open_trusted(path, O_RDONLY | O_DIRECTORY, true, ret_why);
}

int trust_open_workdir(const char *path, mode_t make, char **ret_why)
{
	_cleanup_free_ char *real = NULL;

	*ret_why = NULL;
	real = resolve_checked(path, true, ret_why); /* the directories on the way to a missing one are checked too */
	if (!real)
		return -errno;
	return walk_open(real, O_PATH | O_DIRECTORY, true, true, make, ret_why);
}
