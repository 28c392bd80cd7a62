/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The queues of a tap-like character device (tun/tap, macvtap): see tapq.h. */
#include "backend/tapq.h"

#include <errno.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "backend/uring.h"
#include "net/virtio_net.h"
#include "util/cleanup.h"
#include "util/netif.h"

/* Returns the tap-like device behind a backend pointer. */
static struct tapq *to_tapq(struct backend *be)
{
	return (struct tapq *)be;
}

void tapq_init(struct tapq *t, const struct backend_ops *ops)
{
	t->be.ops = ops;
	t->rl = (struct ratelimit)RATELIMIT_INIT;
	for (unsigned q = 0; q < TAPQ_MAX_QUEUES; q++)
		t->fds[q] = -1;
}

void tapq_close(struct tapq *t)
{
	close_fds(t->fds, TAPQ_MAX_QUEUES);
	t->nq = 0;
}

void tapq_probe_uso(struct tapq *t)
{
	t->be.uso = t->nq > 0 && ioctl(t->fds[0], TUNSETOFFLOAD,
				       (unsigned long)(TUN_F_CSUM | TUN_F_USO4 | TUN_F_USO6)) == 0;
}

/* backend_ops.configure: vnet header size and offloads on every queue. */
int tapq_configure(struct backend *be, uint64_t features, unsigned hdr_len)
{
	struct tapq *t = to_tapq(be);
	unsigned off = 0;
	int sz = (int)hdr_len;

	/* What the guest accepts on receive is what the kernel may give us. */
	if (features & VNET_BIT(VIRTIO_NET_F_GUEST_CSUM)) {
		off |= TUN_F_CSUM;
		if (features & VNET_BIT(VIRTIO_NET_F_GUEST_TSO4))
			off |= TUN_F_TSO4;
		if (features & VNET_BIT(VIRTIO_NET_F_GUEST_TSO6))
			off |= TUN_F_TSO6;
		if ((off & (TUN_F_TSO4 | TUN_F_TSO6)) &&
		    (features & VNET_BIT(VIRTIO_NET_F_GUEST_ECN)))
			off |= TUN_F_TSO_ECN;
		if (features & VNET_BIT(VIRTIO_NET_F_GUEST_UFO))
			off |= TUN_F_UFO;
		/* The kernel has one switch for both: a guest taking USO over one IP version
		 * only gets segmented frames. */
		if (be->uso && (features & VNET_BIT(VIRTIO_NET_F_GUEST_USO4)) &&
		    (features & VNET_BIT(VIRTIO_NET_F_GUEST_USO6)))
			off |= TUN_F_USO4 | TUN_F_USO6;
	}
	for (unsigned q = 0; q < t->nq; q++) {
		if (ioctl(t->fds[q], TUNSETVNETHDRSZ, &sz) < 0) {
			log_error("%s: TUNSETVNETHDRSZ %d: %s", t->ifname, sz, strerror(errno));
			return -errno;
		}
		if (ioctl(t->fds[q], TUNSETOFFLOAD, (unsigned long)off) < 0) {
			log_error("%s: TUNSETOFFLOAD 0x%x: %s", t->ifname, off, strerror(errno));
			return -errno;
		}
	}
	t->gso = off & (TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_UFO | TUN_F_USO4);
	t->mtu = netif_mtu(t->ifname);
	log_info("%s: vnet header %u bytes, offloads 0x%x, mtu %u", t->ifname, hdr_len, off,
		 t->mtu);
	return 0;
}

/* backend_ops.queue_fd: the tun fd of queue q. */
int tapq_queue_fd(struct backend *be, unsigned q)
{
	return to_tapq(be)->fds[q];
}

/* backend_ops.send: one writev (the kernel validates the header again). */
ssize_t tapq_send(struct backend *be, unsigned q, const struct iovec *iov, unsigned n)
{
	ssize_t r = writev(to_tapq(be)->fds[q], iov, (int)n);

	return r < 0 ? -errno : r;
}

/* backend_ops.recv: one readv; returns the frame length or -errno. */
ssize_t tapq_recv(struct backend *be, unsigned q, const struct iovec *iov, unsigned n)
{
	ssize_t r = readv(to_tapq(be)->fds[q], iov, (int)n);

	return r < 0 ? -errno : r;
}

/* Numbers this thread's bursts: a completion carries its burst's number and its index. */
static __thread uint32_t burst_seq __attribute__((tls_model("initial-exec")));

/*
 * Queues one readv or writev per frame on the thread's ring and reaps them all: one syscall.
 * Every request of a burst completes before the burst returns, and a completion is matched by
 * burst number as well as index, so a result can never land on another burst's frame.
 */
