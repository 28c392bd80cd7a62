/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * virtio-net device model.
 *
 * Transmit: each chain is one frame, readable only: header, then data, in any layout. The header
 * is copied out once, validated against what was negotiated, and the frame goes to the back-end
 * with our copy of the header in front of the guest's own data buffers (no payload copy).
 *
 * Receive: the back-end reads straight into guest buffers. With MRG_RXBUF we gather chains until
 * they can hold the largest frame the back-end may produce, read one frame, hand back the chains
 * it filled and return the rest to the ring; num_buffers is written by us, never trusted.
 */
#include "net/vnet.h"

#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "net/virtio_net.h"
#include "util/cleanup.h"
#include "util/iov.h"
#include "util/log.h"
#include "util/shared_mem.h"
#include "vhost/dev.h"

/* Work caps per call so one queue cannot starve the others. */
enum {
	VNET_TX_BUDGET = 256,
	VNET_RX_BUDGET = 256,
	VNET_BYTE_BUDGET =
		512 * 1024, /* per pass and direction: a few GSO frames, 256 small ones */
	VNET_RX_MAX_CHAINS = 1024,
	VNET_BURST = 32,		       /* frames per back-end burst */
	VNET_OUT_POOL = 2 * VIRTQ_MAX_IOV + 2, /* iovecs for one burst of transmit frames */
	VNET_MIN_FRAME = 14,		       /* an Ethernet header */
	VNET_UDP_CSUM_OFFSET = 6,	       /* of the checksum field in a UDP header */
	VNET_MAX_FRAME = 65535 + 14 + 4, /* largest GSO frame: IP length limit + Ethernet + VLAN */
};

/* Per-thread scratch: iovec and chain arrays for one queue pass; tx and rx parts are disjoint
 * because a port-to-port transmit fills the peer's receive ring while its own frame is held. */
struct vnet_scratch {
	struct iovec tx_iov[VIRTQ_MAX_IOV];
	struct iovec out[VNET_OUT_POOL];
	struct iovec rx_iov[VIRTQ_MAX_IOV];
	struct virtq_chain chains[VNET_RX_MAX_CHAINS];
	/*
	 * A transmit burst: our header copies and the frames to send, plus every chain taken in
	 * ring order (sent or not) so used entries go back in the order the guest made them
	 * available, as VIRTIO_F_IN_ORDER requires.
	 */
	struct iovec tx_biov[VNET_BURST]; /* one buffer per chain of a virtq_pop_burst() */
	struct virtq_chain tx_bch[VNET_BURST];
	struct virtio_net_hdr tx_hdr[VNET_BURST];
	struct be_frame tx_frame[VNET_BURST];
	size_t tx_len[VNET_BURST];
	unsigned tx_n, tx_pool;
	uint16_t tx_head[VNET_TX_BUDGET];
	unsigned tx_chains;
	/* A receive burst: one chain per frame. */
	struct be_frame rx_frame[VNET_BURST];
};

/* initial-exec: a plain %fs-relative load, not a __tls_get_addr call per packet. */
static __thread struct vnet_scratch *scratch __attribute__((tls_model("initial-exec")));

/* Per queue pair: written only by the thread that owns the pair. */
struct vnet_queue {
	struct vnet_stats st;
	struct ratelimit rl;
};

struct vnet {
	struct vu_dev *dev;
	struct backend *be;
	uint64_t features;
	unsigned nqp; /* queue pairs of dev */
	unsigned hdr_len;
	bool mrg;
	uint64_t announces; /* RARPs sent for the guest (control thread, port locked) */
	struct vnet_queue qs[VU_MAX_QUEUE_PAIRS];
};

int vnet_thread_init(void)
{
	if (!scratch)
		scratch = calloc(1, sizeof(*scratch));
	return scratch ? 0 : -ENOMEM;
}

void vnet_thread_fini(void)
{
	free(scratch);
	scratch = NULL;
}

