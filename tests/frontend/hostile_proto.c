// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Hostile vhost-user messages on p0.
 *
 * Every malformed message is sent with NEED_REPLY on a connection that negotiated REPLY_ACK (and
 * NET_MTU for the NET_SET_MTU values out of the spec's range: the tap's MTU must not move). It
 * must be refused: a non-zero ack (and then the connection still answers), or the connection
 * closed. Never accepted, never ignored. After each case the daemon must be alive and p1 must
 * carry traffic both ways; at the end, 200 refused messages carrying fds must leave the
 * daemon's fd table as it was (every received fd closed on every reject path).
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
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

struct hp {
	struct t_env env;
	int tap1;
	struct t_sess p1;
	struct vuf_conn c; /* the p0 connection under attack */
	uint64_t offered;
	uint32_t seq;
	unsigned refused_ack, refused_closed;
};

static struct hp hp = { .c = { .fd = -1 } };

enum verdict { ACCEPTED, REFUSED_ACK, REFUSED_CLOSED };

/* (Re)connects p0 and negotiates REPLY_ACK (and everything else vhostd offers). */
static void p0_connect(void)
{
	int r;

	vuf_close(&hp.c);
	r = vuf_connect(&hp.c, hp.env.sock[0], T_TIMEOUT);
	if (r < 0)
		fail_msg("connect to p0: %s", strerror(-r));
	r = vuf_negotiate(&hp.c, T_FEATURES | VUF_BIT(VUF_F_PROTOCOL_FEATURES),
			  T_PFEATURES | VUF_BIT(VUF_PF_REPLY_ACK));
	if (r < 0)
		fail_msg("negotiate on p0: %s", strerror(-r));
	if (!(hp.c.protocol_features & VUF_BIT(VUF_PF_REPLY_ACK)))
		fail_msg("vhostd did not offer REPLY_ACK");
	r = vuf_get_u64(&hp.c, VUF_GET_FEATURES, &hp.offered);
	if (r < 0)
		fail_msg("GET_FEATURES: %s", strerror(-r));
}

/* Reads the daemon's answer to a NEED_REPLY message and classifies it; fails the test on an
 * accept, on silence, or on a reply to some other request. */
static enum verdict answer(const char *what, uint32_t request)
{
	struct vuf_msg *m = malloc(sizeof(*m));
	enum verdict v = ACCEPTED;
	uint64_t u = 0;
	int r;

	assert_non_null(m);
	r = vuf_recv(&hp.c, m, T_TIMEOUT);
	if (r == -ECONNRESET) {
		free(m);
		hp.refused_closed++;
		return REFUSED_CLOSED;
	}
	if (r < 0) {
		free(m);
		fail_msg("%s: no reply to NEED_REPLY and connection still open (%s)", what,
			 strerror(-r));
	}
	vuf_msg_close_fds(m);
	if (m->hdr.request != request || !(m->hdr.flags & VUF_FLAG_REPLY) || m->hdr.size != 8) {
		uint32_t rq = m->hdr.request, fl = m->hdr.flags, sz = m->hdr.size;

		free(m);
		fail_msg("%s: reply request %u flags %#x size %u, want request %u with an 8-byte "
			 "ack",
			 what, rq, fl, sz, request);
	}
	u = m->u64;
	free(m);
	if (u == 0)
		fail_msg("%s: accepted (REPLY_ACK 0), want refusal", what);
	v = REFUSED_ACK;
	hp.refused_ack++;
	return v;
}

/* After a refusal: a kept connection must still answer; a closed one is replaced. The daemon
 * must be alive either way. */
static void settle(const char *what, enum verdict v)
{
	uint64_t f;
	int r;

	if (v == REFUSED_ACK) {
		r = vuf_get_u64(&hp.c, VUF_GET_FEATURES, &f);
		if (r == -ECONNRESET)
			v = REFUSED_CLOSED; /* refused, then hung up: also a refusal */
		else if (r < 0)
			fail_msg("%s: refused with an ack, but the connection no longer answers "
				 "(%s)",
				 what, strerror(-r));
	}
	if (!t_alive(hp.env.pid))
		fail_msg("%s: vhostd died", what);
	if (v == REFUSED_CLOSED)
		p0_connect();
}