static int tapq_burst(struct backend *be, unsigned q, struct be_frame *f, unsigned n, bool write)
{
	struct io_uring *ring = uring_thread();
	struct io_uring_cqe *cqe;
	uint64_t tag = (uint64_t)++burst_seq << 32;
	unsigned head, seen = 0;
	int fd = to_tapq(be)->fds[q], r;

	if (!ring || to_tapq(be)->no_burst || n > io_uring_sq_space_left(ring))
		return -EOPNOTSUPP;
	for (unsigned i = 0; i < n; i++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(ring);

		/*
		 * RWF_NOWAIT: an empty queue completes at once with -EAGAIN. Without it io_uring
		 * would park the read until a frame arrives, and we wait for every completion.
		 */
		if (write)
			io_uring_prep_writev2(sqe, fd, f[i].iov, f[i].niov, (__u64)-1, RWF_NOWAIT);
		else
			io_uring_prep_readv2(sqe, fd, f[i].iov, f[i].niov, (__u64)-1, RWF_NOWAIT);
		io_uring_sqe_set_data64(sqe, tag | i);
		f[i].res = -ECANCELED;
	}
	do {
		r = io_uring_submit_and_wait(ring, n);
	} while (r == -EINTR);
	if (r < 0)
		return r; /* nothing was submitted: the caller falls back */
	for (;;) {
		unsigned k = 0;

		io_uring_for_each_cqe(ring, head, cqe)
		{
			uint64_t d = io_uring_cqe_get_data64(cqe);

			k++;
			if ((d & ~0xffffffffull) != tag || (uint32_t)d >= n) {
				log_rl(&to_tapq(be)->rl, LOG_LVL_ERROR,
				       "%s: dropped a completion of another burst",
				       to_tapq(be)->ifname);
				continue;
			}
			f[(uint32_t)d].res = cqe->res;
			seen++;
		}
		io_uring_cq_advance(ring, k);
		if (seen >= n)
			break;
		/* Non-blocking I/O on tun completes at submission; this is only a safety net. */
		r = io_uring_wait_cqe(ring, &cqe);
		if (r < 0 && r != -EINTR) {
			log_rl(&to_tapq(be)->rl, LOG_LVL_ERROR,
			       "%s: waiting for io_uring completions: %s", to_tapq(be)->ifname,
			       strerror(-r));
			break;
		}
	}
	if (f[0].res == -EOPNOTSUPP) {
		log_warn("%s: no non-blocking io_uring I/O on %s: one system call per frame",
			 to_tapq(be)->ifname, be->ops->name);
		to_tapq(be)->no_burst = true;
		return -EOPNOTSUPP; /* nothing moved: the caller redoes the burst frame by frame */
	}
	return 0;
}

/* backend_ops.send_burst: n writes in one io_uring submission. */
int tapq_send_burst(struct backend *be, unsigned q, struct be_frame *f, unsigned n)
{
	return tapq_burst(be, q, f, n, true);
}

/* backend_ops.recv_burst: n reads in one io_uring submission. */
int tapq_recv_burst(struct backend *be, unsigned q, struct be_frame *f, unsigned n)
{
	return tapq_burst(be, q, f, n, false);
}

/* backend_ops.discard: reads queue q empty (up to max frames) into a throw-away buffer. */
unsigned tapq_discard(struct backend *be, unsigned q, unsigned max)
{
	static uint8_t sink[65536 + 64]; /* control thread only; contents never read */
	unsigned n = 0;

	while (n < max && read(to_tapq(be)->fds[q], sink, sizeof(sink)) >= 0)
		n++;
	return n;
}

/* backend_ops.max_frame: from the MTU, or 64 KiB when the kernel may hand us GSO. */
unsigned tapq_max_frame(struct backend *be)
{
	struct tapq *t = to_tapq(be);

	/* A GSO super-frame is bounded by the IP length field; add Ethernet and a VLAN tag. */
	if (t->gso)
		return 65535 + 14 + 4;
	return t->mtu + 14 + 4;
}

/* backend_ops.set_mtu: SIOCSIFMTU on the device; max_frame() follows at once. */
int tapq_set_mtu(struct backend *be, unsigned mtu, unsigned *ret_old)
{
	struct tapq *t = to_tapq(be);
	_cleanup_close_ int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct ifreq ifr = { .ifr_mtu = (int)mtu };
	unsigned old = netif_mtu(t->ifname);

	if (s < 0)
		return -errno;
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", t->ifname);
	if (ioctl(s, SIOCSIFMTU, &ifr) < 0) {
		int r = -errno;

		log_warn("%s %s: cannot set MTU %u: %s", be->ops->name, t->ifname, mtu,
			 strerror(-r));
		return r;
	}
	t->mtu = mtu;
	if (ret_old)
		*ret_old = old;
	return 0;
}