uint64_t vnet_offered_features(unsigned queue_pairs, const struct backend *be)
{
	uint64_t f = VNET_BIT(VIRTIO_NET_F_MRG_RXBUF) | VNET_BIT(VIRTIO_NET_F_STATUS) |
		     VNET_BIT(VIRTIO_NET_F_ANY_LAYOUT) | VNET_BIT(VIRTIO_RING_F_INDIRECT_DESC) |
		     VNET_BIT(VIRTIO_RING_F_EVENT_IDX) | VNET_BIT(VIRTIO_F_VERSION_1) |
		     VNET_BIT(VIRTIO_F_IN_ORDER) | VNET_BIT(VIRTIO_NET_F_GUEST_ANNOUNCE) |
		     VNET_BIT(VIRTIO_NET_F_MTU) | VNET_BIT(VIRTIO_F_RING_PACKED);

	/* USO needs checksum offload too (a segment's checksum is completed per segment). */
	if (be->ops->offloads && be->uso)
		f |= VNET_BIT(VIRTIO_NET_F_HOST_USO) | VNET_BIT(VIRTIO_NET_F_GUEST_USO4) |
		     VNET_BIT(VIRTIO_NET_F_GUEST_USO6);
	if (be->ops->offloads)
		f |= VNET_BIT(VIRTIO_NET_F_CSUM) | VNET_BIT(VIRTIO_NET_F_GUEST_CSUM) |
		     VNET_BIT(VIRTIO_NET_F_GUEST_TSO4) | VNET_BIT(VIRTIO_NET_F_GUEST_TSO6) |
		     VNET_BIT(VIRTIO_NET_F_GUEST_ECN) | VNET_BIT(VIRTIO_NET_F_GUEST_UFO) |
		     VNET_BIT(VIRTIO_NET_F_HOST_TSO4) | VNET_BIT(VIRTIO_NET_F_HOST_TSO6) |
		     VNET_BIT(VIRTIO_NET_F_HOST_ECN) | VNET_BIT(VIRTIO_NET_F_HOST_UFO);
	if (queue_pairs > 1)
		f |= VNET_BIT(VIRTIO_NET_F_MQ);
	return f;
}

struct vnet *vnet_new(struct vu_dev *dev, struct backend *be)
{
	struct vnet *n = calloc(1, sizeof(*n));

	if (!n)
		return NULL;
	n->dev = dev;
	n->be = be;
	n->hdr_len = 10;
	n->nqp = dev->nvrings / 2;
	for (unsigned q = 0; q < VU_MAX_QUEUE_PAIRS; q++)
		n->qs[q].rl = (struct ratelimit)RATELIMIT_INIT;
	return n;
}

void vnet_free(struct vnet *n)
{
	free(n);
}

void vnet_stats_queue(const struct vnet *n, unsigned q, struct vnet_stats *ret)
{
	*ret = n->qs[q].st;
	ret->announces = 0;
}

uint64_t vnet_announces(const struct vnet *n)
{
	return n->announces;
}

void vnet_stats_sum(const struct vnet *n, struct vnet_stats *ret)
{
	memset(ret, 0, sizeof(*ret));
	for (unsigned q = 0; q < VU_MAX_QUEUE_PAIRS; q++) {
		const struct vnet_stats *s = &n->qs[q].st;

		ret->tx_packets += s->tx_packets;
		ret->tx_bytes += s->tx_bytes;
		ret->tx_dropped += s->tx_dropped;
		ret->tx_errors += s->tx_errors;
		ret->rx_packets += s->rx_packets;
		ret->rx_bytes += s->rx_bytes;
		ret->rx_dropped += s->rx_dropped;
		ret->rx_oversize += s->rx_oversize;
		ret->rx_stale += s->rx_stale;
	}
	ret->announces = n->announces;
}

int vnet_set_features(struct vnet *n, uint64_t features)
{
	bool modern = features & VNET_BIT(VIRTIO_F_VERSION_1);
	bool mrg = features & VNET_BIT(VIRTIO_NET_F_MRG_RXBUF);
	unsigned hdr_len = (modern || mrg) ? 12 : 10;
	int r;

	r = n->be->ops->configure(n->be, features, hdr_len);
	if (r < 0)
		return r;
	n->features = features;
	n->hdr_len = hdr_len;
	n->mrg = mrg;
	return 0;
}

int vnet_set_mtu(struct vnet *n, uint64_t mtu, unsigned *ret_old)
{
	int r;

	if (mtu < VNET_MTU_MIN || mtu > VNET_MTU_MAX) {
		log_warn("%s: MTU %" PRIu64 " refused: virtio-net allows %d..%d", n->dev->name, mtu,
			 VNET_MTU_MIN, VNET_MTU_MAX);
		return -EINVAL;
	}
	r = n->be->ops->set_mtu(n->be, (unsigned)mtu, ret_old);
	if (r < 0)
		log_warn("%s: MTU %" PRIu64 " refused by the %s back-end: %s", n->dev->name, mtu,
			 n->be->ops->name, strerror(-r));
	return r;
}

/* True if feature bit b was negotiated. */
static bool has(const struct vnet *n, unsigned b)
{
	return n->features & VNET_BIT(b);
}

/*
 * Checks a transmit header (our copy) against the frame and the negotiated offloads, so the
 * guest cannot make the kernel do work it never agreed to. Returns NULL or the reason.
 */