/* Sends a raw message with NEED_REPLY (header fields as given), expects a refusal, settles. */
static void refuse_raw(const char *what, uint32_t request, uint32_t size, const void *payload,
		       size_t sent, const int *fds, unsigned nfds)
{
	int r = vuf_send_msg(&hp.c, request, VUF_VERSION | VUF_FLAG_NEED_REPLY, size, payload, sent,
			     fds, nfds);

	if (r < 0 && r != -EPIPE && r != -ECONNRESET)
		fail_msg("%s: send: %s", what, strerror(-r));
	settle(what, r < 0 ? REFUSED_CLOSED : answer(what, request));
}

/* Well-formed framing (size = payload length), expects a refusal. */
static void refuse(const char *what, uint32_t request, const void *payload, uint32_t size,
		   const int *fds, unsigned nfds)
{
	refuse_raw(what, request, size, payload, size, fds, nfds);
}

/* An eventfd for attaching to messages. */
static int efd(void)
{
	int fd = eventfd(0, EFD_CLOEXEC);

	assert_true(fd >= 0);
	return fd;
}

/* A memfd of size bytes. */
static int memfd(uint64_t size)
{
	int fd = memfd_create("hostile", MFD_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	return fd;
}

/* Closes n fds. */
static void close_all(const int *fds, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		close(fds[i]);
}

/* After each case: p1 still carries traffic both ways. */
static int check_p1(void **state)
{
	(void)state;
	if (!t_alive(hp.env.pid)) {
		fprintf(stderr, "FAIL: vhostd is gone\n");
		return -1;
	}
	if (t_traffic_check(&hp.p1, hp.tap1, hp.seq, 0x81) < 0)
		return -1;
	hp.seq += 2;
	return 0;
}

/* A header declaring far more payload than any message may have. */
static void test_size_too_big(void **state)
{
	uint64_t f = hp.offered;

	(void)state;
	refuse_raw("SET_FEATURES size 1 MiB", VUF_SET_FEATURES, 1 << 20, &f, 8, NULL, 0);
	refuse_raw("SET_FEATURES size 4 GiB-1", VUF_SET_FEATURES, UINT32_MAX, &f, 8, NULL, 0);
	refuse_raw("SET_VRING_NUM size 64 KiB", VUF_SET_VRING_NUM, 65536, &f, 8, NULL, 0);
}

/* Payload sizes that do not match the request's payload. */
static void test_size_wrong(void **state)
{
	struct vuf_addr a = { 0 };
	struct vuf_mem_table t = { .nregions = 2 };
	uint64_t f = hp.offered;
	int fds[2];

	(void)state;
	refuse("SET_FEATURES size 4", VUF_SET_FEATURES, &f, 4, NULL, 0);
	refuse("SET_FEATURES size 0", VUF_SET_FEATURES, NULL, 0, NULL, 0);
	refuse("SET_VRING_NUM size 4", VUF_SET_VRING_NUM, &f, 4, NULL, 0);
	refuse("SET_VRING_ADDR size 16", VUF_SET_VRING_ADDR, &a, 16, NULL, 0);
	fds[0] = memfd(1 << 20);
	fds[1] = memfd(1 << 20);
	for (unsigned i = 0; i < 2; i++)
		t.regions[i] = (struct vuf_region_desc){ .gpa = T_GPA_BASE + (i << 20),
							 .size = 1 << 20,
							 .uaddr = 0x7f0000000000ull + (i << 20) };
	refuse("SET_MEM_TABLE nregions 2 in 40 bytes", VUF_SET_MEM_TABLE, &t, 8 + 32, fds, 2);
	close_all(fds, 2);
}

/* Messages cut short, then the write side closed: the daemon must not wait for the rest while
 * other ports starve, and must drop the connection at EOF. */
static void test_truncated(void **state)
{
	uint8_t buf[VUF_HDR_SIZE + 8];
	struct vuf_hdr h = { .request = VUF_SET_FEATURES, .flags = VUF_VERSION, .size = 8 };
	struct vuf_msg *m = malloc(sizeof(*m));
	size_t cuts[] = { 6, VUF_HDR_SIZE + 4, VUF_HDR_SIZE };

	(void)state;
	assert_non_null(m);
	memcpy(buf, &h, sizeof(h));
	memcpy(buf + VUF_HDR_SIZE, &hp.offered, 8);
	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		int r;

		assert_int_equal(vuf_send_raw(&hp.c, buf, cuts[i], NULL, 0), 0);
		/* The daemon now holds a partial message: p1 must not notice. */
		assert_int_equal(check_p1(NULL), 0);
		assert_int_equal(shutdown(hp.c.fd, SHUT_WR), 0);
		r = vuf_recv(&hp.c, m, T_TIMEOUT);
		if (r != -ECONNRESET)
			fail_msg(
				"message cut after %zu bytes then EOF: want the connection closed, "
				"got %d (%s)",
				cuts[i], r, r < 0 ? strerror(-r) : "a message");
		hp.refused_closed++;
		p0_connect();
	}
	free(m);
}

