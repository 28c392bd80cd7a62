// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Packed virtqueues driven by our own front-end: p0 negotiates VIRTIO_F_RING_PACKED and this
 * program plays the driver side of virtio 1.x section 2.8 (descriptor ring with wrap counters,
 * driver and device event areas) by hand; p1, a split-ring port, stays connected throughout.
 *
 *   traffic        frames both ways over several laps of a ring whose size is not a power of
 *                  two, transmitted as one descriptor, as a chain and through indirect tables;
 *                  exact counts and contents on the tap and in the guest
 *   ring-state     GET_VRING_BASE after traffic answers both halves (avail and used slot with
 *                  their wrap counters); the rings restarted at those bases carry on
 *   suppression    the driver area at DISABLE: used entries arrive without a call; at ENABLE
 *                  every flush calls
 *   zero length    a zero-length buffer inside a chain adds nothing; a chain of only that is a
 *                  counted transmit error, not a ring fault
 *   hostile cases  one malformed chain each, on a fresh p0 connection: the ring's err eventfd
 *                  fires, ring_faults rises by exactly one, the daemon lives and p1 carries
 *                  traffic both ways
 */
#include "tutil.h"

#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cmocka.h>

enum {
	QSIZE = 50, /* packed rings need not be powers of two */
	NRX = 24,   /* receive buffers posted */
	SLOT = 2048,
	PKT = 60,
	MEM = 4 << 20,
};

#define F_NEXT	   1u
#define F_WRITE	   2u
#define F_INDIRECT 4u
#define F_AVAIL	   (1u << 7)
#define F_USED	   (1u << 15)
#define EV_ENABLE  0
#define EV_DISABLE 1

struct pdesc {
	uint64_t addr;
	uint32_t len;
	uint16_t id;
	uint16_t flags;
};
static_assert(sizeof(struct pdesc) == 16, "packed descriptor is 16 bytes");

struct pevent {
	uint16_t off_wrap;
	uint16_t flags;
};

/* The driver side of one packed ring. */
struct pq {
	unsigned index;
	struct pdesc *desc;
	struct pevent *drv, *dev;
	uint16_t avail, used; /* next slot to make available / to read used */
	bool avail_wrap, used_wrap;
	unsigned inflight;     /* descriptors the device holds */
	uint16_t ndesc[QSIZE]; /* per buffer id: descriptors its chain took */
	uint64_t buf[QSIZE];   /* per buffer id: the gpa of its (first) buffer */
	bool busy[QSIZE];
	int kickfd, callfd, errfd;
};

/* A packed session on p0. */
struct ps {
	struct vuf_conn conn;
	struct vuf_mem mem;
	struct pq rx, tx;
	uint64_t arena, arena_end, cur;
};

static struct {
	struct t_env env;
	int tap[2];
	struct t_sess p1;
	uint32_t seq;
} g;

/* Reserves len bytes (16-aligned) of the TX arena, wrapping at its end. */
static uint64_t arena(struct ps *s, uint64_t len)
{
	uint64_t at;

	len = (len + 15) & ~15ull;
	if (s->cur + len > s->arena_end)
		s->cur = s->arena;
	at = s->cur;
	s->cur += len;
	return at;
}

/* Flags that make a descriptor available in the lap with wrap counter w. */
static uint16_t avail_flags(bool w)
{
	return (uint16_t)(w ? F_AVAIL : F_USED);
}

/* A free buffer id, or -1. */
static int free_id(const struct pq *q)
{
	for (int i = 0; i < QSIZE; i++)
		if (!q->busy[i])
			return i;
	return -1;
}

/*
 * Makes a chain of n (addr, len, flags) descriptors available with buffer id `id`: the head's
 * flags are written last, with release, as the spec asks. xorf, when not NULL, is XORed into
 * each descriptor's final flags before any of it is visible (a test's way to break the rules).
 * Returns 0 or -ENOSPC.
 */
