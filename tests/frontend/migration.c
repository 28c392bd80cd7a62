// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Live-migration support on p0, driven the way QEMU drives it: SET_LOG_BASE with a memfd
 * (LOG_SHMFD), SET_FEATURES with VHOST_F_LOG_ALL, SET_VRING_ADDR with VHOST_VRING_F_LOG and
 * the used ring's guest-physical address; at the end SEND_RARP.
 *
 * - Real traffic through the tap marks exactly the pages vhostd wrote: every page of every
 *   receive buffer a frame landed in is set, and nothing is set outside those pages and the two
 *   used rings.
 * - Logging switched on and off while frames are in flight loses none of them, and a second
 *   SET_LOG_BASE (a second migration) moves the marks to the new log.
 * - SEND_RARP puts a RARP for the guest's MAC on the tap.
 * - Frames that reached the tap while no guest listened (between two front-ends, as around a
 *   migration away and back) are discarded and counted, not handed to the next guest.
 * - Hostile logs and addresses are refused (REPLY_ACK failure, or the connection closed for a
 *   log that cannot be answered honestly); vhostd lives and p1 carries traffic after each.
 */
#include "tutil.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#define PAGE	      4096ull
#define LOG_FILE_SIZE (64 * 1024)
#define TAG_MIG	      0x91
#define LOG_PFEATURES (T_PFEATURES | VUF_BIT(VUF_PF_LOG_SHMFD) | VUF_BIT(VUF_PF_RARP))
#define VRING_F_LOG   1u

struct mig {
	struct t_env env;
	int tap0, tap1;
	struct t_sess p0, p1;
	uint32_t seq;
};

static struct mig m;

/* Creates a log of size bytes (in a LOG_FILE_SIZE memfd) or fails the test. */
static void flog_new(struct t_log *l, uint64_t size)
{
	assert_int_equal(t_log_new(l, size, LOG_FILE_SIZE), 0);
}

/* True when the log has the bit of the page holding gpa. */
static bool flog_test(const struct t_log *l, uint64_t gpa)
{
	uint64_t pg = gpa / PAGE;

	return l->bits[pg / 8] & (1u << (pg % 8));
}

/* SET_LOG_BASE expecting an answer or a hang-up (any other outcome fails the test). */
static int send_log_base(struct vuf_conn *c, int fd, uint64_t size, uint64_t offset)
{
	int r = t_log_base(c, fd, size, offset);

	if (r < 0 && r != -ECONNRESET)
		fail_msg("SET_LOG_BASE: %s", strerror(-r));
	return r;
}

/* Guest-physical address of vq's used ring. */
static uint64_t used_gpa(const struct t_sess *s, const struct vuf_vq *vq)
{
	return vuf_mem_gpa(&s->mem, vq->used);
}

/* Logging on (as at the start of a migration) or fails the test. */
static void log_on(struct t_sess *s, const struct t_log *l)
{
	assert_int_equal(t_log_on(s, l), 0);
}

/* Logging off (as at the end of a migration) or fails the test. */
static void log_off(struct t_sess *s)
{
	assert_int_equal(t_log_off(s), 0);
}

/* True when gpa lies in vq's used area (flags, idx, ring, avail_event). */
static bool in_used(const struct t_sess *s, const struct vuf_vq *vq, uint64_t gpa)
{
	uint64_t u = used_gpa(s, vq);

	return gpa / PAGE >= u / PAGE && gpa / PAGE <= (u + 4 + 8ull * vq->num + 2 - 1) / PAGE;
}

/* Injects n frames into tap 0 (seq from m.seq), tag TAG_MIG. */
static void inject(unsigned n)
{
	uint8_t f[600];

	for (unsigned i = 0; i < n; i++) {
		t_frame(f, sizeof(f) - (i % 7) * 50, m.seq + i, TAG_MIG);
		assert_true(t_pkt_send(m.tap0, f, sizeof(f) - (i % 7) * 50) >= 0);
	}
}

