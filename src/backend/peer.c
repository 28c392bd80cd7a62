/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Port-to-port back-end (VM-to-VM cross-connect): a frame the guest sends is copied once, from
 * its buffers straight into the peer guest's receive buffers. No offloads are negotiated on such
 * ports, so frames never need software checksums or segmentation on the way.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/eventfd.h>

#include "backend/backend.h"
#include "net/vnet.h"
#include "util/cleanup.h"
#include "util/iov.h"

#define PEER_MAX_QUEUES 16

struct peer_be {
	struct backend be;
	struct vnet *peer;
	unsigned hdr_len;
	unsigned nq;
	int fds[PEER_MAX_QUEUES];
};

/* Returns the port back-end behind a backend pointer. */
static struct peer_be *to_peer(struct backend *be)
{
	return (struct peer_be *)be;
}

/* backend_ops.configure: remembers the header length to skip on send. */
static int peer_configure(struct backend *be, uint64_t features, unsigned hdr_len)
{
	to_peer(be)->hdr_len = hdr_len;
	return 0;
}

/* backend_ops.queue_fd: the eventfd standing for queue q. */
static int peer_queue_fd(struct backend *be, unsigned q)
{
	return to_peer(be)->fds[q];
}

/* backend_ops.send: copies the frame into the peer guest, -ENOBUFS if it has no room. */
static ssize_t peer_send(struct backend *be, unsigned q, const struct iovec *iov, unsigned n)
{
	struct peer_be *pb = to_peer(be);
	int r;

	if (!pb->peer)
		return -ENOTCONN;
	r = vnet_deliver(pb->peer, q, iov, n, pb->hdr_len);
	return r < 0 ? r : (ssize_t)iov_size(iov, n);
}

/* backend_ops.send_burst: delivers the whole burst to the peer's receive ring. */
static int peer_send_burst(struct backend *be, unsigned q, struct be_frame *f, unsigned n)
{
	struct peer_be *pb = to_peer(be);

	if (!pb->peer)
		return -ENOTCONN;
	vnet_deliver_burst(pb->peer, q, f, n, pb->hdr_len);
	return 0;
}

/* backend_ops.flush: publishes the frames delivered to the peer and notifies it. */
static void peer_flush(struct backend *be, unsigned q)
{
	struct peer_be *pb = to_peer(be);

	if (pb->peer)
		vnet_rx_flush(pb->peer, q);
}

/* backend_ops.max_frame: the largest frame a guest may send. */
static unsigned peer_max_frame(struct backend *be)
{
	return 65535 + 14 + 4;
}

/* backend_ops.set_mtu: nothing between two guests has an MTU (each guest keeps its own). */
static int peer_set_mtu(struct backend *be, unsigned mtu, unsigned *ret_old)
{
	if (ret_old)
		*ret_old = 0;
	return 0;
}

/* backend_ops.destroy: closes the eventfds and frees. */
static void peer_destroy(struct backend *be)
{
	struct peer_be *pb = to_peer(be);

	close_fds(pb->fds, pb->nq);
	free(pb);
}

static const struct backend_ops peer_ops = {
	.name = "port",
	.offloads = false,
	.send_reads_data = true,
	.configure = peer_configure,
	.queue_fd = peer_queue_fd,
	.send = peer_send,
	.send_burst = peer_send_burst,
	.flush = peer_flush,
	.max_frame = peer_max_frame,
	.set_mtu = peer_set_mtu,
	.destroy = peer_destroy,
};

int backend_peer_create(unsigned queues, struct backend **ret)
{
	struct peer_be *pb;

	if (queues == 0 || queues > PEER_MAX_QUEUES)
		return -EINVAL;
	pb = calloc(1, sizeof(*pb));
	if (!pb)
		return -ENOMEM;
	pb->be.ops = &peer_ops;
	pb->hdr_len = 10;
	for (unsigned q = 0; q < PEER_MAX_QUEUES; q++)
		pb->fds[q] = -1;
	for (unsigned q = 0; q < queues; q++) {
		/* Never readable (the peer pushes to us), always writable. */
		pb->fds[q] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (pb->fds[q] < 0) {
			peer_destroy(&pb->be);
			return -ENOMEM;
		}
		pb->nq = q + 1;
	}
	*ret = &pb->be;
	return 0;
}

void backend_peer_set(struct backend *be, struct vnet *peer)
{
	to_peer(be)->peer = peer;
}
