// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Data path through vhostd, byte for byte, with exact counters.
 *
 * TX: 1000 frames of 60..1514 bytes leave the guest in every legal shape we can think of (one
 * descriptor, header apart, many random pieces, one-byte descriptors, straddling a memory region
 * edge, indirect tables, an indirect table that itself straddles a region edge, the 12-byte
 * header cut in two) and must appear on the tap exactly, in order.
 * RX: 1000 frames injected on the tap must arrive in small mergeable buffers (256 bytes, some
 * cut in two descriptors, some across region edges) exactly, with a sane header, num_buffers
 * telling how many buffers the packet used and every buffer but the last filled completely.
 * The port's counters must move by exactly what went through.
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

enum { NFRAMES = 1000, MAXF = 1514, MINF = 60, RX_SLOT = 256, RX_SLOTS = 160, RX_BATCH = 8 };

struct dp {
	struct t_env env;
	struct t_sess s;
	int tap;
	struct t_stats before;
	uint64_t tx_bytes, rx_bytes;
	uint32_t rng;
};

static struct dp dp;

/* xorshift32: deterministic sizes and layouts, so a failure reproduces. */
static uint32_t rnd(void)
{
	dp.rng ^= dp.rng << 13;
	dp.rng ^= dp.rng >> 17;
	dp.rng ^= dp.rng << 5;
	return dp.rng;
}

/* Uniform in [lo, hi]. */
static uint32_t rnd_range(uint32_t lo, uint32_t hi)
{
	return lo + rnd() % (hi - lo + 1);
}

/* Brings p0 up with 8 regions whose edges fall inside the RX slots and the TX arena. */
static int setup(void **state)
{
	static const uint64_t sizes[8] = { 16 << 10, 16 << 10, 16 << 10,  16 << 10,
					   64 << 10, 64 << 10, 128 << 10, (2 << 20) - (320 << 10) };
	struct t_opts o = { .qsize = 256,
			    .mem_size = 2 << 20,
			    .nregions = 8,
			    .region_sizes = sizes,
			    .rx_slots = RX_SLOTS,
			    .rx_slot_size = RX_SLOT,
			    .rx_mixed = true };
	int r;

	(void)state;
	t_env_load(&dp.env);
	dp.rng = 0x2545f491;
	dp.tap = t_pkt_open(dp.env.tap[0]);
	if (dp.tap < 0) {
		t_fail("open packet socket on the p0 tap", dp.tap);
		return -1;
	}
	r = t_sess_open(&dp.s, dp.env.sock[0], &o);
	if (r < 0)
		return -1;
	if (!dp.s.mrg) {
		fprintf(stderr, "vhostd did not offer MRG_RXBUF\n");
		return -1;
	}
	r = t_stats(dp.env.ctl, "p0", &dp.before);
	if (r < 0) {
		t_fail("stats", r);
		return -1;
	}
	return 0;
}

/* Disconnects. */
static int teardown(void **state)
{
	(void)state;
	t_sess_close(&dp.s);
	if (dp.tap >= 0)
		close(dp.tap);
	return 0;
}

/* TX frames posted but not yet checked on the tap. */
struct wave {
	uint8_t (*frames)[MAXF];
	uint32_t *lens;
	unsigned checked, posted;
	uint64_t cur; /* arena cursor of this wave */
	unsigned straddles, indirects, onebyte;
};

/* Offset of the first byte where a and b differ (or the shorter length). */
static unsigned first_diff(const uint8_t *a, size_t na, const uint8_t *b, size_t nb)
{
	size_t k = 0;

	while (k < na && k < nb && a[k] == b[k])
		k++;
	return (unsigned)k;
}