static const char *tx_hdr_invalid(const struct vnet *n, const struct virtio_net_hdr *h,
				  size_t frame_len)
{
	uint8_t gso = h->gso_type & ~VIRTIO_NET_HDR_GSO_ECN;

	if (frame_len < VNET_MIN_FRAME || frame_len > VNET_MAX_FRAME)
		return "frame length out of range";
	if (h->flags & ~VIRTIO_NET_HDR_F_NEEDS_CSUM)
		return "unknown header flags";
	if (h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
		if (!has(n, VIRTIO_NET_F_CSUM))
			return "checksum offload not negotiated";
		/* The checksum field must lie inside the frame. */
		if ((size_t)le16toh(h->csum_start) + le16toh(h->csum_offset) + 2 > frame_len)
			return "checksum position outside the frame";
	}
	if (h->gso_type == VIRTIO_NET_HDR_GSO_NONE)
		return NULL;
	if ((h->gso_type & VIRTIO_NET_HDR_GSO_ECN) && !has(n, VIRTIO_NET_F_HOST_ECN))
		return "ECN segmentation not negotiated";
	switch (gso) {
	case VIRTIO_NET_HDR_GSO_TCPV4:
		if (!has(n, VIRTIO_NET_F_HOST_TSO4))
			return "TSO4 not negotiated";
		break;
	case VIRTIO_NET_HDR_GSO_TCPV6:
		if (!has(n, VIRTIO_NET_F_HOST_TSO6))
			return "TSO6 not negotiated";
		break;
	case VIRTIO_NET_HDR_GSO_UDP:
		if (!has(n, VIRTIO_NET_F_HOST_UFO))
			return "UFO not negotiated";
		break;
	case VIRTIO_NET_HDR_GSO_UDP_L4:
		if (!has(n, VIRTIO_NET_F_HOST_USO))
			return "USO not negotiated";
		/* Each segment's UDP checksum is completed from the partial one the guest left
		 * in the UDP header: without it there is nothing to segment from. */
		if (!(h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) ||
		    le16toh(h->csum_offset) != VNET_UDP_CSUM_OFFSET)
			return "USO without a partial UDP checksum";
		/* The ECN bit is TCP's (CWR on the first segment only); UDP has none. */
		if (h->gso_type & VIRTIO_NET_HDR_GSO_ECN)
			return "ECN bit on UDP segmentation";
		break;
	default:
		return "unknown segmentation type";
	}
	if (h->gso_size == 0)
		return "segmentation with size 0";
	if (le16toh(h->hdr_len) > frame_len)
		return "header length beyond the frame";
	return NULL;
}

/*
 * Validates one transmit chain (its buffers at iov) and queues it on the burst with our copy of
 * its header. Returns 1 if queued, 0 if it was consumed as an error (already counted), or
 * -ENOSPC if the burst has no room for its iovecs (flush, then try again).
 */
static int tx_prepare(struct vnet *n, unsigned q, const struct virtq_chain *ch,
		      const struct iovec *iov)
{
	struct vnet_queue *qs = &n->qs[q];
	struct vnet_scratch *sc = scratch;
	struct virtio_net_hdr *h = &sc->tx_hdr[sc->tx_n];
	struct iovec *out = sc->out + sc->tx_pool;
	const char *why;
	size_t frame_len;
	int k;

	if (ch->out_len < n->hdr_len) {
		qs->st.tx_errors++;
		log_rl(&qs->rl, LOG_LVL_WARN, "%s: tx frame shorter than its header", n->dev->name);
		return 0;
	}
	memset(h, 0, sizeof(*h));
	if (iov[0].iov_len >= n->hdr_len) /* the usual case: header in the first buffer */
		memcpy(h, iov[0].iov_base, n->hdr_len);
	else
		iov_to_buf(iov, ch->out_iov, 0, h, n->hdr_len);
	frame_len = ch->out_len - n->hdr_len;
	why = tx_hdr_invalid(n, h, frame_len);
	if (why) {
		qs->st.tx_errors++;
		log_rl(&qs->rl, LOG_LVL_WARN, "%s: tx frame dropped: %s", n->dev->name, why);
		return 0;
	}
	h->num_buffers = 0;
	if (sc->tx_pool + 1 >= VNET_OUT_POOL)
		return -ENOSPC;
	if (ch->out_iov == 1) { /* header and frame in one buffer */
		out[1].iov_base = (char *)iov[0].iov_base + n->hdr_len;
		out[1].iov_len = frame_len;
		k = 1;
	} else {
		k = iov_tail(iov, ch->out_iov, n->hdr_len, out + 1,
			     VNET_OUT_POOL - sc->tx_pool - 1);
		if (k < 0)
			return -ENOSPC;
	}
	out[0].iov_base = h;
	out[0].iov_len = n->hdr_len;
	sc->tx_frame[sc->tx_n] = (struct be_frame){ .iov = out, .niov = (unsigned)k + 1 };
	sc->tx_len[sc->tx_n] = frame_len;
	sc->tx_pool += (unsigned)k + 1;
	sc->tx_n++;
	return 1;
}

/*
 * Hands the queued burst to the back-end (one call for all when it can), counts the outcome of
 * each frame and returns the chains to the guest. Returns true if the back-end reported full.
 */