/* fds attached to messages that take none, too few, too many. */
static void test_fd_count(void **state)
{
	struct vuf_mem_table t = { .nregions = 2 };
	uint64_t f = hp.offered, v;
	struct vuf_state st = { .index = 0, .num = 256 };
	int fds[3];

	(void)state;
	fds[0] = efd();
	refuse("SET_FEATURES with an fd", VUF_SET_FEATURES, &f, 8, fds, 1);
	refuse("SET_OWNER with an fd", VUF_SET_OWNER, NULL, 0, fds, 1);
	refuse("SET_VRING_NUM with an fd", VUF_SET_VRING_NUM, &st, 8, fds, 1);
	close(fds[0]);

	for (unsigned i = 0; i < 3; i++)
		fds[i] = memfd(1 << 20);
	for (unsigned i = 0; i < 2; i++)
		t.regions[i] = (struct vuf_region_desc){ .gpa = T_GPA_BASE + (i << 20),
							 .size = 1 << 20,
							 .uaddr = 0x7f0000000000ull + (i << 20) };
	refuse("SET_MEM_TABLE 2 regions, 1 fd", VUF_SET_MEM_TABLE, &t, 8 + 64, fds, 1);
	refuse("SET_MEM_TABLE 2 regions, 0 fds", VUF_SET_MEM_TABLE, &t, 8 + 64, NULL, 0);
	refuse("SET_MEM_TABLE 2 regions, 3 fds", VUF_SET_MEM_TABLE, &t, 8 + 64, fds, 3);
	close_all(fds, 3);

	fds[0] = efd();
	fds[1] = efd();
	v = 0;
	refuse("SET_VRING_KICK with 2 fds", VUF_SET_VRING_KICK, &v, 8, fds, 2);
	refuse("SET_VRING_CALL without fd or no-fd flag", VUF_SET_VRING_CALL, &v, 8, NULL, 0);
	close_all(fds, 2);
}

/* Every vring message with a ring index vhostd does not have (queues=1: rings 0 and 1). */
static void test_queue_index(void **state)
{
	static const uint32_t state_msgs[] = { VUF_SET_VRING_NUM, VUF_SET_VRING_BASE,
					       VUF_GET_VRING_BASE, VUF_SET_VRING_ENABLE };
	static const uint32_t fd_msgs[] = { VUF_SET_VRING_KICK, VUF_SET_VRING_CALL,
					    VUF_SET_VRING_ERR };
	static const uint32_t bad[] = { 2, 3, 255, 256, 0x10000, UINT32_MAX };
	char what[96];

	(void)state;
	for (size_t i = 0; i < sizeof(state_msgs) / sizeof(state_msgs[0]); i++) {
		for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
			struct vuf_state s = { .index = bad[k], .num = 1 };

			snprintf(what, sizeof(what), "request %u, ring index %u", state_msgs[i],
				 bad[k]);
			refuse(what, state_msgs[i], &s, sizeof(s), NULL, 0);
		}
	}
	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		struct vuf_addr a = { .index = bad[k] };

		snprintf(what, sizeof(what), "SET_VRING_ADDR, ring index %u", bad[k]);
		refuse(what, VUF_SET_VRING_ADDR, &a, sizeof(a), NULL, 0);
	}
	for (size_t i = 0; i < sizeof(fd_msgs) / sizeof(fd_msgs[0]); i++) {
		static const uint64_t idx[] = { 2, 3, 127, 255 };

		for (size_t k = 0; k < sizeof(idx) / sizeof(idx[0]); k++) {
			int fd = efd();

			snprintf(what, sizeof(what), "request %u, ring index %llu", fd_msgs[i],
				 (unsigned long long)idx[k]);
			refuse(what, fd_msgs[i], &idx[k], 8, &fd, 1);
			close(fd);
		}
	}
}

