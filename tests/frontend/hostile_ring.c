// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Hostile guest rings: one malformed descriptor chain per case, on a fresh p0 connection.
 *
 * Each case first proves p0 works, then makes one malformed chain available and kicks. vhostd
 * must mark that ring broken: its SET_VRING_ERR eventfd fires, ring_faults goes up by exactly
 * one, the daemon stays alive and p1 (another port, connected for the whole run) still carries
 * traffic both ways.
 */
#include "tutil.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

enum { QSIZE = 64, PKT = 60 };

struct hr {
	struct t_env env;
	int tap[2];
	struct t_sess p1;
	uint32_t seq;
};

static struct hr hr;

/* One case: which ring must break and how to break it. */
struct hcase {
	const char *name;
	unsigned ring; /* 0 = RX, 1 = TX */
	void (*act)(struct t_sess *s);
};

/* Writes a zero header and a PKT-byte frame into the TX arena and returns its gpa. */
static uint64_t put_pkt(struct t_sess *s)
{
	uint64_t g = t_sess_arena(s, VUF_HDR_SIZE + PKT);
	uint8_t *p = vuf_mem_host(&s->mem, g, VUF_HDR_SIZE + PKT);

	memset(p, 0, VUF_HDR_SIZE);
	t_frame(p + VUF_HDR_SIZE, PKT, 0xdead, 0x66);
	return g;
}

/* Takes a free descriptor and fills it. */
static uint16_t desc(struct vuf_vq *vq, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	int d = vuf_vq_alloc_desc(vq);

	assert_true(d >= 0);
	vq->desc[d] = (struct vuf_desc){ .addr = addr, .len = len, .flags = flags, .next = next };
	return (uint16_t)d;
}

/* Publishes whatever avail->idx the test wrote (or our own index) and kicks, bypassing the
 * library's bookkeeping. */
static void push_kick(struct vuf_vq *vq, uint16_t head)
{
	vuf_vq_push(vq, head);
	assert_int_equal(vuf_vq_kick(vq), 0);
}

/* The tag of rx_provoke()'s frames. */
#define RX_PROVOKE_TAG 0x67

/* Kicks the RX ring and injects a frame on p0's tap so vhostd reaches for the bad buffer. */
static void rx_provoke(struct t_sess *s, uint16_t head)
{
	uint8_t f[100];

	push_kick(&s->rx, head);
	t_frame(f, sizeof(f), hr.seq++, RX_PROVOKE_TAG);
	assert_int_equal(t_pkt_send(hr.tap[0], f, sizeof(f)), 0);
}

/* avail->idx claims more new entries than the ring has. */
static void act_avail_jump(struct t_sess *s)
{
	uint64_t g = put_pkt(s);

	vuf_vq_push(&s->tx, desc(&s->tx, g, VUF_HDR_SIZE + PKT, 0, 0));
	__atomic_store_n(&s->tx.avail->idx, (uint16_t)(s->tx.avail_idx + QSIZE), __ATOMIC_RELEASE);
	{
		uint64_t one = 1;

		assert_int_equal(write(s->tx.kickfd, &one, sizeof(one)), sizeof(one));
	}
}

/* A head index equal to the ring size. */
static void act_head_oob(struct t_sess *s)
{
	push_kick(&s->tx, QSIZE);
}

/* A head index far beyond the ring size. */
static void act_head_oob_max(struct t_sess *s)
{
	push_kick(&s->tx, 0xffff);
}

/* A next index equal to the ring size. */
static void act_next_oob(struct t_sess *s)
{
	uint64_t g = put_pkt(s);

	push_kick(&s->tx, desc(&s->tx, g, VUF_HDR_SIZE, VUF_DESC_F_NEXT, QSIZE));
}

/* Two descriptors pointing at each other. */
static void act_loop(struct t_sess *s)
{
	uint64_t g = put_pkt(s);
	uint16_t a = desc(&s->tx, g, 36, VUF_DESC_F_NEXT, 0);
	uint16_t b = desc(&s->tx, g + 36, 36, VUF_DESC_F_NEXT, a);

	s->tx.desc[a].next = b;
	push_kick(&s->tx, a);
}

