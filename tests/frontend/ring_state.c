// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The ring state machine of vhost-user, on p0 (mode=server):
 * - without PROTOCOL_FEATURES rings start enabled on their first kick;
 * - with it they start disabled: a disabled TX ring consumes and drops (tx_dropped), a disabled
 *   RX ring supplies nothing; SET_VRING_ENABLE 1 starts traffic, 0 stops it again;
 * - GET_VRING_BASE stops a ring and returns the next avail index; the ring restarts there;
 * - after a disconnect the port waits for the next front-end, and rings may start at any base
 *   (65500 here, so indices wrap during the test);
 * - ADD_MEM_REG up to GET_MAX_MEM_SLOTS regions, traffic through the last one, REM_MEM_REG
 *   really forgets a region, and one region too many is refused.
 * After each case the daemon must be alive and p1 must carry traffic both ways.
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
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

struct rs {
	struct t_env env;
	int tap[2];
	struct t_sess p1;
	uint32_t seq;
};

static struct rs rs;

/* A short window for things that must NOT happen: there is no event for absence. */
#define QUIET_MS 400

/* Sends one frame guest -> p0 tap and checks it is the next frame the tap sees. */
static void tx_expect(struct t_sess *s, uint32_t len, const char *what)
{
	uint8_t out[1514], in[2048];
	int r;

	t_frame(out, len, rs.seq++, 0x90);
	assert_true(t_sess_tx(s, out, len) >= 0);
	r = t_pkt_recv(rs.tap[0], in, sizeof(in), T_TIMEOUT);
	if (r < 0)
		fail_msg("%s: TX frame seq %u never reached the tap", what, rs.seq - 1);
	if ((uint32_t)r != len || memcmp(in, out, len) != 0)
		fail_msg("%s: tap got %d bytes seq %u, want %u bytes seq %u", what, r,
			 r >= 18 ? t_frame_seq(in) : 0, len, rs.seq - 1);
	assert_int_equal(t_sess_tx_drain(s, T_TIMEOUT), 0);
}

/* Injects one frame on p0's tap and checks the guest receives exactly it. */
static void rx_expect(struct t_sess *s, uint32_t len, const char *what)
{
	uint8_t out[1514], in[2048];
	struct vuf_rx_pkt p;
	int r;

	t_frame(out, len, rs.seq++, 0x91);
	assert_int_equal(t_pkt_send(rs.tap[0], out, len), 0);
	r = t_sess_rx(s, in, sizeof(in), &p, T_TIMEOUT);
	if (r < 0)
		fail_msg("%s: injected frame seq %u never reached the guest: %s", what, rs.seq - 1,
			 strerror(-r));
	if ((uint32_t)r != len || memcmp(in, out, len) != 0)
		fail_msg("%s: guest got %d bytes seq %u, want %u bytes seq %u", what, r,
			 r >= 18 ? t_frame_seq(in) : 0, len, rs.seq - 1);
}

/* Milliseconds on the monotonic clock. */
static int64_t ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Polls p0's state until it reads want (state changes have no event). */
static void wait_state(const char *want)
{
	int64_t deadline = ms() + T_TIMEOUT;
	struct t_stats st;

	for (;;) {
		assert_int_equal(t_stats(rs.env.ctl, "p0", &st), 0);
		if (strcmp(st.state, want) == 0)
			return;
		if (ms() > deadline)
			fail_msg("p0 state is %s, want %s", st.state, want);
		usleep(10 * 1000);
	}
}

/* Without PROTOCOL_FEATURES, a kick alone starts the rings. */
static void test_no_protocol_features(void **state)
{
	struct t_opts o = { .no_protocol = true };
	struct t_sess s;

	(void)state;
	assert_int_equal(t_sess_open(&s, rs.env.sock[0], &o), 0);
	assert_false(s.conn.features & VUF_BIT(VUF_F_PROTOCOL_FEATURES));
	tx_expect(&s, 200, "no PROTOCOL_FEATURES");
	rx_expect(&s, 300, "no PROTOCOL_FEATURES");
	wait_state("connected");
	t_sess_close(&s);
}

