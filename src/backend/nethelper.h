/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vhostd's side of vhostd-net-helper: runs the helper for a device an unprivileged vhostd
 * cannot make itself and takes the queue fds it sends (see src/helper/msg.h). The helper is
 * trusted to be the program the administrator named, its record is still checked whole.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "helper/msg.h"

/* What to ask the helper for: a tap on bridge (ifname: its name, or empty for the kernel's). */
struct nethelper_req {
	const char *helper; /* absolute path */
	const char *bridge;
	const char *ifname;
	unsigned queues;
	const uint8_t *mac; /* NULL: none */
};

#define NETHELPER_TIMEOUT_MS 10000

/*
 * Runs the helper and waits (at most NETHELPER_TIMEOUT_MS) for its record and fds. On success
 * stores the record in *m and the fds in fds[0..m->nfds), which must be req->queues with a
 * 12-byte header. Returns 0, or a negative errno with m->error saying why (the helper's own
 * message when it sent one).
 */
int nethelper_make_tap(const struct nethelper_req *req, struct helper_msg *m, int *fds);