static int pq_post_x(struct pq *q, const struct pdesc *d, unsigned n, uint16_t id,
		     const uint16_t *xorf)
{
	uint16_t slot = q->avail, head_flags = 0;
	bool w = q->avail_wrap;

	if (q->inflight + n > QSIZE)
		return -ENOSPC;
	for (unsigned i = 0; i < n; i++) {
		uint16_t f = (uint16_t)(d[i].flags | avail_flags(w) | (i + 1 < n ? F_NEXT : 0));

		if (xorf)
			f ^= xorf[i];

		q->desc[slot].addr = d[i].addr;
		q->desc[slot].len = d[i].len;
		q->desc[slot].id = id;
		if (i == 0)
			head_flags = f;
		else
			q->desc[slot].flags = f;
		if (++slot == QSIZE) {
			slot = 0;
			w = !w;
		}
	}
	__atomic_store_n(&q->desc[q->avail].flags, head_flags, __ATOMIC_RELEASE);
	if (id < QSIZE) {
		q->busy[id] = true;
		q->ndesc[id] = (uint16_t)n;
		q->buf[id] = d[0].addr;
	}
	q->inflight += n;
	q->avail = slot;
	q->avail_wrap = w;
	return 0;
}

/* pq_post_x() without tampering. */
static int pq_post(struct pq *q, const struct pdesc *d, unsigned n, uint16_t id)
{
	return pq_post_x(q, d, n, id, NULL);
}

/* Kicks the ring. */
static void pq_kick(struct pq *q)
{
	uint64_t one = 1;

	assert_int_equal(write(q->kickfd, &one, sizeof(one)), sizeof(one));
}

/* Reads the next used entry if there is one: 1 with its id and length, or 0. */
static int pq_used(struct pq *q, uint16_t *ret_id, uint32_t *ret_len)
{
	uint16_t f = __atomic_load_n(&q->desc[q->used].flags, __ATOMIC_ACQUIRE), id;

	if (!!(f & F_AVAIL) != q->used_wrap || !!(f & F_USED) != q->used_wrap)
		return 0;
	id = q->desc[q->used].id;
	assert_true(id < QSIZE && q->busy[id]);
	*ret_id = id;
	*ret_len = q->desc[q->used].len;
	q->busy[id] = false;
	q->inflight -= q->ndesc[id];
	q->used = (uint16_t)(q->used + q->ndesc[id]);
	if (q->used >= QSIZE) {
		q->used -= QSIZE;
		q->used_wrap = !q->used_wrap;
	}
	return 1;
}

/* Waits up to T_TIMEOUT for the next used entry (polling the ring; the call fd may be off). */
static int pq_wait_used(struct pq *q, uint16_t *ret_id, uint32_t *ret_len)
{
	for (int i = 0; i < T_TIMEOUT; i++) {
		if (pq_used(q, ret_id, ret_len))
			return 0;
		usleep(1000);
	}
	return -ETIMEDOUT;
}

/* Lays out ring index in guest memory and makes its eventfds. */
static void pq_init(struct ps *s, struct pq *q, unsigned index)
{
	memset(q, 0, sizeof(*q));
	q->index = index;
	q->desc = vuf_mem_alloc(&s->mem, 16 * QSIZE, 16);
	q->drv = vuf_mem_alloc(&s->mem, sizeof(struct pevent), 4);
	q->dev = vuf_mem_alloc(&s->mem, sizeof(struct pevent), 4);
	assert_non_null(q->desc);
	assert_non_null(q->drv);
	assert_non_null(q->dev);
	q->avail_wrap = q->used_wrap = true;
	q->kickfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	q->callfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	q->errfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	assert_true(q->kickfd >= 0 && q->callfd >= 0 && q->errfd >= 0);
}