static bool tx_flush(struct vnet *n, unsigned q, struct virtq *vq)
{
	struct vnet_queue *qs = &n->qs[q];
	struct vnet_scratch *sc = scratch;
	const struct backend_ops *ops = n->be->ops;
	bool full = false;

	if (!sc->tx_n)
		goto push;
	if (!ops->send_burst || sc->tx_n == 1 ||
	    ops->send_burst(n->be, q, sc->tx_frame, sc->tx_n) < 0)
		for (unsigned i = 0; i < sc->tx_n; i++)
			sc->tx_frame[i].res =
				ops->send(n->be, q, sc->tx_frame[i].iov, sc->tx_frame[i].niov);
	for (unsigned i = 0; i < sc->tx_n; i++) {
		ssize_t r = sc->tx_frame[i].res;

		if (r >= 0) {
			qs->st.tx_packets++;
			qs->st.tx_bytes += sc->tx_len[i];
		} else {
			/* Full (-EAGAIN) or no room at a peer (-ENOBUFS): a drop, as a NIC would.
			 */
			qs->st.tx_dropped++;
			full = full || r == -EAGAIN;
			if (r != -EAGAIN && r != -ENOBUFS)
				log_rl(&qs->rl, LOG_LVL_WARN, "%s: back-end refused a tx frame: %s",
				       n->dev->name, strerror((int)-r));
		}
	}
push:
	for (unsigned i = 0; i < sc->tx_chains; i++)
		virtq_push(vq, sc->tx_head[i], 0);
	/*
	 * Publish per burst, not per pass: a guest that gets its buffers back (and a peer that sees
	 * its frames) 32 at a time keeps working while we go on, instead of waiting for a pass.
	 */
	if (sc->tx_n && ops->flush)
		ops->flush(n->be, q);
	virtq_flush_notify(vq);
	sc->tx_n = 0;
	sc->tx_pool = 0;
	sc->tx_chains = 0;
	return full;
}

/*
 * Takes one chain popped from the transmit ring (buffers at iov) into the burst, flushing the
 * burst when it is full. Returns 0 to go on, 1 when the back-end reported full, or -1 when the
 * guest broke the ring.
 */
static int tx_take(struct vnet *n, unsigned q, struct vu_ring *ring, const struct virtq_chain *ch,
		   const struct iovec *iov)
{
	struct vnet_scratch *sc = scratch;
	struct virtq *vq = &ring->vq;
	int res = 0;

	if (ch->in_iov) {
		virtq_fault(vq, "writable descriptor in a transmit chain");
		return -1;
	}
	if (!ring->enabled) {
		/* A started but disabled ring is drained without side effects. */
		n->qs[q].st.tx_dropped++;
	} else if (tx_prepare(n, q, ch, iov) == -ENOSPC) {
		res = tx_flush(n, q, vq);
		tx_prepare(n, q, ch, iov); /* an empty pool always has room */
	}
	sc->tx_head[sc->tx_chains++] = ch->head;
	if (sc->tx_n == VNET_BURST && tx_flush(n, q, vq))
		res = 1;
	return res;
}

enum vnet_result vnet_tx(struct vnet *n, unsigned q, bool poll, unsigned *ret_done)
{
	struct vnet_scratch *sc = scratch;
	struct vu_ring *ring = &n->dev->ring[2 * q + 1];
	struct virtq *vq = &ring->vq;
	enum vnet_result res = VNET_MORE;
	unsigned done = 0;
	size_t bytes = 0;
	bool idle = false;
	int r = 0;

	*ret_done = 0;
	if (!ring->started || !virtq_ready(vq))
		return VNET_IDLE;
	/* Chains posted before a restart wait for the ring to be enabled (see vu_ring.hold). */
	if (!ring->enabled && ring->hold && virtq_position(vq) != ring->hold_avail)
		return VNET_IDLE;
	virtq_disable_notify(vq);
	sc->tx_n = sc->tx_pool = sc->tx_chains = 0;
	while (done < VNET_TX_BUDGET && bytes < VNET_BYTE_BUDGET && r == 0) {
		unsigned got = virtq_pop_burst(vq, sc->tx_biov, sc->tx_bch,
					       MIN(VNET_BURST, VNET_TX_BUDGET - done));

		if (got) {
			/*
			 * The headers are read next and the frames right after (by our copy to a
			 * peer or by the kernel's from a tap, not by a null sink): start their
			 * misses together.
			 */
			for (unsigned j = 0; j < got; j++) {
				__builtin_prefetch(sc->tx_biov[j].iov_base);
				if (n->be->ops->send_reads_data)
					__builtin_prefetch((char *)sc->tx_biov[j].iov_base +
							   n->hdr_len);
			}
			for (unsigned j = 0; j < got && r == 0; j++) {
				done++;
				bytes += sc->tx_bch[j].out_len;
				r = tx_take(n, q, ring, &sc->tx_bch[j], &sc->tx_biov[j]);
				if (r > 0) /* back-end full: the rest of the burst waits */
					virtq_unpop(vq, (uint16_t)(got - j - 1));
			}
			continue;
		}
		/* Anything but a single direct descriptor: the general walker. */
		struct virtq_chain ch;
		int p = virtq_pop(vq, sc->tx_iov, VIRTQ_MAX_IOV, &ch);

		if (p == 0) {
			/* Polling: leave guest notifications off, we will look again anyway. */
			if (!poll && virtq_enable_notify(vq)) {
				virtq_disable_notify(vq);
				continue;
			}
			idle = true;
			break;
		}
		if (p == -ENOBUFS)
			virtq_fault(vq, "transmit chain needs more than %u segments",
				    VIRTQ_MAX_IOV);
		if (p < 0) {
			idle = true;
			break;
		}
		done++;
		bytes += ch.out_len;
		r = tx_take(n, q, ring, &ch, sc->tx_iov);
	}
	if (tx_flush(n, q, vq) || r > 0)
		res = VNET_WAIT_BACKEND;
	else if (idle || r < 0)
		res = VNET_IDLE;
	virtq_log_commit(vq); /* used entries of the pass, when migrating */
	*ret_done = done;
	return res;
}

