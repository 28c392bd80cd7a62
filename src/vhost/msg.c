/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "vhost/msg.h"

#include <errno.h>
#include <string.h>

#include "util/cleanup.h"
#include "util/fdpass.h"

void vu_msg_close_fds(struct vu_msg *msg)
{
	close_fds(msg->fds, msg->nfds);
	msg->nfds = 0;
}

void vu_reader_reset(struct vu_reader *rd)
{
	vu_msg_close_fds(&rd->msg);
	rd->have = 0;
}

int vu_read_msg(int fd, struct vu_reader *rd)
{
	struct vu_msg *m = &rd->msg;
	const size_t hsz = sizeof(m->hdr);

	for (;;) {
		size_t want;
		uint8_t *dst;
		ssize_t n;

		if (rd->have < hsz) {
			want = hsz - rd->have;
			dst = (uint8_t *)&m->hdr + rd->have;
		} else {
			if (m->hdr.size > VU_MAX_PAYLOAD) {
				vu_reader_reset(rd);
				return -EMSGSIZE;
			}
			if (rd->have == hsz + m->hdr.size)
				return 1;
			want = hsz + m->hdr.size - rd->have;
			dst = m->p.raw + (rd->have - hsz);
		}
		/* Read exactly what this message still needs, never into the next one. */
		n = recv_with_fds(fd, dst, want, m->fds, VU_MAX_FDS, &m->nfds);
		if (n == -EAGAIN)
			return 0;
		if (n < 0) {
			vu_reader_reset(rd);
			return (int)n;
		}
		if (n == 0) {
			vu_reader_reset(rd);
			return -EPIPE;
		}
		rd->have += (size_t)n;
	}
}

int vu_send_reply(int fd, const struct vu_hdr *req, const void *payload, uint32_t size)
{
	struct {
		struct vu_hdr hdr;
		uint8_t payload[64];
	} out;

	if (size > sizeof(out.payload))
		return -EINVAL;
	out.hdr.request = req->request;
	out.hdr.flags = VU_VERSION | VU_FLAG_REPLY;
	out.hdr.size = size;
	memcpy(out.payload, payload, size);
	return send_with_fds(fd, &out, sizeof(out.hdr) + size, NULL, 0);
}
