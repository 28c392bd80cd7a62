// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * virtio-net features through vhostd on p0, against the namespace's own IP stack behind the
 * tap (198.18.0.1 on vhf0; the "guest" is 198.18.0.2):
 *
 * - NET_SET_MTU: accepted values move the tap's MTU, refused ones leave it and keep the
 *   connection (an ack says so when asked for; without REPLY_ACK the connection stays); not
 *   negotiated, it is refused; the MTU from before comes back when the front-end leaves.
 * - Jumbo frames at MTU 9000: a 9000-byte IP packet (UDP) from the guest reaches a socket in the
 *   namespace whole, and one sent back with DF (IP_PMTUDISC_DO: the send fails unless the tap's
 *   MTU is 9000) reaches the guest whole: in 2 KiB mergeable buffers, and without MRG_RXBUF in
 *   one big buffer. Without MRG_RXBUF and with 2 KiB buffers it is dropped and counted
 *   (rx_oversize, rx_dropped), and the next small frame arrives intact.
 * - USO: a GSO_UDP_L4 frame of 4 x 1000 bytes from the guest reaches the namespace socket as 4
 *   datagrams (malformed USO headers are counted errors and reach nothing); a UDP_SEGMENT send of 4
 * x 1000 bytes in the namespace reaches the guest as one GSO_UDP_L4 frame when it negotiated
 * GUEST_USO4 and GUEST_USO6.
 *
 * With --variant the ports run with mtu=4000,features=-mrg_rxbuf,-event_idx,-host_uso,-log_all
 * (see meson.build): GET_FEATURES lacks those bits, the tap starts at MTU 4000, a front-end's
 * SET_MTU overrides it while connected and 4000 comes back after, and traffic flows.
 */
#include "tutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif

enum {
	HOST_IP = 0xc6120001,  /* 198.18.0.1, the tap's address in the namespace */
	GUEST_IP = 0xc6120002, /* 198.18.0.2 */
	PORT_HOST = 5555,      /* namespace socket the guest sends to */
	PORT_HOST_TX = 5556,   /* namespace socket that sends to the guest */
	PORT_GUEST = 5557,
	JUMBO_MTU = 9000,
	JUMBO_PAYLOAD = JUMBO_MTU - 20 - 8, /* UDP payload of a 9000-byte IP packet */
	USO_SEG = 1000,
	USO_SEGS = 4,
	VIRTIO_NET_F_MTU_BIT = 3,
	VIRTIO_F_GUEST_USO4 = 54,
	VIRTIO_F_GUEST_USO6 = 55,
	VIRTIO_F_HOST_USO = 56,
	GSO_UDP_L4 = 5,
	ETH_LEN = 14,
	IP_LEN = 20,
	UDP_LEN = 8,
	HDRS = ETH_LEN + IP_LEN + UDP_LEN,
};

static const uint8_t guest_mac[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x02 };

struct nf {
	struct t_env env;
	uint8_t tap_mac[6];
	int sock_rx; /* namespace socket bound to PORT_HOST */
	int sock_tx; /* namespace socket bound to PORT_HOST_TX */
	int tapfd;   /* AF_PACKET on the p0 tap */
	unsigned base_mtu;
	bool variant;
};

static struct nf nf = { .sock_rx = -1, .sock_tx = -1, .tapfd = -1 };

/* The p0 tap's MTU, or 0 when it cannot be read. */
static unsigned tap_mtu(void)
{
	return t_if_mtu(nf.env.tap[0]);
}

/* Polls the tap's MTU until it is want (the daemon handles a disconnect on its own time). */
static unsigned tap_mtu_wait(unsigned want)
{
	unsigned m = tap_mtu();

	for (int i = 0; i < T_TIMEOUT / 10 && m != want; i++) {
		usleep(10 * 1000);
		m = tap_mtu();
	}
	return m;
}

/* Polls p0's state until it reads "waiting": the daemon has seen the last front-end go. */
static void wait_p0_idle(void)
{
	struct t_stats st = { 0 };

	for (int i = 0; i < T_TIMEOUT / 10; i++) {
		if (t_stats(nf.env.ctl, "p0", &st) == 0 && strcmp(st.state, "waiting") == 0)
			return;
		usleep(10 * 1000);
	}
	fail_msg("p0 still '%s' after the front-end left", st.state);
}