/*
 * Starts fetching a receive buffer that is written next, so the misses of a burst overlap: the
 * frame's first line for writing, the header's line only for reading (it is usually unchanged,
 * see store_if_changed(), and taking it exclusive would pull it away from the guest's CPU).
 */
static inline void rx_prefetch(const struct vnet *n, void *buf)
{
	__builtin_prefetch(buf, 0);
	__builtin_prefetch((char *)buf + n->hdr_len, 1);
}

/* Writes num_buffers into the header of a received frame held in iov. */
static void rx_set_num_buffers(const struct iovec *iov, unsigned niov, uint16_t count)
{
	const size_t at = offsetof(struct virtio_net_hdr, num_buffers);
	uint16_t v = htole16(count);

	if (iov[0].iov_len >= at + sizeof(v)) /* the usual case: header in the first buffer */
		store_if_changed((char *)iov[0].iov_base + at, &v, sizeof(v));
	else
		iov_from_buf(iov, niov, at, &v, sizeof(v));
}

/*
 * Takes receive chains from vq until they hold at least `want` bytes (or one chain without
 * MRG_RXBUF), their iovecs in scratch->rx_iov. Returns 1 with the counts set, 0 when the guest has
 * not posted enough (nothing kept), or -EFAULT when the ring broke. With `arm`, a 0 has also
 * re-enabled guest notifications and *ret_posted says whether the guest posted more meanwhile.
 */
static int rx_gather(struct vnet *n, struct virtq *vq, size_t want, bool arm, bool *ret_posted,
		     unsigned *ret_niov, unsigned *ret_nch, size_t *ret_cap)
{
	struct vnet_scratch *sc = scratch;
	unsigned niov = 0, nch = 0;
	size_t cap = 0;
	bool full = false;

	do {
		struct virtq_chain *ch = &sc->chains[nch];
		int r = virtq_pop(vq, sc->rx_iov + niov, VIRTQ_MAX_IOV - niov, ch);

		if (r == 0)
			break;
		if (r == -ENOBUFS && niov > 0) {
			full = true;
			break;
		}
		if (r == -ENOBUFS)
			virtq_fault(vq, "receive chain needs more than %u segments", VIRTQ_MAX_IOV);
		else if (r > 0 && ch->out_iov)
			virtq_fault(vq, "readable descriptor in a receive chain");
		if (vq->broken)
			return -EFAULT;
		nch++;
		niov += ch->in_iov;
		cap += ch->in_len;
	} while (n->mrg && cap < want && nch < VNET_RX_MAX_CHAINS && nch < vq->num);
	full = full || nch == VNET_RX_MAX_CHAINS || nch == vq->num;
	/* Too little room for the frame: wait for the guest to post more (unless it cannot). */
	if (nch == 0 || (n->mrg && cap < want && !full)) {
		/*
		 * Asked with every posted chain taken, so the request (EVENT_IDX) names the slot
		 * after them and "posted" means new buffers, as in the kernel's vhost. Asked after
		 * giving them back, it would name a slot the guest has passed (it would never
		 * kick), and "posted" would hold while they wait: a pass spinning on its budget,
		 * called again at once, for as long as the guest posts nothing.
		 */
		if (arm)
			*ret_posted = virtq_enable_notify(vq);
		virtq_unpop(vq, (uint16_t)nch);
		return 0;
	}
	*ret_niov = niov;
	*ret_nch = nch;
	*ret_cap = cap;
	return 1;
}