/* The fewest features: no EVENT_IDX (flag-based notification), no MRG_RXBUF (num_buffers must be
 * 1), no INDIRECT_DESC. */
static void test_minimal_features(void **state)
{
	struct t_opts o = { .features =
				    VUF_BIT(VUF_F_VERSION_1) | VUF_BIT(VUF_F_PROTOCOL_FEATURES) };
	uint8_t out[1514], in[2048];
	struct vuf_rx_pkt p;
	struct t_sess s;
	int r;

	(void)state;
	assert_int_equal(t_sess_open(&s, rs.env.sock[0], &o), 0);
	assert_int_equal(s.conn.features, o.features);
	for (unsigned i = 0; i < 20; i++)
		tx_expect(&s, 60 + i * 70, "minimal features");
	for (unsigned i = 0; i < 20; i++) {
		uint32_t len = 60 + i * 70;

		t_frame(out, len, rs.seq++, 0x9a);
		assert_int_equal(t_pkt_send(rs.tap[0], out, len), 0);
		r = t_sess_rx(&s, in, sizeof(in), &p, T_TIMEOUT);
		if (r < 0)
			fail_msg("minimal features: RX %u: %s", i, strerror(-r));
		if ((uint32_t)r != len || memcmp(in, out, len) != 0)
			fail_msg("minimal features: RX %u got %d bytes, want %u", i, r, len);
		if (p.hdr.num_buffers != 1)
			fail_msg("without MRG_RXBUF num_buffers must be 1, got %u",
				 p.hdr.num_buffers);
	}
	t_sess_close(&s);
}

/* With PROTOCOL_FEATURES rings start disabled until SET_VRING_ENABLE 1. */
static void test_start_disabled(void **state)
{
	struct t_opts o = { .no_enable = true };
	struct t_stats b, a;
	uint8_t fa[300], fb[400], in[2048];
	struct vuf_rx_pkt p;
	uint32_t seq_a, seq_b;
	struct t_sess s;
	bool saw_a = false;
	int r;

	(void)state;
	assert_int_equal(t_sess_open(&s, rs.env.sock[0], &o), 0);
	assert_true(s.conn.features & VUF_BIT(VUF_F_PROTOCOL_FEATURES));
	assert_int_equal(t_stats(rs.env.ctl, "p0", &b), 0);

	/* Disabled TX: consumed and dropped. */
	for (unsigned i = 0; i < 5; i++) {
		uint8_t f[100];

		t_frame(f, sizeof(f), rs.seq++, 0x92);
		assert_true(t_sess_tx(&s, f, sizeof(f)) >= 0);
	}
	r = t_sess_tx_drain(&s, T_TIMEOUT);
	if (r < 0)
		fail_msg("a disabled TX ring must still consume its buffers: %s", strerror(-r));
	assert_int_equal(t_stats_wait(rs.env.ctl, "p0", offsetof(struct t_stats, tx_dropped),
				      b.tx_dropped + 5, T_TIMEOUT, &a),
			 0);
	t_stats_print("after 5 frames on a disabled TX ring", &a);
	assert_int_equal(a.tx_dropped - b.tx_dropped, 5);
	assert_int_equal(a.tx_packets - b.tx_packets, 0);

	/* Disabled RX: a frame on the tap must not be put into guest buffers. */
	seq_a = rs.seq++;
	t_frame(fa, sizeof(fa), seq_a, 0x93);
	assert_int_equal(t_pkt_send(rs.tap[0], fa, sizeof(fa)), 0);
	r = vuf_vq_wait(&s.rx, QUIET_MS);
	if (r != -ETIMEDOUT)
		fail_msg("a disabled RX ring supplied a buffer (used idx moved)");
	assert_int_equal(t_stats(rs.env.ctl, "p0", &a), 0);
	assert_int_equal(a.rx_packets - b.rx_packets, 0);

	/* Enable both: traffic flows, and nothing from the disabled period leaks out. */
	seq_b = rs.seq++;
	assert_int_equal(vuf_set_state(&s.conn, VUF_SET_VRING_ENABLE, 0, 1), 0);
	assert_int_equal(vuf_set_state(&s.conn, VUF_SET_VRING_ENABLE, 1, 1), 0);
	tx_expect(&s, 120, "first frame after SET_VRING_ENABLE 1 (dropped frames must not follow)");
	t_frame(fb, sizeof(fb), seq_b, 0x93);
	assert_int_equal(t_pkt_send(rs.tap[0], fb, sizeof(fb)), 0);
	for (;;) {
		r = t_sess_rx(&s, in, sizeof(in), &p, T_TIMEOUT);
		if (r < 0)
			fail_msg("RX after SET_VRING_ENABLE 1: %s", strerror(-r));
		if (r == sizeof(fa) && memcmp(in, fa, sizeof(fa)) == 0 && !saw_a) {
			saw_a = true; /* held in the tap while disabled, delivered now: fine */
			continue;
		}
		if (r != sizeof(fb) || memcmp(in, fb, sizeof(fb)) != 0)
			fail_msg("RX after enable: got %d bytes seq %u, want %zu bytes seq %u", r,
				 r >= 18 ? t_frame_seq(in) : 0, sizeof(fb), seq_b);
		break;
	}

	/* Disable TX again: dropped again; enable: flows again. */
	assert_int_equal(t_stats(rs.env.ctl, "p0", &b), 0);
	assert_int_equal(vuf_set_state(&s.conn, VUF_SET_VRING_ENABLE, 1, 0), 0);
	for (unsigned i = 0; i < 3; i++) {
		uint8_t f[100];

		t_frame(f, sizeof(f), rs.seq++, 0x94);
		assert_true(t_sess_tx(&s, f, sizeof(f)) >= 0);
	}
	assert_int_equal(t_sess_tx_drain(&s, T_TIMEOUT), 0);
	assert_int_equal(t_stats_wait(rs.env.ctl, "p0", offsetof(struct t_stats, tx_dropped),
				      b.tx_dropped + 3, T_TIMEOUT, &a),
			 0);
	assert_int_equal(a.tx_dropped - b.tx_dropped, 3);
	assert_int_equal(a.tx_packets - b.tx_packets, 0);
	assert_int_equal(vuf_set_state(&s.conn, VUF_SET_VRING_ENABLE, 1, 1), 0);
	tx_expect(&s, 130, "first frame after re-enabling TX");
	t_sess_close(&s);
}