/* One region description. */
static struct vuf_region_desc reg(uint64_t gpa, uint64_t size, uint64_t uaddr, uint64_t off)
{
	return (struct vuf_region_desc){
		.gpa = gpa, .size = size, .uaddr = uaddr, .mmap_offset = off
	};
}

/* Sends a one- or two-region SET_MEM_TABLE over memfds of file_size bytes; expects refusal. */
static void bad_table(const char *what, uint64_t file_size, unsigned n,
		      const struct vuf_region_desc *r)
{
	struct vuf_mem_table t = { .nregions = n };
	int fds[VUF_MEM_TABLE_MAX];

	for (unsigned i = 0; i < n; i++) {
		t.regions[i] = r[i];
		fds[i] = memfd(file_size);
	}
	refuse(what, VUF_SET_MEM_TABLE, &t, 8 + 32 * n, fds, n);
	close_all(fds, n);
}

/* Memory tables vhostd must not map. */
static void test_mem_table(void **state)
{
	const uint64_t M = 1 << 20, G = T_GPA_BASE, U = 0x7f0000000000ull;
	struct vuf_region_desc r[2];
	uint8_t big[8 + 9 * 32];
	struct vuf_mem_table t = { .nregions = 9 };
	int fds[9];

	(void)state;
	/* Nine regions: in a 296-byte payload, and claimed in a 264-byte one. */
	for (unsigned i = 0; i < 9; i++)
		fds[i] = memfd(M);
	memset(big, 0, sizeof(big));
	memcpy(big, &t, 8);
	for (unsigned i = 0; i < 9; i++) {
		struct vuf_region_desc d = reg(G + i * M, M, U + i * M, 0);

		memcpy(big + 8 + 32 * i, &d, 32);
		if (i < 8)
			t.regions[i] = d;
	}
	refuse("SET_MEM_TABLE 9 regions (296 bytes)", VUF_SET_MEM_TABLE, big, sizeof(big), fds, 9);
	refuse("SET_MEM_TABLE nregions 9 in 264 bytes", VUF_SET_MEM_TABLE, &t, sizeof(t), fds, 8);
	close_all(fds, 9);

	r[0] = reg(G, M, U, 0);
	r[1] = reg(G + M / 2, M, U + 4 * M, 0);
	bad_table("overlapping guest ranges", M, 2, r);
	r[0] = reg(G, 2 * M, U, 0);
	bad_table("region larger than its file", M, 1, r);
	r[0] = reg(G, M / 2, U, M * 3 / 4);
	bad_table("mmap_offset + size beyond the file", M, 1, r);
	r[0] = reg(G, M, U, 2 * M);
	bad_table("mmap_offset beyond the file", M, 1, r);
	r[0] = reg(G, 0, U, 0);
	bad_table("region of size 0", M, 1, r);
	r[0] = reg(UINT64_MAX - 4095, 8192, U, 0);
	bad_table("guest address + size overflows", M, 1, r);
	r[0] = reg(G, 8192, UINT64_MAX - 4095, 0);
	bad_table("user address + size overflows", M, 1, r);
	r[0] = reg(G, 8192, U, UINT64_MAX - 4095);
	bad_table("mmap_offset + size overflows", M, 1, r);
	r[0] = reg(G, UINT64_MAX - 4095, U, 4096);
	bad_table("size near 2^64", M, 1, r);
}

