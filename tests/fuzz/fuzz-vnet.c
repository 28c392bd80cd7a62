/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fuzzes the virtio-net device model (src/net/vnet.c) through its public calls: the guest's
 * transmit headers (flags, GSO type, csum_start/offset, hdr_len, gso_size, num_buffers) and
 * frames on a transmit ring, its receive buffers on a receive ring (both split or both packed,
 * in guest memory sliced into regions), and frames of
 * any length from the back-end, from a peer port (vnet_deliver(), vnet_deliver_burst()) and from
 * a migration (vnet_announce()). The back-end is a stub that checks what it is handed.
 *
 * Header (16 bytes):
 *   [0]      ring size: 1 << (b % 9), both rings
 *   [1..2]   features the guest negotiates, little-endian bits: 0 VERSION_1, 1 MRG_RXBUF, 2 CSUM,
 *            3 HOST_TSO4, 4 HOST_TSO6, 5 HOST_ECN, 6 HOST_UFO, 7 HOST_USO, 8 INDIRECT_DESC,
 *            9 EVENT_IDX, 10 RING_PACKED, 11 IN_ORDER (masked by what vnet_offered_features()
 *            offers this back-end)
 *   [3]      back-end: bit 0 offloads, 1 USO, 2 send_burst, 3 recv_burst, 4 send_burst refuses
 *            the burst, 5 recv_burst refuses it
 *   [4]      sends that fail: every (b & 15)th (0: none), with bits 4-5: 0/1 -EAGAIN,
 *            2 -ENOBUFS, 3 -EIO
 *   [5]      data slice size in bytes (0: the data is one region)
 *   [6]      bit 0 transmit ring disabled, 1 receive ring disabled, 2 poll, 3 a call eventfd,
 *            4 holes (every other data slice unmapped), bits 5-7 passes - 1
 *   [7]      also per pass: bit 0 vnet_deliver(), 1 vnet_deliver_burst(), 2 vnet_announce(),
 *            3 vnet_set_mtu(), 4 receive before transmit, 5 vnet_rx_discard(), 6 no receive
 *            (the records are left to the peer)
 *   [8..9]   transmit ring base, [10..11] receive ring base (little-endian; packed rings:
 *            slot and wrap counter in bit 15, a base virtq_map() refuses ends the input)
 *   [12..13] guest memory length (little-endian), taken from the bytes that follow
 *   [14]     back-end's largest frame: 60 + 256 * b, 65535 for 255
 *   [15]     header bytes a peer's frames carry (b % 13); MTU asked for: 300 * b
 * Then guest memory (gpa 0, front-end address gpa + FUZZ_UVA, zero-padded to hold the rings):
 * the transmit ring (descriptors at 0, avail at 16 * num, used at the next 4-byte boundary;
 * packed: driver area at 16 * num, device area 4 bytes later), the receive ring laid out the same
 * from the 16-byte boundary after a split ring's size, then data. The rest of the
 * input is the back-end's frames, one record each: length (little-endian u16; 0xffff: nothing
 * waiting, 0xfffe: -EIO), a pattern length n (u8) and n bytes repeated to fill the frame (its
 * virtio-net header included); receives and peer frames take records in turn.
 *
 * Checked: every frame the back-end is sent starts with a header of the negotiated length
 * (num_buffers 0) that a tap may take: only NEEDS_CSUM among the flags and only with CSUM, the
 * checksum field inside the frame, a GSO type the guest negotiated with a size and a hdr_len
 * inside the frame, USO with a partial UDP checksum and no ECN; the frame is 14..65553 bytes and
 * readable to its end. The counters match what the back-end saw: frames sent and their bytes,
 * failed sends dropped, every transmit chain taken counted once; received frames shorter than
 * the header or as large as the buffers dropped (oversize counted), the rest delivered with
 * their bytes, and a pass that stops on its budget has read frames (a guest short of buffers
 * for the largest frame is waited for, not polled); peer frames delivered or refused with
 * -ENOBUFS/-EIO, counted; the header length
 * follows VERSION_1/MRG_RXBUF, MTUs outside 68..65535 refused before the back-end sees them.
 */
#include <endian.h>
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/eventfd.h>

#include "backend/backend.h"
#include "fuzz.h"
#include "net/virtio_net.h"
#include "net/vnet.h"
#include "util/cleanup.h"
#include "util/iov.h"
#include "vhost/dev.h"

