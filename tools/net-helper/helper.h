/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vhostd-net-helper's parts: main.c (arguments, access list, tap, record), macvtap.c. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "helper/msg.h"

/* Exit statuses (documented in vhostd(8) and the README). */
enum {
	EXIT_OK = 0,
	EXIT_USAGE = 1,	    /* bad or missing arguments */
	EXIT_DENIED = 2,    /* the access list does not allow the bridge or device */
	EXIT_ACL_ERROR = 3, /* the access list cannot be read or parsed */
	EXIT_NO_CAP = 4,    /* CAP_NET_ADMIN is not there to keep */
	EXIT_DEVICE = 5,    /* the device could not be created or set up */
	EXIT_SEND = 6,	    /* the message could not be sent on the socketpair */
	EXIT_CLEANUP = 7,   /* macvtap: the link could not be deleted at the end */
};

struct args {
	int sock;
	const char *bridge, *dev, *mode, *ifname;
	unsigned queues;
	uint8_t mac[6];
	bool mac_set, vnet_hdr;
};

/*
 * Sets the 12-byte virtio-net header on queue fd (shared by all queues of the device) and the
 * most offloads it takes; records both in m. 0 or -errno (m->error says where).
 */
int helper_vnet_hdr(int fd, struct helper_msg *m);

/*
 * Creates the macvtap link over a->dev (name from --ifname, else the first free vhmtN), its
 * queues into fds[], header and offloads, and sets it up. Fills m (m->nfds: the fds to close
 * whatever happens). On failure the link is gone again. 0 or -errno (m->error says why).
 */
int helper_make_macvtap(const struct args *a, struct helper_msg *m, int *fds);

/*
 * After the record went out: waits, without spinning, until vhostd closes its end of the
 * socketpair (EOF; also when vhostd dies) or SIGTERM/SIGINT comes, then deletes the link made
 * by helper_make_macvtap() (m says which). Returns EXIT_OK or EXIT_CLEANUP.
 */
int helper_stay(int sock, const struct helper_msg *m);

/* Gives up CAP_DAC_OVERRIDE for good (it is only for opening a macvtap's device node). */
void helper_drop_dac(void);
