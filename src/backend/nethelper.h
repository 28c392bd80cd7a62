/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vhostd's side of vhostd-net-helper: runs the helper for a device an unprivileged vhostd
 * cannot make itself and takes the queue fds it sends (see src/helper/msg.h). The helper is
 * trusted to be the program the administrator named, its record is still checked whole.
 *
 * A tap goes with its last fd, so its helper exits once it sent the record. A macvtap link does
 * not: its helper stays, holding the link, until vhostd closes its end of their socketpair
 * (nethelper_child_end(), or vhostd's death), then deletes the link and exits.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "helper/msg.h"

/* What to ask the helper for: a tap on bridge, or a macvtap over dev in mode (ifname: its name,
 * or empty for the helper's choice). */
struct nethelper_req {
	const char *helper; /* absolute path */
	const char *bridge; /* a tap: the bridge it joins */
	const char *dev;    /* a macvtap: the device underneath, and */
	const char *mode;   /* its mode ("vepa", "private", "bridge", "passthrough") */
	const char *ifname;
	unsigned queues;
	const uint8_t *mac; /* NULL: none */
};

/* A helper that stays with the device it made (a macvtap). */
struct nethelper_child;

#define NETHELPER_TIMEOUT_MS 10000

/*
 * Runs the helper for a tap and waits (at most NETHELPER_TIMEOUT_MS) for its record and fds.
 * On success stores the record in *m and the fds in fds[0..m->nfds), which must be req->queues
 * with a 12-byte header. Returns 0, or a negative errno with m->error saying why (the helper's
 * own message when it sent one).
 */
int nethelper_make_tap(const struct nethelper_req *req, struct helper_msg *m, int *fds);

/*
 * As nethelper_make_tap() for a macvtap (req->dev and req->mode), and on success the helper,
 * still running, in *ret_child: the link lives until nethelper_child_end(*ret_child).
 */
int nethelper_make_macvtap(const struct nethelper_req *req, struct helper_msg *m, int *fds,
			   struct nethelper_child **ret_child);

/*
 * Tells the helper to delete its device (closes our end of the socketpair), waits a bounded
 * time for it to exit and reaps it; one that does not exit in time is reaped later by
 * nethelper_reap(). Frees c; NULL is fine. Any thread.
 */
void nethelper_child_end(struct nethelper_child *c);

/* Reaps the staying helpers that exited (call on SIGCHLD: the launcher sends one for those it
 * runs), logging those that did so before they were told to. Never waits; touches no other
 * child process. Any thread. */
void nethelper_reap(void);