/*
 * Receives n frames on p0 in order (seq from m.seq), comparing each byte with what was
 * injected; records in want[] (one byte per page, NULL to skip) every page each frame landed in.
 */
static void receive(unsigned n, uint8_t *want)
{
	uint8_t in[2048], f[600];

	for (unsigned i = 0; i < n; i++) {
		struct vuf_rx_pkt pkt;
		size_t len = sizeof(f) - (i % 7) * 50;
		int r = t_sess_rx(&m.p0, in, sizeof(in), &pkt, T_TIMEOUT);

		if (r < 0)
			fail_msg("frame %u of %u (seq %u) never arrived: %s", i, n, m.seq + i,
				 strerror(-r));
		t_frame(f, len, m.seq + i, TAG_MIG);
		if ((size_t)r != len || memcmp(in, f, len) != 0)
			fail_msg("frame %u: got seq %u length %d, want seq %u length %zu", i,
				 t_frame_seq(in), r, m.seq + i, len);
		for (unsigned b = 0; want && b < pkt.nbufs; b++) {
			uint64_t slot = (uint64_t)(uintptr_t)pkt.cookies[b] - 1;
			uint64_t gpa = m.p0.rx_gpa + slot * m.p0.o.rx_slot_size;

			for (uint64_t p = gpa / PAGE; p <= (gpa + pkt.lens[b] - 1) / PAGE; p++)
				want[p - m.p0.mem.gpa_base / PAGE] = 1;
		}
	}
	m.seq += n;
}

/* Frames through the tap mark exactly the receive pages written and the used rings. */
static void test_log_exact(void **state)
{
	uint64_t pages = m.p0.mem.size / PAGE;
	uint8_t *want = calloc(pages, 1);
	struct t_log l;
	unsigned used_bits = 0;

	assert_non_null(want);
	flog_new(&l, t_log_need(&m.p0));
	log_on(&m.p0, &l);
	inject(100);
	receive(100, want);
	/* Guest transmissions write only used entries. */
	for (unsigned i = 0; i < 20; i++) {
		uint8_t f[300];

		t_frame(f, sizeof(f), m.seq + i, 0x92);
		assert_true(t_sess_tx(&m.p0, f, sizeof(f)) >= 0);
	}
	assert_int_equal(t_sess_tx_drain(&m.p0, T_TIMEOUT), 0);
	m.seq += 20;
	t_pkt_drain(m.tap0);
	for (uint64_t p = 0; p < pages; p++) {
		uint64_t gpa = m.p0.mem.gpa_base + p * PAGE;
		bool used = in_used(&m.p0, &m.p0.rx, gpa) || in_used(&m.p0, &m.p0.tx, gpa);

		if (want[p] && !flog_test(&l, gpa))
			fail_msg("page 0x%llx received a frame but is not in the log",
				 (unsigned long long)gpa);
		if (flog_test(&l, gpa) && !want[p] && !used)
			fail_msg("page 0x%llx is in the log but vhostd never wrote it",
				 (unsigned long long)gpa);
		used_bits += used && flog_test(&l, gpa);
	}
	/* Nothing below guest memory either. */
	for (uint64_t p = 0; p < m.p0.mem.gpa_base / PAGE; p++)
		if (l.bits[p / 8] & (1u << (p % 8)))
			fail_msg("page %llu below guest memory is in the log",
				 (unsigned long long)p);
	assert_true(used_bits >= 2); /* both used rings were written */
	fprintf(stderr, "dirty log: %u pages marked for 100 received and 20 sent frames\n",
		t_log_count(&l));
	log_off(&m.p0);
	t_log_free(&l);
	free(want);
}