/* GET_VRING_BASE stops a ring and reports where it stopped; the ring restarts from there. */
static void test_get_vring_base(void **state)
{
	uint8_t f[200], in[2048];
	struct t_stats b, a;
	uint32_t base_tx, base_rx;
	struct t_sess s;
	int r;

	(void)state;
	assert_int_equal(t_sess_open(&s, rs.env.sock[0], NULL), 0);
	for (unsigned i = 0; i < 7; i++)
		tx_expect(&s, 100 + i, "before GET_VRING_BASE");
	for (unsigned i = 0; i < 3; i++)
		rx_expect(&s, 200 + i, "before GET_VRING_BASE");

	assert_int_equal(vuf_get_vring_base(&s.conn, 1, &base_tx), 0);
	assert_int_equal(vuf_get_vring_base(&s.conn, 0, &base_rx), 0);
	fprintf(stderr, "GET_VRING_BASE: tx %u (avail idx %u), rx %u (heads used %u)\n", base_tx,
		s.tx.avail_idx, base_rx, s.rx.used_idx);
	assert_int_equal(base_tx, s.tx.avail_idx);
	assert_int_equal(base_rx, s.rx.used_idx);

	/* Stopped: a new TX frame is not consumed. */
	assert_int_equal(t_stats(rs.env.ctl, "p0", &b), 0);
	t_frame(f, sizeof(f), rs.seq, 0x95);
	assert_true(vuf_net_tx(&s.tx, NULL, f, sizeof(f),
			       &(struct vuf_tx_layout){ .gpa = t_sess_arena(&s, 256) }, NULL) >= 0);
	assert_int_equal(vuf_vq_kick(&s.tx), 0);
	r = vuf_vq_wait(&s.tx, QUIET_MS);
	if (r != -ETIMEDOUT)
		fail_msg("a ring stopped by GET_VRING_BASE consumed a buffer");
	assert_int_equal(t_stats(rs.env.ctl, "p0", &a), 0);
	assert_int_equal(a.tx_packets, b.tx_packets);
	assert_int_equal(a.tx_dropped, b.tx_dropped);

	/* Restart both where they stopped: the pending frame goes out first. */
	assert_int_equal(t_sess_ring_restart(&s, &s.rx, (uint16_t)base_rx), 0);
	assert_int_equal(t_sess_ring_restart(&s, &s.tx, (uint16_t)base_tx), 0);
	assert_int_equal(vuf_vq_kick(&s.rx), 0);
	assert_int_equal(vuf_vq_kick(&s.tx), 0);
	r = t_pkt_recv(rs.tap[0], in, sizeof(in), T_TIMEOUT);
	if (r != sizeof(f) || memcmp(in, f, sizeof(f)) != 0)
		fail_msg("after restart the frame posted while stopped should reach the tap (got "
			 "%d bytes, seq %u)",
			 r, r >= 18 ? t_frame_seq(in) : 0);
	rs.seq++;
	assert_int_equal(t_sess_tx_drain(&s, T_TIMEOUT), 0);
	tx_expect(&s, 150, "after restart");
	rx_expect(&s, 160, "after restart");
	t_sess_close(&s);
}