/* NUM, BASE, ADDR, ERR, CALL, KICK, ENABLE for ring q, starting at `base`. */
static void pq_start(struct ps *s, struct pq *q, uint32_t base)
{
	struct vuf_addr a = { .index = q->index,
			      .desc = (uint64_t)(uintptr_t)q->desc,
			      .avail = (uint64_t)(uintptr_t)q->drv,
			      .used = (uint64_t)(uintptr_t)q->dev };

	assert_int_equal(vuf_set_state(&s->conn, VUF_SET_VRING_NUM, q->index, QSIZE), 0);
	assert_int_equal(vuf_set_state(&s->conn, VUF_SET_VRING_BASE, q->index, base), 0);
	assert_int_equal(vuf_set(&s->conn, VUF_SET_VRING_ADDR, &a, sizeof(a), NULL, 0), 0);
	assert_int_equal(vuf_set_vring_fd(&s->conn, VUF_SET_VRING_ERR, q->index, q->errfd), 0);
	assert_int_equal(vuf_set_vring_fd(&s->conn, VUF_SET_VRING_CALL, q->index, q->callfd), 0);
	assert_int_equal(vuf_set_vring_fd(&s->conn, VUF_SET_VRING_KICK, q->index, q->kickfd), 0);
	assert_int_equal(vuf_set_state(&s->conn, VUF_SET_VRING_ENABLE, q->index, 1), 0);
}

/* Posts receive buffer id `id` (one writable SLOT-byte descriptor). */
static void rx_post(struct ps *s, uint16_t id)
{
	struct pdesc d = { .addr = s->mem.gpa_base + (1u << 20) + (uint64_t)id * SLOT,
			   .len = SLOT,
			   .flags = F_WRITE };

	assert_int_equal(pq_post(&s->rx, &d, 1, id), 0);
}

/* Connects p0 with packed rings; `rx` posts the receive buffers. */
static void ps_open(struct ps *s, bool rx)
{
	memset(s, 0, sizeof(*s));
	assert_int_equal(vuf_connect(&s->conn, g.env.sock[0], T_TIMEOUT), 0);
	assert_int_equal(
		vuf_negotiate(&s->conn, T_FEATURES | VUF_BIT(VUF_F_RING_PACKED), T_PFEATURES), 0);
	assert_true(s->conn.features & VUF_BIT(VUF_F_RING_PACKED));
	assert_int_equal(vuf_mem_init(&s->mem, MEM, T_GPA_BASE), 0);
	assert_int_equal(vuf_set_mem_table(&s->conn, &s->mem), 0);
	pq_init(s, &s->rx, 0);
	pq_init(s, &s->tx, 1);
	s->arena = s->mem.gpa_base + (2u << 20);
	s->arena_end = s->mem.gpa_base + MEM;
	s->cur = s->arena;
	pq_start(s, &s->rx, 0x8000);
	pq_start(s, &s->tx, 0x8000);
	if (rx) {
		for (uint16_t i = 0; i < NRX; i++)
			rx_post(s, i);
		pq_kick(&s->rx);
	}
}

/* Closes p0's connection and frees everything. */
static void ps_close(struct ps *s)
{
	struct pq *qs[2] = { &s->rx, &s->tx };

	vuf_close(&s->conn);
	for (unsigned i = 0; i < 2; i++) {
		close(qs[i]->kickfd);
		close(qs[i]->callfd);
		close(qs[i]->errfd);
	}
	vuf_mem_free(&s->mem);
	t_pkt_drain(g.tap[0]);
}

/* Writes a zero virtio-net header and frame (seq, tag) into the arena; returns its gpa. */
static uint64_t put_frame(struct ps *s, size_t len, uint32_t seq, uint8_t tag)
{
	uint64_t at = arena(s, VUF_HDR_SIZE + len);
	uint8_t *p = vuf_mem_host(&s->mem, at, VUF_HDR_SIZE + len);

	memset(p, 0, VUF_HDR_SIZE);
	t_frame(p + VUF_HDR_SIZE, len, seq, tag);
	return at;
}

