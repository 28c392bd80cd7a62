/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A macvtap link's life through rtnetlink (libnl-route-3): made over a lower device, marked
 * as its maker's (linkmark.h), set up, its character device /dev/tapN opened once per queue,
 * and deleted. Shared by the macvtap back-end (vhostd as root) and vhostd-net-helper (for an
 * unprivileged vhostd), so both make the same link the same way.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

struct nl_sock;

/* What link to make. */
struct mvlink_params {
	const char *ifname; /* the link's name */
	const char *dev;    /* the lower device */
	uint32_t mode;	    /* MACVLAN_MODE_VEPA, _PRIVATE, _BRIDGE or _PASSTHRU */
	const uint8_t *mac; /* its address (NULL: made up from ifname, logged); not used in
			     * passthrough, where the link takes the device whole */
	/* A leftover of a dead maker is replaced only when it sits on dev (not just any). */
	bool stale_same_dev;
};

/* A route netlink socket in *ret. Returns 0 or a negative errno. */
int mvlink_open(struct nl_sock **ret);

/* Frees a socket from mvlink_open (cleanup hook; NULL is fine). */
void mvlink_closep(struct nl_sock **sk);

#define _cleanup_mvlink_ __attribute__((cleanup(mvlink_closep)))

/* "vepa", "private", "bridge" or "passthrough" for a MACVLAN_MODE_* value; NULL for others. */
const char *mvlink_mode_name(uint32_t mode);

/* The MACVLAN_MODE_* value of a mode name into *ret. Returns 0 or -EINVAL. */
int mvlink_mode_parse(const char *name, uint32_t *ret);

/*
 * Why creating a link in mode may have failed with r (a negative errno), as a phrase starting
 * with a space (" (passthrough needs ...)"), or "" when there is nothing to add.
 */
const char *mvlink_hint(uint32_t mode, int r);

/*
 * Makes link p->ifname over p->dev: a leftover of a maker that is gone is deleted first, any
 * other link of that name refuses the request (-EBUSY: its maker runs; -EEXIST: not made by
 * vhostd). The new link carries the calling process's mark and is left down. Stores its
 * ifindex and the lower device's MTU (either pointer may be NULL). A link made but not marked
 * is deleted again. Returns 0 or a negative errno (logged).
 */
int mvlink_create(struct nl_sock *sk, const struct mvlink_params *p, int *ret_ifindex,
		  unsigned *ret_lower_mtu);

/* Sets link ifindex up. Returns 0 or a negative errno. */
int mvlink_set_up(struct nl_sock *sk, int ifindex);

/* Deletes link ifindex if it is still called ifname. Returns 0 or a negative errno. */
int mvlink_delete(struct nl_sock *sk, int ifindex, const char *ifname);

/*
 * Opens n queues of link ifname's character device into fds[0..n) (IFF_MULTI_QUEUE when n > 1),
 * non-blocking and close-on-exec. /dev/tapN is named after the ifindex, which another network
 * namespace may use as well: the node is used only when its device number is the link's. When
 * it is not, a private node is made (may_mknod: needs CAP_MKNOD) or -EXDEV returned; without
 * may_mknod a number sysfs does not give is -ENODEV, not an unchecked open. On failure
 * the fds opened so far are in fds[] (the rest -1) for the caller to close. Returns 0 or a
 * negative errno (logged).
 */
int mvlink_open_queues(const char *ifname, int ifindex, unsigned n, bool may_mknod, int *fds);
