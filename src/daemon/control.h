/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Control socket: a unix stream socket taking one text command per connection ("stats") and
 * answering with one line per port. The seed of the control API; vhostctl is its client.
 */
#pragma once

#include <stddef.h>

struct loop;
struct port;
struct control;

/* Listens on path. ports[0..n) must outlive the control socket. Returns 0 or a negative errno. */
int control_new(struct loop *l, const char *path, struct port *const *ports, unsigned n,
		struct control **ret);

/* Closes every client and the socket, removing its file. NULL is fine. */
void control_free(struct control *c);

/* Formats the stats of every port into buf (NUL-terminated); returns the length. */
size_t control_format_stats(struct port *const *ports, unsigned n, char *buf, size_t len);
