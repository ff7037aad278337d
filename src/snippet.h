/* SPDX-License-Identifier: MIT */
/*
 * snippet.h: how a guest refers to its mdev, ready to paste: the libvirt
 * <hostdev> element, or the QEMU -device argument (`apmatrix guest`).
 * QEMU allows one vfio-ap device per guest, so a guest has one snippet.
 */
#pragma once

#include <stdio.h>

#include "live.h"

/* <hostdev mode='subsystem' type='mdev' model='vfio-ap'> ... </hostdev> */
void snippet_libvirt(FILE *f, const char *uuid);

/*
 * -device vfio-ap,sysfsdev=/sys/bus/mdev/devices/UUID, or on the rfc2017
 * profile the seed's -device vfio_ap_matrix,sysfsdev=/sys/devices/ap_matrix/matrix/UUID.
 */
void snippet_qemu(FILE *f, const char *uuid, enum kernel_profile profile);