#define HDR_SIZE  16
#define MAX_MEM	  (128 * 1024)
#define MAX_FRAME (65535 + 14 + 4) /* what a guest may send: the IP limit, Ethernet, a VLAN tag */
#define MAX_LOOPS 64		   /* calls per pass while vnet reports more work */

/* Feature bits in the order of header bytes 1..2. */
static const unsigned feature_bit[] = {
	VIRTIO_F_VERSION_1,	 VIRTIO_NET_F_MRG_RXBUF, VIRTIO_NET_F_CSUM,
	VIRTIO_NET_F_HOST_TSO4,	 VIRTIO_NET_F_HOST_TSO6, VIRTIO_NET_F_HOST_ECN,
	VIRTIO_NET_F_HOST_UFO,	 VIRTIO_NET_F_HOST_USO,	 VIRTIO_RING_F_INDIRECT_DESC,
	VIRTIO_RING_F_EVENT_IDX, VIRTIO_F_RING_PACKED,	 VIRTQ_F_IN_ORDER,
};

/* The stub back-end: what the input asked of it and what it saw. */
struct stub {
	struct backend be;
	uint8_t mode;	     /* header byte 3 */
	unsigned fail_every; /* every nth send fails (0: none) */
	int fail_err;	     /* with this errno */
	unsigned max_frame;  /* what max_frame() reports */
	uint64_t features;   /* as configure() got them */
	unsigned hdr_len;    /* as configure() got it (0: not yet) */
	const uint8_t *rec;  /* the frame records left */
	size_t rec_len;
	unsigned sends; /* send() calls */
	uint64_t reads; /* frames asked for (recv() calls and recv_burst() slots) */
	uint64_t sent, sent_bytes, send_failed;
	/* Receives: delivered frames and their bytes (header excluded), drops, oversize ones. */
	uint64_t rx_ok, rx_bytes, rx_drop, rx_oversize;
};

static struct stub stub;

/* The next record: 0 with its length and pattern, or -1 when none is left. */
static int next_record(unsigned *ret_len, const uint8_t **ret_pat, unsigned *ret_npat)
{
	unsigned npat;

	if (stub.rec_len < 3)
		return -1;
	npat = stub.rec[2];
	if (npat > stub.rec_len - 3)
		npat = (unsigned)stub.rec_len - 3;
	*ret_len = (unsigned)(stub.rec[0] | stub.rec[1] << 8);
	*ret_pat = stub.rec + 3;
	*ret_npat = npat;
	stub.rec += 3 + npat;
	stub.rec_len -= 3 + npat;
	return 0;
}

/* Writes len bytes of the pattern repeated (zeros without one) at dst. */
static void pattern(uint8_t *dst, size_t len, const uint8_t *pat, unsigned npat)
{
	if (!npat) {
		memset(dst, 0, len);
		return;
	}
	for (size_t done = 0; done < len;) {
		size_t k = MIN(len - done, (size_t)npat);

		memcpy(dst + done, pat, k);
		done += k;
	}
}

/* Fills iov[0..n) with len bytes of the pattern repeated, up to its end. */
static void fill(const struct iovec *iov, unsigned n, size_t len, const uint8_t *pat, unsigned npat)
{
	static uint8_t frame[65536];

	pattern(frame, MIN(len, sizeof(frame)), pat, npat);
	iov_from_buf(iov, n, 0, frame, MIN(len, sizeof(frame)));
}

/* True if the guest negotiated feature bit b. */
static bool neg(unsigned b)
{
	return stub.features & VNET_BIT(b);
}

/*
 * Checks one frame handed to the back-end (its first hdr_len bytes the header) against what a
 * tap may be given, and reads every byte of it. Returns the frame's length without the header.
 */
