/* SPDX-License-Identifier: MIT */
/* test-sysfs.c: root confinement, reads, one-write writes, listings, paths, the directory cache. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fakesys.h"
#include "macro.h"
#include "sysfs.h"
#include "tap.h"

struct hook_log {
	int calls;
	char path[128];
	char value[128];
	int r;
};

static void hook(void *userdata, const char *path, const char *value, int r)
{
	struct hook_log *h = userdata;

	h->calls++;
	snprintf(h->path, sizeof(h->path), "%s", path);
	snprintf(h->value, sizeof(h->value), "%s", value);
	h->r = r;
}

static char *make_tree(void)
{
	char *root = fake_tmpdir();

	fake_file(root, "sys/bus/ap/apmask", "0xff\n");
	fake_file(root, "sys/bus/ap/bindings", "2/2 (complete)");
	fake_file(root, "sys/devices/ap/card05/05.0004/online", "1\n");
	fake_dir(root, "sys/bus/ap/drivers/cex4queue");
	fake_link(root, "sys/bus/ap/devices/card05", "../../../devices/ap/card05");
	fake_link(root, "sys/devices/ap/card05/05.0004/driver", "../../../../bus/ap/drivers/cex4queue");
	fake_link(root, "sys/devices/ap/card05/05.0004/subsystem", "../../../../bus/ap");
	fake_file(root, "secret", "outside the root\n");
	fake_link(root, "sys/escape", "../secret");
	fake_link(root, "sys/absolute", "/etc/hostname");
	fake_link(root, "sys/loop1", "loop2");
	fake_link(root, "sys/loop2", "loop1");
	fake_file(root, "sys/list/b", "");
	fake_file(root, "sys/list/a", "");
	fake_dir(root, "sys/list/c");
	fake_dir(root, "sys/empty");
	return root;
}

static struct sysfs *open_tree(const char *tmp)
{
	struct sysfs *s = NULL;
	char *root;

	if (asprintf(&root, "%s/sys", tmp) < 0)
		abort();
	CHECK(sysfs_open(root, &s) == 0);
	CHECK(s && streq(sysfs_root(s), root));
	free(root);
	return s;
}

static void test_read(void)
{
	char *tmp = make_tree(), *v = NULL;
	struct sysfs *s = open_tree(tmp);

	CHECK(sysfs_read_attr(s, "bus/ap/apmask", &v) == 0);
	CHECK_STREQ(v, "0xff\n");
	free(v);
	CHECK(sysfs_read_line(s, "bus/ap/apmask", &v) == 0);
	CHECK_STREQ(v, "0xff");
	free(v);
	/* no trailing newline: nothing stripped */
	CHECK(sysfs_read_line(s, "bus/ap/bindings", &v) == 0);
	CHECK_STREQ(v, "2/2 (complete)");
	free(v);
	/* through a symlink inside the root, with ".." in its target */
	CHECK(sysfs_read_line(s, "bus/ap/devices/card05/05.0004/online", &v) == 0);
	CHECK_STREQ(v, "1");
	free(v);
	CHECK(sysfs_read_line(s, "bus/ap/devices/card05/05.0004/subsystem/apmask", &v) == 0);
	CHECK_STREQ(v, "0xff");
	free(v);
	v = NULL;
	CHECK(sysfs_read_attr(s, "bus/ap/nope", &v) == -ENOENT);
	CHECK(v == NULL);
	CHECK(sysfs_read_attr(s, "bus/ap/apmask/x", &v) == -ENOTDIR);
	CHECK(sysfs_exists(s, "bus/ap/apmask"));
	CHECK(!sysfs_exists(s, "bus/ap/nope"));
	CHECK(sysfs_is_dir(s, "bus/ap/devices/card05"));
	CHECK(!sysfs_is_dir(s, "bus/ap/apmask"));
	CHECK(sysfs_is_dir(s, "bus/./ap//drivers"));
	sysfs_close(s);
	fake_rmtree(tmp);
}

static void test_confinement(void)
{
	char *tmp = make_tree(), *v = NULL;
	struct sysfs *s = open_tree(tmp);

	CHECK(sysfs_read_attr(s, "../secret", &v) == -EINVAL);
	CHECK(sysfs_read_attr(s, "bus/../../secret", &v) == -EINVAL);
	CHECK(sysfs_read_attr(s, "bus/..", &v) == -EINVAL);
	CHECK(sysfs_read_attr(s, "/etc/hostname", &v) == -EINVAL);
	CHECK(sysfs_read_attr(s, "", &v) == -EINVAL);
	CHECK(sysfs_read_attr(s, "escape", &v) == -EXDEV);
	CHECK(sysfs_read_attr(s, "absolute", &v) == -EXDEV);
	CHECK(sysfs_read_attr(s, "loop1", &v) == -ELOOP);
	CHECK(v == NULL);
	CHECK(!sysfs_exists(s, "escape"));
	CHECK(sysfs_write_attr(s, "escape", "x") == -EXDEV);
	CHECK(sysfs_write_attr(s, "../secret", "x") == -EINVAL);
	free(v);
	v = fake_slurp(tmp, "secret");
	CHECK_STREQ(v, "outside the root\n");
	free(v);
	sysfs_close(s);
	fake_rmtree(tmp);
}