/* Logging switched on and off (twice, with a fresh log) while frames are in flight. */
static void test_log_toggle(void **state)
{
	struct t_log a, b;
	unsigned na;

	flog_new(&a, t_log_need(&m.p0));
	flog_new(&b, t_log_need(&m.p0));
	inject(150); /* more than the 128 posted buffers: some wait in the tap */
	log_on(&m.p0, &a);
	receive(150, NULL);
	inject(150);
	log_off(&m.p0);
	receive(150, NULL);
	na = t_log_count(&a);
	assert_true(na > 0);
	/* Off: further frames leave the log alone. */
	inject(50);
	receive(50, NULL);
	assert_int_equal(t_log_count(&a), na);
	/* A second migration: a new log, and the marks go there, not to the old one. */
	log_on(&m.p0, &b);
	inject(50);
	receive(50, NULL);
	log_off(&m.p0); /* the pass that marked b is over (see test_log_bounds) */
	assert_true(t_log_count(&b) > 0);
	assert_int_equal(t_log_count(&a), na);
	t_log_free(&a);
	t_log_free(&b);
}

/* SEND_RARP puts a RARP for the MAC on the tap; a group address is refused. */
static void test_rarp(void **state)
{
	static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0xaa, 0xbb, 0xcc };
	uint8_t payload[8] = { 0 }, frame[2048];
	uint64_t ack = 0;
	int n;

	memcpy(payload, mac, 6);
	t_pkt_drain(m.tap0);
	assert_int_equal(vuf_set(&m.p0.conn, VUF_SEND_RARP, payload, 8, NULL, 0), 0);
	for (;;) {
		n = t_pkt_recv(m.tap0, frame, sizeof(frame), T_TIMEOUT);
		if (n < 0)
			fail_msg("no RARP on the tap: %s", strerror(-n));
		if (n >= 14 && frame[12] == 0x80 && frame[13] == 0x35)
			break;
	}
	assert_true(n >= 42);
	assert_memory_equal(frame, "\xff\xff\xff\xff\xff\xff", 6);
	assert_memory_equal(frame + 6, mac, 6);
	assert_memory_equal(frame + 14, "\x00\x01\x08\x00\x06\x04\x00\x03", 8);
	assert_memory_equal(frame + 22, mac, 6);
	assert_memory_equal(frame + 32, mac, 6);
	payload[0] = 0x01; /* multicast */
	assert_int_equal(vuf_ack(&m.p0.conn, VUF_SEND_RARP, payload, 8, NULL, 0, &ack), 0);
	assert_int_not_equal(ack, 0);
	memset(payload, 0, sizeof(payload));
	assert_int_equal(vuf_ack(&m.p0.conn, VUF_SEND_RARP, payload, 8, NULL, 0, &ack), 0);
	assert_int_not_equal(ack, 0);
}

/* A fresh connection to p0 with LOG_SHMFD and REPLY_ACK, or without LOG_SHMFD. */
static void hostile_conn(struct t_sess *s, bool shmfd)
{
	struct t_opts o = { .pfeatures = shmfd ? LOG_PFEATURES : T_PFEATURES };

	t_sess_close(&m.p0);
	assert_int_equal(t_sess_open(s, m.env.sock[0], &o), 0);
}

/* Expects the log to be refused with the connection closed; then p0 and p1 work again. */
static void refused_log(const char *what, int fd, uint64_t size, uint64_t offset, bool shmfd)
{
	hostile_conn(&m.p0, shmfd);
	if (send_log_base(&m.p0.conn, fd, size, offset) != -ECONNRESET)
		fail_msg("%s: log accepted", what);
	if (!t_alive(m.env.pid))
		fail_msg("%s: vhostd died", what);
	t_sess_close(&m.p0);
	if (t_sess_open(&m.p0, m.env.sock[0], &(struct t_opts){ .pfeatures = LOG_PFEATURES }) < 0)
		fail_msg("%s: p0 does not take a new front-end", what);
	assert_int_equal(t_traffic_check(&m.p1, m.tap1, m.seq, 0x93), 0);
	m.seq += 2;
}