/* After a disconnect the port waits; a new front-end starts its rings at base 65500 and pushes
 * indices through the 16-bit wrap. */
static void test_reconnect_wrap(void **state)
{
	struct t_opts o = { .base = 65500, .qsize = 64, .rx_slots = 32 };
	struct t_stats b, a;
	struct t_sess s;
	uint64_t txb = 0, rxb = 0;

	(void)state;
	assert_int_equal(t_sess_open(&s, rs.env.sock[0], NULL), 0);
	tx_expect(&s, 99, "first connection");
	t_sess_close(&s);
	wait_state("waiting");

	assert_int_equal(t_stats(rs.env.ctl, "p0", &b), 0);
	assert_int_equal(t_sess_open(&s, rs.env.sock[0], &o), 0);
	for (unsigned i = 0; i < 100; i++) {
		tx_expect(&s, 60 + i * 13, "around the index wrap");
		txb += 60 + i * 13;
		rx_expect(&s, 61 + i * 14, "around the index wrap");
		rxb += 61 + i * 14;
	}
	assert_true((uint16_t)(s.tx.avail_idx - 65500) == 100);
	assert_true(s.tx.avail_idx < 65500); /* wrapped */
	assert_int_equal(t_stats_wait(rs.env.ctl, "p0", offsetof(struct t_stats, rx_packets),
				      b.rx_packets + 100, T_TIMEOUT, &a),
			 0);
	assert_int_equal(a.tx_packets - b.tx_packets, 100);
	assert_int_equal(a.tx_bytes - b.tx_bytes, txb);
	assert_int_equal(a.rx_packets - b.rx_packets, 100);
	assert_int_equal(a.rx_bytes - b.rx_bytes, rxb);
	assert_string_equal(a.state, "connected");
	t_sess_close(&s);
}