/* A descriptor whose next is itself. */
static void act_self_loop(struct t_sess *s)
{
	uint64_t g = put_pkt(s);
	uint16_t a = desc(&s->tx, g, 8, VUF_DESC_F_NEXT, 0);

	s->tx.desc[a].next = a;
	push_kick(&s->tx, a);
}

/* Allocates an indirect table of n entries in the arena. */
static struct vuf_desc *table(struct t_sess *s, unsigned n, uint64_t *ret_gpa)
{
	uint64_t g = t_sess_arena(s, 16ull * n);

	*ret_gpa = g;
	return vuf_mem_host(&s->mem, g, 16ull * n);
}

/* An indirect table whose entry is itself an indirect descriptor. */
static void act_nested_indirect(struct t_sess *s)
{
	uint64_t g = put_pkt(s), t1g, t2g;
	struct vuf_desc *t2 = table(s, 1, &t2g), *t1 = table(s, 1, &t1g);

	t2[0] = (struct vuf_desc){ .addr = g, .len = VUF_HDR_SIZE + PKT };
	t1[0] = (struct vuf_desc){ .addr = t2g, .len = 16, .flags = VUF_DESC_F_INDIRECT };
	push_kick(&s->tx, desc(&s->tx, t1g, 16, VUF_DESC_F_INDIRECT, 0));
}

/* An indirect table 24 bytes long. */
static void act_indirect_len_odd(struct t_sess *s)
{
	uint64_t g = put_pkt(s), tg;
	struct vuf_desc *t = table(s, 2, &tg);

	t[0] = (struct vuf_desc){
		.addr = g, .len = VUF_HDR_SIZE, .flags = VUF_DESC_F_NEXT, .next = 1
	};
	t[1] = (struct vuf_desc){ .addr = g + VUF_HDR_SIZE, .len = PKT };
	push_kick(&s->tx, desc(&s->tx, tg, 24, VUF_DESC_F_INDIRECT, 0));
}

/* An indirect table 0 bytes long. */
static void act_indirect_len_zero(struct t_sess *s)
{
	uint64_t g = put_pkt(s), tg;
	struct vuf_desc *t = table(s, 1, &tg);

	t[0] = (struct vuf_desc){ .addr = g, .len = VUF_HDR_SIZE + PKT };
	push_kick(&s->tx, desc(&s->tx, tg, 0, VUF_DESC_F_INDIRECT, 0));
}

/* INDIRECT and NEXT on the same descriptor. */
static void act_indirect_next(struct t_sess *s)
{
	uint64_t g = put_pkt(s), tg;
	struct vuf_desc *t = table(s, 1, &tg);
	uint16_t tail = desc(&s->tx, g, VUF_HDR_SIZE + PKT, 0, 0);

	t[0] = (struct vuf_desc){ .addr = g, .len = VUF_HDR_SIZE + PKT };
	push_kick(&s->tx, desc(&s->tx, tg, 16, VUF_DESC_F_INDIRECT | VUF_DESC_F_NEXT, tail));
}

/* An indirect table entry whose next leaves the table. */
static void act_indirect_next_oob(struct t_sess *s)
{
	uint64_t g = put_pkt(s), tg;
	struct vuf_desc *t = table(s, 2, &tg);

	t[0] = (struct vuf_desc){
		.addr = g, .len = VUF_HDR_SIZE, .flags = VUF_DESC_F_NEXT, .next = 2
	};
	t[1] = (struct vuf_desc){ .addr = g + VUF_HDR_SIZE, .len = PKT };
	push_kick(&s->tx, desc(&s->tx, tg, 32, VUF_DESC_F_INDIRECT, 0));
}

/* A device-writable descriptor on the TX ring. */
static void act_tx_writable(struct t_sess *s)
{
	uint64_t g = put_pkt(s), w = t_sess_arena(s, 64);
	uint16_t tail = desc(&s->tx, w, 64, VUF_DESC_F_WRITE, 0);

	push_kick(&s->tx, desc(&s->tx, g, VUF_HDR_SIZE + PKT, VUF_DESC_F_NEXT, tail));
}

/* A readable descriptor after a writable one on the RX ring. */
static void act_rx_readable_after_writable(struct t_sess *s)
{
	uint64_t g = t_sess_arena(s, 2048);
	uint16_t tail = desc(&s->rx, g + 1024, 1024, 0, 0);

	rx_provoke(s, desc(&s->rx, g, 1024, VUF_DESC_F_WRITE | VUF_DESC_F_NEXT, tail));
}

