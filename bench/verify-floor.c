/* SPDX-License-Identifier: MIT */
/*
 * verify-floor [ROOT]: the least that any tool has to read from sysfs to
 * tell that a vfio_ap host is as declared, and nothing else - the floor the
 * converged re-apply is compared with in bench/RESULTS.md.
 *
 * It reads the two masks, lists the vfio_ap mdevs and reads each one's
 * configuration: ap_config where the kernel has it (6.10+), otherwise its
 * matrix and control_domains.  It does not compare anything, plan anything,
 * read a configuration file or look at the queues' bindings, so it is a
 * lower bound, not a tool.  ROOT defaults to /sys.
 *
 * Prints "N mdevs" and exits 0; exits 1 when anything cannot be read.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define MATRIX "devices/vfio_ap/matrix"
#define DEVICES MATRIX "/mdev_supported_types/vfio_ap-passthrough/devices"

static char buf[4096];

/* one open, one read, one close: what reading an attribute costs at least */
static int read_attr(int dirfd, const char *path)
{
	int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0) {
		perror(path);
		return -1;
	}
	n = read(fd, buf, sizeof(buf));
	if (n < 0)
		perror(path);
	close(fd);
	return n < 0 ? -1 : 0;
}

/* MDEV/ATTR below the matrix device */
static const char *mdev_path(char path[300], const char *mdev, const char *attr)
{
	snprintf(path, 300, "%s/%s", mdev, attr);
	return path;
}

int main(int argc, char **argv)
{
	const char *root = argc > 1 ? argv[1] : "/sys";
	int rootfd, matrixfd, devfd, ap_config;
	unsigned long n = 0;
	bool failed;
	struct dirent *de;
	DIR *d;

	if (argc > 2) {
		fprintf(stderr, "usage: verify-floor [ROOT]\n");
		return 2;
	}
	rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0) {
		perror(root);
		return 1;
	}
	if (read_attr(rootfd, "bus/ap/apmask") < 0 || read_attr(rootfd, "bus/ap/aqmask") < 0) {
		close(rootfd);
		return 1;
	}
	matrixfd = openat(rootfd, MATRIX, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	devfd = openat(rootfd, DEVICES, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	d = devfd < 0 ? NULL : fdopendir(devfd);
	if (matrixfd < 0 || !d) {
		perror(matrixfd < 0 ? MATRIX : DEVICES);
		if (d)
			closedir(d);
		else if (devfd >= 0)
			close(devfd);
		if (matrixfd >= 0)
			close(matrixfd);
		close(rootfd);
		return 1;
	}
	ap_config = -1;
	while ((de = readdir(d))) {
		char path[300];

		if (de->d_name[0] == '.')
			continue;
		if (ap_config < 0)
			ap_config = faccessat(matrixfd, mdev_path(path, de->d_name, "ap_config"), F_OK, 0) == 0;
		if (ap_config) {
			if (read_attr(matrixfd, mdev_path(path, de->d_name, "ap_config")) < 0)
				break;
		} else if (read_attr(matrixfd, mdev_path(path, de->d_name, "matrix")) < 0 ||
			   read_attr(matrixfd, mdev_path(path, de->d_name, "control_domains")) < 0) {
			break;
		}
		n++;
	}
	failed = de != NULL;
	closedir(d);
	close(matrixfd);
	close(rootfd);
	if (failed)
		return 1;
	printf("%lu mdevs\n", n);
	return 0;
}
