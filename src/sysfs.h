/* SPDX-License-Identifier: MIT */
/*
 * sysfs.h: the only code that opens kernel files (STYLE R3).  Every path is
 * relative to one root directory fd ("/sys" by default, $APMATRIX_SYSFS_ROOT
 * for offline analysis), opened with openat() and O_NOFOLLOW-style checks so
 * no name from a config or from sysfs can escape the root.  Writes are one
 * unbuffered write(2) each and return the kernel's -errno unchanged (R16).
 *
 * The path builders below are pure (no I/O) so that plan.c can put exact
 * paths into actions and `diff --shell` prints what `apply` writes.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define SYSFS_DEFAULT_ROOT "/sys"

struct sysfs;

/* Hook called for every write (path relative to the root, value, result). */
typedef void (*sysfs_write_hook)(void *userdata, const char *path, const char *value, int r);

int sysfs_open(const char *root, struct sysfs **ret);
struct sysfs *sysfs_close(struct sysfs *s);
const char *sysfs_root(const struct sysfs *s);
/*
 * Where the vfio group devices of the host behind this sysfs are
 * (/dev/vfio), or NULL when unknown (a copy of another host's sysfs): a
 * group that a guest holds cannot be opened (EBUSY).
 */
void sysfs_set_vfio_dir(struct sysfs *s, const char *dir);
const char *sysfs_vfio_dir(const struct sysfs *s);
void sysfs_set_write_hook(struct sysfs *s, sysfs_write_hook hook, void *userdata);

/* Read a whole attribute (at most 64 KiB) into a malloc'd NUL-terminated string. */
int sysfs_read_attr(struct sysfs *s, const char *path, char **ret);
/* Read and strip one trailing newline. */
int sysfs_read_line(struct sysfs *s, const char *path, char **ret);
/* Write value with one write(2) (O_WRONLY|O_TRUNC|O_CLOEXEC); returns 0 or -errno. */
int sysfs_write_attr(struct sysfs *s, const char *path, const char *value);
bool sysfs_exists(struct sysfs *s, const char *path);
bool sysfs_is_dir(struct sysfs *s, const char *path);
/* 0 for a directory, -ENOTDIR for something else, -ENOENT when absent, -errno when that cannot be told. */
int sysfs_check_dir(struct sysfs *s, const char *path);
/* Basename of a symlink's target ("driver" -> "cex4queue"); -ENOENT when absent. */
int sysfs_read_link_name(struct sysfs *s, const char *path, char **ret);
/* Sorted, malloc'd, NULL-terminated list of entries of a directory (no . and ..): strv_free() frees it. */
int sysfs_list_dir(struct sysfs *s, const char *path, char ***ret);
/*
 * fn for every entry of a directory (no . and ..), in the directory's own
 * order, without copying the names: for listings of thousands.  Returns 0 or
 * -errno (of the open, or of a read that ended the listing early).
 */
typedef void (*sysfs_entry_fn)(const char *name, void *userdata);
int sysfs_foreach_entry(struct sysfs *s, const char *path, sysfs_entry_fn fn, void *userdata);

/* Paths relative to the sysfs root (pure). */
#define SYSFS_AP_BUS "bus/ap"
#define SYSFS_APMASK "bus/ap/apmask"
#define SYSFS_AQMASK "bus/ap/aqmask"
#define SYSFS_AP_DEVICES "devices/ap"
#define SYSFS_AP_BUS_DEVICES "bus/ap/devices"
#define SYSFS_MATRIX_MAINLINE "devices/vfio_ap/matrix"
#define SYSFS_MATRIX_RFC2017 "devices/ap_matrix/matrix"
#define SYSFS_TYPE_MAINLINE "vfio_ap-passthrough"
#define SYSFS_TYPE_RFC2017 "ap_matrix-passthrough"
#define SYSFS_VFIO_DRIVER_MAINLINE "vfio_ap"
#define SYSFS_VFIO_DRIVER_RFC2017 "vfio_ap_matrix"
#define SYSFS_HOST_QUEUE_DRIVER "cex4queue"
#define SYSFS_UEVENT_SEQNUM "kernel/uevent_seqnum"

/* "<matrix>/mdev_supported_types/<type>/create" etc.; malloc'd. */
char *sysfs_path_create(const char *matrix, const char *type);
char *sysfs_path_mdev_attr(const char *matrix, const char *uuid, const char *attr);
char *sysfs_path_ap_driver_attr(const char *driver, const char *attr); /* bus/ap/drivers/D/A */
char *sysfs_path_queue(unsigned adapter, unsigned domain);              /* devices/ap/cardXX/XX.YYYY */