/* NET_SET_MTU with NEED_REPLY; returns the ack (0: accepted) or fails on a lost connection. */
static uint64_t set_mtu(struct vuf_conn *c, uint64_t mtu)
{
	uint64_t ack = 0;
	int r = vuf_ack(c, VUF_NET_SET_MTU, &mtu, sizeof(mtu), NULL, 0, &ack);

	if (r < 0)
		fail_msg("NET_SET_MTU %llu: %s", (unsigned long long)mtu, strerror(-r));
	return ack;
}

/* A session on p0 with these virtio features (T_FEATURES when 0), NET_MTU negotiated, and
 * rx_slots receive buffers of slot bytes; the MTU set to mtu when nonzero. */
static void open_p0(struct t_sess *s, uint64_t features, unsigned rx_slots, uint32_t slot,
		    unsigned mtu)
{
	struct t_opts o = { .features = features,
			    .pfeatures = T_PFEATURES | VUF_BIT(VUF_PF_MTU),
			    .rx_slots = rx_slots,
			    .rx_slot_size = slot,
			    .mem_size = 8 << 20 };

	wait_p0_idle();
	if (t_sess_open(s, nf.env.sock[0], &o) < 0)
		fail_msg("p0 session set-up failed");
	if (mtu && set_mtu(&s->conn, mtu) != 0)
		fail_msg("NET_SET_MTU %u refused", mtu);
	if (mtu && tap_mtu() != mtu)
		fail_msg("tap MTU %u after NET_SET_MTU %u", tap_mtu(), mtu);
}

/* Internet checksum accumulation over n bytes (big-endian words). */
static uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (n & 1)
		sum += (uint32_t)p[n - 1] << 8;
	return sum;
}

/* Folds a checksum accumulator to 16 bits. */
static uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

/* Stores v big-endian at p. */
static void be16(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* Stores v big-endian at p. */
static void be32(uint8_t *p, uint32_t v)
{
	be16(p, v >> 16);
	be16(p + 2, v);
}

/* Payload byte i of a datagram tagged seq. */
static uint8_t pay(uint32_t seq, size_t i)
{
	return (uint8_t)(seq * 131 + i * 7 + (i >> 8));
}

/*
 * Builds guest -> host Ethernet/IPv4/UDP: len payload bytes, DF set. With partial, the UDP
 * checksum holds the pseudo-header sum for the device to complete (NEEDS_CSUM, and USO);
 * otherwise it is 0 (none, as IPv4 allows). Returns the frame length.
 */
static size_t udp_frame(uint8_t *f, size_t len, uint32_t seq, bool partial)
{
	uint8_t *ip = f + ETH_LEN, *udp = ip + IP_LEN;
	uint32_t ulen = UDP_LEN + (uint32_t)len, sum;

	memcpy(f, nf.tap_mac, 6);
	memcpy(f + 6, guest_mac, 6);
	be16(f + 12, 0x0800);
	memset(ip, 0, IP_LEN);
	ip[0] = 0x45;
	be16(ip + 2, IP_LEN + ulen);
	be16(ip + 4, seq & 0xffff);
	be16(ip + 6, 0x4000); /* DF */
	ip[8] = 64;
	ip[9] = IPPROTO_UDP;
	be32(ip + 12, GUEST_IP);
	be32(ip + 16, HOST_IP);
	be16(ip + 10, (uint16_t)~csum_fold(csum_add(0, ip, IP_LEN)));
	be16(udp, PORT_GUEST);
	be16(udp + 2, PORT_HOST);
	be16(udp + 4, ulen);
	be16(udp + 6, 0);
	for (size_t i = 0; i < len; i++)
		udp[UDP_LEN + i] = pay(seq, i);
	if (partial) {
		sum = csum_add(0, ip + 12, 8) + IPPROTO_UDP + ulen;
		be16(udp + 6, csum_fold(sum));
	}
	return HDRS + len;
}

/* Posts frame f with header h (zero when NULL) on s's TX ring and waits for the chain back. */
static void guest_send(struct t_sess *s, const struct vuf_net_hdr *h, const uint8_t *f, size_t len)
{
	struct vuf_tx_layout l = { .gpa = t_sess_arena(s, VUF_HDR_SIZE + len) };
	int r = vuf_net_tx(&s->tx, h, f, len, &l, NULL);

	if (r < 0)
		fail_msg("post TX frame: %s", strerror(-r));
	r = vuf_vq_notify(&s->tx);
	if (r >= 0)
		r = t_sess_tx_drain(s, T_TIMEOUT);
	if (r < 0)
		fail_msg("TX frame not returned: %s", strerror(-r));
}

/* Receives one datagram on the namespace socket fd within the timeout; its length or -errno. */
static ssize_t sock_recv(int fd, uint8_t *buf, size_t cap)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	if (poll(&p, 1, T_TIMEOUT) <= 0)
		return -ETIMEDOUT;
	return recv(fd, buf, cap, MSG_DONTWAIT);
}