/* Transmits one frame laid out as `shape` (0: one descriptor, 1: header and frame chained,
 * 2: an indirect table of three pieces) and checks it on the tap, byte for byte. */
static void tx_one(struct ps *s, unsigned shape, size_t len, uint32_t seq)
{
	uint64_t at = put_frame(s, len, seq, 0x50);
	uint8_t want[SLOT], got[SLOT];
	struct pdesc d[3];
	int id = free_id(&s->tx), r;
	uint16_t uid;
	uint32_t ulen;

	assert_true(id >= 0);
	if (shape == 0) {
		d[0] = (struct pdesc){ .addr = at, .len = (uint32_t)(VUF_HDR_SIZE + len) };
		assert_int_equal(pq_post(&s->tx, d, 1, (uint16_t)id), 0);
	} else if (shape == 1) {
		d[0] = (struct pdesc){ .addr = at, .len = VUF_HDR_SIZE };
		d[1] = (struct pdesc){ .addr = at + VUF_HDR_SIZE, .len = (uint32_t)len };
		assert_int_equal(pq_post(&s->tx, d, 2, (uint16_t)id), 0);
	} else {
		uint64_t tg = arena(s, 3 * sizeof(struct pdesc));
		struct pdesc *t = vuf_mem_host(&s->mem, tg, 3 * sizeof(struct pdesc));

		t[0] = (struct pdesc){ .addr = at, .len = VUF_HDR_SIZE };
		t[1] = (struct pdesc){ .addr = at + VUF_HDR_SIZE, .len = 20 };
		t[2] = (struct pdesc){ .addr = at + VUF_HDR_SIZE + 20, .len = (uint32_t)len - 20 };
		d[0] = (struct pdesc){ .addr = tg,
				       .len = 3 * sizeof(struct pdesc),
				       .flags = F_INDIRECT };
		assert_int_equal(pq_post(&s->tx, d, 1, (uint16_t)id), 0);
	}
	pq_kick(&s->tx);
	t_frame(want, len, seq, 0x50);
	r = t_pkt_recv(g.tap[0], got, sizeof(got), T_TIMEOUT);
	assert_int_equal(r, (int)len);
	assert_memory_equal(got, want, len);
	assert_int_equal(pq_wait_used(&s->tx, &uid, &ulen), 0);
	assert_int_equal(uid, id);
}

/* Injects one frame on p0's tap and checks it in the guest; re-posts the buffer. */
static void rx_one(struct ps *s, size_t len, uint32_t seq)
{
	uint8_t want[SLOT];
	uint16_t id;
	uint32_t ulen;
	const uint8_t *p;

	t_frame(want, len, seq, 0x51);
	assert_int_equal(t_pkt_send(g.tap[0], want, len), 0);
	assert_int_equal(pq_wait_used(&s->rx, &id, &ulen), 0);
	assert_int_equal(ulen, VUF_HDR_SIZE + len);
	p = vuf_mem_host(&s->mem, s->rx.buf[id], ulen);
	assert_non_null(p);
	assert_int_equal(p[10] | p[11] << 8, 1); /* num_buffers */
	assert_memory_equal(p + VUF_HDR_SIZE, want, len);
	rx_post(s, id);
	pq_kick(&s->rx);
}

/* Frames both ways over several laps; exact counters. */
static void test_traffic(void **state)
{
	struct t_stats before, after;
	struct ps s;
	unsigned n = 3 * QSIZE;

	(void)state;
	ps_open(&s, true);
	assert_int_equal(t_stats(g.env.ctl, "p0", &before), 0);
	for (unsigned i = 0; i < n; i++) {
		tx_one(&s, i % 3, PKT + i % 7, g.seq++);
		rx_one(&s, PKT + i % 5, g.seq++);
	}
	assert_int_equal(t_stats_wait(g.env.ctl, "p0", offsetof(struct t_stats, rx_packets),
				      before.rx_packets + n, T_TIMEOUT, &after),
			 0);
	assert_int_equal(after.tx_packets - before.tx_packets, n);
	assert_int_equal(after.rx_packets - before.rx_packets, n);
	assert_int_equal(after.ring_faults, before.ring_faults);
	ps_close(&s);
}