/* ADD_MEM_REG / REM_MEM_REG that must be refused. */
static void test_mem_reg(void **state)
{
	const uint64_t M = 1 << 20, G = T_GPA_BASE, U = 0x7f0000000000ull;
	struct vuf_mem_reg m = { .region = reg(G, M, U, 0) };
	uint64_t ack;
	int fds[2];

	(void)state;
	if (!(hp.c.protocol_features & VUF_BIT(VUF_PF_CONFIGURE_MEM_SLOTS)))
		fail_msg("vhostd did not offer CONFIGURE_MEM_SLOTS");
	fds[0] = memfd(M);
	fds[1] = memfd(M);
	refuse("ADD_MEM_REG without fd", VUF_ADD_MEM_REG, &m, sizeof(m), NULL, 0);
	refuse("ADD_MEM_REG with 2 fds", VUF_ADD_MEM_REG, &m, sizeof(m), fds, 2);
	refuse("ADD_MEM_REG size 4", VUF_ADD_MEM_REG, &m, 4, fds, 1);
	m.region = reg(G, 0, U, 0);
	refuse("ADD_MEM_REG of size 0", VUF_ADD_MEM_REG, &m, sizeof(m), fds, 1);
	m.region = reg(G, 2 * M, U, 0);
	refuse("ADD_MEM_REG larger than its file", VUF_ADD_MEM_REG, &m, sizeof(m), fds, 1);
	m.region = reg(UINT64_MAX - 4095, 8192, U, 0);
	refuse("ADD_MEM_REG guest address overflow", VUF_ADD_MEM_REG, &m, sizeof(m), fds, 1);

	/* A good region, then one overlapping it. */
	m.region = reg(G, M, U, 0);
	assert_int_equal(vuf_ack(&hp.c, VUF_ADD_MEM_REG, &m, sizeof(m), fds, 1, &ack), 0);
	assert_int_equal(ack, 0);
	m.region = reg(G + M / 2, M / 2, U + 8 * M, 0);
	refuse("ADD_MEM_REG overlapping a region", VUF_ADD_MEM_REG, &m, sizeof(m), fds + 1, 1);

	m.region = reg(G + 64 * M, M, U + 64 * M, 0);
	refuse("REM_MEM_REG of a region never added", VUF_REM_MEM_REG, &m, sizeof(m), NULL, 0);
	close_all(fds, 2);
}

/* Request numbers vhost-user does not define (or vhostd does not implement). */
static void test_unknown_request(void **state)
{
	static const uint32_t reqs[] = { 0, 41, 99, 1000, 0x7fffffff, UINT32_MAX };
	uint64_t zero = 0;
	char what[64];

	(void)state;
	for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
		snprintf(what, sizeof(what), "unknown request %u", reqs[i]);
		refuse(what, reqs[i], NULL, 0, NULL, 0);
		snprintf(what, sizeof(what), "unknown request %u with a payload", reqs[i]);
		refuse(what, reqs[i], &zero, 8, NULL, 0);
	}
}

/* SET_FEATURES / SET_PROTOCOL_FEATURES with bits vhostd never offered. */
static void test_unoffered_features(void **state)
{
	uint64_t pf, v, lowest = 0;
	char what[96];

	(void)state;
	for (unsigned b = 0; b < 64; b++) {
		if (!(hp.offered & VUF_BIT(b))) {
			lowest = VUF_BIT(b);
			break;
		}
	}
	assert_true(lowest != 0);
	v = hp.offered | lowest;
	snprintf(what, sizeof(what), "SET_FEATURES with unoffered bit %#llx",
		 (unsigned long long)lowest);
	refuse(what, VUF_SET_FEATURES, &v, 8, NULL, 0);
	v = hp.offered | VUF_BIT(63);
	refuse("SET_FEATURES with bit 63", VUF_SET_FEATURES, &v, 8, NULL, 0);
	v = ~hp.offered;
	refuse("SET_FEATURES with every unoffered bit", VUF_SET_FEATURES, &v, 8, NULL, 0);
	if (!(hp.offered & VUF_BIT(VUF_F_RING_PACKED))) {
		v = hp.offered | VUF_BIT(VUF_F_RING_PACKED);
		refuse("SET_FEATURES with RING_PACKED", VUF_SET_FEATURES, &v, 8, NULL, 0);
	}

	assert_int_equal(vuf_get_u64(&hp.c, VUF_GET_PROTOCOL_FEATURES, &pf), 0);
	v = pf | VUF_BIT(63);
	refuse("SET_PROTOCOL_FEATURES with bit 63", VUF_SET_PROTOCOL_FEATURES, &v, 8, NULL, 0);
}

/* NET_SET_MTU: not negotiated, malformed, out of the spec's range: refused, the tap's MTU as
 * it was. */