/* Checks that buf holds len payload bytes of datagram seq starting at payload offset off. */
static void check_payload(const char *what, const uint8_t *buf, size_t len, uint32_t seq,
			  size_t off)
{
	for (size_t i = 0; i < len; i++)
		if (buf[i] != pay(seq, off + i))
			fail_msg("%s: payload byte %zu differs", what, off + i);
}

/* Sends len payload bytes from the namespace to the guest (DF: no fragment ever); with seg,
 * as one UDP_SEGMENT send of seg-byte datagrams. Returns 0 or -errno of the send. */
static int host_send(size_t len, uint32_t seq, int seg)
{
	static uint8_t buf[65536];
	struct sockaddr_in to = { .sin_family = AF_INET,
				  .sin_port = htons(PORT_GUEST),
				  .sin_addr.s_addr = htonl(GUEST_IP) };

	for (size_t i = 0; i < len; i++)
		buf[i] = pay(seq, i);
	if (setsockopt(nf.sock_tx, IPPROTO_UDP, UDP_SEGMENT, &seg, sizeof(seg)) < 0)
		return -errno;
	if (sendto(nf.sock_tx, buf, len, 0, (struct sockaddr *)&to, sizeof(to)) < 0)
		return -errno;
	return 0;
}

/* Receives frames on s until the UDP datagram to PORT_GUEST (other frames are skipped); returns
 * the frame length, its header in *ret. */
static int guest_recv_udp(struct t_sess *s, uint8_t *f, size_t cap, struct vuf_rx_pkt *ret)
{
	for (int skipped = 0; skipped < 16; skipped++) {
		int r = t_sess_rx(s, f, cap, ret, T_TIMEOUT);

		if (r < 0)
			return r;
		if (r >= HDRS && f[12] == 0x08 && f[13] == 0 && f[ETH_LEN + 9] == IPPROTO_UDP &&
		    (f[HDRS - 6] << 8 | f[HDRS - 5]) == PORT_GUEST)
			return r;
	}
	return -EBADMSG;
}

/* A jumbo datagram each way on session s (MTU already 9000). */
static void jumbo_both_ways(struct t_sess *s, uint32_t seq)
{
	static uint8_t f[70000], got[70000];
	struct vuf_rx_pkt p;
	size_t len = udp_frame(f, JUMBO_PAYLOAD, seq, false);
	ssize_t n;
	int r;

	assert_int_equal(len, ETH_LEN + JUMBO_MTU);
	guest_send(s, NULL, f, len);
	n = sock_recv(nf.sock_rx, got, sizeof(got));
	if (n != JUMBO_PAYLOAD)
		fail_msg("namespace socket got %zd bytes, want %d", n, JUMBO_PAYLOAD);
	check_payload("guest -> namespace", got, (size_t)n, seq, 0);

	r = host_send(JUMBO_PAYLOAD, seq + 1, 0);
	if (r < 0)
		fail_msg("namespace send of %d bytes with DF: %s (tap MTU %u)", JUMBO_PAYLOAD,
			 strerror(-r), tap_mtu());
	r = guest_recv_udp(s, got, sizeof(got), &p);
	if (r != ETH_LEN + JUMBO_MTU)
		fail_msg("guest got a %d-byte frame, want %d", r, ETH_LEN + JUMBO_MTU);
	check_payload("namespace -> guest", got + HDRS, JUMBO_PAYLOAD, seq + 1, 0);
	fprintf(stderr, "jumbo: %d-byte frames both ways, guest frame in %u buffer(s)\n", r,
		p.nbufs);
}