/*
 * The directory cache (16 open directories, least recently used out): more
 * directories than slots read right in any order; a directory replaced
 * behind a cached descriptor is never followed out of the root; a write to
 * `remove` empties the cache, so a directory made again is found.
 */
static void test_dir_cache(void)
{
	char *tmp = fake_tmpdir(), *v = NULL;
	struct sysfs *s;

	for (int i = 0; i < 40; i++) {
		char rel[64], val[16];

		snprintf(rel, sizeof(rel), "sys/many/d%02d/attr", i);
		snprintf(val, sizeof(val), "%d\n", i);
		fake_file(tmp, rel, val);
	}
	fake_file(tmp, "sys/swap/attr", "inside\n");
	fake_file(tmp, "outside/attr", "outside the root\n");
	fake_file(tmp, "sys/m/u1/x", "old\n");
	fake_file(tmp, "sys/m/u1/remove", "");
	s = open_tree(tmp);

	for (int round = 0; round < 3; round++)
		for (int k = 0; k < 40; k++) {
			int i = round == 1 ? 39 - k : (k * 7) % 40; /* forwards, backwards, strided */
			char rel[64], want[16];

			snprintf(rel, sizeof(rel), "many/d%02d/attr", i);
			snprintf(want, sizeof(want), "%d", i);
			CHECK(sysfs_read_line(s, rel, &v) == 0);
			CHECK_STREQ(v, want);
			free(v);
			v = NULL;
		}
	CHECK(sysfs_is_dir(s, "many/d07"));
	CHECK(!sysfs_is_dir(s, "many/d07/attr"));

	/* swap/ is cached; then replaced by a symlink that leads out of the root */
	CHECK(sysfs_read_line(s, "swap/attr", &v) == 0);
	CHECK_STREQ(v, "inside");
	free(v);
	v = NULL;
	CHECK(fake_rm_rf(tmp, "sys/swap"));
	fake_link(tmp, "sys/swap", "../outside");
	CHECK(sysfs_read_line(s, "swap/attr", &v) < 0); /* the gone directory, not the link */
	CHECK(v == NULL);
	CHECK(sysfs_write_attr(s, "m/u1/remove", "1") == 0); /* empties the cache */
	CHECK(sysfs_read_line(s, "swap/attr", &v) == -EXDEV);
	CHECK(v == NULL);

	/* u1 made again behind the cache: found after a remove */
	CHECK(sysfs_read_line(s, "m/u1/x", &v) == 0);
	CHECK_STREQ(v, "old");
	free(v);
	v = NULL;
	CHECK(fake_rm_rf(tmp, "sys/m/u1"));
	fake_file(tmp, "sys/m/u1/x", "new\n");
	fake_file(tmp, "sys/m/u1/remove", "");
	CHECK(sysfs_write_attr(s, "m/u1/remove", "1") == 0);
	CHECK(sysfs_read_line(s, "m/u1/x", &v) == 0);
	CHECK_STREQ(v, "new");
	free(v);
	sysfs_close(s);
	fake_rmtree(tmp);
}

static void test_write(void)
{
	char *tmp = make_tree(), *v;
	struct sysfs *s = open_tree(tmp);
	struct hook_log h = { 0 };

	sysfs_set_write_hook(s, hook, &h);
	CHECK(sysfs_write_attr(s, "bus/ap/apmask", "-0x05") == 0);
	v = fake_slurp(tmp, "sys/bus/ap/apmask");
	CHECK_STREQ(v, "-0x05");
	free(v);
	CHECK(h.calls == 1);
	CHECK_STREQ(h.path, "bus/ap/apmask");
	CHECK_STREQ(h.value, "-0x05");
	CHECK(h.r == 0);

	/* sysfs files are never created */
	CHECK(sysfs_write_attr(s, "bus/ap/new_attr", "1") == -ENOENT);
	CHECK(!sysfs_exists(s, "bus/ap/new_attr"));
	CHECK(h.calls == 2 && h.r == -ENOENT);
	CHECK(sysfs_write_attr(s, "bus/ap", "1") == -EISDIR);
	CHECK(h.r == -EISDIR);
	/* through links */
	CHECK(sysfs_write_attr(s, "bus/ap/devices/card05/05.0004/online", "0") == 0);
	v = fake_slurp(tmp, "sys/devices/ap/card05/05.0004/online");
	CHECK_STREQ(v, "0");
	free(v);
	sysfs_close(s);
	fake_rmtree(tmp);
}

