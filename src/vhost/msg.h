/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Framing of vhost-user messages on a non-blocking stream socket. */
#pragma once

#include <stddef.h>

#include "vhost/proto.h"

/* Accumulates one message across partial reads. Zero-initialise; fds start empty. */
struct vu_reader {
	struct vu_msg msg;
	size_t have; /* bytes of header+payload received so far */
};

/*
 * Reads what is available of the next message. Returns 1 when rd->msg is complete (the caller
 * owns msg.fds and must reset the reader with vu_reader_reset()), 0 when more bytes are needed,
 * or a negative errno: -EPIPE on end of stream, -EMSGSIZE when the declared size exceeds
 * VU_MAX_PAYLOAD or too many fds arrived. Fds are closed on every error.
 */
int vu_read_msg(int fd, struct vu_reader *rd);

/* Closes any fds still held by the reader and starts a new message. */
void vu_reader_reset(struct vu_reader *rd);

/* Closes every fd still held by msg. */
void vu_msg_close_fds(struct vu_msg *msg);

/* Sends a reply to `req` with `size` bytes of payload. Returns 0 or a negative errno. */
int vu_send_reply(int fd, const struct vu_hdr *req, const void *payload, uint32_t size);
