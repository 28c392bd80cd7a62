/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Tap back-end: /dev/net/tun in IFF_TAP|IFF_NO_PI|IFF_VNET_HDR mode, one fd per queue. */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backend/backend.h"
#include "backend/uring.h"
#include "net/virtio_net.h"
#include "util/cleanup.h"
#include "util/log.h"

#define TAP_MAX_QUEUES 16

/* UDP segmentation offload (Linux 6.2); older headers lack the flags. The kernel takes them
 * only together and with TUN_F_CSUM. */
#ifndef TUN_F_USO4
#define TUN_F_USO4 0x20
#endif
#ifndef TUN_F_USO6
#define TUN_F_USO6 0x40
#endif

struct tap {
	struct backend be;
	char ifname[IFNAMSIZ];
	unsigned nq;
	int fds[TAP_MAX_QUEUES];
	unsigned mtu;
	unsigned gso;  /* nonzero when the kernel may hand us GSO frames */
	bool no_burst; /* the kernel refused RWF_NOWAIT on tun: one syscall per frame */
	bool ours;     /* vhostd created it (in this run or an earlier one): see TAP_ALIAS */
	struct ratelimit rl;
};

/* The interface alias that marks a persistent tap as vhostd's own creation. */
#define TAP_ALIAS "vhostd"

/* Returns the tap behind a backend pointer. */
static struct tap *to_tap(struct backend *be)
{
	return (struct tap *)be;
}

/* Reads the interface MTU; falls back to 1500 if the query fails. */
static unsigned read_mtu(const char *ifname)
{
	_cleanup_close_ int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct ifreq ifr = { 0 };

	if (s < 0)
		return 1500;
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", ifname);
	if (ioctl(s, SIOCGIFMTU, &ifr) < 0 || ifr.ifr_mtu <= 0)
		return 1500;
	return (unsigned)ifr.ifr_mtu;
}

/* The link's carrier (1 while some process has a queue of the tap attached), or -1 when it
 * cannot be read (the link is down). */
static int tap_carrier(const char *ifname)
{
	char path[64], c = 0;
	int fd, n;

	snprintf(path, sizeof(path), "/sys/class/net/%s/carrier", ifname);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = (int)read(fd, &c, 1);
	close(fd);
	return n == 1 && (c == '0' || c == '1') ? c - '0' : -1;
}

/* Brings ifname administratively up. */
static int link_up(const char *ifname)
{
	_cleanup_close_ int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct ifreq ifr = { 0 };

	if (s < 0)
		return -errno;
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", ifname);
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		return -errno;
	if (ifr.ifr_flags & IFF_UP)
		return 0;
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
		return -errno;
	return 0;
}

/* backend_ops.configure: vnet header size and offloads on every queue. */
static int tap_configure(struct backend *be, uint64_t features, unsigned hdr_len)
{
	struct tap *t = to_tap(be);
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
	t->mtu = read_mtu(t->ifname);
	log_info("%s: vnet header %u bytes, offloads 0x%x, mtu %u", t->ifname, hdr_len, off,
		 t->mtu);
	return 0;
}

/* backend_ops.queue_fd: the tun fd of queue q. */
static int tap_queue_fd(struct backend *be, unsigned q)
{
	return to_tap(be)->fds[q];
}

/* backend_ops.send: one writev (the kernel validates the header again). */
static ssize_t tap_send(struct backend *be, unsigned q, const struct iovec *iov, unsigned n)
{
	ssize_t r = writev(to_tap(be)->fds[q], iov, (int)n);

	return r < 0 ? -errno : r;
}

/* backend_ops.recv: one readv; returns the frame length or -errno. */
static ssize_t tap_recv(struct backend *be, unsigned q, const struct iovec *iov, unsigned n)
{
	ssize_t r = readv(to_tap(be)->fds[q], iov, (int)n);

	return r < 0 ? -errno : r;
}

/* Numbers this thread's bursts: a completion carries its burst's number and its index. */
static __thread uint32_t burst_seq __attribute__((tls_model("initial-exec")));

/*
 * Queues one readv or writev per frame on the thread's ring and reaps them all: one syscall.
 * Every request of a burst completes before the burst returns, and a completion is matched by
 * burst number as well as index, so a result can never land on another burst's frame.
 */