static void test_link_and_list(void)
{
	char *tmp = make_tree(), *v = NULL, **l = NULL;
	struct sysfs *s = open_tree(tmp);

	CHECK(sysfs_read_link_name(s, "devices/ap/card05/05.0004/driver", &v) == 0);
	CHECK_STREQ(v, "cex4queue");
	free(v);
	/* the link itself, though it sits behind another link */
	CHECK(sysfs_read_link_name(s, "bus/ap/devices/card05/05.0004/driver", &v) == 0);
	CHECK_STREQ(v, "cex4queue");
	free(v);
	v = NULL;
	CHECK(sysfs_read_link_name(s, "devices/ap/card05/driver", &v) == -ENOENT);
	CHECK(sysfs_read_link_name(s, "bus/ap/apmask", &v) == -EINVAL);
	CHECK(v == NULL);

	CHECK(sysfs_list_dir(s, "list", &l) == 0);
	CHECK(l && l[0] && l[1] && l[2] && !l[3]);
	if (l && l[0] && l[1] && l[2]) {
		CHECK_STREQ(l[0], "a");
		CHECK_STREQ(l[1], "b");
		CHECK_STREQ(l[2], "c");
	}
	strv_free(l);
	CHECK(sysfs_list_dir(s, "empty", &l) == 0);
	CHECK(l && !l[0]);
	strv_free(l);
	l = NULL;
	CHECK(sysfs_list_dir(s, "nope", &l) == -ENOENT);
	CHECK(sysfs_list_dir(s, "bus/ap/apmask", &l) == -ENOTDIR);
	CHECK(sysfs_list_dir(s, "bus/ap/devices/card05", &l) == 0);
	CHECK(l && l[0] && streq(l[0], "05.0004"));
	strv_free(l);
	sysfs_close(s);
	fake_rmtree(tmp);
}

static void test_paths(void)
{
	char *p;

	p = sysfs_path_create(SYSFS_MATRIX_MAINLINE, SYSFS_TYPE_MAINLINE);
	CHECK_STREQ(p, "devices/vfio_ap/matrix/mdev_supported_types/vfio_ap-passthrough/create");
	free(p);
	p = sysfs_path_mdev_attr(SYSFS_MATRIX_RFC2017, "4b0f7c1e-8d5e-4b1a-9d36-0c1f6a1e2b3c", "assign_domain");
	CHECK_STREQ(p, "devices/ap_matrix/matrix/4b0f7c1e-8d5e-4b1a-9d36-0c1f6a1e2b3c/assign_domain");
	free(p);
	p = sysfs_path_ap_driver_attr(SYSFS_HOST_QUEUE_DRIVER, "unbind");
	CHECK_STREQ(p, "bus/ap/drivers/cex4queue/unbind");
	free(p);
	p = sysfs_path_queue(0x05, 0x47);
	CHECK_STREQ(p, "devices/ap/card05/05.0047");
	free(p);
	p = sysfs_path_queue(0xff, 0xab);
	CHECK_STREQ(p, "devices/ap/cardff/ff.00ab");
	free(p);
}

static void test_open(void)
{
	struct sysfs *s = NULL;

	CHECK(sysfs_open("/nonexistent-apmatrix-root", &s) == -ENOENT);
	CHECK(s == NULL);
	CHECK(sysfs_close(NULL) == NULL);
}

/* read_fd_all(): the limit is exact, growth keeps every byte, a short read can end it. */
static void test_read_fd_all(void)
{
	char *tmp = fake_tmpdir(), *path = xasprintf("%s/f", tmp), *big = xmalloc(9000), *buf = NULL;
	size_t len = 0;
	int fd, p[2];

	for (size_t i = 0; i < 9000; i++)
		big[i] = (char)('a' + i % 26);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	CHECK(fd >= 0 && write(fd, big, 9000) == 9000);
	close(fd);

	fd = open(path, O_RDONLY | O_CLOEXEC);
	CHECK(read_fd_all(fd, 9000, false, &buf, &len) == 0);
	CHECK(len == 9000 && buf && memcmp(buf, big, 9000) == 0 && buf[9000] == '\0');
	free(buf);
	buf = NULL;
	close(fd);

	fd = open(path, O_RDONLY | O_CLOEXEC);
	CHECK(read_fd_all(fd, 8999, false, &buf, &len) == -EFBIG);
	CHECK(buf == NULL);
	close(fd);

	/* a pipe that holds "abc" and stays open: the short read is the end */
	CHECK(pipe(p) == 0);
	CHECK(write(p[1], "abc", 3) == 3);
	CHECK(read_fd_all(p[0], 100, true, &buf, NULL) == 0);
	CHECK_STREQ(buf, "abc");
	free(buf);
	buf = NULL;
	/* without it, reading goes on to the end */
	CHECK(write(p[1], "de", 2) == 2);
	close(p[1]);
	CHECK(read_fd_all(p[0], 100, false, &buf, &len) == 0);
	CHECK(len == 2);
	CHECK_STREQ(buf, "de");
	free(buf);
	close(p[0]);

	CHECK(read_fd_all(-1, 100, false, &buf, &len) == -EBADF);
	free(big);
	free(path);
	fake_rmtree(tmp);
}

int main(void)
{
	static const struct tap_test tests[] = {
		TAP_TEST(test_read),          TAP_TEST(test_confinement), TAP_TEST(test_write),
		TAP_TEST(test_link_and_list), TAP_TEST(test_paths),       TAP_TEST(test_open),
		TAP_TEST(test_dir_cache),     TAP_TEST(test_read_fd_all),
	};

	return tap_run(tests, ARRAY_SIZE(tests));
}