/* A buffer wholly above guest memory. */
static void act_addr_above(struct t_sess *s)
{
	push_kick(&s->tx,
		  desc(&s->tx, s->mem.gpa_base + s->mem.size + 0x100000, VUF_HDR_SIZE + PKT, 0, 0));
}

/* A buffer below guest memory (guest-physical 4 KiB, never mapped here). */
static void act_addr_below(struct t_sess *s)
{
	push_kick(&s->tx, desc(&s->tx, 0x1000, VUF_HDR_SIZE + PKT, 0, 0));
}

/* A buffer that starts inside guest memory and runs off its end. */
static void act_addr_partial(struct t_sess *s)
{
	push_kick(&s->tx,
		  desc(&s->tx, s->mem.gpa_base + s->mem.size - 8, VUF_HDR_SIZE + PKT, 0, 0));
}

/* A buffer whose end wraps around 2^64. */
static void act_addr_wrap(struct t_sess *s)
{
	push_kick(&s->tx, desc(&s->tx, UINT64_MAX - 15, VUF_HDR_SIZE + PKT, 0, 0));
}

/* An indirect table outside guest memory. */
static void act_table_outside(struct t_sess *s)
{
	push_kick(&s->tx, desc(&s->tx, s->mem.gpa_base + s->mem.size + 0x100000, 32,
			       VUF_DESC_F_INDIRECT, 0));
}

/* An RX buffer outside guest memory. */
static void act_rx_addr_outside(struct t_sess *s)
{
	rx_provoke(s, desc(&s->rx, s->mem.gpa_base + s->mem.size + 0x100000, 2048, VUF_DESC_F_WRITE,
			   0));
}

/* An RX head index beyond the ring. */
static void act_rx_head_oob(struct t_sess *s)
{
	rx_provoke(s, QSIZE + 3);
}

/* A 4096-segment chain (through an indirect table): far beyond the queue size of 64 and any
 * iovec bound. */
static void act_too_many_segments(struct t_sess *s)
{
	enum { N = 4096 };
	uint64_t data = t_sess_arena(s, N), tg;
	struct vuf_desc *t = table(s, N, &tg);
	uint8_t *p = vuf_mem_host(&s->mem, data, N);

	memset(p, 0, VUF_HDR_SIZE);
	t_frame(p + VUF_HDR_SIZE, N - VUF_HDR_SIZE, 0xbeef, 0x66);
	for (unsigned i = 0; i < N; i++)
		t[i] = (struct vuf_desc){ .addr = data + i,
					  .len = 1,
					  .flags = i + 1 < N ? VUF_DESC_F_NEXT : 0,
					  .next = (uint16_t)(i + 1 < N ? i + 1 : 0) };
	push_kick(&s->tx, desc(&s->tx, tg, 16 * N, VUF_DESC_F_INDIRECT, 0));
}

/* Sends one good frame guest -> p0's tap: the session is sane before we break it. */
static void tx_check(struct t_sess *s)
{
	uint8_t out[100], in[2048];
	int r;

	t_frame(out, sizeof(out), hr.seq, 0x65);
	assert_true(t_sess_tx(s, out, sizeof(out)) >= 0);
	r = t_pkt_recv(hr.tap[0], in, sizeof(in), T_TIMEOUT);
	if (r != (int)sizeof(out) || memcmp(in, out, sizeof(out)) != 0)
		fail_msg("p0 pre-check: a good TX frame did not reach the tap (%d)", r);
	assert_int_equal(t_sess_tx_drain(s, T_TIMEOUT), 0);
	hr.seq++;
}