static int tap_burst(struct backend *be, unsigned q, struct be_frame *f, unsigned n, bool write)
{
	struct io_uring *ring = uring_thread();
	struct io_uring_cqe *cqe;
	uint64_t tag = (uint64_t)++burst_seq << 32;
	unsigned head, seen = 0;
	int fd = to_tap(be)->fds[q], r;

	if (!ring || to_tap(be)->no_burst || n > io_uring_sq_space_left(ring))
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
				log_rl(&to_tap(be)->rl, LOG_LVL_ERROR,
				       "%s: dropped a completion of another burst",
				       to_tap(be)->ifname);
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
			log_rl(&to_tap(be)->rl, LOG_LVL_ERROR,
			       "%s: waiting for io_uring completions: %s", to_tap(be)->ifname,
			       strerror(-r));
			break;
		}
	}
	if (f[0].res == -EOPNOTSUPP) {
		log_warn("%s: no non-blocking io_uring I/O on tap: one system call per frame",
			 to_tap(be)->ifname);
		to_tap(be)->no_burst = true;
		return -EOPNOTSUPP; /* nothing moved: the caller redoes the burst frame by frame */
	}
	return 0;
}

/* backend_ops.send_burst: n writes in one io_uring submission. */
static int tap_send_burst(struct backend *be, unsigned q, struct be_frame *f, unsigned n)
{
	return tap_burst(be, q, f, n, true);
}

/* backend_ops.recv_burst: n reads in one io_uring submission. */
static int tap_recv_burst(struct backend *be, unsigned q, struct be_frame *f, unsigned n)
{
	return tap_burst(be, q, f, n, false);
}

/* backend_ops.discard: reads queue q empty (up to max frames) into a throw-away buffer. */
static unsigned tap_discard(struct backend *be, unsigned q, unsigned max)
{
	static uint8_t sink[65536 + 64]; /* control thread only; contents never read */
	unsigned n = 0;

	while (n < max && read(to_tap(be)->fds[q], sink, sizeof(sink)) >= 0)
		n++;
	return n;
}

/* backend_ops.max_frame: from the MTU, or 64 KiB when the kernel may hand us GSO. */
static unsigned tap_max_frame(struct backend *be)
{
	struct tap *t = to_tap(be);

	/* A GSO super-frame is bounded by the IP length field; add Ethernet and a VLAN tag. */
	if (t->gso)
		return 65535 + 14 + 4;
	return t->mtu + 14 + 4;
}

/* backend_ops.set_mtu: SIOCSIFMTU on the tap; max_frame() follows at once. */
static int tap_set_mtu(struct backend *be, unsigned mtu, unsigned *ret_old)
{
	struct tap *t = to_tap(be);
	_cleanup_close_ int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct ifreq ifr = { .ifr_mtu = (int)mtu };
	unsigned old = read_mtu(t->ifname);

	if (s < 0)
		return -errno;
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", t->ifname);
	if (ioctl(s, SIOCSIFMTU, &ifr) < 0) {
		int r = -errno;

		log_warn("tap %s: cannot set MTU %u: %s", t->ifname, mtu, strerror(-r));
		return r;
	}
	t->mtu = mtu;
	if (ret_old)
		*ret_old = old;
	return 0;
}

/* Path of ifname's alias in sysfs (of our network namespace). */
static void alias_path(const char *ifname, char *buf, size_t len)
{
	snprintf(buf, len, "/sys/class/net/%s/ifalias", ifname);
}

/* Marks a tap we created, so that a later run knows it may remove it. Best effort. */
static void mark_ours(const char *ifname)
{
	char path[64];
	int fd;

	alias_path(ifname, path, sizeof(path));
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	if (write(fd, TAP_ALIAS, strlen(TAP_ALIAS)) < 0)
		log_debug("tap %s: no alias: %s", ifname, strerror(errno));
	close(fd);
}

/* True when ifname carries our alias. */
static bool marked_ours(const char *ifname)
{
	char path[64], alias[32] = "";
	ssize_t n;
	int fd;

	alias_path(ifname, path, sizeof(path));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, alias, sizeof(alias) - 1);
	close(fd);
	if (n <= 0)
		return false;
	alias[n] = '\0';
	alias[strcspn(alias, "\n")] = '\0';
	return strcmp(alias, TAP_ALIAS) == 0;
}

/*
 * backend_ops.release: the port is deleted for good. A tap vhostd created stops being
 * persistent, so it goes with the last fd; one an administrator made stays.
 */
static void tap_release(struct backend *be)
{
	struct tap *t = to_tap(be);

	if (!t->ours || !t->nq)
		return;
	if (ioctl(t->fds[0], TUNSETPERSIST, 0) < 0)
		log_warn("tap %s: cannot remove it: %s", t->ifname, strerror(errno));
	else
		log_info("tap %s: removed with its port", t->ifname);
}

/* backend_ops.destroy: closes every queue fd (a non-persistent tap disappears). */
static void tap_destroy(struct backend *be)
{
	struct tap *t = to_tap(be);

	close_fds(t->fds, t->nq);
	free(t);
}