static size_t check_frame(const struct iovec *iov, unsigned n)
{
	static volatile uint8_t sink;
	struct virtio_net_hdr h = { 0 };
	uint8_t x = 0;
	size_t len = 0;
	uint8_t type;

	FUZZ_CHECK(stub.hdr_len == 10 || stub.hdr_len == 12);
	FUZZ_CHECK(iov_to_buf(iov, n, 0, &h, stub.hdr_len) == stub.hdr_len);
	for (unsigned i = 0; i < n; i++) {
		const uint8_t *p = iov[i].iov_base;

		for (size_t k = 0; k < iov[i].iov_len; k++)
			x ^= p[k];
		len += iov[i].iov_len;
	}
	sink = x;
	(void)sink;
	len -= stub.hdr_len;
	FUZZ_CHECK(len >= 14 && len <= MAX_FRAME);
	FUZZ_CHECK(h.num_buffers == 0);
	FUZZ_CHECK((h.flags & ~VIRTIO_NET_HDR_F_NEEDS_CSUM) == 0);
	if (h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
		FUZZ_CHECK(neg(VIRTIO_NET_F_CSUM));
		FUZZ_CHECK((size_t)le16toh(h.csum_start) + le16toh(h.csum_offset) + 2 <= len);
	}
	if (h.gso_type == VIRTIO_NET_HDR_GSO_NONE)
		return len;
	FUZZ_CHECK(h.gso_size != 0 && le16toh(h.hdr_len) <= len);
	type = h.gso_type & ~VIRTIO_NET_HDR_GSO_ECN;
	if (h.gso_type & VIRTIO_NET_HDR_GSO_ECN)
		FUZZ_CHECK(neg(VIRTIO_NET_F_HOST_ECN) && type != VIRTIO_NET_HDR_GSO_UDP_L4);
	switch (type) {
	case VIRTIO_NET_HDR_GSO_TCPV4:
		FUZZ_CHECK(neg(VIRTIO_NET_F_HOST_TSO4));
		break;
	case VIRTIO_NET_HDR_GSO_TCPV6:
		FUZZ_CHECK(neg(VIRTIO_NET_F_HOST_TSO6));
		break;
	case VIRTIO_NET_HDR_GSO_UDP:
		FUZZ_CHECK(neg(VIRTIO_NET_F_HOST_UFO));
		break;
	case VIRTIO_NET_HDR_GSO_UDP_L4:
		FUZZ_CHECK(neg(VIRTIO_NET_F_HOST_USO));
		FUZZ_CHECK(h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM);
		FUZZ_CHECK(le16toh(h.csum_offset) == 6);
		break;
	default:
		FUZZ_CHECK(!"unknown GSO type reached the back-end");
	}
	return len;
}

/* backend_ops.configure: the header length must follow VERSION_1 and MRG_RXBUF. */
static int stub_configure(struct backend *be, uint64_t features, unsigned hdr_len)
{
	bool big = features & (VNET_BIT(VIRTIO_F_VERSION_1) | VNET_BIT(VIRTIO_NET_F_MRG_RXBUF));

	FUZZ_CHECK(hdr_len == (big ? 12u : 10u));
	stub.features = features;
	stub.hdr_len = hdr_len;
	return 0;
}

/* backend_ops.queue_fd: nothing to poll (vnet never asks). */
static int stub_queue_fd(struct backend *be, unsigned q)
{
	return -1;
}

/* backend_ops.send: checks the frame, then takes it or fails as the input says. */
static ssize_t stub_send(struct backend *be, unsigned q, const struct iovec *iov, unsigned n)
{
	size_t len = check_frame(iov, n);

	FUZZ_CHECK(q == 0);
	if (stub.fail_every && ++stub.sends % stub.fail_every == 0) {
		stub.send_failed++;
		return -stub.fail_err;
	}
	stub.sent++;
	stub.sent_bytes += len;
	return (ssize_t)(len + stub.hdr_len);
}

/* backend_ops.send_burst: frame by frame through stub_send(), or a refusal of the burst. */
static int stub_send_burst(struct backend *be, unsigned q, struct be_frame *f, unsigned n)
{
	FUZZ_CHECK(n >= 1);
	if (stub.mode & 16)
		return -EOPNOTSUPP;
	for (unsigned i = 0; i < n; i++)
		f[i].res = stub_send(be, q, f[i].iov, f[i].niov);
	return 0;
}

/*
 * Receives the next record into iov (header and frame), predicting what vnet must make of it:
 * frames shorter than the header or filling the buffers are dropped (the latter as oversize).
 * `burst`: as one frame of a recv_burst(), where other errors count as drops too.
 */