/* The base GET_VRING_BASE answers for q once every chain came back: the avail and used halves
 * (slot | wrap << 15 each) as QEMU encodes them. */
static uint32_t want_base(const struct pq *q)
{
	/* vhostd has used all it took (receive buffers beyond are still ours to repost). */
	uint32_t used = q->used | (uint32_t)q->used_wrap << 15;

	return used | used << 16;
}

/* GET_VRING_BASE after traffic and a restart at the bases it returned. */
static void test_ring_state(void **state)
{
	struct ps s;
	uint32_t base[2];
	struct pq *qs[2];

	(void)state;
	ps_open(&s, true);
	qs[0] = &s.rx;
	qs[1] = &s.tx;
	for (unsigned i = 0; i < QSIZE + 7; i++) { /* past one wrap, mid-lap */
		tx_one(&s, i % 2, PKT, g.seq++);
		rx_one(&s, PKT, g.seq++);
	}
	for (unsigned i = 0; i < 2; i++) {
		assert_int_equal(vuf_get_vring_base(&s.conn, qs[i]->index, &base[i]), 0);
		fprintf(stderr, "ring %u: base 0x%08x (want 0x%08x)\n", i, base[i],
			want_base(qs[i]));
		assert_int_equal(base[i], want_base(qs[i]));
	}
	assert_false(base[1] & 0x8000); /* the TX ring is in its second lap */
	for (unsigned i = 0; i < 2; i++)
		pq_start(&s, qs[i], base[i]);
	for (unsigned i = 0; i < 5; i++) {
		tx_one(&s, 2, PKT, g.seq++);
		rx_one(&s, PKT, g.seq++);
	}
	ps_close(&s);
}

/* Drains an eventfd; returns its count (0 when it was not signalled). */
static uint64_t drain(int fd)
{
	uint64_t v = 0;

	if (read(fd, &v, sizeof(v)) < 0)
		return 0;
	return v;
}

/* The driver area at DISABLE: no calls; at ENABLE: a call per flush. */
static void test_suppression(void **state)
{
	struct ps s;

	(void)state;
	ps_open(&s, true);
	tx_one(&s, 0, PKT, g.seq++); /* the first flush after a start always calls */
	drain(s.tx.callfd);
	__atomic_store_n(&s.tx.drv->flags, EV_DISABLE, __ATOMIC_SEQ_CST);
	for (unsigned i = 0; i < 10; i++)
		tx_one(&s, i % 3, PKT, g.seq++);
	assert_int_equal(drain(s.tx.callfd), 0);
	__atomic_store_n(&s.tx.drv->flags, EV_ENABLE, __ATOMIC_SEQ_CST);
	tx_one(&s, 0, PKT, g.seq++);
	{
		uint64_t cnt = 0;

		assert_int_equal(vuf_eventfd_wait(s.tx.callfd, T_TIMEOUT, &cnt), 0);
		assert_true(cnt >= 1);
	}
	ps_close(&s);
}

/*
 * Zero-length buffers: inside a chain one adds nothing (the frame arrives whole); a chain of
 * nothing but a zero-length buffer is a frame shorter than its header, counted in tx_errors
 * and handed back, and the ring carries on (no fault: the guest broke no ring rule).
 */
