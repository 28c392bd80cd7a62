/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * AF_XDP back-end (libxdp): one XDP socket per queue pair, on the device's queues
 * first_queue + q, each with its own UMEM (UMEM_FRAMES chunks: the first half posted to the fill
 * ring for receive, the second half kept on a free list for transmit).
 *
 * The XDP program that steers a queue's frames to its socket is libxdp's default one, loaded by
 * xsk_socket__create() when the first socket on the device appears (through libxdp's
 * dispatcher when bpffs is mounted, else on its own) and detached by libxdp when the last one
 * goes. Zero-copy is asked for first and copy mode taken when the driver has none (veth).
 *
 * What AF_XDP cannot carry: a frame crosses as bare bytes, with no checksum state and no
 * segmentation metadata, so the port offers the guest no offload at all (no CSUM, no TSO, no
 * GUEST_*): the guest computes its checksums and segments its TCP itself, and receives only
 * frames that fit one UMEM chunk (device MTU up to about 3800 bytes).
 */
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>
#include <bpf/libbpf.h>
#include <xdp/libxdp.h>
#include <xdp/xsk.h>

#include "backend/backend.h"
#include "util/cleanup.h"
#include "util/netif.h"
#include "util/iov.h"
#include "util/log.h"

#define XDP_MAX_QUEUES 16
#define UMEM_FRAMES    2048 /* per queue: 1024 for receive, 1024 for transmit */
#define RX_FRAMES      (UMEM_FRAMES / 2)
#define CHUNK	       XSK_UMEM__DEFAULT_FRAME_SIZE /* 4096 */
#define RING_SIZE      1024
#define MAX_FRAME      (CHUNK - XDP_PACKET_HEADROOM)

struct xdp_queue {
	struct xsk_socket *xsk;
	struct xsk_umem *umem;
	struct xsk_ring_prod fill, tx;
	struct xsk_ring_cons comp, rx;
	void *area;
	int fd;
	uint32_t tx_pending; /* descriptors submitted since the last kick */
	uint32_t nfree;
	unsigned empty; /* receive calls in a row that found nothing (see check_error()) */
	uint64_t free[UMEM_FRAMES - RX_FRAMES]; /* transmit chunks not in flight */
};

struct xdp_be {
	struct backend be;
	char dev[IFNAMSIZ];
	unsigned nq, first;
	unsigned hdr_len;
	unsigned mtu;
	bool zerocopy;
	struct ratelimit rl;
	struct xdp_queue q[XDP_MAX_QUEUES];
};

/* Returns the XDP back-end behind a backend pointer. */
static struct xdp_be *to_xdp(struct backend *be)
{
	return (struct xdp_be *)be;
}

/* backend_ops.configure: only the header length matters: no offloads are ever negotiated. */
static int xdp_configure(struct backend *be, uint64_t features, unsigned hdr_len)
{
	struct xdp_be *x = to_xdp(be);

	(void)features;
	x->hdr_len = hdr_len;
	x->mtu = netif_mtu(x->dev);
	return 0;
}

/* backend_ops.queue_fd: the XDP socket of queue q. */
static int xdp_queue_fd(struct backend *be, unsigned q)
{
	return to_xdp(be)->q[q].fd;
}

/* Takes back the transmit chunks the kernel has completed. */
static void reclaim(struct xdp_queue *xq)
{
	uint32_t idx, n = xsk_ring_cons__peek(&xq->comp, RING_SIZE, &idx);

	for (uint32_t i = 0; i < n && xq->nfree < UMEM_FRAMES - RX_FRAMES; i++)
		xq->free[xq->nfree++] = *xsk_ring_cons__comp_addr(&xq->comp, idx + i);
	if (n)
		xsk_ring_cons__release(&xq->comp, n);
}

/*
 * Queues one frame (after its header) on queue q's transmit ring, copied into a chunk.
 * Returns the bytes taken (header included), -EAGAIN when no chunk or slot is free, or
 * -EMSGSIZE for a frame larger than a chunk.
 */
