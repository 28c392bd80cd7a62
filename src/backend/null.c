/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Null back-end, for benchmarks and tests: what the guest sends is dropped after being counted;
 * with gen=SIZE the guest receives an endless stream of SIZE-byte frames as fast as it posts
 * buffers. Its queue fd is an eventfd that is always writable, and readable only when generating.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "backend/backend.h"
#include "util/cleanup.h"
#include "util/iov.h"
#include "util/shared_mem.h"

#define NULL_MAX_QUEUES 16
#define NULL_HDR_BYTES	10 /* the header we fill: all but num_buffers */

struct null_be {
	struct backend be;
	unsigned nq;
	unsigned hdr_len;
	unsigned gen; /* frame size to generate, 0 for none */
	int fds[NULL_MAX_QUEUES];
	uint8_t *frame; /* header + template frame */
};

/* Returns the null back-end behind a backend pointer. */
static struct null_be *to_null(struct backend *be)
{
	return (struct null_be *)be;
}

/* backend_ops.configure: remembers the header length it must produce. */
static int null_configure(struct backend *be, uint64_t features, unsigned hdr_len)
{
	to_null(be)->hdr_len = hdr_len;
	return 0;
}

/* backend_ops.queue_fd: the eventfd standing for queue q. */
static int null_queue_fd(struct backend *be, unsigned q)
{
	return to_null(be)->fds[q];
}

/* backend_ops.send: counts the frame as sent and drops it. */
static ssize_t null_send(struct backend *be, unsigned q, const struct iovec *iov, unsigned n)
{
	return (ssize_t)iov_size(iov, n);
}

/*
 * backend_ops.recv: writes a zero header (no offload, no checksum claims) and the template frame
 * into iov. num_buffers, the last two bytes of a 12-byte header, is the device model's to write.
 */
static ssize_t null_recv(struct backend *be, unsigned q, const struct iovec *iov, unsigned n)
{
	static const uint8_t hdr[NULL_HDR_BYTES];
	struct null_be *nb = to_null(be);

	if (!nb->gen)
		return -EAGAIN;
	if (n && iov[0].iov_len >= nb->hdr_len + nb->gen) { /* one buffer holds it all */
		store_if_changed(iov[0].iov_base, hdr, NULL_HDR_BYTES);
		memcpy((char *)iov[0].iov_base + nb->hdr_len, nb->frame, nb->gen);
	} else {
		iov_from_buf(iov, n, 0, hdr, NULL_HDR_BYTES);
		iov_from_buf(iov, n, nb->hdr_len, nb->frame, nb->gen);
	}
	return (ssize_t)(nb->hdr_len + nb->gen);
}

/* backend_ops.recv_burst: fills every frame, as null_recv() would. */
static int null_recv_burst(struct backend *be, unsigned q, struct be_frame *f, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		f[i].res = null_recv(be, q, f[i].iov, f[i].niov);
	return 0;
}

/* backend_ops.max_frame: the generated size, or a full Ethernet frame. */
static unsigned null_max_frame(struct backend *be)
{
	struct null_be *nb = to_null(be);

	return nb->gen ? nb->gen : 1518;
}

/* backend_ops.set_mtu: a sink or generator has no MTU; its frames keep their size. */
static int null_set_mtu(struct backend *be, unsigned mtu, unsigned *ret_old)
{
	if (ret_old)
		*ret_old = 0;
	return 0;
}

/* backend_ops.destroy: closes the eventfds and frees. */
static void null_destroy(struct backend *be)
{
	struct null_be *nb = to_null(be);

	close_fds(nb->fds, nb->nq);
	free(nb->frame);
	free(nb);
}

static const struct backend_ops null_gen_ops = {
	.name = "null",
	.offloads = true,
	.configure = null_configure,
	.queue_fd = null_queue_fd,
	.send = null_send,
	.recv = null_recv,
	.recv_burst = null_recv_burst,
	.max_frame = null_max_frame,
	.set_mtu = null_set_mtu,
	.destroy = null_destroy,
};

/* Without gen= nothing is ever received: no recv, so the receive path never runs. */
static const struct backend_ops null_sink_ops = {
	.name = "null",
	.offloads = true,
	.configure = null_configure,
	.queue_fd = null_queue_fd,
	.send = null_send,
	.max_frame = null_max_frame,
	.set_mtu = null_set_mtu,
	.destroy = null_destroy,
};

int backend_null_create(unsigned queues, unsigned gen, struct backend **ret)
{
	struct null_be *nb;

	if (queues == 0 || queues > NULL_MAX_QUEUES || (gen && (gen < 14 || gen > 65535)))
		return -EINVAL;
	nb = calloc(1, sizeof(*nb));
	if (!nb)
		return -ENOMEM;
	nb->be.ops = gen ? &null_gen_ops : &null_sink_ops;
	nb->gen = gen;
	nb->hdr_len = 10;
	for (unsigned q = 0; q < NULL_MAX_QUEUES; q++)
		nb->fds[q] = -1;
	nb->frame = calloc(1, gen ? gen : 14);
	if (!nb->frame)
		goto fail;
	if (gen) {
		/* Broadcast destination, a locally administered source, the local-experimental
		 * type. */
		static const uint8_t eth[14] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02,
						 0,    0,    0,	   0,	 1,    0x88, 0xb5 };
		memcpy(nb->frame, eth, sizeof(eth));
	}
	for (unsigned q = 0; q < queues; q++) {
		/* Counter 1 and never drained: readable forever. 0: never readable. */
		nb->fds[q] = eventfd(gen ? 1 : 0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (nb->fds[q] < 0)
			goto fail;
		nb->nq = q + 1;
	}
	*ret = &nb->be;
	return 0;
fail:
	null_destroy(&nb->be);
	return -ENOMEM;
}