/* Waits for every posted chain to come back, then for each posted frame on the tap, in order. */
static void flush(struct wave *w)
{
	uint8_t got[MAXF + 64];
	int r;

	if (w->checked == w->posted)
		return;
	while (dp.s.tx.nfree < dp.s.tx.num) {
		struct vuf_used_elem e;

		r = vuf_vq_wait(&dp.s.tx, T_TIMEOUT);
		if (r < 0)
			fail_msg("TX chains not returned (frames %u..%u posted): %s", w->checked,
				 w->posted - 1, strerror(-r));
		while ((r = vuf_vq_get_used(&dp.s.tx, &e)) == 0) {
			/* TX buffers are device-readable only: nothing was written to them. */
			if (e.len != 0)
				fail_msg("TX used entry for head %u has len %u, want 0", e.id,
					 e.len);
			vuf_vq_release(&dp.s.tx, (uint16_t)e.id);
		}
		if (r != -EAGAIN)
			fail_msg("TX used ring: %s", strerror(-r));
	}
	for (; w->checked < w->posted; w->checked++) {
		unsigned i = w->checked;

		r = t_pkt_recv(dp.tap, got, sizeof(got), T_TIMEOUT);
		if (r < 0)
			fail_msg("TX frame %u (%u bytes) never reached the tap", i, w->lens[i]);
		if ((uint32_t)r != w->lens[i] || memcmp(got, w->frames[i], w->lens[i]) != 0) {
			fail_msg("TX frame %u: tap got %d bytes (seq %u), want %u bytes; first "
				 "difference at byte %u",
				 i, r, r >= 18 ? t_frame_seq(got) : 0, w->lens[i],
				 first_diff(got, (size_t)r, w->frames[i], w->lens[i]));
		}
	}
	w->cur = dp.s.arena_gpa;
}

/* Reserves len bytes (align 16) in the wave's arena; 0 when the arena is used up. */
static uint64_t take(struct wave *w, uint64_t len)
{
	uint64_t g = (w->cur + 15) & ~15ull;

	if (g + len > dp.s.arena_end)
		return 0;
	w->cur = g + len;
	return g;
}

/* Reserves len bytes placed so that a region edge falls strictly inside them; 0 when no edge is
 * left in the arena. */
static uint64_t take_straddling(struct wave *w, uint64_t len)
{
	uint64_t edge = vuf_mem_next_edge(&dp.s.mem, w->cur);
	uint64_t k;

	if (len < 2 || !edge)
		return 0;
	k = rnd_range(1, (uint32_t)(len - 1)); /* bytes before the edge */
	if (k > edge - w->cur)
		k = edge - w->cur;
	if (edge - k + len > dp.s.arena_end)
		return 0;
	w->cur = edge - k + len;
	return edge - k;
}