static void test_zero_length(void **state)
{
	struct t_stats before, after;
	uint8_t want[PKT], got[SLOT];
	struct ps s;
	uint64_t at;
	uint16_t id;
	uint32_t len;

	(void)state;
	ps_open(&s, true);
	assert_int_equal(t_stats(g.env.ctl, "p0", &before), 0);
	at = put_frame(&s, PKT, g.seq, 0x50);
	{
		struct pdesc d[3] = { { .addr = at, .len = VUF_HDR_SIZE },
				      { .addr = at + VUF_HDR_SIZE, .len = 0 },
				      { .addr = at + VUF_HDR_SIZE, .len = PKT } };

		assert_int_equal(pq_post(&s.tx, d, 3, 4), 0);
	}
	pq_kick(&s.tx);
	t_frame(want, PKT, g.seq++, 0x50);
	assert_int_equal(t_pkt_recv(g.tap[0], got, sizeof(got), T_TIMEOUT), PKT);
	assert_memory_equal(got, want, PKT);
	assert_int_equal(pq_wait_used(&s.tx, &id, &len), 0);
	assert_int_equal(id, 4);
	{
		struct pdesc d = { .addr = arena(&s, 16), .len = 0 };

		assert_int_equal(pq_post(&s.tx, &d, 1, 5), 0);
	}
	pq_kick(&s.tx);
	assert_int_equal(pq_wait_used(&s.tx, &id, &len), 0);
	assert_int_equal(id, 5);
	assert_int_equal(t_stats_wait(g.env.ctl, "p0", offsetof(struct t_stats, tx_errors),
				      before.tx_errors + 1, T_TIMEOUT, &after),
			 0);
	assert_int_equal(after.tx_errors - before.tx_errors, 1);
	assert_int_equal(after.ring_faults, before.ring_faults);
	tx_one(&s, 1, PKT, g.seq++);
	ps_close(&s);
}

/* ---- hostile chains: each must break its ring, and only it ---- */

/* A descriptor of PKT bytes of a fresh frame, flags as given. */
static struct pdesc frame_desc(struct ps *s, uint16_t flags)
{
	return (struct pdesc){ .addr = put_frame(s, PKT, g.seq++, 0x52),
			       .len = VUF_HDR_SIZE + PKT,
			       .flags = flags };
}

/*
 * Every descriptor of the ring chained to the next, the last one too: the chain runs past a
 * whole ring into its own head, whose wrap bits then belong to the previous lap.
 */
static void act_chain_longer_than_ring(struct ps *s)
{
	struct pdesc d[QSIZE];
	uint16_t xorf[QSIZE] = { 0 };

	for (unsigned i = 0; i < QSIZE; i++)
		d[i] = (struct pdesc){ .addr = put_frame(s, 18, g.seq++, 0x52), .len = 30 };
	/* The last descriptor says NEXT too: the chain runs on past a whole ring. */
	xorf[QSIZE - 1] = F_NEXT;
	assert_int_equal(pq_post_x(&s->tx, d, QSIZE, 0, xorf), 0);
	pq_kick(&s->tx);
}

/* The second descriptor of a chain carries the wrap bits of the other lap. */
static void act_wrap_disagrees(struct ps *s)
{
	struct pdesc d[2] = { frame_desc(s, 0), frame_desc(s, 0) };
	const uint16_t xorf[2] = { 0, F_AVAIL | F_USED };

	assert_int_equal(pq_post_x(&s->tx, d, 2, 0, xorf), 0);
	pq_kick(&s->tx);
}

/* A buffer id equal to the ring size. */
static void act_id_out_of_range(struct ps *s)
{
	struct pdesc d = frame_desc(s, 0);

	assert_int_equal(pq_post(&s->tx, &d, 1, QSIZE), 0);
	pq_kick(&s->tx);
}

/*
 * Two receive buffers with the same id: vhostd takes receive chains until they could hold the
 * largest frame the tap may give (mergeable), so it takes the second while the first is in
 * flight.
 */
static void act_id_reused_in_flight(struct ps *s)
{
	uint8_t f[100];

	rx_post(s, 7);
	s->rx.busy[7] = false; /* let the same id go out again */
	rx_post(s, 7);
	pq_kick(&s->rx);
	t_frame(f, sizeof(f), g.seq++, 0x53);
	assert_int_equal(t_pkt_send(g.tap[0], f, sizeof(f)), 0);
}