/* Accepted and refused NET_SET_MTU values, with REPLY_ACK; the connection always stays. */
static void test_set_mtu(void **state)
{
	static const uint64_t bad[] = { 0,	   67,	       65536,
					100000,	   1ull << 32, (1ull << 32) + 1500,
					UINT64_MAX };
	static const unsigned good[] = { 68, 1500, 60000 };
	struct t_sess s;
	uint64_t pf;

	(void)state;
	open_p0(&s, 0, 0, 0, JUMBO_MTU);
	assert_int_equal(vuf_get_u64(&s.conn, VUF_GET_PROTOCOL_FEATURES, &pf), 0);
	assert_true(pf & VUF_BIT(VUF_PF_MTU));
	/* The spec's smallest, Ethernet's, a large one (a tap's own limit is 65535 minus its
	 * Ethernet header: larger values are the tap's to refuse). */
	for (unsigned i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(set_mtu(&s.conn, good[i]), 0);
		assert_int_equal(tap_mtu(), good[i]);
	}
	assert_int_equal(set_mtu(&s.conn, JUMBO_MTU), 0);
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (set_mtu(&s.conn, bad[i]) == 0)
			fail_msg("NET_SET_MTU %llu accepted", (unsigned long long)bad[i]);
		assert_int_equal(tap_mtu(), JUMBO_MTU);
	}
	assert_int_equal(t_traffic_check(&s, nf.tapfd, 1, 0x31), 0);
	t_sess_close(&s);
	/* The front-end is gone: the tap is back at its MTU from before. */
	assert_int_equal(tap_mtu_wait(nf.base_mtu), nf.base_mtu);
}

/* NET_SET_MTU without REPLY_ACK: a refused value changes nothing and keeps the connection; a
 * good one applies. Without the NET_MTU protocol feature it is refused. */
static void test_set_mtu_no_ack(void **state)
{
	struct t_opts o = { .pfeatures = VUF_BIT(VUF_PF_MQ) | VUF_BIT(VUF_PF_MTU) };
	struct t_sess s;
	uint64_t v, f;

	(void)state;
	wait_p0_idle();
	assert_int_equal(t_sess_open(&s, nf.env.sock[0], &o), 0);
	assert_false(s.conn.protocol_features & VUF_BIT(VUF_PF_REPLY_ACK));
	v = 100000;
	assert_int_equal(vuf_send(&s.conn, VUF_NET_SET_MTU, 0, &v, 8, NULL, 0), 0);
	assert_int_equal(vuf_get_u64(&s.conn, VUF_GET_FEATURES, &f), 0); /* still connected */
	assert_int_equal(tap_mtu(), nf.base_mtu);
	v = 1600;
	assert_int_equal(vuf_send(&s.conn, VUF_NET_SET_MTU, 0, &v, 8, NULL, 0), 0);
	assert_int_equal(vuf_get_u64(&s.conn, VUF_GET_FEATURES, &f), 0);
	assert_int_equal(tap_mtu(), 1600);
	t_sess_close(&s);
	assert_int_equal(tap_mtu_wait(nf.base_mtu), nf.base_mtu);

	/* REPLY_ACK but not NET_MTU: refused, MTU untouched. */
	o.pfeatures = T_PFEATURES;
	wait_p0_idle();
	assert_int_equal(t_sess_open(&s, nf.env.sock[0], &o), 0);
	assert_false(s.conn.protocol_features & VUF_BIT(VUF_PF_MTU));
	assert_int_not_equal(set_mtu(&s.conn, JUMBO_MTU), 0);
	assert_int_equal(tap_mtu(), nf.base_mtu);
	assert_int_equal(t_traffic_check(&s, nf.tapfd, 3, 0x32), 0);
	t_sess_close(&s);
}

/* MTU 9000 with MRG_RXBUF: 9000-byte packets both ways, the guest's in 2 KiB buffers. */
static void test_jumbo_mrg(void **state)
{
	struct t_sess s;

	(void)state;
	open_p0(&s, 0, 128, 2048, JUMBO_MTU);
	assert_true(s.mrg);
	jumbo_both_ways(&s, 10);
	t_sess_close(&s);
}

/* MTU 9000 without MRG_RXBUF: one receive buffer per frame, large enough. */
static void test_jumbo_no_mrg(void **state)
{
	struct t_sess s;

	(void)state;
	open_p0(&s, T_FEATURES & ~VUF_BIT(VUF_F_MRG_RXBUF), 32, 9216, JUMBO_MTU);
	assert_false(s.mrg);
	jumbo_both_ways(&s, 20);
	t_sess_close(&s);
}