static ssize_t xdp_queue_tx(struct xdp_be *x, unsigned q, const struct iovec *iov, unsigned n)
{
	struct xdp_queue *xq = &x->q[q];
	size_t total = iov_size(iov, n), len;
	struct xdp_desc *d;
	uint32_t idx;
	uint64_t addr;

	if (total < x->hdr_len)
		return -EINVAL;
	len = total - x->hdr_len;
	if (len > MAX_FRAME)
		return -EMSGSIZE;
	if (!xq->nfree)
		reclaim(xq);
	if (!xq->nfree || xsk_ring_prod__reserve(&xq->tx, 1, &idx) != 1)
		return -EAGAIN;
	addr = xq->free[--xq->nfree];
	iov_to_buf(iov, n, x->hdr_len, xsk_umem__get_data(xq->area, addr), len);
	d = xsk_ring_prod__tx_desc(&xq->tx, idx);
	d->addr = addr;
	d->len = (uint32_t)len;
	d->options = 0;
	xsk_ring_prod__submit(&xq->tx, 1);
	xq->tx_pending++;
	return (ssize_t)total;
}

/*
 * Tells the kernel about what waits on the transmit ring (copy mode: this sends it), when
 * something was queued since the last kick or `force`. Returns 0, or the negative errno of a
 * device that cannot send (down, gone): -EAGAIN and the like mean busy, not broken.
 */
static int kick_tx(struct xdp_be *x, unsigned q, bool force)
{
	struct xdp_queue *xq = &x->q[q];
	int r = 0;

	if (!xq->tx_pending && !force)
		return 0;
	xq->tx_pending = 0;
	if (!xsk_ring_prod__needs_wakeup(&xq->tx))
		return 0;
	if (sendto(xq->fd, NULL, 0, MSG_DONTWAIT, NULL, 0) < 0 && errno != EAGAIN &&
	    errno != EBUSY && errno != ENOBUFS) {
		r = -errno;
		log_rl(&x->rl, LOG_LVL_WARN, "%s: XDP socket of queue %u: transmit: %s", x->dev, q,
		       strerror(-r));
	}
	reclaim(xq);
	return r;
}

/*
 * backend_ops.send: one frame onto the ring; flush() or the next burst sends it. A full ring
 * is kicked first: frames left on it by a device that was down go out now, and while the device
 * cannot send, the frame is dropped with its error rather than waiting for room that no one
 * would announce.
 */
static ssize_t xdp_send(struct backend *be, unsigned q, const struct iovec *iov, unsigned n)
{
	ssize_t r = xdp_queue_tx(to_xdp(be), q, iov, n);

	if (r == -EAGAIN) {
		int k = kick_tx(to_xdp(be), q, true);

		r = xdp_queue_tx(to_xdp(be), q, iov, n);
		if (r == -EAGAIN && k < 0)
			r = k;
	}
	return r;
}

/* backend_ops.send_burst: every frame onto the ring, one kick for all. */
static int xdp_send_burst(struct backend *be, unsigned q, struct be_frame *f, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		f[i].res = xdp_send(be, q, f[i].iov, f[i].niov);
	kick_tx(to_xdp(be), q, false);
	return 0;
}

/* backend_ops.flush: the burst is over: kick the transmit ring. */
static void xdp_flush(struct backend *be, unsigned q)
{
	kick_tx(to_xdp(be), q, false);
}

/* Gives receive chunks back to the fill ring, waking the kernel if it asked for it. */
static void refill(struct xdp_be *x, unsigned q, const uint64_t *addr, uint32_t n)
{
	struct xdp_queue *xq = &x->q[q];
	uint32_t idx;

	/* The fill ring holds every receive chunk, so there is always room. */
	if (!n || xsk_ring_prod__reserve(&xq->fill, n, &idx) != n)
		return;
	for (uint32_t i = 0; i < n; i++)
		*xsk_ring_prod__fill_addr(&xq->fill, idx + i) = addr[i];
	xsk_ring_prod__submit(&xq->fill, n);
	if (xsk_ring_prod__needs_wakeup(&xq->fill))
		(void)recvfrom(xq->fd, NULL, 0, MSG_DONTWAIT, NULL, NULL);
}