/* ADD_MEM_REG to the limit, traffic through the last region, REM_MEM_REG, one too many. */
static void test_mem_slots(void **state)
{
	struct vuf_conn c;
	uint64_t max, *sizes, total, ack;
	struct t_opts o = { .add_mem_reg = true, .no_rx_post = true, .qsize = 64, .rx_slots = 1 };
	struct t_stats b, a;
	struct vuf_mem extra;
	struct vuf_region *last, *prev, *mid, *gone;
	uint8_t f[1400], in[2048];
	struct vuf_rx_pkt p;
	struct t_sess s;
	unsigned n;
	int r;

	(void)state;
	assert_int_equal(vuf_connect(&c, rs.env.sock[0], T_TIMEOUT), 0);
	assert_int_equal(vuf_negotiate(&c, T_FEATURES, T_PFEATURES), 0);
	if (!(c.protocol_features & VUF_BIT(VUF_PF_CONFIGURE_MEM_SLOTS)))
		fail_msg("vhostd did not offer CONFIGURE_MEM_SLOTS");
	assert_int_equal(vuf_get_u64(&c, VUF_GET_MAX_MEM_SLOTS, &max), 0);
	vuf_close(&c);
	fprintf(stderr, "GET_MAX_MEM_SLOTS: %llu\n", (unsigned long long)max);
	assert_true(max >= 509);
	n = max > VUF_MAX_REGIONS ? VUF_MAX_REGIONS : (unsigned)max;

	/* Region 0: 1 MiB for rings; then n-1 single pages. */
	sizes = calloc(n, sizeof(*sizes));
	assert_non_null(sizes);
	sizes[0] = 1 << 20;
	total = sizes[0];
	for (unsigned i = 1; i < n; i++) {
		sizes[i] = 4096;
		total += 4096;
	}
	o.nregions = n;
	o.region_sizes = sizes;
	o.mem_size = total;
	assert_int_equal(t_sess_open(&s, rs.env.sock[0], &o), 0);
	assert_int_equal(s.mem.nregions, n);
	last = &s.mem.regions[n - 1];
	prev = &s.mem.regions[n - 2];

	/* RX: one buffer inside the last page, one across the last two pages. */
	assert_true(vuf_net_rx_post(&s.rx, last->gpa + 1024, 2048, 0, (void *)1) >= 0);
	assert_true(vuf_net_rx_post(&s.rx, prev->gpa + 3072, 2048, 0, (void *)2) >= 0);
	assert_int_equal(vuf_vq_kick(&s.rx), 0);

	/* TX: from the last page, and across the last two. */
	for (unsigned i = 0; i < 2; i++) {
		struct vuf_tx_layout l = { .gpa = i == 0 ? last->gpa + 100
							 : prev->gpa + 4096 - 700 };

		t_frame(f, sizeof(f), rs.seq, 0x96);
		assert_true(vuf_net_tx(&s.tx, NULL, f, sizeof(f), &l, NULL) >= 0);
		assert_true(vuf_vq_notify(&s.tx) >= 0);
		r = t_pkt_recv(rs.tap[0], in, sizeof(in), T_TIMEOUT);
		if (r != sizeof(f) || memcmp(in, f, sizeof(f)) != 0)
			fail_msg("TX from region %u (%s): tap got %d bytes", n - 1,
				 i ? "straddling" : "inside", r);
		assert_int_equal(t_sess_tx_drain(&s, T_TIMEOUT), 0);
		rs.seq++;
	}
	for (unsigned i = 0; i < 2; i++) {
		t_frame(f, sizeof(f), rs.seq, 0x97);
		assert_int_equal(t_pkt_send(rs.tap[0], f, sizeof(f)), 0);
		r = vuf_net_rx(&s.rx, s.mrg, in, sizeof(in), &p, T_TIMEOUT);
		if (r != sizeof(f) || memcmp(in, f, sizeof(f)) != 0)
			fail_msg("RX into the last regions: got %d", r);
		assert_int_equal((uintptr_t)p.cookies[0], i + 1);
		rs.seq++;
	}

	/* REM_MEM_REG then ADD_MEM_REG of a middle page; traffic through it. */
	mid = &s.mem.regions[n / 2];
	assert_int_equal(vuf_rem_mem_reg(&s.conn, &s.mem, n / 2), 0);
	assert_int_equal(vuf_add_mem_reg(&s.conn, &s.mem, n / 2), 0);
	{
		struct vuf_tx_layout l = { .gpa = mid->gpa + 16 };

		t_frame(f, 1000, rs.seq, 0x98);
		assert_true(vuf_net_tx(&s.tx, NULL, f, 1000, &l, NULL) >= 0);
		assert_true(vuf_vq_notify(&s.tx) >= 0);
		r = t_pkt_recv(rs.tap[0], in, sizeof(in), T_TIMEOUT);
		if (r != 1000 || memcmp(in, f, 1000) != 0)
			fail_msg("TX from a region removed and added again: tap got %d", r);
		assert_int_equal(t_sess_tx_drain(&s, T_TIMEOUT), 0);
		rs.seq++;
	}

	/* A removed region is really gone: a buffer in it is a ring fault. */
	gone = &s.mem.regions[n / 2 + 1];
	assert_int_equal(vuf_rem_mem_reg(&s.conn, &s.mem, n / 2 + 1), 0);
	assert_int_equal(t_stats(rs.env.ctl, "p0", &b), 0);
	{
		struct vuf_tx_layout l = { .gpa = gone->gpa + 16 };
		uint64_t cnt;

		t_frame(f, 500, rs.seq++, 0x99);
		assert_true(vuf_net_tx(&s.tx, NULL, f, 500, &l, NULL) >= 0);
		assert_int_equal(vuf_vq_kick(&s.tx), 0);
		r = vuf_eventfd_wait(s.tx.errfd, T_TIMEOUT, &cnt);
		if (r < 0)
			fail_msg("a TX buffer in a region removed by REM_MEM_REG did not break the "
				 "ring (no err eventfd)");
	}
	assert_int_equal(t_stats_wait(rs.env.ctl, "p0", offsetof(struct t_stats, ring_faults),
				      b.ring_faults + 1, T_TIMEOUT, &a),
			 0);
	assert_int_equal(a.ring_faults - b.ring_faults, 1);

	/* Back to n regions, then one more than the daemon allows. */
	assert_int_equal(vuf_add_mem_reg(&s.conn, &s.mem, n / 2 + 1), 0);
	if (n == max) {
		assert_int_equal(
			vuf_mem_init(&extra, 4096, s.mem.gpa_base + s.mem.size + (1 << 20)), 0);
		r = vuf_ack(&s.conn, VUF_ADD_MEM_REG,
			    &(struct vuf_mem_reg){ .region = vuf_mem_region_desc(&extra, 0) }, 40,
			    &extra.fd, 1, &ack);
		if (r == 0 && ack == 0)
			fail_msg("ADD_MEM_REG number %u accepted (GET_MAX_MEM_SLOTS said %llu)",
				 n + 1, (unsigned long long)max);
		if (r < 0 && r != -ECONNRESET)
			fail_msg("ADD_MEM_REG number %u: %s", n + 1, strerror(-r));
		vuf_mem_free(&extra);
	}
	t_sess_close(&s);
	free(sizes);
}

