/* SPDX-License-Identifier: MIT */
/* snippet.c: libvirt and QEMU snippets for a guest's mdev (snippet.h). */
#include "snippet.h"

void snippet_libvirt(FILE *f, const char *uuid)
{
	fprintf(f,
		"<hostdev mode='subsystem' type='mdev' model='vfio-ap'>\n"
		"  <source>\n"
		"    <address uuid='%s'/>\n"
		"  </source>\n"
		"</hostdev>\n",
		uuid);
}

void snippet_qemu(FILE *f, const char *uuid, enum kernel_profile profile)
{
	/* QEMU opens the mdev through the real /sys, whatever APMATRIX_SYSFS_ROOT says */
	if (profile == PROFILE_RFC2017)
		fprintf(f, "-device vfio_ap_matrix,sysfsdev=/sys/devices/ap_matrix/matrix/%s\n", uuid);
	else
		fprintf(f, "-device vfio-ap,sysfsdev=/sys/bus/mdev/devices/%s\n", uuid);
}