/*
 * Copies receive descriptor d into iov behind a zero header (no offload claims: none were
 * negotiated). Returns the length with the header, more than the space when it does not fit.
 */
static ssize_t rx_copy(struct xdp_be *x, struct xdp_queue *xq, const struct xdp_desc *d,
		       const struct iovec *iov, unsigned n)
{
	static const uint8_t zero[12];
	size_t space = iov_size(iov, n), len = x->hdr_len + d->len;
	const uint8_t *data = xsk_umem__get_data(xq->area, d->addr);

	if (len > space || d->len > MAX_FRAME)
		return (ssize_t)(space + 1);
	if (iov[0].iov_len >= len) {
		memcpy(iov[0].iov_base, zero, x->hdr_len);
		memcpy((uint8_t *)iov[0].iov_base + x->hdr_len, data, d->len);
	} else {
		iov_from_buf(iov, n, 0, zero, x->hdr_len);
		iov_from_buf(iov, n, x->hdr_len, data, d->len);
	}
	return (ssize_t)len;
}

/*
 * After several empty receives in a row, reads (and so clears) an error the socket holds (the
 * device went away), which would otherwise keep it "ready" with nothing to read; logs it.
 */
static void check_error(struct xdp_be *x, unsigned q)
{
	int err = 0;
	socklen_t sl = sizeof(err);

	if (++x->q[q].empty < 8)
		return;
	x->q[q].empty = 0;
	if (getsockopt(x->q[q].fd, SOL_SOCKET, SO_ERROR, &err, &sl) == 0 && err)
		log_rl(&x->rl, LOG_LVL_WARN, "%s: XDP socket of queue %u: %s", x->dev, q,
		       strerror(err));
}

/* backend_ops.recv_burst: up to n frames off the receive ring, their chunks refilled at once. */
static int xdp_recv_burst(struct backend *be, unsigned q, struct be_frame *f, unsigned n)
{
	struct xdp_be *x = to_xdp(be);
	struct xdp_queue *xq = &x->q[q];
	uint64_t addr[64];
	uint32_t idx, got;

	if (n > 64)
		n = 64;
	got = xsk_ring_cons__peek(&xq->rx, n, &idx);
	for (uint32_t i = 0; i < got; i++) {
		const struct xdp_desc *d = xsk_ring_cons__rx_desc(&xq->rx, idx + i);

		f[i].res = rx_copy(x, xq, d, f[i].iov, f[i].niov);
		addr[i] = xsk_umem__extract_addr(d->addr);
	}
	for (uint32_t i = got; i < n; i++)
		f[i].res = -EAGAIN;
	if (got) {
		xq->empty = 0;
		xsk_ring_cons__release(&xq->rx, got);
		refill(x, q, addr, got);
	} else {
		check_error(x, q);
	}
	return 0;
}

/* backend_ops.recv: one frame. */
static ssize_t xdp_recv(struct backend *be, unsigned q, const struct iovec *iov, unsigned n)
{
	struct be_frame f = { .iov = iov, .niov = n };

	xdp_recv_burst(be, q, &f, 1);
	return f.res;
}

/* backend_ops.discard: drops up to max frames waiting on queue q. */
static unsigned xdp_discard(struct backend *be, unsigned q, unsigned max)
{
	struct xdp_be *x = to_xdp(be);
	struct xdp_queue *xq = &x->q[q];
	unsigned k = 0;

	while (k < max) {
		uint64_t addr[64];
		uint32_t idx, got = xsk_ring_cons__peek(&xq->rx, MIN(64u, max - k), &idx);

		if (!got)
			break;
		for (uint32_t i = 0; i < got; i++)
			addr[i] = xsk_umem__extract_addr(
				xsk_ring_cons__rx_desc(&xq->rx, idx + i)->addr);
		xsk_ring_cons__release(&xq->rx, got);
		refill(x, q, addr, got);
		k += got;
	}
	return k;
}