/* Hands back the chains a frame of `len` bytes filled and returns the others to the ring. */
static void rx_commit(struct vnet *n, unsigned q, struct virtq *vq, unsigned niov, unsigned nch,
		      size_t len)
{
	unsigned used = 0;

	for (size_t rem = len; rem > 0; used++) {
		size_t l = MIN(rem, (size_t)scratch->chains[used].in_len);

		virtq_push(vq, scratch->chains[used].head, (uint32_t)l);
		rem -= l;
	}
	virtq_unpop(vq, (uint16_t)(nch - used));
	if (n->hdr_len == sizeof(struct virtio_net_hdr))
		rx_set_num_buffers(scratch->rx_iov, niov, n->mrg ? (uint16_t)used : 1);
	virtq_log_write(vq, scratch->rx_iov, niov, len);
	n->qs[q].st.rx_packets++;
	n->qs[q].st.rx_bytes += len - n->hdr_len;
}

/*
 * Receives a burst of frames in one back-end call when every guest buffer holds a whole frame
 * (one chain per frame, the common case without GSO). Frames land in order; if the device was
 * found empty before a later read succeeded, that frame is moved down so the filled chains stay
 * in ring order and only a tail is returned. Returns frames delivered (*ret_empty set when the
 * device ran dry), or -1 when this path does not apply (the caller reads frame by frame).
 */
static int rx_burst(struct vnet *n, unsigned q, struct virtq *vq, size_t want, bool *ret_empty)
{
	struct vnet_scratch *sc = scratch;
	unsigned k = 0, niov = 0, m = 0;
	size_t lens[VNET_BURST];

	while (k < VNET_BURST) {
		unsigned got = virtq_pop_burst(vq, sc->rx_iov + niov, sc->chains + k,
					       MIN(VNET_BURST - k, VIRTQ_MAX_IOV - niov));
		unsigned j;

		/* A chain of several descriptors: the general walker. */
		if (!got &&
		    virtq_pop(vq, sc->rx_iov + niov, VIRTQ_MAX_IOV - niov, &sc->chains[k]) > 0)
			got = 1;
		if (!got)
			break; /* empty, out of iovecs, or a fault the frame-by-frame path reports
				*/
		for (j = 0; j < got; j++, k++) {
			const struct virtq_chain *ch = &sc->chains[k];

			if (ch->out_iov || ch->in_len < want)
				break;
			sc->rx_frame[k] =
				(struct be_frame){ .iov = sc->rx_iov + niov, .niov = ch->in_iov };
			rx_prefetch(n, sc->rx_iov[niov].iov_base);
			niov += ch->in_iov;
		}
		if (j < got) {
			virtq_unpop(vq, (uint16_t)(got - j));
			break;
		}
	}
	if (k < 2 || n->be->ops->recv_burst(n->be, q, sc->rx_frame, k) < 0) {
		virtq_unpop(vq, (uint16_t)k);
		return -1;
	}
	*ret_empty = false;
	for (unsigned j = 0; j < k; j++) {
		ssize_t res = sc->rx_frame[j].res;

		if (res == -EAGAIN) {
			*ret_empty = true;
			continue;
		}
		if (res < (ssize_t)n->hdr_len || (size_t)res >= sc->chains[j].in_len) {
			n->qs[q].st.rx_dropped++;
			n->qs[q].st.rx_oversize += res > 0 && (size_t)res >= sc->chains[j].in_len;
			log_rl(&n->qs[q].rl, LOG_LVL_WARN, "%s: rx frame of %zd bytes dropped",
			       n->dev->name, res);
			continue;
		}
		if (m != j) /* rare: a frame arrived after an earlier read found none */
			iov_copy(sc->rx_frame[m].iov, sc->rx_frame[m].niov, 0, sc->rx_frame[j].iov,
				 sc->rx_frame[j].niov, 0, (size_t)res);
		lens[m++] = (size_t)res;
	}
	for (unsigned i = 0; i < m; i++) {
		virtq_push(vq, sc->chains[i].head, (uint32_t)lens[i]);
		if (n->hdr_len == sizeof(struct virtio_net_hdr))
			rx_set_num_buffers(sc->rx_frame[i].iov, sc->rx_frame[i].niov, 1);
		virtq_log_write(vq, sc->rx_frame[i].iov, sc->rx_frame[i].niov, lens[i]);
		n->qs[q].st.rx_packets++;
		n->qs[q].st.rx_bytes += lens[i] - n->hdr_len;
	}
	virtq_unpop(vq, (uint16_t)(k - m));
	return (int)m;
}

enum vnet_result vnet_rx(struct vnet *n, unsigned q, bool poll, unsigned *ret_done)
{
	unsigned done = 0;
	struct virtq *vq = &n->dev->ring[2 * q].vq;
	/* Room for the largest frame plus one byte, so a full read always means truncation. */
	size_t want = n->hdr_len + n->be->ops->max_frame(n->be) + 1;
	enum vnet_result res = VNET_MORE;
	const uint64_t bytes0 = n->qs[q].st.rx_bytes;