/* Without MRG_RXBUF, a 9014-byte frame for 2 KiB buffers is dropped whole and counted; the
 * next frame that fits arrives intact. */
static void test_jumbo_too_big(void **state)
{
	static uint8_t got[70000];
	struct t_stats a, b;
	struct vuf_rx_pkt p;
	struct t_sess s;
	int r;

	(void)state;
	open_p0(&s, T_FEATURES & ~VUF_BIT(VUF_F_MRG_RXBUF), 64, 2048, JUMBO_MTU);
	assert_int_equal(t_stats(nf.env.ctl, "p0", &b), 0);
	assert_int_equal(host_send(JUMBO_PAYLOAD, 30, 0), 0);
	assert_int_equal(t_stats_wait(nf.env.ctl, "p0", offsetof(struct t_stats, rx_oversize),
				      b.rx_oversize + 1, T_TIMEOUT, &a),
			 0);
	assert_int_equal(host_send(100, 31, 0), 0);
	r = guest_recv_udp(&s, got, sizeof(got), &p);
	if (r != HDRS + 100)
		fail_msg("after the dropped jumbo frame the guest got %d bytes, want %d", r,
			 HDRS + 100);
	check_payload("small frame after a dropped one", got + HDRS, 100, 31, 0);
	assert_int_equal(t_stats(nf.env.ctl, "p0", &a), 0);
	t_stats_print("before", &b);
	t_stats_print("after", &a);
	assert_int_equal(a.rx_oversize - b.rx_oversize, 1);
	assert_int_equal(a.rx_dropped - b.rx_dropped, 1);
	assert_int_equal(a.ring_faults, b.ring_faults);
	t_sess_close(&s);
}

/* Sends the USO frame f with header h changed as given; it must be counted in tx_errors and
 * never reach the namespace socket. */
static void uso_refused(struct t_sess *s, const struct vuf_net_hdr *h, const uint8_t *f, size_t len,
			const char *what, uint8_t flags, uint16_t csum_offset, uint8_t gso_type,
			uint16_t gso_size)
{
	struct vuf_net_hdr bad = *h;
	struct t_stats a, b;
	uint8_t got[64];

	bad.flags = flags;
	bad.csum_offset = csum_offset;
	bad.gso_type = gso_type;
	bad.gso_size = gso_size;
	assert_int_equal(t_stats(nf.env.ctl, "p0", &b), 0);
	guest_send(s, &bad, f, len);
	assert_int_equal(t_stats(nf.env.ctl, "p0", &a), 0);
	if (a.tx_errors != b.tx_errors + 1 || a.tx_packets != b.tx_packets)
		fail_msg("USO frame with %s: tx_errors +%llu, tx_packets +%llu; want +1, +0", what,
			 (unsigned long long)(a.tx_errors - b.tx_errors),
			 (unsigned long long)(a.tx_packets - b.tx_packets));
	if (recv(nf.sock_rx, got, sizeof(got), MSG_DONTWAIT) >= 0)
		fail_msg("USO frame with %s reached the namespace", what);
}

/* A GSO_UDP_L4 frame from the guest reaches the namespace as USO_SEGS datagrams; malformed USO
 * headers, and USO from a guest that did not negotiate it, are refused and counted. */