/* backend_ops.max_frame: the device's MTU, bounded by a UMEM chunk. */
static unsigned xdp_max_frame(struct backend *be)
{
	return MIN(to_xdp(be)->mtu + 14 + 4, (unsigned)MAX_FRAME);
}

/* backend_ops.set_mtu: the host device stays as it is; a chunk bounds what fits. */
static int xdp_set_mtu(struct backend *be, unsigned mtu, unsigned *ret_old)
{
	struct xdp_be *x = to_xdp(be);

	if (mtu + 14 + 4 > MAX_FRAME)
		return -EINVAL;
	if (mtu > x->mtu)
		x->mtu = mtu;
	if (ret_old)
		*ret_old = 0;
	return 0;
}

/*
 * backend_ops.destroy: deletes the sockets (libxdp detaches its program with the last one on
 * the device) and the UMEMs.
 */
static void xdp_destroy(struct backend *be)
{
	struct xdp_be *x = to_xdp(be);

	for (unsigned q = 0; q < XDP_MAX_QUEUES; q++) {
		struct xdp_queue *xq = &x->q[q];

		if (xq->xsk)
			xsk_socket__delete(xq->xsk);
		if (xq->umem)
			xsk_umem__delete(xq->umem);
		if (xq->area)
			munmap(xq->area, (size_t)UMEM_FRAMES * CHUNK);
	}
	free(x);
}

static const struct backend_ops xdp_ops = {
	.name = "xdp",
	.offloads = false,
	.send_reads_data = true,
	.configure = xdp_configure,
	.queue_fd = xdp_queue_fd,
	.send = xdp_send,
	.recv = xdp_recv,
	.send_burst = xdp_send_burst,
	.recv_burst = xdp_recv_burst,
	.flush = xdp_flush,
	.discard = xdp_discard,
	.max_frame = xdp_max_frame,
	.set_mtu = xdp_set_mtu,
	.destroy = xdp_destroy,
};

/* libxdp's messages go to our log, warnings and errors only (its info is chatty). */
static int libxdp_log(enum libxdp_print_level level, const char *fmt, va_list ap)
{
	char line[256];
	size_t n;

	if (level == LIBXDP_DEBUG)
		return 0;
	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	if (n && line[n - 1] == '\n')
		line[n - 1] = '\0';
	if (level == LIBXDP_WARN)
		log_info("libxdp: %s", line);
	else
		log_debug("libxdp: %s", line);
	return 0;
}

/* libbpf's messages (libxdp loads its program through it): debug lines in our log. */
static int libbpf_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char line[256];
	size_t n;

	if (level == LIBBPF_DEBUG)
		return 0;
	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	if (n && line[n - 1] == '\n')
		line[n - 1] = '\0';
	if (level == LIBBPF_WARN)
		log_info("libbpf: %s", line);
	else
		log_debug("libbpf: %s", line);
	return 0;
}

/* The number of receive queues dev has (from sysfs), or 0 when unknown. */
static unsigned dev_rx_queues(const char *dev)
{
	char path[96];
	unsigned n = 0;

	for (;;) {
		snprintf(path, sizeof(path), "/sys/class/net/%s/queues/rx-%u", dev, n);
		if (access(path, F_OK) < 0)
			return n;
		n++;
	}
}