/* The common shape of every case. */
static void run_case(void **state)
{
	const struct hcase *c = *state;
	struct t_opts o = { .qsize = QSIZE, .no_rx_post = c->ring == 0 };
	struct t_stats before, after;
	struct t_sess s;
	struct vuf_vq *vq;
	uint64_t cnt = 0;
	int r;

	assert_int_equal(t_sess_open(&s, hr.env.sock[0], &o), 0);
	vq = c->ring == 0 ? &s.rx : &s.tx;
	tx_check(&s);
	assert_int_equal(t_stats(hr.env.ctl, "p0", &before), 0);

	c->act(&s);

	r = vuf_eventfd_wait(vq->errfd, T_TIMEOUT, &cnt);
	if (r < 0) {
		t_stats(hr.env.ctl, "p0", &after);
		t_stats_print("p0", &after);
		fail_msg("%s: the err eventfd of ring %u was not signalled within %d ms", c->name,
			 c->ring, T_TIMEOUT);
	}
	r = t_stats_wait(hr.env.ctl, "p0", offsetof(struct t_stats, ring_faults),
			 before.ring_faults + 1, T_TIMEOUT, &after);
	assert_int_equal(r, 0);
	fprintf(stderr, "%s: err count %llu, p0 state=%s ring_faults %llu -> %llu\n", c->name,
		(unsigned long long)cnt, after.state, (unsigned long long)before.ring_faults,
		(unsigned long long)after.ring_faults);
	assert_int_equal(after.ring_faults - before.ring_faults, 1);
	assert_true(t_alive(hr.env.pid));
	assert_int_equal(t_traffic_check(&hr.p1, hr.tap[1], hr.seq, 0x71), 0);
	hr.seq += 2;
	t_sess_close(&s);
	t_pkt_drain(hr.tap[0]);
}

/* After all that, p0 still accepts a front-end and carries traffic. */
static void test_p0_recovers(void **state)
{
	struct t_sess s;

	(void)state;
	assert_int_equal(t_sess_open(&s, hr.env.sock[0], NULL), 0);
	/* Frames rx_provoke() injected for rings that broke first may still wait in the tap. */
	assert_int_equal(t_traffic_check_stale(&s, hr.tap[0], hr.seq, 0x72, RX_PROVOKE_TAG), 0);
	hr.seq += 2;
	t_sess_close(&s);
}

/* Opens both taps and a p1 session that lives through every case. */
static int setup(void **state)
{
	(void)state;
	t_env_load(&hr.env);
	hr.seq = 1;
	for (unsigned i = 0; i < 2; i++) {
		hr.tap[i] = t_pkt_open(hr.env.tap[i]);
		if (hr.tap[i] < 0) {
			t_fail("packet socket", hr.tap[i]);
			return -1;
		}
	}
	if (t_sess_open(&hr.p1, hr.env.sock[1], NULL) < 0)
		return -1;
	if (t_traffic_check(&hr.p1, hr.tap[1], 1000000, 0x70) < 0)
		return -1;
	return 0;
}

/* Closes the p1 session and the taps. */
static int teardown(void **state)
{
	(void)state;
	t_sess_close(&hr.p1);
	close(hr.tap[0]);
	close(hr.tap[1]);
	return 0;
}

#define CASE(ring, fn)                                                                             \
	{                                                                                          \
#fn, ring, fn                                                                      \
	}
static const struct hcase cases[] = {
	CASE(1, act_avail_jump),
	CASE(1, act_head_oob),
	CASE(1, act_head_oob_max),
	CASE(1, act_next_oob),
	CASE(1, act_loop),
	CASE(1, act_self_loop),
	CASE(1, act_nested_indirect),
	CASE(1, act_indirect_len_odd),
	CASE(1, act_indirect_len_zero),
	CASE(1, act_indirect_next),
	CASE(1, act_indirect_next_oob),
	CASE(1, act_tx_writable),
	CASE(0, act_rx_readable_after_writable),
	CASE(1, act_addr_above),
	CASE(1, act_addr_below),
	CASE(1, act_addr_partial),
	CASE(1, act_addr_wrap),
	CASE(1, act_table_outside),
	CASE(0, act_rx_addr_outside),
	CASE(0, act_rx_head_oob),
	CASE(1, act_too_many_segments),
};

/* One cmocka test per case, then the recovery check. */
int main(void)
{
	struct CMUnitTest tests[sizeof(cases) / sizeof(cases[0]) + 1];
	size_t n = sizeof(cases) / sizeof(cases[0]);

	for (size_t i = 0; i < n; i++) {
		tests[i] =
			(struct CMUnitTest)cmocka_unit_test_prestate(run_case, (void *)&cases[i]);
		tests[i].name = cases[i].name;
	}
	tests[n] = (struct CMUnitTest)cmocka_unit_test(test_p0_recovers);
	return _cmocka_run_group_tests("frontend-hostile-ring", tests, n + 1, setup, teardown);
}