	*ret_done = 0;
	if (!n->be->ops->recv || !vu_ring_live(n->dev, 2 * q))
		return VNET_IDLE;
	for (unsigned pk = 0;
	     pk < VNET_RX_BUDGET && n->qs[q].st.rx_bytes - bytes0 < VNET_BYTE_BUDGET; pk++) {
		unsigned niov, nch;
		bool posted = false;
		size_t cap;
		ssize_t len;
		int r;

		if (n->be->ops->recv_burst) {
			bool empty;
			int m = rx_burst(n, q, vq, want, &empty);

			if (m >= 0) {
				done += (unsigned)m;
				pk += m ? (unsigned)m - 1 : 0;
				/* Per burst, not per pass: the guest takes these while we go on. */
				virtq_flush_notify(vq);
				if (empty) {
					res = VNET_IDLE;
					break;
				}
				continue;
			}
		}
		r = rx_gather(n, vq, want, !poll, &posted, &niov, &nch, &cap);

		if (r < 0) {
			res = VNET_IDLE;
			break;
		}
		if (r == 0) {
			if (posted)
				continue;
			res = VNET_WAIT_GUEST;
			break;
		}
		len = n->be->ops->recv(n->be, q, scratch->rx_iov, niov);
		if (len < 0) {
			virtq_unpop(vq, (uint16_t)nch);
			if (len != -EAGAIN)
				log_rl(&n->qs[q].rl, LOG_LVL_WARN,
				       "%s: back-end receive failed: %s", n->dev->name,
				       strerror((int)-len));
			res = VNET_IDLE;
			break;
		}
		/* A frame that filled every byte may have been cut short by the device. */
		if ((size_t)len >= cap || (size_t)len < n->hdr_len) {
			virtq_unpop(vq, (uint16_t)nch);
			n->qs[q].st.rx_dropped++;
			n->qs[q].st.rx_oversize += (size_t)len >= cap;
			log_rl(&n->qs[q].rl, LOG_LVL_WARN,
			       "%s: rx frame of %zd bytes does not fit %zu", n->dev->name, len,
			       cap);
			continue;
		}
		rx_commit(n, q, vq, niov, nch, (size_t)len);
		/* Published per burst, as in the burst path: the guest takes these while we go on,
		 * and at most a burst is ever read but not yet visible to it. */
		if (++done % VNET_BURST == 0)
			virtq_flush_notify(vq);
	}
	virtq_flush_notify(vq);
	virtq_log_commit(vq); /* buffers and used entries of the pass, when migrating */
	*ret_done = done;
	return res;
}

/*
 * Writes the header of a frame from a peer that fits one receive buffer: peers negotiate no
 * offloads, so it is zero but for num_buffers = 1 (stored only where the bytes differ).
 */
static void peer_hdr_store(const struct vnet *n, void *dst)
{
	const struct virtio_net_hdr hdr = { .num_buffers = htole16(1) };

	store_if_changed(dst, &hdr, n->hdr_len);
}

int vnet_deliver(struct vnet *n, unsigned q, const struct iovec *iov, unsigned niov_src,
		 size_t skip)
{
	static const uint8_t zero_hdr[sizeof(struct virtio_net_hdr)];
	unsigned dq = q < n->nqp ? q : q % n->nqp;
	struct virtq *vq = &n->dev->ring[2 * dq].vq;
	size_t frame = iov_size(iov, niov_src) - skip;
	unsigned niov, nch;
	size_t cap;

	if (!vu_ring_live(n->dev, 2 * dq))
		return -EIO;
	if (rx_gather(n, vq, n->hdr_len + frame, false, NULL, &niov, &nch, &cap) <= 0)
		return -ENOBUFS;
	if (cap < n->hdr_len + frame) {
		virtq_unpop(vq, (uint16_t)nch);
		n->qs[dq].st.rx_dropped++;
		n->qs[dq].st.rx_oversize++;
		return -ENOBUFS;
	}
	/* Peers negotiate no offloads, so the header carries nothing but num_buffers. */
	if (niov_src == 2 && iov[0].iov_len == skip &&
	    scratch->rx_iov[0].iov_len >= n->hdr_len + frame) {
		/* The usual case: our header copy, one data buffer, one receive buffer. */
		peer_hdr_store(n, scratch->rx_iov[0].iov_base);
		memcpy((char *)scratch->rx_iov[0].iov_base + n->hdr_len, iov[1].iov_base, frame);
	} else {
		iov_from_buf(scratch->rx_iov, niov, 0, zero_hdr, n->hdr_len);
		iov_copy(scratch->rx_iov, niov, n->hdr_len, iov, niov_src, skip, frame);
	}
	rx_commit(n, dq, vq, niov, nch, n->hdr_len + frame);
	return 0;
}