static void test_uso_guest_to_host(void **state)
{
	static uint8_t f[HDRS + USO_SEG * USO_SEGS], got[4096];
	struct vuf_net_hdr h = { .flags = VUF_NET_HDR_F_NEEDS_CSUM,
				 .gso_type = GSO_UDP_L4,
				 .hdr_len = HDRS,
				 .gso_size = USO_SEG,
				 .csum_start = ETH_LEN + IP_LEN,
				 .csum_offset = 6 };
	struct t_stats a, b;
	struct t_sess s;
	size_t len;

	(void)state;
	open_p0(&s, T_FEATURES | VUF_BIT(VIRTIO_F_HOST_USO), 0, 0, 0);
	if (!(s.conn.features & VUF_BIT(VIRTIO_F_HOST_USO)))
		fail_msg("HOST_USO not offered (the tap takes USO on this kernel)");
	assert_int_equal(t_stats(nf.env.ctl, "p0", &b), 0);
	len = udp_frame(f, USO_SEG * USO_SEGS, 40, true);
	guest_send(&s, &h, f, len);
	for (unsigned i = 0; i < USO_SEGS; i++) {
		ssize_t n = sock_recv(nf.sock_rx, got, sizeof(got));

		if (n != USO_SEG)
			fail_msg("segment %u: %zd bytes, want %d", i, n, USO_SEG);
		check_payload("USO segment", got, USO_SEG, 40, (size_t)i * USO_SEG);
	}
	assert_int_equal(t_stats(nf.env.ctl, "p0", &a), 0);
	assert_int_equal(a.tx_errors, b.tx_errors);
	assert_int_equal(a.tx_packets - b.tx_packets, 1);

	/* Headers the kernel must never see: each is a counted error, nothing is sent. */
	uso_refused(&s, &h, f, len, "no NEEDS_CSUM", 0, 6, GSO_UDP_L4, USO_SEG);
	uso_refused(&s, &h, f, len, "checksum not at the UDP field", 1, 16, GSO_UDP_L4, USO_SEG);
	uso_refused(&s, &h, f, len, "ECN bit", 1, 6, GSO_UDP_L4 | 0x80, USO_SEG);
	uso_refused(&s, &h, f, len, "gso_size 0", 1, 6, GSO_UDP_L4, 0);
	t_sess_close(&s);

	/* A guest that did not negotiate HOST_USO may not send it. */
	open_p0(&s, T_FEATURES, 0, 0, 0);
	uso_refused(&s, &h, f, len, "HOST_USO not negotiated", 1, 6, GSO_UDP_L4, USO_SEG);
	t_sess_close(&s);
}

/* A UDP_SEGMENT send in the namespace reaches a guest with GUEST_USO4/6 as one GSO_UDP_L4
 * frame; a guest with GUEST_USO4 only gets the segments (the tap has one switch for both). */
static void test_uso_host_to_guest(void **state)
{
	const uint64_t uso = VUF_BIT(VIRTIO_F_GUEST_USO4) | VUF_BIT(VIRTIO_F_GUEST_USO6);
	static uint8_t got[70000];
	struct vuf_rx_pkt p;
	struct t_sess s;
	int r;

	(void)state;
	open_p0(&s, T_FEATURES | uso, 128, 2048, 0);
	if ((s.conn.features & uso) != uso)
		fail_msg("GUEST_USO4/6 not offered (the tap takes USO on this kernel)");
	assert_int_equal(host_send(USO_SEG * USO_SEGS, 50, USO_SEG), 0);
	r = guest_recv_udp(&s, got, sizeof(got), &p);
	if (r != HDRS + USO_SEG * USO_SEGS)
		fail_msg("guest got a %d-byte frame, want one of %d", r, HDRS + USO_SEG * USO_SEGS);
	if (p.hdr.gso_type != GSO_UDP_L4 || p.hdr.gso_size != USO_SEG ||
	    !(p.hdr.flags & VUF_NET_HDR_F_NEEDS_CSUM))
		fail_msg("header gso_type %u gso_size %u flags %#x, want %d, %d, NEEDS_CSUM",
			 p.hdr.gso_type, p.hdr.gso_size, p.hdr.flags, GSO_UDP_L4, USO_SEG);
	check_payload("USO frame", got + HDRS, USO_SEG * USO_SEGS, 50, 0);
	t_sess_close(&s);

	open_p0(&s, T_FEATURES | VUF_BIT(VIRTIO_F_GUEST_USO4), 128, 2048, 0);
	assert_int_equal(host_send(USO_SEG * USO_SEGS, 60, USO_SEG), 0);
	for (unsigned i = 0; i < USO_SEGS; i++) {
		r = guest_recv_udp(&s, got, sizeof(got), &p);
		if (r != HDRS + USO_SEG || p.hdr.gso_type != 0)
			fail_msg("GUEST_USO4 only: segment %u is %d bytes, gso_type %u", i, r,
				 p.hdr.gso_type);
		check_payload("segment", got + HDRS, USO_SEG, 60, (size_t)i * USO_SEG);
	}
	t_sess_close(&s);
}

/* --variant: the masked features are not offered, mtu= set the tap, SET_MTU overrides it
 * while connected, traffic flows. */