/* After each case: daemon alive, p1 carries traffic both ways, p0's tap is quiet. */
static int check_p1(void **state)
{
	(void)state;
	if (!t_alive(rs.env.pid)) {
		fprintf(stderr, "FAIL: vhostd is gone\n");
		return -1;
	}
	if (t_traffic_check(&rs.p1, rs.tap[1], rs.seq, 0xa1) < 0)
		return -1;
	rs.seq += 2;
	t_pkt_drain(rs.tap[0]);
	return 0;
}

/* Opens both taps and the p1 session that lives through every case. */
static int setup(void **state)
{
	(void)state;
	t_env_load(&rs.env);
	rs.seq = 1;
	for (unsigned i = 0; i < 2; i++) {
		rs.tap[i] = t_pkt_open(rs.env.tap[i]);
		if (rs.tap[i] < 0) {
			t_fail("packet socket", rs.tap[i]);
			return -1;
		}
	}
	if (t_sess_open(&rs.p1, rs.env.sock[1], NULL) < 0)
		return -1;
	return t_traffic_check(&rs.p1, rs.tap[1], 1000000, 0xa0) < 0 ? -1 : 0;
}

/* Closes everything. */
static int teardown(void **state)
{
	(void)state;
	t_sess_close(&rs.p1);
	close(rs.tap[0]);
	close(rs.tap[1]);
	return 0;
}

#define T(f) cmocka_unit_test_teardown(f, check_p1)

/* The cases in order, each on its own p0 connection. */
int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_no_protocol_features), T(test_minimal_features), T(test_start_disabled),
		T(test_get_vring_base),	      T(test_reconnect_wrap),	T(test_mem_slots),
	};

	return cmocka_run_group_tests_name("frontend-ring-state", tests, setup, teardown);
}