/* An indirect table holding an indirect descriptor. */
static void act_nested_indirect(struct ps *s)
{
	uint64_t tg = arena(s, 16), t2g = arena(s, 16);
	struct pdesc *t = vuf_mem_host(&s->mem, tg, 16), *t2 = vuf_mem_host(&s->mem, t2g, 16);
	struct pdesc d = { .addr = tg, .len = 16, .flags = F_INDIRECT };

	*t2 = frame_desc(s, 0);
	*t = (struct pdesc){ .addr = t2g, .len = 16, .flags = F_INDIRECT };
	assert_int_equal(pq_post(&s->tx, &d, 1, 0), 0);
	pq_kick(&s->tx);
}

/* An indirect descriptor as the second element of a chain. */
static void act_indirect_in_chain(struct ps *s)
{
	uint64_t tg = arena(s, 16);
	struct pdesc *t = vuf_mem_host(&s->mem, tg, 16);
	struct pdesc d[2] = { { .addr = put_frame(s, PKT, g.seq++, 0x52), .len = VUF_HDR_SIZE },
			      { .addr = tg, .len = 16, .flags = F_INDIRECT } };

	*t = frame_desc(s, 0);
	assert_int_equal(pq_post(&s->tx, d, 2, 0), 0);
	pq_kick(&s->tx);
}

/* An indirect table 24 bytes long. */
static void act_indirect_len_odd(struct ps *s)
{
	uint64_t tg = arena(s, 32);
	struct pdesc *t = vuf_mem_host(&s->mem, tg, 32);
	struct pdesc d = { .addr = tg, .len = 24, .flags = F_INDIRECT };

	t[0] = frame_desc(s, 0);
	assert_int_equal(pq_post(&s->tx, &d, 1, 0), 0);
	pq_kick(&s->tx);
}

/* An indirect table 0 bytes long. */
static void act_indirect_len_zero(struct ps *s)
{
	struct pdesc d = { .addr = arena(s, 16), .len = 0, .flags = F_INDIRECT };

	assert_int_equal(pq_post(&s->tx, &d, 1, 0), 0);
	pq_kick(&s->tx);
}

/* A buffer beyond the end of guest memory. */
static void act_buffer_outside(struct ps *s)
{
	struct pdesc d = { .addr = s->mem.gpa_base + MEM + 4096, .len = VUF_HDR_SIZE + PKT };

	assert_int_equal(pq_post(&s->tx, &d, 1, 0), 0);
	pq_kick(&s->tx);
}

/* A readable descriptor after a writable one in a receive chain. */
static void act_rx_readable_after_writable(struct ps *s)
{
	uint8_t f[100];
	struct pdesc d[2] = { { .addr = s->mem.gpa_base + (1u << 20), .len = 64, .flags = F_WRITE },
			      { .addr = s->mem.gpa_base + (1u << 20) + 64, .len = 2000 } };

	assert_int_equal(pq_post(&s->rx, d, 2, 0), 0);
	pq_kick(&s->rx);
	t_frame(f, sizeof(f), g.seq++, 0x53);
	assert_int_equal(t_pkt_send(g.tap[0], f, sizeof(f)), 0);
}

struct hcase {
	const char *name;
	unsigned ring; /* 0 = RX, 1 = TX */
	bool rx_post;  /* post the usual receive buffers first */
	void (*act)(struct ps *s);
};