/* Tries to post frame i in layout kind; 0 when posted, -ENOSPC when the wave must be flushed. */
static int post_one(struct wave *w, unsigned i, unsigned kind)
{
	uint32_t len = w->lens[i], total = len + VUF_HDR_SIZE;
	uint32_t lens[64];
	struct vuf_tx_layout l = { 0 };
	unsigned n;
	int r;

	switch (kind) {
	case 0: /* one descriptor */
		l.gpa = take(w, total);
		break;
	case 1: /* header apart */
		lens[0] = VUF_HDR_SIZE;
		l.lens = lens;
		l.nlens = 1;
		l.gpa = take(w, total);
		break;
	case 2: /* random pieces */
		n = rnd_range(2, 40);
		for (unsigned k = 0; k < n; k++)
			lens[k] = rnd_range(1, 300);
		l.lens = lens;
		l.nlens = n;
		l.gpa = take(w, total);
		break;
	case 3: /* one byte per descriptor */
		l.seg = 1;
		l.gpa = take(w, total);
		break;
	case 4: /* one descriptor across a region edge */
		l.gpa = take_straddling(w, total);
		break;
	case 5: /* header cut 5+7, small pieces, across a region edge */
		lens[0] = 5;
		lens[1] = 7;
		l.lens = lens;
		l.nlens = 2;
		l.seg = 64;
		l.gpa = take_straddling(w, total);
		break;
	case 6: /* indirect, one entry */
		l.gpa = take(w, total);
		l.table_gpa = take(w, 16);
		break;
	case 7: /* indirect, header cut, pieces of 100 */
		lens[0] = 3;
		lens[1] = 9;
		l.lens = lens;
		l.nlens = 2;
		l.seg = 100;
		l.gpa = take(w, total);
		n = vuf_tx_layout_count(&l, total);
		l.table_gpa = take(w, 16ull * n);
		break;
	case 8: /* indirect table across a region edge, data across another */
		l.seg = 200;
		l.gpa = take_straddling(w, total);
		n = vuf_tx_layout_count(&l, total);
		if (l.gpa) {
			uint64_t edge = vuf_mem_next_edge(&dp.s.mem, w->cur);

			/* Two entries before the edge, the rest after it. */
			if (edge && edge - 32 >= w->cur &&
			    edge - 32 + 16ull * n <= dp.s.arena_end) {
				l.table_gpa = edge - 32;
				w->cur = edge - 32 + 16ull * n;
			} else {
				l.gpa = 0;
			}
		}
		break;
	default: /* header cut 1+11, pieces of 512 */
		lens[0] = 1;
		lens[1] = 11;
		l.lens = lens;
		l.nlens = 2;
		l.seg = 512;
		l.gpa = take(w, total);
		break;
	}
	if (!l.gpa || (kind >= 6 && kind <= 8 && !l.table_gpa))
		return -ENOSPC;
	r = vuf_net_tx(&dp.s.tx, NULL, w->frames[i], len, &l, NULL);
	if (r < 0)
		return r;
	w->posted++;
	w->straddles += kind == 4 || kind == 5 || kind == 8;
	w->indirects += kind >= 6 && kind <= 8;
	w->onebyte += kind == 3;
	r = vuf_vq_notify(&dp.s.tx);
	return r < 0 ? r : 0;
}

/* 1000 frames guest -> tap in all layouts. */
static void test_tx(void **state)
{
	struct wave w = { .cur = dp.s.arena_gpa };

	(void)state;
	w.frames = calloc(NFRAMES, sizeof(*w.frames));
	w.lens = calloc(NFRAMES, sizeof(*w.lens));
	assert_non_null(w.frames);
	assert_non_null(w.lens);
	for (unsigned i = 0; i < NFRAMES; i++) {
		unsigned kind = i % 10;
		uint32_t len = rnd_range(MINF, MAXF);

		if (i == 0)
			len = MINF;
		else if (i == 1)
			len = MAXF;
		else if (kind == 3)
			len = MINF +
			      i % 181; /* a chain of len+12 one-byte descriptors fits the ring */
		w.lens[i] = len;
		dp.tx_bytes += len;
		t_frame(w.frames[i], len, i, 0x10);
		for (int attempt = 0;; attempt++) {
			int r;
			uint64_t cur = w.cur;

			r = post_one(&w, i, kind);
			if (r == 0)
				break;
			w.cur = cur;
			if (r != -ENOSPC || attempt > 0)
				fail_msg("posting TX frame %u (layout %u): %s", i, kind,
					 strerror(-r));
			flush(&w);
		}
	}
	flush(&w);
	/* The test must have exercised what it claims. */
	assert_true(w.straddles >= 250);
	assert_true(w.indirects >= 250);
	assert_true(w.onebyte >= 90);
	free(w.frames);
	free(w.lens);
}

/* Counts RX slots that cross a region edge (the set-up is meant to produce some). */
static unsigned rx_straddling_slots(void)
{
	unsigned n = 0;

	for (unsigned i = 0; i < RX_SLOTS; i++) {
		uint64_t g = dp.s.rx_gpa + (uint64_t)i * RX_SLOT;
		uint64_t e = vuf_mem_next_edge(&dp.s.mem, g);

		if (e && e < g + RX_SLOT)
			n++;
	}
	return n;
}