static void test_net_set_mtu(void **state)
{
	static const uint64_t bad[] = { 0,
					1,
					67,
					65536,
					1ull << 16 | 1500,
					1ull << 32,
					(1ull << 32) | 9000,
					1ull << 63,
					UINT64_MAX };
	unsigned before = t_if_mtu(hp.env.tap[0]);
	uint64_t v = 9000, pf;
	char what[96];
	int fd;

	(void)state;
	assert_true(before > 0);
	/* case_setup did not negotiate NET_MTU. */
	assert_false(hp.c.protocol_features & VUF_BIT(VUF_PF_MTU));
	refuse("NET_SET_MTU without NET_MTU negotiated", VUF_NET_SET_MTU, &v, 8, NULL, 0);

	vuf_close(&hp.c);
	assert_int_equal(vuf_connect(&hp.c, hp.env.sock[0], T_TIMEOUT), 0);
	assert_int_equal(vuf_negotiate(&hp.c, T_FEATURES, T_PFEATURES | VUF_BIT(VUF_PF_MTU)), 0);
	assert_true(hp.c.protocol_features & VUF_BIT(VUF_PF_MTU));
	refuse_raw("NET_SET_MTU size 4", VUF_NET_SET_MTU, 4, &v, 4, NULL, 0);
	refuse_raw("NET_SET_MTU size 0", VUF_NET_SET_MTU, 0, NULL, 0, NULL, 0);
	refuse_raw("NET_SET_MTU size 16", VUF_NET_SET_MTU, 16, (uint64_t[2]){ 9000, 0 }, 16, NULL,
		   0);
	fd = efd();
	refuse("NET_SET_MTU with an fd", VUF_NET_SET_MTU, &v, 8, &fd, 1);
	close(fd);
	/* A refusal that closed the connection reconnected without NET_MTU: set it again. */
	if (!(hp.c.protocol_features & VUF_BIT(VUF_PF_MTU))) {
		vuf_close(&hp.c);
		assert_int_equal(vuf_connect(&hp.c, hp.env.sock[0], T_TIMEOUT), 0);
		assert_int_equal(
			vuf_negotiate(&hp.c, T_FEATURES, T_PFEATURES | VUF_BIT(VUF_PF_MTU)), 0);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(what, sizeof(what), "NET_SET_MTU %llu", (unsigned long long)bad[i]);
		refuse(what, VUF_NET_SET_MTU, &bad[i], 8, NULL, 0);
		/* A value refused with an ack keeps the connection and its NET_MTU. */
		assert_true(hp.c.protocol_features & VUF_BIT(VUF_PF_MTU));
	}
	assert_int_equal(vuf_get_u64(&hp.c, VUF_GET_PROTOCOL_FEATURES, &pf), 0);
	assert_int_equal(t_if_mtu(hp.env.tap[0]), before);
}

/* One rejected message carrying fds, of kind k (they cycle). */
static void leak_one(unsigned k)
{
	const uint64_t M = 1 << 20, G = T_GPA_BASE, U = 0x7f0000000000ull;
	struct vuf_mem_table t = { 0 };
	struct vuf_mem_reg m = { 0 };
	uint64_t v;
	int fds[4];

	switch (k % 9) {
	case 0:
		fds[0] = efd();
		fds[1] = efd();
		v = hp.offered;
		refuse("leak: SET_FEATURES + 2 fds", VUF_SET_FEATURES, &v, 8, fds, 2);
		close_all(fds, 2);
		break;
	case 1:
		t.nregions = 2;
		t.regions[0] = reg(G, M, U, 0);
		t.regions[1] = reg(G + M, M, U + M, 0);
		for (unsigned i = 0; i < 3; i++)
			fds[i] = memfd(M);
		refuse("leak: SET_MEM_TABLE 2 regions + 3 fds", VUF_SET_MEM_TABLE, &t, 8 + 64, fds,
		       3);
		close_all(fds, 3);
		break;
	case 2:
		t.nregions = 2;
		t.regions[0] = reg(G, M, U, 0);
		t.regions[1] = reg(G + M / 2, M, U + 4 * M, 0);
		fds[0] = memfd(M);
		fds[1] = memfd(M);
		refuse("leak: SET_MEM_TABLE overlapping", VUF_SET_MEM_TABLE, &t, 8 + 64, fds, 2);
		close_all(fds, 2);
		break;
	case 3:
		v = 200;
		fds[0] = efd();
		refuse("leak: SET_VRING_KICK ring 200", VUF_SET_VRING_KICK, &v, 8, fds, 1);
		close(fds[0]);
		break;
	case 4:
		v = 2;
		fds[0] = efd();
		refuse("leak: SET_VRING_CALL ring 2", VUF_SET_VRING_CALL, &v, 8, fds, 1);
		close(fds[0]);
		break;
	case 5:
		m.region = reg(G, 0, U, 0);
		fds[0] = memfd(M);
		refuse("leak: ADD_MEM_REG size 0", VUF_ADD_MEM_REG, &m, sizeof(m), fds, 1);
		close(fds[0]);
		break;
	case 6:
		for (unsigned i = 0; i < 3; i++)
			fds[i] = efd();
		refuse("leak: unknown request + 3 fds", 1000, NULL, 0, fds, 3);
		close_all(fds, 3);
		break;
	case 7:
		t.nregions = 1;
		t.regions[0] = reg(G, 2 * M, U, 0);
		fds[0] = memfd(M);
		refuse("leak: SET_MEM_TABLE beyond file", VUF_SET_MEM_TABLE, &t, 8 + 32, fds, 1);
		close(fds[0]);
		break;
	default:
		m.region = reg(G + 64 * M, M, U + 64 * M, 0);
		fds[0] = memfd(M);
		refuse("leak: REM_MEM_REG unknown region + fd", VUF_REM_MEM_REG, &m, sizeof(m), fds,
		       1);
		close(fds[0]);
		break;
	}
}

