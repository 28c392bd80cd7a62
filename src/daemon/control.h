/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The control socket: the transport of the control API (doc/control-api.md). Clients are
 * untrusted: their credentials are checked, their requests and pending replies are bounded,
 * idle ones are dropped, and the daemon never blocks on one.
 */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "daemon/api.h"

struct loop;
struct control;

#define CONTROL_MAX_CLIENTS 16
#define CONTROL_LINE_MAX    65536      /* a request with its newline */
#define CONTROL_PENDING_MAX (4u << 20) /* reply bytes waiting for a client */
#define CONTROL_IDLE_MS	    30000      /* without a complete request */
#define CONTROL_STALL_MS    5000       /* replies waiting without being read */

/*
 * Listens on path (mode 0660; group gid unless it is (gid_t)-1, whose members are then served
 * too; the directory is created if missing). Requests go to api_handle(ctx). A live socket at
 * path (another vhostd) gives -EADDRINUSE. Returns 0 or a negative errno.
 */
int control_new(struct loop *l, const char *path, gid_t gid, struct api_ctx *ctx,
		struct control **ret);

/* Closes every client and the socket, removing its file. NULL is fine. */
void control_free(struct control *c);