/* 1000 frames tap -> guest through small mergeable buffers. */
static void test_rx(void **state)
{
	static uint8_t frames[RX_BATCH][MAXF];
	uint8_t got[MAXF + 64];
	uint32_t lens[RX_BATCH];

	(void)state;
	assert_true(rx_straddling_slots() >= 2);
	for (unsigned base = 0; base < NFRAMES; base += RX_BATCH) {
		unsigned n = NFRAMES - base < RX_BATCH ? NFRAMES - base : RX_BATCH;

		/* A batch needs at most 8 * 7 buffers: the ring always has enough posted. */
		for (unsigned j = 0; j < n; j++) {
			unsigned i = base + j;
			int r;

			lens[j] = i == 0 ? MINF : i == 1 ? MAXF : rnd_range(MINF, MAXF);
			dp.rx_bytes += lens[j];
			t_frame(frames[j], lens[j], i, 0x20);
			r = t_pkt_send(dp.tap, frames[j], lens[j]);
			if (r < 0)
				fail_msg("inject RX frame %u: %s", i, strerror(-r));
		}
		for (unsigned j = 0; j < n; j++) {
			unsigned i = base + j;
			uint32_t want_bufs = (lens[j] + VUF_HDR_SIZE + RX_SLOT - 1) / RX_SLOT;
			struct vuf_rx_pkt p;
			int r;

			r = t_sess_rx(&dp.s, got, sizeof(got), &p, T_TIMEOUT);
			if (r < 0)
				fail_msg("RX frame %u (%u bytes): %s", i, lens[j], strerror(-r));
			if ((uint32_t)r != lens[j] || memcmp(got, frames[j], lens[j]) != 0)
				fail_msg("RX frame %u: guest got %d bytes (seq %u), want %u bytes",
					 i, r, r >= 18 ? t_frame_seq(got) : 0, lens[j]);
			if (p.hdr.gso_type != VUF_NET_HDR_GSO_NONE ||
			    (p.hdr.flags & VUF_NET_HDR_F_NEEDS_CSUM))
				fail_msg("RX frame %u: header flags %#x gso_type %u, want no "
					 "NEEDS_CSUM and GSO_NONE",
					 i, p.hdr.flags, p.hdr.gso_type);
			if (p.hdr.num_buffers != p.nbufs || p.nbufs != want_bufs)
				fail_msg("RX frame %u (%u bytes): num_buffers %u over %u used "
					 "buffers, want %u",
					 i, lens[j], p.hdr.num_buffers, p.nbufs, want_bufs);
			for (unsigned k = 0; k + 1 < p.nbufs; k++)
				if (p.lens[k] != RX_SLOT)
					fail_msg("RX frame %u: buffer %u of %u used %u bytes, want "
						 "%u (all but the last must be full)",
						 i, k, p.nbufs, p.lens[k], RX_SLOT);
			if (p.straggled)
				fail_msg("RX frame %u: its %u buffers were not published together",
					 i, p.nbufs);
		}
	}
}

/* The counters moved by exactly what went through. */
static void test_counters(void **state)
{
	struct t_stats a, *b = &dp.before;
	int r;

	(void)state;
	r = t_stats_wait(dp.env.ctl, "p0", offsetof(struct t_stats, rx_packets),
			 b->rx_packets + NFRAMES, T_TIMEOUT, &a);
	assert_int_equal(r, 0);
	t_stats_print("before", b);
	t_stats_print("after", &a);
	assert_int_equal(a.tx_packets - b->tx_packets, NFRAMES);
	assert_int_equal(a.tx_bytes - b->tx_bytes, dp.tx_bytes);
	assert_int_equal(a.tx_dropped - b->tx_dropped, 0);
	assert_int_equal(a.tx_errors - b->tx_errors, 0);
	assert_int_equal(a.rx_packets - b->rx_packets, NFRAMES);
	assert_int_equal(a.rx_bytes - b->rx_bytes, dp.rx_bytes);
	assert_int_equal(a.rx_dropped - b->rx_dropped, 0);
	assert_int_equal(a.ring_faults - b->ring_faults, 0);
	assert_string_equal(a.state, "connected");
}

/* Runs the three steps in order on one session. */
int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tx),
		cmocka_unit_test(test_rx),
		cmocka_unit_test(test_counters),
	};

	return cmocka_run_group_tests_name("frontend-datapath", tests, setup, teardown);
}