static ssize_t stub_recv_one(const struct iovec *iov, unsigned n, bool burst)
{
	size_t space = iov_size(iov, n);
	const uint8_t *pat;
	unsigned len, npat;

	FUZZ_CHECK(stub.hdr_len);
	stub.reads++;
	if (next_record(&len, &pat, &npat) < 0 || len == 0xffff)
		return -EAGAIN;
	if (len == 0xfffe) {
		stub.rx_drop += burst;
		return -EIO;
	}
	fill(iov, n, len, pat, npat);
	if (len < stub.hdr_len || len >= space) {
		stub.rx_drop++;
		stub.rx_oversize += len >= space;
	} else {
		stub.rx_ok++;
		stub.rx_bytes += len - stub.hdr_len;
	}
	return len;
}

/* backend_ops.recv: the next record, as stub_recv_one() predicts. */
static ssize_t stub_recv(struct backend *be, unsigned q, const struct iovec *iov, unsigned n)
{
	FUZZ_CHECK(q == 0);
	return stub_recv_one(iov, n, false);
}

/* backend_ops.recv_burst: one record per frame, or a refusal of the burst. */
static int stub_recv_burst(struct backend *be, unsigned q, struct be_frame *f, unsigned n)
{
	FUZZ_CHECK(q == 0 && n >= 1);
	if (stub.mode & 32)
		return -EOPNOTSUPP;
	for (unsigned i = 0; i < n; i++)
		f[i].res = stub_recv_one(f[i].iov, f[i].niov, true);
	return 0;
}

/* backend_ops.flush: only ever for the one queue. */
static void stub_flush(struct backend *be, unsigned q)
{
	FUZZ_CHECK(q == 0);
}

/* backend_ops.discard: throws away records, at most max. */
static unsigned stub_discard(struct backend *be, unsigned q, unsigned max)
{
	const uint8_t *pat;
	unsigned k = 0, len, npat;

	while (k < max && next_record(&len, &pat, &npat) == 0)
		k++;
	return k;
}

/* backend_ops.max_frame: as the input says (60..65535). */
static unsigned stub_max_frame(struct backend *be)
{
	return stub.max_frame;
}

/* backend_ops.set_mtu: vnet must have refused what virtio-net does not allow. */
static int stub_set_mtu(struct backend *be, unsigned mtu, unsigned *ret_old)
{
	FUZZ_CHECK(mtu >= VNET_MTU_MIN && mtu <= VNET_MTU_MAX);
	if (ret_old)
		*ret_old = 1500;
	return 0;
}

/* backend_ops.destroy: the stub is static. */
static void stub_destroy(struct backend *be)
{
}

/* The stub's operations with or without offloads, send_burst (sb) and recv_burst (rb). */
#define STUB_OPS(off, sb, rb)                                                                      \
	{                                                                                          \
		.name = "fuzz", .offloads = (off), .configure = stub_configure,                    \
		.queue_fd = stub_queue_fd, .send = stub_send, .recv = stub_recv,                   \
		.send_burst = (sb) ? stub_send_burst : NULL,                                       \
		.recv_burst = (rb) ? stub_recv_burst : NULL, .flush = stub_flush,                  \
		.discard = stub_discard, .max_frame = stub_max_frame, .set_mtu = stub_set_mtu,     \
		.destroy = stub_destroy,                                                           \
	}
#define STUB_OPS4(off)                                                                             \
	{                                                                                          \
		STUB_OPS(off, 0, 0), STUB_OPS(off, 1, 0), STUB_OPS(off, 0, 1), STUB_OPS(off, 1, 1) \
	}

/* Indexed [offloads][send_burst | recv_burst << 1]. */
static const struct backend_ops stub_ops[2][4] = { STUB_OPS4(false), STUB_OPS4(true) };

static struct fuzz_guest g;
static struct vu_dev dev;
static int call_fd = -1;

/*
 * Sets ring idx of dev up as a started ring of num entries at gpa (packed if the features say
 * so), mapped at base. Returns virtq_map()'s result: only a packed ring's base may be refused.
 */
static int ring_setup(unsigned idx, uint32_t num, uint64_t gpa, uint16_t base, uint64_t features,
		      bool enabled, bool call)
{
	struct vu_ring *ring = &dev.ring[idx];
	struct virtq *vq = &ring->vq;
	bool packed = features & VNET_BIT(VIRTIO_F_RING_PACKED);
	int r;

	virtq_init(vq, idx ? "fuzz/tx0" : "fuzz/rx0");
	vq->num = num;
	vq->desc_uva = FUZZ_UVA + gpa;
	vq->avail_uva = FUZZ_UVA + gpa + 16 * num;
	vq->used_uva = packed ? vq->avail_uva + 4
			      : FUZZ_UVA + ((gpa + 16 * num + 6 + 2 * num + 3) & ~3ull);
	vq->mem = &g.mem;
	vq->features = features;
	vq->call_fd = call ? call_fd : -1;
	r = virtq_map(vq, base);
	FUZZ_CHECK(r == 0 || (packed && r == -EINVAL));
	ring->kick_fd = -1;
	ring->started = true;
	ring->enabled = enabled;
	return r;
}