static const struct backend_ops tap_ops = {
	.name = "tap",
	.offloads = true,
	.send_reads_data = true,
	.configure = tap_configure,
	.queue_fd = tap_queue_fd,
	.send = tap_send,
	.recv = tap_recv,
	.send_burst = tap_send_burst,
	.recv_burst = tap_recv_burst,
	.discard = tap_discard,
	.max_frame = tap_max_frame,
	.set_mtu = tap_set_mtu,
	.release = tap_release,
	.destroy = tap_destroy,
};

/* Opens one queue of the tap; with multiqueue every queue is one open of /dev/net/tun. */
static int tap_open_queue(const char *ifname, bool multi, char *ret_name)
{
	_cleanup_close_ int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	struct ifreq ifr = { 0 };

	if (fd < 0)
		return -errno;
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | (multi ? IFF_MULTI_QUEUE : 0);
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", ifname);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0)
		return -errno;
	memcpy(ret_name, ifr.ifr_name, IFNAMSIZ);
	return TAKE_FD(fd);
}

int backend_tap_create(const char *ifname, unsigned queues, struct backend **ret)
{
	struct tap *t;
	bool created, multi;
	int r;

	if (queues == 0 || queues > TAP_MAX_QUEUES || strlen(ifname) >= IFNAMSIZ)
		return -EINVAL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->be.ops = &tap_ops;
	t->rl = (struct ratelimit)RATELIMIT_INIT;
	for (unsigned q = 0; q < TAP_MAX_QUEUES; q++)
		t->fds[q] = -1;
	/*
	 * A tap we create is always multi-queue, so that a restart with another queue count can
	 * attach to it again. An existing tap is attached as it was made: if the guess from the
	 * queue count is refused, the other kind is tried.
	 */
	created = if_nametoindex(ifname) == 0;
	/* Multi-queue taps let anyone attach more queues: one that has some (carrier on) belongs
	 * to another process, and sharing it would split the traffic between the two. */
	if (!created && tap_carrier(ifname) == 1) {
		log_error("tap %s: in use by another process (its carrier is on)", ifname);
		r = -EBUSY;
		goto fail;
	}
	multi = created || queues > 1;
	for (unsigned q = 0; q < queues; q++) {
		r = tap_open_queue(ifname, multi, t->ifname);
		if (r == -EINVAL && q == 0 && !created && queues == 1) {
			multi = !multi;
			r = tap_open_queue(ifname, multi, t->ifname);
		}
		if (r < 0) {
			log_error("tap %s: cannot attach queue %u: %s%s", ifname, q, strerror(-r),
				  r == -EINVAL ? " (an existing tap with other flags?)" : "");
			goto fail;
		}
		t->fds[q] = r;
		t->nq = q + 1;
	}
	/*
	 * A tap we create outlives us: a vhostd that crashed or was restarted for an upgrade
	 * attaches to the same link again, with its addresses, bridge port and namespace intact,
	 * instead of leaving a hole that some other tool has to fill. `ip link del` removes it.
	 */
	if (created) {
		if (ioctl(t->fds[0], TUNSETPERSIST, 1) < 0) {
			r = -errno;
			log_error("tap %s: cannot make it persistent: %s", t->ifname, strerror(-r));
			goto fail;
		}
		mark_ours(t->ifname);
		t->ours = true;
		log_info("tap %s: created (persistent: kept across vhostd restarts)", t->ifname);
	} else {
		t->ours = marked_ours(t->ifname);
		log_info("tap %s: attached to the existing link%s", t->ifname,
			 t->ours ? " (one vhostd created)" : "");
	}
	r = link_up(t->ifname);
	if (r < 0) {
		log_error("tap %s: cannot set up: %s", t->ifname, strerror(-r));
		goto fail;
	}
	/* USO is offered to guests only when this kernel takes it (6.2 and later). */
	t->be.uso = ioctl(t->fds[0], TUNSETOFFLOAD,
			  (unsigned long)(TUN_F_CSUM | TUN_F_USO4 | TUN_F_USO6)) == 0;
	r = tap_configure(&t->be, 0, 10);
	if (r < 0)
		goto fail;
	*ret = &t->be;
	return 0;
fail:
	/* A tap we made persistent and cannot use is not left behind for nobody. */
	if (created && t->nq > 0 && ioctl(t->fds[0], TUNSETPERSIST, 0) < 0)
		log_warn("tap %s: cannot remove it: %s", t->ifname, strerror(errno));
	tap_destroy(&t->be);
	return r;
}