/* Logs that are too small, outside their file, empty, not memory, or not negotiated. */
static void test_hostile_log(void **state)
{
	struct t_log l;
	int p[2];

	flog_new(&l, t_log_need(&m.p0));
	refused_log("log one byte short", l.fd, t_log_need(&m.p0) - 8, 0, true);
	refused_log("log of 8 bytes", l.fd, 8, 0, true);
	refused_log("offset beyond the file", l.fd, 4096, LOG_FILE_SIZE, true);
	refused_log("log reaching past the file", l.fd, t_log_need(&m.p0), LOG_FILE_SIZE - 4096,
		    true);
	refused_log("offset wrapping around", l.fd, t_log_need(&m.p0), UINT64_MAX - 100, true);
	refused_log("size 0", l.fd, 0, 0, true);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	refused_log("a pipe as the log", p[0], t_log_need(&m.p0), 0, true);
	close(p[0]);
	close(p[1]);
	refused_log("LOG_SHMFD not negotiated", l.fd, t_log_need(&m.p0), 0, false);
	/* The refused logs were never written. */
	assert_int_equal(t_log_count(&l), 0);
	t_log_free(&l);
}

/* Used-ring log addresses outside the log, and unknown address flags, are refused with an ack
 * and change nothing: traffic goes on. */
static void test_hostile_ring_log(void **state)
{
	struct t_log l;
	uint64_t ack = 0;
	struct vuf_addr a = {
		.index = m.p0.rx.index,
		.desc = (uint64_t)(uintptr_t)m.p0.rx.desc,
		.used = (uint64_t)(uintptr_t)m.p0.rx.used,
		.avail = (uint64_t)(uintptr_t)m.p0.rx.avail,
	};
	static const uint64_t bad_log[] = {
		1ull << 40,	      /* far beyond guest memory and the log */
		UINT64_MAX - 100,     /* wraps */
		0x40400000ull - 2048, /* the used area would run past the log's last page */
	};

	flog_new(&l, t_log_need(&m.p0));
	assert_int_equal(send_log_base(&m.p0.conn, l.fd, l.size, 0), 0);
	for (unsigned i = 0; i < sizeof(bad_log) / sizeof(bad_log[0]); i++) {
		a.flags = VRING_F_LOG;
		a.log = bad_log[i];
		assert_int_equal(
			vuf_ack(&m.p0.conn, VUF_SET_VRING_ADDR, &a, sizeof(a), NULL, 0, &ack), 0);
		if (ack == 0)
			fail_msg("used-ring log at 0x%llx accepted", (unsigned long long)a.log);
	}
	a.flags = 2; /* no such flag */
	a.log = 0;
	assert_int_equal(vuf_ack(&m.p0.conn, VUF_SET_VRING_ADDR, &a, sizeof(a), NULL, 0, &ack), 0);
	assert_int_not_equal(ack, 0);
	assert_true(t_alive(m.env.pid));
	assert_int_equal(t_traffic_check(&m.p0, m.tap0, m.seq, 0x94), 0);
	m.seq += 2;
	assert_int_equal(t_log_count(&l), 0); /* LOG_ALL never came: nothing marked */
	t_log_free(&l);
}

/* A log for half of guest memory is refused; with a log of the right size, the bytes of its
 * file past the announced size are never written. */
static void test_log_bounds(void **state)
{
	struct t_log l;
	uint64_t need = t_log_need(&m.p0);
	uint8_t *guard;

	flog_new(&l, need);
	guard = l.bits + need;
	memset(guard, 0, LOG_FILE_SIZE - need);
	refused_log("log for half the memory", l.fd, need / 2, 0, true);
	/* A full log, then frames: the file past the announced size stays untouched. */
	log_on(&m.p0, &l);
	inject(40);
	receive(40, NULL);
	/* Pages are marked at the end of the worker's pass, maybe after the guest saw the frames;
	 * logging off waits for that pass (the device's lock): look after it. */
	log_off(&m.p0);
	for (uint64_t i = 0; i < LOG_FILE_SIZE - need; i++)
		if (guard[i])
			fail_msg("vhostd wrote byte %llu past the log", (unsigned long long)i);
	assert_true(t_log_count(&l) > 0);
	t_log_free(&l);
}