/* The common shape of every hostile case. */
static void run_case(void **state)
{
	const struct hcase *c = *state;
	struct t_stats before, after;
	struct ps s;
	uint64_t cnt = 0;
	int r;

	ps_open(&s, c->rx_post);
	tx_one(&s, 0, PKT, g.seq++); /* p0 works before the case */
	assert_int_equal(t_stats(g.env.ctl, "p0", &before), 0);
	c->act(&s);
	r = vuf_eventfd_wait(c->ring ? s.tx.errfd : s.rx.errfd, T_TIMEOUT, &cnt);
	if (r < 0) {
		t_stats(g.env.ctl, "p0", &after);
		t_stats_print("p0", &after);
		fail_msg("%s: the err eventfd of ring %u was not signalled", c->name, c->ring);
	}
	assert_int_equal(t_stats_wait(g.env.ctl, "p0", offsetof(struct t_stats, ring_faults),
				      before.ring_faults + 1, T_TIMEOUT, &after),
			 0);
	fprintf(stderr, "%s: ring_faults %llu -> %llu\n", c->name,
		(unsigned long long)before.ring_faults, (unsigned long long)after.ring_faults);
	assert_int_equal(after.ring_faults - before.ring_faults, 1);
	assert_true(t_alive(g.env.pid));
	assert_int_equal(t_traffic_check(&g.p1, g.tap[1], g.seq, 0x54), 0);
	g.seq += 2;
	ps_close(&s);
}

/* After all that, p0 takes a packed front-end again and carries traffic. */
static void test_p0_recovers(void **state)
{
	struct ps s;

	(void)state;
	ps_open(&s, true);
	t_pkt_drain(g.tap[0]);
	tx_one(&s, 1, PKT, g.seq++);
	rx_one(&s, PKT, g.seq++);
	ps_close(&s);
}

/* Opens both taps and the p1 session that lives through every case. */
static int setup(void **state)
{
	(void)state;
	t_env_load(&g.env);
	g.seq = 1;
	for (unsigned i = 0; i < 2; i++) {
		g.tap[i] = t_pkt_open(g.env.tap[i]);
		if (g.tap[i] < 0) {
			t_fail("packet socket", g.tap[i]);
			return -1;
		}
	}
	if (t_sess_open(&g.p1, g.env.sock[1], NULL) < 0)
		return -1;
	return t_traffic_check(&g.p1, g.tap[1], 1000000, 0x55) < 0 ? -1 : 0;
}

/* Closes the p1 session and the taps. */
static int teardown(void **state)
{
	(void)state;
	t_sess_close(&g.p1);
	close(g.tap[0]);
	close(g.tap[1]);
	return 0;
}

#define CASE(ring, post, fn)                                                                       \
	{                                                                                          \
#fn, ring, post, fn                                                                \
	}
static const struct hcase cases[] = {
	CASE(1, true, act_chain_longer_than_ring), CASE(1, true, act_wrap_disagrees),
	CASE(1, true, act_id_out_of_range),	   CASE(0, false, act_id_reused_in_flight),
	CASE(1, true, act_nested_indirect),	   CASE(1, true, act_indirect_in_chain),
	CASE(1, true, act_indirect_len_odd),	   CASE(1, true, act_indirect_len_zero),
	CASE(1, true, act_buffer_outside),	   CASE(0, false, act_rx_readable_after_writable),
};

/* The data-path cases, one cmocka test per hostile case, then the recovery check. */
int main(void)
{
	enum { NCASES = sizeof(cases) / sizeof(cases[0]) };
	enum { NFIRST = 4 };
	struct CMUnitTest tests[NFIRST + NCASES + 1] = {
		cmocka_unit_test(test_traffic),
		cmocka_unit_test(test_ring_state),
		cmocka_unit_test(test_suppression),
		cmocka_unit_test(test_zero_length),
	};

	for (size_t i = 0; i < NCASES; i++) {
		tests[NFIRST + i] =
			(struct CMUnitTest)cmocka_unit_test_prestate(run_case, (void *)&cases[i]);
		tests[NFIRST + i].name = cases[i].name;
	}
	tests[NFIRST + NCASES] = (struct CMUnitTest)cmocka_unit_test(test_p0_recovers);
	return _cmocka_run_group_tests("frontend-packed", tests, NFIRST + NCASES + 1, setup,
				       teardown);
}
