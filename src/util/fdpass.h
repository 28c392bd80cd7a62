/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unix-socket I/O carrying file descriptors (SCM_RIGHTS). */
#pragma once

#include <stddef.h>
#include <sys/types.h>

/*
 * Receives up to `len` bytes into buf from a non-blocking stream socket and appends any fds that
 * arrive to fds[*nfds..max_fds). Returns the byte count (>0), 0 on orderly shutdown, -EAGAIN when
 * nothing is ready, or another negative errno. More fds than fit, or a truncated control message
 * (MSG_CTRUNC), is -EMSGSIZE; the fds that did arrive are closed in that case, never leaked.
 */
ssize_t recv_with_fds(int sock, void *buf, size_t len, int *fds, unsigned max_fds, unsigned *nfds);

/* Sends all of buf (and n_fds fds with the first byte) without ever blocking. Returns 0 or a
 * negative errno (-EAGAIN when the peer's socket buffer is full). */
int send_with_fds(int sock, const void *buf, size_t len, const int *fds, unsigned n_fds);