static void test_variant(void **state)
{
	const uint64_t off = VUF_BIT(VUF_F_MRG_RXBUF) | VUF_BIT(VUF_F_EVENT_IDX) |
			     VUF_BIT(VIRTIO_F_HOST_USO) | VUF_BIT(VUF_F_LOG_ALL);
	struct t_sess s;
	uint64_t f, pf;

	(void)state;
	assert_int_equal(nf.base_mtu, 4000);
	open_p0(&s, 0, 64, 2048, 0);
	assert_int_equal(vuf_get_u64(&s.conn, VUF_GET_FEATURES, &f), 0);
	assert_int_equal(vuf_get_u64(&s.conn, VUF_GET_PROTOCOL_FEATURES, &pf), 0);
	fprintf(stderr, "GET_FEATURES %#llx, protocol %#llx\n", (unsigned long long)f,
		(unsigned long long)pf);
	assert_int_equal(f & off, 0);
	/* What was not switched off is still there. */
	assert_true(f & VUF_BIT(VUF_F_VERSION_1));
	assert_true(f & VUF_BIT(VUF_F_INDIRECT_DESC));
	assert_true(f & VUF_BIT(VIRTIO_F_GUEST_USO4));
	assert_true(f & VUF_BIT(VIRTIO_NET_F_MTU_BIT));
	assert_true(pf & VUF_BIT(VUF_PF_MTU));
	assert_false(s.mrg);
	assert_int_equal(t_traffic_check(&s, nf.tapfd, 5, 0x33), 0);
	assert_int_equal(set_mtu(&s.conn, JUMBO_MTU), 0);
	assert_int_equal(tap_mtu(), JUMBO_MTU);
	t_sess_close(&s);
	assert_int_equal(tap_mtu_wait(4000), 4000);
}

/* Namespace side: the tap's address, a static neighbour for the guest, two UDP sockets. */
static int setup(void **state)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(HOST_IP) };
	struct ifreq ifr = { 0 };
	int pmtu = IP_PMTUDISC_DO, s;
	char cmd[256];

	(void)state;
	t_env_load(&nf.env);
	nf.base_mtu = tap_mtu();
	snprintf(cmd, sizeof(cmd),
		 "ip addr add 198.18.0.1/24 dev %s && ip neigh replace 198.18.0.2 lladdr "
		 "02:00:00:00:00:02 dev %s nud permanent",
		 nf.env.tap[0], nf.env.tap[0]);
	if (system(cmd) != 0) {
		fprintf(stderr, "FAIL: %s\n", cmd);
		return -1;
	}
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", nf.env.tap[0]);
	if (s < 0 || ioctl(s, SIOCGIFHWADDR, &ifr) < 0)
		return -1;
	close(s);
	memcpy(nf.tap_mac, ifr.ifr_hwaddr.sa_data, 6);
	nf.sock_rx = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	nf.sock_tx = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	a.sin_port = htons(PORT_HOST);
	if (nf.sock_rx < 0 || bind(nf.sock_rx, (struct sockaddr *)&a, sizeof(a)) < 0)
		return -1;
	a.sin_port = htons(PORT_HOST_TX);
	if (nf.sock_tx < 0 || bind(nf.sock_tx, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    setsockopt(nf.sock_tx, IPPROTO_IP, IP_MTU_DISCOVER, &pmtu, sizeof(pmtu)) < 0)
		return -1;
	nf.tapfd = t_pkt_open(nf.env.tap[0]);
	return nf.tapfd < 0 ? -1 : 0;
}

/* Closes the sockets. */
static int teardown(void **state)
{
	(void)state;
	close(nf.sock_rx);
	close(nf.sock_tx);
	close(nf.tapfd);
	return 0;
}

/* Runs the default group, or the --variant one. */
int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_set_mtu),		  cmocka_unit_test(test_set_mtu_no_ack),
		cmocka_unit_test(test_jumbo_mrg),	  cmocka_unit_test(test_jumbo_no_mrg),
		cmocka_unit_test(test_jumbo_too_big),	  cmocka_unit_test(test_uso_guest_to_host),
		cmocka_unit_test(test_uso_host_to_guest),
	};
	const struct CMUnitTest variant[] = {
		cmocka_unit_test(test_variant),
	};

	nf.variant = argc > 1 && strcmp(argv[1], "--variant") == 0;
	if (nf.variant)
		return cmocka_run_group_tests_name("frontend-netfeat-variant", variant, setup,
						   teardown);
	return cmocka_run_group_tests_name("frontend-netfeat", tests, setup, teardown);
}
