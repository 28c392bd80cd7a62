/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * AF_PACKET back-end: one packet socket per queue pair, bound to a host device, promiscuous,
 * with PACKET_VNET_HDR so checksum and segmentation offloads cross in a virtio-net header.
 *
 * Receive: a TPACKET_V3 ring (blocks of frames, mmap'ed): frames are copied from the ring into
 * the guest's buffers with no system call; the kernel hands a block over when it is full or
 * after PKT_BLOCK_TOV_MS. PACKET_VNET_HDR works with V3 rings here (the header sits right in
 * front of each frame's Ethernet header). Transmit: sendmmsg(), one system call per burst, the
 * guest's buffers passed as they are behind a 10-byte header (the kernel copies once).
 * Several queue pairs: the sockets form one PACKET_FANOUT_HASH group, so a flow stays on one
 * queue. PACKET_IGNORE_OUTGOING keeps our own transmissions out of the ring.
 */
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backend/backend.h"
#include "net/virtio_net.h"
#include "util/cleanup.h"
#include "util/netif.h"
#include "util/iov.h"
#include "util/log.h"

#define PKT_MAX_QUEUES	 16
#define PKT_BURST	 32
#define PKT_IOV_POOL	 256	      /* iovecs for one sendmmsg() burst */
#define PKT_VNET_LEN	 10	      /* the kernel's struct virtio_net_hdr (no num_buffers) */
#define PKT_BLOCK_SIZE	 (256u << 10) /* holds a 64 KiB GSO frame with room to spare */
#define PKT_BLOCK_NR	 16	      /* 4 MiB of ring per queue pair */
#define PKT_FRAME_SIZE	 2048	      /* nominal: V3 packs frames of any size into blocks */
#define PKT_BLOCK_TOV_MS 1	      /* a partly filled block is handed over after this */
#define PKT_SNDBUF	 (4 << 20)    /* in-flight transmit bytes before EAGAIN */
#define PKT_GSO_MAX	 (65535 + 14 + 4)
#define VLAN_TAG_LEN	 4

struct pkt_queue {
	int fd;
	uint8_t *ring;	/* PKT_BLOCK_NR blocks of PKT_BLOCK_SIZE */
	unsigned blk;	/* block we read from next */
	unsigned left;	/* frames still to read in it (0: not taken yet) */
	uint32_t off;	/* offset in the block of the next frame */
	unsigned empty; /* reads in a row that found nothing (see pkt_recv()) */
	struct mmsghdr mm[PKT_BURST];
	struct iovec iov[PKT_IOV_POOL];
	uint8_t hdr[PKT_BURST][PKT_VNET_LEN];
};

struct packet {
	struct backend be;
	char dev[IFNAMSIZ];
	int ifindex;
	unsigned nq;
	unsigned mtu;
	unsigned hdr_len;  /* the device model's header: 10 or 12 bytes */
	uint64_t features; /* negotiated: what the guest takes on receive */
	struct ratelimit rl;
	struct pkt_queue q[PKT_MAX_QUEUES];
};

/* Returns the packet back-end behind a backend pointer. */
static struct packet *to_pkt(struct backend *be)
{
	return (struct packet *)be;
}

/* True if the guest negotiated feature bit b. */
static bool guest_has(const struct packet *p, unsigned b)
{
	return p->features & VNET_BIT(b);
}

/* backend_ops.configure: remembers what the guest takes; the sockets need no change. */
static int pkt_configure(struct backend *be, uint64_t features, unsigned hdr_len)
{
	struct packet *p = to_pkt(be);

	/* The kernel's header is always 10 bytes: frames are converted on the way. */
	p->hdr_len = hdr_len;
	p->features = features;
	p->mtu = netif_mtu(p->dev);
	log_info("%s: packet socket(s) on %s, mtu %u, guest offloads %s", p->dev, p->dev, p->mtu,
		 guest_has(p, VIRTIO_NET_F_GUEST_CSUM) ? "on" : "off");
	return 0;
}

/* backend_ops.queue_fd: the packet socket of queue q (readable when a block is ready). */
static int pkt_queue_fd(struct backend *be, unsigned q)
{
	return to_pkt(be)->q[q].fd;
}

/*
 * Builds in out[0..room) the kernel's view of one frame: the first 10 bytes of the guest's
 * header copied to hdr, then the frame after the guest's header (hdr_len bytes). Returns the
 * number of iovecs, or -1 when they do not fit or the frame has no header.
 */
static int tx_iov(const struct packet *p, struct iovec *out, unsigned room, uint8_t *hdr,
		  const struct iovec *iov, unsigned n)
{
	int k;

	if (room < 2 || iov_to_buf(iov, n, 0, hdr, PKT_VNET_LEN) < PKT_VNET_LEN)
		return -1;
	out[0] = (struct iovec){ .iov_base = hdr, .iov_len = PKT_VNET_LEN };
	k = iov_tail(iov, n, p->hdr_len, out + 1, room - 1);
	return k < 0 ? -1 : k + 1;
}

/*
 * backend_ops.send: one frame, one sendmsg(). Only stack memory: the control thread sends an
 * announce on queue 0 while the worker may be in a burst there.
 */
static ssize_t pkt_send(struct backend *be, unsigned q, const struct iovec *iov, unsigned n)
{
	struct packet *p = to_pkt(be);
	struct iovec out[PKT_IOV_POOL];
	uint8_t hdr[PKT_VNET_LEN];
	struct msghdr mh = { .msg_iov = out };
	int k = tx_iov(p, out, PKT_IOV_POOL, hdr, iov, n);

	if (k < 0)
		return -EMSGSIZE;
	mh.msg_iovlen = (size_t)k;
	if (sendmsg(p->q[q].fd, &mh, MSG_DONTWAIT) < 0)
		return -errno;
	return (ssize_t)iov_size(iov, n);
}

/* backend_ops.send_burst: the whole burst in sendmmsg() calls (one unless a frame fails). */
static int pkt_send_burst(struct backend *be, unsigned q, struct be_frame *f, unsigned n)
{
	struct packet *p = to_pkt(be);
	struct pkt_queue *pq = &p->q[q];
	unsigned i = 0;

	if (n > PKT_BURST)
		return -EOPNOTSUPP;
	while (i < n) {
		unsigned pool = 0, m = 0;
		int r;

		for (unsigned j = i; j < n; j++, m++) {
			int k = tx_iov(p, pq->iov + pool, PKT_IOV_POOL - pool, pq->hdr[m], f[j].iov,
				       f[j].niov);

			if (k < 0)
				break;
			pq->mm[m].msg_hdr = (struct msghdr){ .msg_iov = pq->iov + pool,
							     .msg_iovlen = (size_t)k };
			pool += (unsigned)k;
		}
		if (m == 0) {
			f[i++].res = -EMSGSIZE;
			continue;
		}
		r = sendmmsg(pq->fd, pq->mm, m, MSG_DONTWAIT);
		if (r < 0) {
			/* The first frame failed: it carries the error, the rest are tried again.
			 */
			f[i++].res = -errno;
			continue;
		}
		for (int j = 0; j < r; j++, i++)
			f[i].res = (ssize_t)iov_size(f[i].iov, f[i].niov);
		if ((unsigned)r < m && i < n) {
			/* Stopped at frame i: learn its error by sending it alone. */
			f[i].res = pkt_send(be, q, f[i].iov, f[i].niov);
			i++;
		}
	}
	return 0;
}

/* The block at index b of queue pq. */
static struct tpacket_block_desc *block(const struct pkt_queue *pq, unsigned b)
{
	return (struct tpacket_block_desc *)(pq->ring + (size_t)b * PKT_BLOCK_SIZE);
}

/* Gives the current block back to the kernel and moves to the next. */
static void block_release(struct pkt_queue *pq)
{
	struct tpacket_block_desc *bd = block(pq, pq->blk);

	__atomic_store_n(&bd->hdr.bh1.block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
	pq->blk = (pq->blk + 1) % PKT_BLOCK_NR;
	pq->left = 0;
}

/*
 * The next frame of queue pq, or NULL when the kernel has handed no block over. Blocks come
 * from the kernel, but their offsets are checked anyway: a bad one ends the block.
 */
static struct tpacket3_hdr *next_frame(struct pkt_queue *pq)
{
	for (;;) {
		struct tpacket_block_desc *bd = block(pq, pq->blk);
		struct tpacket3_hdr *h;

		if (!pq->left) {
			if (!(__atomic_load_n(&bd->hdr.bh1.block_status, __ATOMIC_ACQUIRE) &
			      TP_STATUS_USER))
				return NULL;
			pq->left = bd->hdr.bh1.num_pkts;
			pq->off = bd->hdr.bh1.offset_to_first_pkt;
			if (!pq->left) {
				block_release(pq);
				continue;
			}
		}
		if (pq->off < sizeof(*bd) || pq->off > PKT_BLOCK_SIZE - sizeof(*h)) {
			block_release(pq);
			continue;
		}
		h = (struct tpacket3_hdr *)((uint8_t *)bd + pq->off);
		if (h->tp_mac < PKT_VNET_LEN ||
		    (size_t)pq->off + h->tp_mac + h->tp_snaplen > PKT_BLOCK_SIZE) {
			block_release(pq);
			continue;
		}
		return h;
	}
}

/* Done with the frame next_frame() returned: moves on, releasing its block after the last. */
static void frame_done(struct pkt_queue *pq, const struct tpacket3_hdr *h)
{
	if (--pq->left == 0 || h->tp_next_offset == 0)
		block_release(pq);
	else
		pq->off += h->tp_next_offset;
}

/* The Internet checksum of buf[0..len), folded, not complemented, added to sum. */
static uint32_t csum_add(uint32_t sum, const uint8_t *buf, size_t len)
{
	for (; len > 1; buf += 2, len -= 2)
		sum += (uint32_t)buf[0] << 8 | buf[1];
	if (len)
		sum += (uint32_t)buf[0] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return sum;
}

/*
 * Completes a partial checksum the kernel left for the guest (NEEDS_CSUM) in the frame itself,
 * for a guest without GUEST_CSUM. The pseudo-header sum is already in the field, as for any
 * CHECKSUM_PARTIAL packet. Returns false when the positions lie outside the frame.
 */
static bool csum_complete(uint8_t *frame, size_t len, unsigned start, unsigned off)
{
	uint16_t c;

	if ((size_t)start + off + 2 > len)
		return false;
	c = (uint16_t)~csum_add(0, frame + start, len - start);
	frame[start + off] = (uint8_t)(c >> 8);
	frame[start + off + 1] = (uint8_t)c;
	return true;
}

/* True if the guest takes the segmentation type gso (without the ECN bit) on receive. */
static bool guest_takes_gso(const struct packet *p, uint8_t gso)
{
	switch (gso & ~VIRTIO_NET_HDR_GSO_ECN) {
	case VIRTIO_NET_HDR_GSO_NONE:
		return true;
	case VIRTIO_NET_HDR_GSO_TCPV4:
		return guest_has(p, VIRTIO_NET_F_GUEST_TSO4) &&
		       (!(gso & VIRTIO_NET_HDR_GSO_ECN) || guest_has(p, VIRTIO_NET_F_GUEST_ECN));
	case VIRTIO_NET_HDR_GSO_TCPV6:
		return guest_has(p, VIRTIO_NET_F_GUEST_TSO6) &&
		       (!(gso & VIRTIO_NET_HDR_GSO_ECN) || guest_has(p, VIRTIO_NET_F_GUEST_ECN));
	case VIRTIO_NET_HDR_GSO_UDP:
		return guest_has(p, VIRTIO_NET_F_GUEST_UFO);
	default:
		return false;
	}
}

/*
 * backend_ops.recv: copies the next frame of the ring into iov (header first, a VLAN tag the
 * device took off put back), fitting the header to what the guest negotiated. Returns its
 * length with the guest's header, more than the space when it does not fit (or cannot be
 * given to this guest), or -EAGAIN.
 */
static ssize_t pkt_recv(struct backend *be, unsigned q, const struct iovec *iov, unsigned n)
{
	struct packet *p = to_pkt(be);
	struct pkt_queue *pq = &p->q[q];
	struct tpacket3_hdr *h = next_frame(pq);
	size_t space = iov_size(iov, n), ghdr, len, tag = 0;
	struct virtio_net_hdr vh = { 0 };
	uint8_t *frame, vlan[VLAN_TAG_LEN];
	ssize_t res;

	if (!h) {
		int err = 0;
		socklen_t sl = sizeof(err);

		/*
		 * A device that went down or away leaves an error on the socket, which keeps it
		 * "ready" (EPOLLERR) with nothing to read. Reading SO_ERROR clears it; done only
		 * after several empty reads in a row, so a working socket pays no system call.
		 */
		if (++pq->empty >= 8) {
			pq->empty = 0;
			if (getsockopt(pq->fd, SOL_SOCKET, SO_ERROR, &err, &sl) == 0 && err)
				log_rl(&p->rl, LOG_LVL_WARN, "%s: packet socket of queue %u: %s",
				       p->dev, q, strerror(err));
		}
		return -EAGAIN;
	}
	pq->empty = 0;
	ghdr = p->hdr_len;
	frame = (uint8_t *)h + h->tp_mac;
	len = h->tp_snaplen;
	memcpy(&vh, frame - PKT_VNET_LEN, PKT_VNET_LEN);
	if (h->tp_status & TP_STATUS_VLAN_VALID) {
		uint16_t tpid = h->tp_status & TP_STATUS_VLAN_TPID_VALID ? h->hv1.tp_vlan_tpid
									 : ETH_P_8021Q;

		tag = VLAN_TAG_LEN;
		vlan[0] = (uint8_t)(tpid >> 8);
		vlan[1] = (uint8_t)tpid;
		vlan[2] = (uint8_t)(h->hv1.tp_vlan_tci >> 8);
		vlan[3] = (uint8_t)h->hv1.tp_vlan_tci;
	}
	res = (ssize_t)(ghdr + len + tag);
	/* Cut short by the ring (cannot happen with these block sizes), or too short to be one. */
	if (h->tp_snaplen < h->tp_len || len < 14 || !guest_takes_gso(p, vh.gso_type)) {
		if (vh.gso_type != VIRTIO_NET_HDR_GSO_NONE)
			log_rl(&p->rl, LOG_LVL_WARN,
			       "%s: a segmentation offload frame (type %u) for a guest that did "
			       "not "
			       "negotiate it: dropped",
			       p->dev, vh.gso_type);
		res = (ssize_t)space + 1;
		goto done;
	}
	if (!guest_has(p, VIRTIO_NET_F_GUEST_CSUM)) {
		/* Finish the checksum here; the guest gets a plain frame. */
		if ((vh.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) &&
		    !csum_complete(frame, len, le16toh(vh.csum_start), le16toh(vh.csum_offset))) {
			res = (ssize_t)space + 1;
			goto done;
		}
		vh.flags = 0;
	} else if (tag && (vh.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM)) {
		vh.csum_start = htole16((uint16_t)(le16toh(vh.csum_start) + tag));
	}
	if (tag && vh.gso_type != VIRTIO_NET_HDR_GSO_NONE)
		vh.hdr_len = htole16((uint16_t)(le16toh(vh.hdr_len) + tag));
	if ((size_t)res > space)
		goto done; /* the caller drops it as oversize */
	vh.num_buffers = 0;
	if (n >= 1 && iov[0].iov_len >= (size_t)res) {
		/* The usual case: the whole frame fits the first buffer. */
		uint8_t *d = iov[0].iov_base;

		memcpy(d, &vh, ghdr);
		d += ghdr;
		if (tag) {
			memcpy(d, frame, 12);
			memcpy(d + 12, vlan, tag);
			memcpy(d + 12 + tag, frame + 12, len - 12);
		} else {
			memcpy(d, frame, len);
		}
	} else {
		iov_from_buf(iov, n, 0, &vh, ghdr);
		if (tag) {
			iov_from_buf(iov, n, ghdr, frame, 12);
			iov_from_buf(iov, n, ghdr + 12, vlan, tag);
			iov_from_buf(iov, n, ghdr + 12 + tag, frame + 12, len - 12);
		} else {
			iov_from_buf(iov, n, ghdr, frame, len);
		}
	}
done:
	frame_done(pq, h);
	return res;
}

/* backend_ops.recv_burst: frame after frame out of the ring; no system call. */
static int pkt_recv_burst(struct backend *be, unsigned q, struct be_frame *f, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		f[i].res = pkt_recv(be, q, f[i].iov, f[i].niov);
		if (f[i].res == -EAGAIN)
			for (unsigned j = i + 1; j < n; j++)
				f[j].res = -EAGAIN;
		if (f[i].res == -EAGAIN)
			break;
	}
	return 0;
}

/* backend_ops.discard: skips up to max frames waiting in the ring. */
static unsigned pkt_discard(struct backend *be, unsigned q, unsigned max)
{
	struct pkt_queue *pq = &to_pkt(be)->q[q];
	unsigned k = 0;
	struct tpacket3_hdr *h;

	while (k < max && (h = next_frame(pq))) {
		frame_done(pq, h);
		k++;
	}
	return k;
}

/* backend_ops.max_frame: the device's MTU, or a whole GSO frame when the guest takes them. */
static unsigned pkt_max_frame(struct backend *be)
{
	struct packet *p = to_pkt(be);

	if (guest_has(p, VIRTIO_NET_F_GUEST_TSO4) || guest_has(p, VIRTIO_NET_F_GUEST_TSO6) ||
	    guest_has(p, VIRTIO_NET_F_GUEST_UFO))
		return PKT_GSO_MAX;
	return p->mtu + 14 + VLAN_TAG_LEN;
}

/*
 * backend_ops.set_mtu: the host device is not the guest's to reconfigure; vhostd only makes
 * sure it can hand the guest frames of that size.
 */
static int pkt_set_mtu(struct backend *be, unsigned mtu, unsigned *ret_old)
{
	struct packet *p = to_pkt(be);

	if (mtu > p->mtu)
		p->mtu = mtu;
	if (ret_old)
		*ret_old = 0;
	return 0;
}

/* backend_ops.destroy: unmaps the rings and closes the sockets (promiscuity goes with them). */
static void pkt_destroy(struct backend *be)
{
	struct packet *p = to_pkt(be);

	for (unsigned q = 0; q < PKT_MAX_QUEUES; q++) {
		if (p->q[q].ring)
			munmap(p->q[q].ring, (size_t)PKT_BLOCK_SIZE * PKT_BLOCK_NR);
		p->q[q].fd = safe_close(p->q[q].fd);
	}
	free(p);
}

static const struct backend_ops packet_ops = {
	.name = "packet",
	.offloads = true,
	.send_reads_data = true,
	.configure = pkt_configure,
	.queue_fd = pkt_queue_fd,
	.send = pkt_send,
	.recv = pkt_recv,
	.send_burst = pkt_send_burst,
	.recv_burst = pkt_recv_burst,
	.discard = pkt_discard,
	.max_frame = pkt_max_frame,
	.set_mtu = pkt_set_mtu,
	.destroy = pkt_destroy,
};

/* setsockopt() that logs what failed; returns 0 or a negative errno. */
static int sockopt(const struct packet *p, int fd, int level, int opt, const void *v, socklen_t len,
		   const char *what)
{
	if (setsockopt(fd, level, opt, v, len) == 0)
		return 0;
	log_error("%s: packet socket: %s: %s", p->dev, what, strerror(errno));
	return -errno;
}

/*
 * Opens queue q's socket: vnet header, V3 ring, bound to the device, in the fanout group
 * *fanout_id (0: make one and store its id), promiscuous, blind to its own transmissions.
 */
static int pkt_open_queue(struct packet *p, unsigned q, unsigned *fanout_id)
{
	struct pkt_queue *pq = &p->q[q];
	const int one = 1, v3 = TPACKET_V3, sndbuf = PKT_SNDBUF;
	struct tpacket_req3 req = {
		.tp_block_size = PKT_BLOCK_SIZE,
		.tp_block_nr = PKT_BLOCK_NR,
		.tp_frame_size = PKT_FRAME_SIZE,
		.tp_frame_nr = PKT_BLOCK_SIZE / PKT_FRAME_SIZE * PKT_BLOCK_NR,
		.tp_retire_blk_tov = PKT_BLOCK_TOV_MS,
	};
	struct sockaddr_ll sll = { .sll_family = AF_PACKET,
				   .sll_protocol = htons(ETH_P_ALL),
				   .sll_ifindex = p->ifindex };
	struct packet_mreq mr = { .mr_ifindex = p->ifindex, .mr_type = PACKET_MR_PROMISC };
	void *map;
	int r;

	/* Protocol 0: nothing arrives before the ring is there and the socket is bound. */
	pq->fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (pq->fd < 0) {
		log_error("%s: packet socket: %s", p->dev, strerror(errno));
		return -errno;
	}
	r = sockopt(p, pq->fd, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof(one), "PACKET_VNET_HDR");
	if (r == 0)
		r = sockopt(p, pq->fd, SOL_PACKET, PACKET_VERSION, &v3, sizeof(v3), "TPACKET_V3");
	if (r == 0)
		r = sockopt(p, pq->fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof(req),
			    "PACKET_RX_RING");
	if (r == 0)
		r = sockopt(p, pq->fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one),
			    "PACKET_IGNORE_OUTGOING");
	if (r < 0)
		return r;
	/* Best effort: more in flight before EAGAIN (SNDBUFFORCE needs CAP_NET_ADMIN). */
	if (setsockopt(pq->fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof(sndbuf)) < 0)
		(void)setsockopt(pq->fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	map = mmap(NULL, (size_t)PKT_BLOCK_SIZE * PKT_BLOCK_NR, PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_POPULATE, pq->fd, 0);
	if (map == MAP_FAILED) {
		log_error("%s: packet ring mmap: %s", p->dev, strerror(errno));
		return -errno;
	}
	pq->ring = map;
	if (bind(pq->fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
		log_error("%s: packet socket bind: %s", p->dev, strerror(errno));
		return -errno;
	}
	if (p->nq > 1) {
		int arg;
		socklen_t len = sizeof(arg);

		if (*fanout_id == 0) {
			/* The kernel picks a group id nobody uses in this namespace. */
			arg = (PACKET_FANOUT_HASH | PACKET_FANOUT_FLAG_UNIQUEID) << 16;
			r = sockopt(p, pq->fd, SOL_PACKET, PACKET_FANOUT, &arg, sizeof(arg),
				    "PACKET_FANOUT");
			if (r < 0)
				return r;
			if (getsockopt(pq->fd, SOL_PACKET, PACKET_FANOUT, &arg, &len) < 0)
				return -errno;
			*fanout_id = (unsigned)arg & 0xffff;
		} else {
			arg = (int)(PACKET_FANOUT_HASH << 16 | *fanout_id);
			r = sockopt(p, pq->fd, SOL_PACKET, PACKET_FANOUT, &arg, sizeof(arg),
				    "PACKET_FANOUT");
			if (r < 0)
				return r;
		}
	}
	return sockopt(p, pq->fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof(mr),
		       "promiscuous mode");
}

int backend_packet_create(const char *dev, unsigned queues, struct backend **ret)
{
	struct packet *p;
	unsigned fanout_id = 0;
	int r;

	if (queues == 0 || queues > PKT_MAX_QUEUES || strlen(dev) >= IFNAMSIZ)
		return -EINVAL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->be.ops = &packet_ops;
	p->rl = (struct ratelimit)RATELIMIT_INIT;
	for (unsigned q = 0; q < PKT_MAX_QUEUES; q++)
		p->q[q].fd = -1;
	snprintf(p->dev, sizeof(p->dev), "%s", dev);
	p->ifindex = (int)if_nametoindex(dev);
	if (p->ifindex == 0) {
		r = -ENODEV;
		log_error("packet: no device '%s' in this network namespace", dev);
		goto fail;
	}
	p->nq = queues;
	for (unsigned q = 0; q < queues; q++) {
		r = pkt_open_queue(p, q, &fanout_id);
		if (r < 0)
			goto fail;
	}
	p->mtu = netif_mtu(dev);
	p->hdr_len = 10;
	log_info("%s: %u packet socket(s) (TPACKET_V3 ring, vnet header%s), promiscuous", dev,
		 queues, queues > 1 ? ", fanout hash" : "");
	*ret = &p->be;
	return 0;
fail:
	pkt_destroy(&p->be);
	return r;
}