/* Frames that reached the tap while no guest listened are not handed to the next one. */
static void test_stale_frames_discarded(void **state)
{
	struct t_opts o = { .pfeatures = LOG_PFEATURES };
	struct t_stats before, after;
	uint8_t f[300], in[2048];
	struct vuf_rx_pkt pkt;
	int n;

	t_sess_close(&m.p0);
	assert_int_equal(t_stats_wait(m.env.ctl, "p0", offsetof(struct t_stats, rx_packets), 0,
				      T_TIMEOUT, &before),
			 0);
	/* The port waits for a front-end; its tap fd stays open, so these queue up. */
	for (unsigned i = 0; i < 20; i++) {
		t_frame(f, sizeof(f), 500000 + i, 0x96);
		assert_true(t_pkt_send(m.tap0, f, sizeof(f)) >= 0);
	}
	assert_int_equal(t_sess_open(&m.p0, m.env.sock[0], &o), 0);
	t_frame(f, sizeof(f), 600000, 0x97);
	assert_true(t_pkt_send(m.tap0, f, sizeof(f)) >= 0);
	n = t_sess_rx(&m.p0, in, sizeof(in), &pkt, T_TIMEOUT);
	assert_int_equal(n, (int)sizeof(f));
	if (t_frame_seq(in) != 600000)
		fail_msg("the new guest got frame %u, queued before it connected", t_frame_seq(in));
	assert_int_equal(t_stats(m.env.ctl, "p0", &after), 0);
	assert_int_equal(after.rx_dropped - before.rx_dropped, 20);
}

/* After each case: vhostd alive, p1 carries traffic both ways. */
static int check_p1(void **state)
{
	(void)state;
	if (!t_alive(m.env.pid)) {
		fprintf(stderr, "FAIL: vhostd is gone\n");
		return -1;
	}
	if (t_traffic_check(&m.p1, m.tap1, m.seq, 0x95) < 0)
		return -1;
	m.seq += 2;
	return 0;
}

/* Opens p0 (with LOG_SHMFD and RARP) and p1, and a packet socket on each tap. */
static int setup(void **state)
{
	struct t_opts o = { .pfeatures = LOG_PFEATURES };

	(void)state;
	t_env_load(&m.env);
	m.seq = 1;
	m.tap0 = t_pkt_open(m.env.tap[0]);
	m.tap1 = t_pkt_open(m.env.tap[1]);
	if (m.tap0 < 0 || m.tap1 < 0) {
		t_fail("packet socket", m.tap0 < 0 ? m.tap0 : m.tap1);
		return -1;
	}
	if (t_sess_open(&m.p1, m.env.sock[1], NULL) < 0 ||
	    t_sess_open(&m.p0, m.env.sock[0], &o) < 0)
		return -1;
	if (!(m.p0.conn.protocol_features & VUF_BIT(VUF_PF_LOG_SHMFD)) ||
	    !(m.p0.conn.protocol_features & VUF_BIT(VUF_PF_RARP))) {
		fprintf(stderr, "vhostd offers no LOG_SHMFD or no RARP\n");
		return -1;
	}
	return t_traffic_check(&m.p0, m.tap0, 1000000, 0x90) < 0 ? -1 : 0;
}

/* Closes everything. */
static int teardown(void **state)
{
	(void)state;
	t_sess_close(&m.p0);
	t_sess_close(&m.p1);
	close(m.tap0);
	close(m.tap1);
	return 0;
}

#define T(f) cmocka_unit_test_teardown(f, check_p1)

/* The cases, in order (they share the p0 session; the hostile ones reconnect it). */
int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_log_exact),
		T(test_log_toggle),
		T(test_rarp),
		T(test_hostile_log),
		T(test_hostile_ring_log),
		T(test_log_bounds),
		T(test_stale_frames_discarded),
	};

	return cmocka_run_group_tests_name("frontend-migration", tests, setup, teardown);
}