/* Bytes of a split ring of num entries (descriptors, avail with used_event, used). */
static uint32_t ring_bytes(uint32_t num)
{
	return ((16 * num + 6 + 2 * num + 3) & ~3u) + 6 + 8 * num;
}

/*
 * vnet_tx() until it has no more (at most MAX_LOOPS calls), each call's counters checked against
 * the chains it took and what the back-end saw.
 */
static void tx_pass(struct vnet *n, bool poll)
{
	struct vu_ring *ring = &dev.ring[1];
	enum vnet_result r = VNET_MORE;

	for (unsigned i = 0; i < MAX_LOOPS && r == VNET_MORE; i++) {
		uint64_t sent = stub.sent, bytes = stub.sent_bytes, failed = stub.send_failed;
		bool was_broken = ring->vq.broken;
		struct vnet_stats a, b;
		uint64_t counted;
		unsigned done;

		vnet_stats_sum(n, &a);
		r = vnet_tx(n, 0, poll, &done);
		vnet_stats_sum(n, &b);
		FUZZ_CHECK(b.tx_packets - a.tx_packets == stub.sent - sent);
		FUZZ_CHECK(b.tx_bytes - a.tx_bytes == stub.sent_bytes - bytes);
		/* Failed sends are drops; so is all a disabled ring carries. */
		if (ring->enabled)
			FUZZ_CHECK(b.tx_dropped - a.tx_dropped == stub.send_failed - failed);
		else
			FUZZ_CHECK(stub.sent == sent && stub.send_failed == failed);
		/* Each chain taken is sent, dropped or refused exactly once; a chain whose
		 * writable descriptor broke the ring is taken but not counted. */
		counted = (b.tx_packets - a.tx_packets) + (b.tx_dropped - a.tx_dropped) +
			  (b.tx_errors - a.tx_errors);
		FUZZ_CHECK(counted == done ||
			   (!was_broken && ring->vq.broken && counted + 1 == done));
		FUZZ_CHECK(!was_broken || done == 0);
	}
}

/* Reads a little-endian 16-bit field of guest memory. */
static uint16_t guest_u16(const void *p)
{
	uint16_t v;

	memcpy(&v, p, sizeof(v));
	return le16toh(v);
}

/*
 * Once vnet waits for receive buffers, a split ring must have asked the guest to kick when it
 * posts the next one: notifications on, and with EVENT_IDX at the avail index the guest stands at
 * (an earlier one it has passed would never be kicked for).
 */
static void check_kick_asked(const struct virtq *vq)
{
	const uint8_t *avail = vq->avail, *used = vq->used;

	if (vq->packed || vq->broken)
		return;
	if (vq->event_idx)
		FUZZ_CHECK(guest_u16(used + 4 + 8 * vq->num) == guest_u16(avail + 2));
	else
		FUZZ_CHECK(guest_u16(used) == 0);
}

/*
 * vnet_rx() until it has no more (at most MAX_LOOPS calls): the counters move exactly as the
 * back-end predicted for the frames it produced (stub_recv_one()).
 */
static void rx_pass(struct vnet *n, bool poll)
{
	enum vnet_result r = VNET_MORE;

	for (unsigned i = 0; i < MAX_LOOPS && r == VNET_MORE; i++) {
		uint64_t ok = stub.rx_ok, bytes = stub.rx_bytes, drop = stub.rx_drop;
		uint64_t oversize = stub.rx_oversize, reads = stub.reads;
		struct vnet_stats a, b;
		unsigned done;

		vnet_stats_sum(n, &a);
		r = vnet_rx(n, 0, poll, &done);
		vnet_stats_sum(n, &b);
		/* "More" means the budget went on frames, never on looking again at buffers too
		 * small for one while the guest posted nothing new (nothing changes guest memory
		 * here but vnet itself). */
		FUZZ_CHECK(r != VNET_MORE || stub.reads > reads);
		FUZZ_CHECK(done == stub.rx_ok - ok);
		FUZZ_CHECK(b.rx_packets - a.rx_packets == stub.rx_ok - ok);
		FUZZ_CHECK(b.rx_bytes - a.rx_bytes == stub.rx_bytes - bytes);
		FUZZ_CHECK(b.rx_dropped - a.rx_dropped == stub.rx_drop - drop);
		FUZZ_CHECK(b.rx_oversize - a.rx_oversize == stub.rx_oversize - oversize);
	}
	if (r == VNET_WAIT_GUEST && !poll)
		check_kick_asked(&dev.ring[0].vq);
}