void vnet_deliver_burst(struct vnet *n, unsigned q, struct be_frame *f, unsigned count, size_t skip)
{
	struct vnet_scratch *sc = scratch;
	unsigned dq = q < n->nqp ? q : q % n->nqp, i = 0;
	struct virtq *vq = &n->dev->ring[2 * dq].vq;
	struct vnet_stats *st = &n->qs[dq].st;

	if (!vu_ring_live(n->dev, 2 * dq)) {
		for (; i < count; i++)
			f[i].res = -EIO;
		return;
	}
	while (i < count) {
		unsigned got =
			virtq_pop_burst(vq, sc->rx_iov, sc->chains, MIN(count - i, VNET_BURST));
		unsigned j;
		int r;

		for (j = 0; j < got; j++)
			rx_prefetch(n, sc->rx_iov[j].iov_base);
		for (j = 0; j < got; j++, i++) {
			const struct iovec *src = f[i].iov;
			uint8_t *dst = sc->rx_iov[j].iov_base;
			size_t frame;

			/* Our header copy, then the frame in one buffer, into one writable buffer.
			 */
			if (f[i].niov != 2 || src[0].iov_len != skip || sc->chains[j].out_iov)
				break;
			frame = src[1].iov_len;
			if (sc->chains[j].in_len < n->hdr_len + frame)
				break;
			peer_hdr_store(n, dst);
			memcpy(dst + n->hdr_len, src[1].iov_base, frame);
			virtq_log_write(vq, &sc->rx_iov[j], 1, n->hdr_len + frame);
			virtq_push(vq, sc->chains[j].head, (uint32_t)(n->hdr_len + frame));
			st->rx_packets++;
			st->rx_bytes += frame;
			f[i].res = (ssize_t)(skip + frame);
		}
		if (j < got)
			virtq_unpop(vq, (uint16_t)(got - j));
		else if (got)
			continue;
		if (i == count)
			break;
		/* This frame or the next chain needs the general path (or the ring is empty). */
		r = vnet_deliver(n, q, f[i].iov, f[i].niov, skip);
		f[i].res = r < 0 ? r : (ssize_t)iov_size(f[i].iov, f[i].niov);
		i++;
	}
}

void vnet_rx_flush(struct vnet *n, unsigned q)
{
	unsigned dq = q < n->nqp ? q : q % n->nqp;

	virtq_flush_notify(&n->dev->ring[2 * dq].vq);
	virtq_log_commit(&n->dev->ring[2 * dq].vq);
}

int vnet_announce(struct vnet *n, const uint8_t mac[6])
{
	/* Header (all zero: no offloads), then a RARP "request reverse" as QEMU sends for its
	 * own NICs: broadcast, sender and target hardware address the guest's, no IP addresses,
	 * padded to the Ethernet minimum. */
	uint8_t frame[sizeof(struct virtio_net_hdr) + 60] = { 0 };
	uint8_t *eth = frame + n->hdr_len;
	static const uint8_t arp[] = { 0x80, 0x35, /* ethertype RARP */
				       0x00, 0x01, /* hardware: Ethernet */
				       0x08, 0x00, /* protocol: IPv4 */
				       6,    4,	   /* address lengths */
				       0x00, 0x03 /* request reverse */ };
	const struct backend_ops *ops = n->be->ops;
	struct iovec iov = { .iov_base = frame, .iov_len = n->hdr_len + 60 };
	ssize_t r;

	memset(eth, 0xff, 6);
	memcpy(eth + 6, mac, 6);
	memcpy(eth + 12, arp, sizeof(arp));
	memcpy(eth + 22, mac, 6); /* sender hardware address; sender IP stays 0 */
	memcpy(eth + 32, mac, 6); /* target hardware address; target IP stays 0 */
	r = ops->send(n->be, 0, &iov, 1);
	if (ops->flush)
		ops->flush(n->be, 0);
	if (r < 0) {
		n->qs[0].st.tx_dropped++;
		log_rl(&n->qs[0].rl, LOG_LVL_WARN,
		       "%s: could not send the RARP for %02x:%02x:%02x:%02x:%02x:%02x: %s",
		       n->dev->name, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5],
		       strerror((int)-r));
		return (int)r;
	}
	n->announces++;
	log_rl(&n->qs[0].rl, LOG_LVL_INFO, "%s: sent a RARP for %02x:%02x:%02x:%02x:%02x:%02x",
	       n->dev->name, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
	return 0;
}

unsigned vnet_rx_discard(struct vnet *n, unsigned q)
{
	/* Bounded: a device that never runs dry (a generator, a flood) cannot hold us here. */
	unsigned k = n->be->ops->discard ? n->be->ops->discard(n->be, q, 4096) : 0;

	if (k) {
		n->qs[q].st.rx_dropped += k;
		n->qs[q].st.rx_stale += k;
		log_rl(&n->qs[q].rl, LOG_LVL_INFO,
		       "%s: discarded %u frame(s) queued on the back-end before receive queue %u "
		       "started",
		       n->dev->name, k, q);
	}
	return k;
}