/* Creates the UMEM and socket of queue q, zero-copy if the driver allows, copy mode otherwise. */
static int xdp_open_queue(struct xdp_be *x, unsigned q)
{
	struct xdp_queue *xq = &x->q[q];
	const struct xsk_umem_config ucfg = {
		.fill_size = RING_SIZE * 2,
		.comp_size = RING_SIZE,
		.frame_size = CHUNK,
		.frame_headroom = 0,
	};
	struct xsk_socket_config scfg = {
		.rx_size = RING_SIZE,
		.tx_size = RING_SIZE,
		.bind_flags = XDP_USE_NEED_WAKEUP | XDP_ZEROCOPY,
	};
	uint64_t addr[RX_FRAMES];
	int r;

	xq->area = mmap(NULL, (size_t)UMEM_FRAMES * CHUNK, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (xq->area == MAP_FAILED) {
		xq->area = NULL;
		return -errno;
	}
	r = xsk_umem__create(&xq->umem, xq->area, (uint64_t)UMEM_FRAMES * CHUNK, &xq->fill,
			     &xq->comp, &ucfg);
	if (r < 0) {
		log_error("%s: AF_XDP UMEM: %s", x->dev, strerror(-r));
		return r;
	}
	r = xsk_socket__create(&xq->xsk, x->dev, x->first + q, xq->umem, &xq->rx, &xq->tx, &scfg);
	if (r < 0 && r != -EINVAL && r != -EBUSY && r != -ENODEV) {
		/* No zero-copy in this driver (veth, most virtual devices): copy mode. */
		scfg.bind_flags = XDP_USE_NEED_WAKEUP | XDP_COPY;
		r = xsk_socket__create(&xq->xsk, x->dev, x->first + q, xq->umem, &xq->rx, &xq->tx,
				       &scfg);
	} else if (r == 0) {
		x->zerocopy = true;
	}
	if (r < 0) {
		xq->xsk = NULL;
		log_error("%s: AF_XDP socket on queue %u: %s", x->dev, x->first + q, strerror(-r));
		return r;
	}
	xq->fd = xsk_socket__fd(xq->xsk);
	for (unsigned i = 0; i < RX_FRAMES; i++)
		addr[i] = (uint64_t)i * CHUNK;
	refill(x, q, addr, RX_FRAMES);
	for (unsigned i = RX_FRAMES; i < UMEM_FRAMES; i++)
		xq->free[xq->nfree++] = (uint64_t)i * CHUNK;
	return 0;
}

int backend_xdp_create(const char *dev, unsigned queues, unsigned first_queue, struct backend **ret)
{
	struct xdp_be *x;
	unsigned have;
	int r;

	if (queues == 0 || queues > XDP_MAX_QUEUES || strlen(dev) >= IFNAMSIZ)
		return -EINVAL;
	if (if_nametoindex(dev) == 0) {
		log_error("xdp: no device '%s' in this network namespace", dev);
		return -ENODEV;
	}
	have = dev_rx_queues(dev);
	if (have && first_queue + queues > have) {
		log_error("xdp: %s has %u receive queue(s): queues %u..%u do not exist", dev, have,
			  first_queue, first_queue + queues - 1);
		return -EINVAL;
	}
	x = calloc(1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	x->be.ops = &xdp_ops;
	x->rl = (struct ratelimit)RATELIMIT_INIT;
	snprintf(x->dev, sizeof(x->dev), "%s", dev);
	x->nq = queues;
	x->first = first_queue;
	x->hdr_len = 10;
	x->mtu = netif_mtu(dev);
	for (unsigned q = 0; q < XDP_MAX_QUEUES; q++)
		x->q[q].fd = -1;
	libxdp_set_print(libxdp_log);
	libbpf_set_print(libbpf_log);
	for (unsigned q = 0; q < queues; q++) {
		r = xdp_open_queue(x, q);
		if (r < 0)
			goto fail;
	}
	log_info("%s: %u AF_XDP socket(s) on queue(s) %u..%u, %s mode; no offloads", dev, queues,
		 first_queue, first_queue + queues - 1, x->zerocopy ? "zero-copy" : "copy");
	*ret = &x->be;
	return 0;
fail:
	xdp_destroy(&x->be);
	return r;
}