/*
 * Builds a peer's frame from the next record: a `skip`-byte header, then at least 14 bytes,
 * cut in two buffers when `split` (at most 3 iovecs in iov). Returns the iovec count, or 0
 * when no record is left.
 */
static unsigned peer_frame(struct iovec *iov, uint8_t *buf, size_t skip, bool split)
{
	const uint8_t *pat;
	unsigned len, npat, k = 0;
	size_t frame;

	if (next_record(&len, &pat, &npat) < 0)
		return 0;
	frame = len < 14 ? 14 : len;
	pattern(buf, skip + frame, pat, npat);
	iov[k++] = (struct iovec){ .iov_base = buf, .iov_len = skip };
	if (split && frame > 1) {
		iov[k++] = (struct iovec){ .iov_base = buf + skip, .iov_len = frame / 2 };
		iov[k++] = (struct iovec){ .iov_base = buf + skip + frame / 2,
					   .iov_len = frame - frame / 2 };
	} else {
		iov[k++] = (struct iovec){ .iov_base = buf + skip, .iov_len = frame };
	}
	return k;
}

/* Peer frames through vnet_deliver() (one) or vnet_deliver_burst() (up to 8). */
static void deliver(struct vnet *n, bool burst, size_t skip, unsigned q)
{
	static uint8_t bufs[8][12 + 65535];
	struct iovec iov[8][3];
	struct be_frame f[8];
	struct vnet_stats a, b;
	unsigned count = 0, ok = 0;
	uint64_t bytes = 0;

	for (; count < (burst ? 8u : 1u); count++) {
		f[count].niov = peer_frame(iov[count], bufs[count], skip, count % 3 == 2);
		if (!f[count].niov)
			break;
		f[count].iov = iov[count];
		f[count].res = 1;
	}
	if (!count)
		return;
	vnet_stats_sum(n, &a);
	if (burst) {
		vnet_deliver_burst(n, q, f, count, skip);
	} else {
		int r = vnet_deliver(n, q, f[0].iov, f[0].niov, skip);

		f[0].res = r < 0 ? r : (ssize_t)iov_size(f[0].iov, f[0].niov);
	}
	vnet_rx_flush(n, q);
	vnet_stats_sum(n, &b);
	for (unsigned i = 0; i < count; i++) {
		FUZZ_CHECK(f[i].res == (ssize_t)iov_size(f[i].iov, f[i].niov) ||
			   f[i].res == -ENOBUFS || f[i].res == -EIO);
		if (f[i].res > 0) {
			ok++;
			bytes += (size_t)f[i].res - skip;
		}
	}
	FUZZ_CHECK(b.rx_packets - a.rx_packets == ok);
	FUZZ_CHECK(b.rx_bytes - a.rx_bytes == bytes);
	/* A frame is refused for want of room only: counted as oversize, if at all. */
	FUZZ_CHECK(b.rx_dropped - a.rx_dropped == b.rx_oversize - a.rx_oversize);
	FUZZ_CHECK(b.rx_dropped - a.rx_dropped <= count - ok);
}