/* 200 refused messages with fds leave vhostd's fd table as it was. */
static void test_fd_leak(void **state)
{
	uint64_t f;
	int before, after;

	(void)state;
	before = t_fd_count(hp.env.pid);
	assert_true(before > 0);
	for (unsigned i = 0; i < 200; i++)
		leak_one(i);
	/* Make sure the daemon has dealt with everything we sent. */
	assert_int_equal(vuf_get_u64(&hp.c, VUF_GET_FEATURES, &f), 0);
	after = t_fd_count_settle(hp.env.pid, before, T_TIMEOUT);
	fprintf(stderr,
		"vhostd fds: %d before, %d after 200 refused messages with fds "
		"(%u refused with an ack, %u by closing, over the whole run)\n",
		before, after, hp.refused_ack, hp.refused_closed);
	assert_int_equal(after, before);
}

/* Opens the p1 session, its tap, and the p0 connection. */
static int setup(void **state)
{
	(void)state;
	t_env_load(&hp.env);
	hp.seq = 1;
	hp.tap1 = t_pkt_open(hp.env.tap[1]);
	if (hp.tap1 < 0) {
		t_fail("packet socket", hp.tap1);
		return -1;
	}
	if (t_sess_open(&hp.p1, hp.env.sock[1], NULL) < 0)
		return -1;
	if (t_traffic_check(&hp.p1, hp.tap1, 1000000, 0x80) < 0)
		return -1;
	return 0;
}

/* Closes everything. */
static int teardown(void **state)
{
	(void)state;
	vuf_close(&hp.c);
	t_sess_close(&hp.p1);
	close(hp.tap1);
	return 0;
}

/* Connects p0 afresh for a case. */
static int case_setup(void **state)
{
	int r;

	(void)state;
	vuf_close(&hp.c);
	r = vuf_connect(&hp.c, hp.env.sock[0], T_TIMEOUT);
	if (r < 0)
		return -1;
	r = vuf_negotiate(&hp.c, T_FEATURES, T_PFEATURES);
	if (r < 0 || !(hp.c.protocol_features & VUF_BIT(VUF_PF_REPLY_ACK))) {
		fprintf(stderr, "p0 negotiation failed or no REPLY_ACK\n");
		return -1;
	}
	return vuf_get_u64(&hp.c, VUF_GET_FEATURES, &hp.offered) < 0 ? -1 : 0;
}

#define T(f) cmocka_unit_test_setup_teardown(f, case_setup, check_p1)

/* The cases, each on its own p0 connection, each followed by a p1 check. */
int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_size_too_big), T(test_size_wrong),      T(test_truncated),
		T(test_fd_count),     T(test_queue_index),     T(test_mem_table),
		T(test_mem_reg),      T(test_unknown_request), T(test_unoffered_features),
		T(test_net_set_mtu),  T(test_fd_leak),
	};

	return cmocka_run_group_tests_name("frontend-hostile-proto", tests, setup, teardown);
}
