/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The message vhostd-net-helper sends over its socketpair: one versioned, length-prefixed
 * record, with the device's queue fds attached (SCM_RIGHTS) when it succeeded. All integers are
 * little-endian. Version 1:
 *
 *   offset size  field
 *        0    4  magic "VHNH"
 *        4    2  version (1)
 *        6    2  length of the whole record in bytes (HELPER_MSG_LEN for version 1)
 *        8    4  status: 0, or the errno of the failure (then no fds come)
 *       12    4  ifindex of the device
 *       16    4  vnet header size the queues use (0, 10 or 12)
 *       20    4  offloads the device accepted (TUN_F_* bits)
 *       24    4  number of queue fds attached (1..HELPER_MAX_QUEUES when status is 0)
 *       28   16  interface name, NUL-padded
 *       44  128  message for the operator when status is not 0, NUL-padded
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define HELPER_MSG_VERSION 1
#define HELPER_MSG_LEN	   172
#define HELPER_MAX_QUEUES  16

struct helper_msg {
	uint32_t status;
	uint32_t ifindex;
	uint32_t vnet_hdr_size;
	uint32_t offloads;
	uint32_t nfds;
	char ifname[16];
	char error[128];
};

/* Writes m as a version-1 record into buf[HELPER_MSG_LEN]. */
void helper_msg_encode(const struct helper_msg *m, uint8_t buf[HELPER_MSG_LEN]);

/*
 * Reads a record of len bytes that arrived with nfds fds into *m and checks it: magic, version,
 * length, a terminated interface name and error text, a sane header size, and (for a success)
 * an ifindex, 1..HELPER_MAX_QUEUES fds and exactly that many attached (none for a failure).
 * Returns 0 or -EPROTO.
 */
int helper_msg_decode(const uint8_t *buf, size_t len, unsigned nfds, struct helper_msg *m);