/* Builds the device, the back-end and guest memory from one input (format at the top) and runs
 * the passes it asks for. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t guest[MAX_MEM];
	static const uint8_t mac[6] = { 0x52, 0x54, 0, 0x12, 0x34, 0x56 };
	struct vnet_stats st;
	uint32_t num, rx_gpa, ring_end;
	uint64_t features = 0;
	size_t mem_len;
	struct vnet *n;
	uint8_t flags, ops;

	if (size < HDR_SIZE)
		return 0;
	fuzz_quiet_logs();
	FUZZ_CHECK(vnet_thread_init() == 0);
	if (call_fd < 0)
		call_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);

	memset(&stub, 0, sizeof(stub));
	stub.mode = data[3];
	stub.be.ops = &stub_ops[data[3] & 1][(data[3] >> 2) & 3];
	stub.be.uso = data[3] & 2;
	stub.fail_every = data[4] & 15;
	stub.fail_err = (const int[]){ EAGAIN, EAGAIN, ENOBUFS, EIO }[(data[4] >> 4) & 3];
	stub.max_frame = data[14] == 255 ? 65535 : 60 + 256u * data[14];
	flags = data[6];
	ops = data[7];

	num = 1u << (data[0] % 9);
	rx_gpa = (ring_bytes(num) + 15) & ~15u;
	ring_end = rx_gpa + ring_bytes(num);
	mem_len = (size_t)(data[12] | data[13] << 8);
	if (mem_len > size - HDR_SIZE)
		mem_len = size - HDR_SIZE;
	stub.rec = data + HDR_SIZE + mem_len;
	stub.rec_len = size - HDR_SIZE - mem_len;
	memset(guest, 0, ring_end > mem_len ? ring_end : mem_len);
	memcpy(guest, data + HDR_SIZE, mem_len);
	if (mem_len < ring_end)
		mem_len = ring_end;
	fuzz_guest_build(&g, guest, mem_len, ring_end, data[5], flags & 16);

	for (unsigned i = 0; i < sizeof(feature_bit) / sizeof(feature_bit[0]); i++)
		if ((data[1] | data[2] << 8) & 1u << i)
			features |= VNET_BIT(feature_bit[i]);
	features &= vnet_offered_features(1, &stub.be);

	memset(&dev, 0, sizeof(dev));
	dev.fd = -1;
	dev.name = "fuzz";
	dev.nvrings = 2;
	dev.features = features;
	if (ring_setup(0, num, rx_gpa, (uint16_t)(data[10] | data[11] << 8), features, !(flags & 2),
		       flags & 8) < 0 ||
	    ring_setup(1, num, 0, (uint16_t)(data[8] | data[9] << 8), features, !(flags & 1),
		       flags & 8) < 0)
		goto out;

	n = vnet_new(&dev, &stub.be);
	FUZZ_CHECK(n);
	FUZZ_CHECK(vnet_set_features(n, features) == 0);

	for (unsigned pass = 0; pass <= (unsigned)(flags >> 5); pass++) {
		if ((ops & (16 | 64)) == 16)
			rx_pass(n, flags & 4);
		tx_pass(n, flags & 4);
		if (!(ops & (16 | 64)))
			rx_pass(n, flags & 4);
		if (ops & 1)
			deliver(n, false, data[15] % 13, pass);
		if (ops & 2)
			deliver(n, true, data[15] % 13, pass);
		if (ops & 4) {
			uint64_t sent = stub.sent;
			int r = vnet_announce(n, mac);

			FUZZ_CHECK(r == 0 ? stub.sent == sent + 1 : r == -stub.fail_err);
			FUZZ_CHECK(vnet_announces(n) <= pass + 1);
			/* Not the guest's frame: out of the transmit accounting. */
			if (r == 0) {
				stub.sent--;
				stub.sent_bytes -= 60;
			}
		}
		if (ops & 8) {
			uint64_t mtu = 300ull * data[15] + pass;
			unsigned old = 0;
			int r = vnet_set_mtu(n, mtu, &old);

			FUZZ_CHECK(r ==
				   ((mtu >= VNET_MTU_MIN && mtu <= VNET_MTU_MAX) ? 0 : -EINVAL));
			FUZZ_CHECK(r < 0 ? old == 0 : old == 1500);
		}
		if (ops & 32) {
			uint64_t stale;

			vnet_stats_sum(n, &st);
			stale = st.rx_stale;
			unsigned k = vnet_rx_discard(n, 0);

			vnet_stats_sum(n, &st);
			FUZZ_CHECK(st.rx_stale == stale + k && k <= 4096);
		}
	}

	vnet_stats_sum(n, &st);
	FUZZ_CHECK(st.tx_packets == stub.sent && st.tx_bytes == stub.sent_bytes);
	FUZZ_CHECK(st.rx_oversize + st.rx_stale <= st.rx_dropped);

	vnet_free(n);
out:
	for (unsigned i = 0; i < dev.nvrings; i++)
		virtq_free(&dev.ring[i].vq);
	fuzz_guest_free(&g);
	fuzz_drain(call_fd);
	return 0;
}
