// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * mvguest: one or two guests (vuf front-ends) on vhostd's macvtap ports, and an AF_PACKET
 * socket on the far side of the lower device, for macvtap-modes.sh. It runs in the far side's
 * namespace (vhost-user sockets are paths, reachable from any namespace) and prints counts; the
 * script decides what they must be for each mode.
 *
 *   mvguest pair SOCK_A MAC_A SOCK_B MAC_B FARIF N [bcast]
 *       guest A sends N frames to MAC_B (with bcast: to the broadcast address); prints
 *       "b=K far=K": how many reached guest B and how many the far side saw arrive.
 *   mvguest far SOCK MAC FARIF N DST
 *       the guest sends N frames to the far side, then the far side sends N frames to DST;
 *       prints "tx=K rx=K": how many of each arrived.
 *
 * Waiting: a frame has no event saying it will never come. Each run waits until the frames
 * that must arrive somewhere (at B, or at the far side) are all there, or for 5 s, then 300 ms
 * more for stragglers, which a "does not reach" verdict counts too.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tutil.h"

enum { FRAME_LEN = 60, WAIT_MS = 5000, GRACE_MS = 300, SLICE_MS = 10 };

/* Parses "aa:bb:cc:dd:ee:ff" into mac; exits on a bad address. */
static void parse_mac(const char *s, uint8_t mac[6])
{
	unsigned v[6];
	char end;

	if (sscanf(s, "%x:%x:%x:%x:%x:%x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &end) != 6) {
		fprintf(stderr, "mvguest: bad MAC '%s'\n", s);
		exit(2);
	}
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)v[i];
}

/* Builds test frame seq from src to dst (T_ETHERTYPE, seq in the payload). */
static void build(uint8_t *f, const uint8_t dst[6], const uint8_t src[6], uint32_t seq)
{
	memset(f, 0, FRAME_LEN);
	memcpy(f, dst, 6);
	memcpy(f + 6, src, 6);
	f[12] = T_ETHERTYPE >> 8;
	f[13] = T_ETHERTYPE & 0xff;
	memcpy(f + 14, &seq, sizeof(seq));
	memcpy(f + 18, "vhostd-mvguest", 14);
}

/* True when f (n bytes) is one of our test frames from src to dst. */
static bool ours(const uint8_t *f, int n, const uint8_t dst[6], const uint8_t src[6])
{
	return n >= FRAME_LEN && !memcmp(f, dst, 6) && !memcmp(f + 6, src, 6) &&
	       f[12] == (T_ETHERTYPE >> 8) && f[13] == (T_ETHERTYPE & 0xff) &&
	       !memcmp(f + 18, "vhostd-mvguest", 14);
}

/* Opens a session on sock or exits. */
static void open_sess(struct t_sess *s, const char *sock)
{
	int r = t_sess_open(s, sock, NULL);

	if (r < 0) {
		fprintf(stderr, "mvguest: cannot connect to %s: %s\n", sock, strerror(-r));
		exit(1);
	}
}

/* Sends n frames from guest s (src) to dst and waits for their chains to come back. */
static void guest_send(struct t_sess *s, const uint8_t dst[6], const uint8_t src[6], unsigned n)
{
	uint8_t f[FRAME_LEN];
	int r;

	for (unsigned i = 0; i < n; i++) {
		build(f, dst, src, i);
		r = t_sess_tx(s, f, sizeof(f));
		if (r >= 0 && (i + 1) % 64 == 0)
			r = t_sess_tx_drain(s, T_TIMEOUT);
		if (r < 0) {
			t_fail("guest transmit", r);
			exit(1);
		}
	}
	r = t_sess_tx_drain(s, T_TIMEOUT);
	if (r < 0) {
		t_fail("guest transmit drain", r);
		exit(1);
	}
}

/*
 * Counts test frames from src to dst arriving at guest g (when not NULL) and on packet socket
 * pfd (when >= 0) until either count reaches n (or WAIT_MS passes), then for GRACE_MS more.
 */
static void collect(struct t_sess *g, int pfd, const uint8_t dst[6], const uint8_t src[6],
		    unsigned n, unsigned *ret_g, unsigned *ret_p)
{
	int64_t end = t_now_ms() + WAIT_MS;
	bool grace = false;
	uint8_t buf[2048];
	unsigned cg = 0, cp = 0;

	while (t_now_ms() < end) {
		struct vuf_rx_pkt pkt;
		int r;

		if (g) {
			r = t_sess_rx(g, buf, sizeof(buf), &pkt, SLICE_MS);
			if (r >= 0 && ours(buf, r, dst, src))
				cg++;
			else if (r < 0 && r != -ETIMEDOUT) {
				t_fail("guest receive", r);
				exit(1);
			}
		}
		if (pfd >= 0) {
			r = t_pkt_recv(pfd, buf, sizeof(buf), SLICE_MS);
			if (r >= 0 && ours(buf, r, dst, src))
				cp++;
		}
		if (!grace && (cg >= n || cp >= n)) {
			grace = true;
			end = t_now_ms() + GRACE_MS;
		}
	}
	*ret_g = cg;
	*ret_p = cp;
}

int main(int argc, char **argv)
{
	struct t_sess a = { 0 }, b = { 0 };
	uint8_t ma[6], mb[6], far_mac[6] = { 0x02, 0x76, 0x68, 0x64, 0x0f, 0x01 };
	unsigned n, cg, cp, tx;
	int pfd;

	if ((argc == 8 || (argc == 9 && !strcmp(argv[8], "bcast"))) && !strcmp(argv[1], "pair")) {
		uint8_t dst[6];

		parse_mac(argv[3], ma);
		parse_mac(argv[5], mb);
		memcpy(dst, mb, 6);
		if (argc == 9)
			memset(dst, 0xff, 6);
		n = (unsigned)atoi(argv[7]);
		pfd = t_pkt_open(argv[6]);
		if (pfd < 0) {
			t_fail("packet socket", pfd);
			return 1;
		}
		open_sess(&a, argv[2]);
		open_sess(&b, argv[4]);
		t_pkt_drain(pfd);
		guest_send(&a, dst, ma, n);
		collect(&b, pfd, dst, ma, n, &cg, &cp);
		printf("b=%u far=%u\n", cg, cp);
		t_sess_close(&a);
		t_sess_close(&b);
		return 0;
	}
	if (argc == 7 && !strcmp(argv[1], "far")) {
		uint8_t f[FRAME_LEN], dst[6];

		parse_mac(argv[3], ma);
		n = (unsigned)atoi(argv[5]);
		parse_mac(argv[6], dst);
		pfd = t_pkt_open(argv[4]);
		if (pfd < 0) {
			t_fail("packet socket", pfd);
			return 1;
		}
		open_sess(&a, argv[2]);
		t_pkt_drain(pfd);
		guest_send(&a, far_mac, ma, n);
		collect(NULL, pfd, far_mac, ma, n, &cg, &tx);
		for (unsigned i = 0; i < n; i++) {
			build(f, dst, far_mac, i);
			if (t_pkt_send(pfd, f, sizeof(f)) < 0) {
				t_fail("far side send", -errno);
				return 1;
			}
		}
		collect(&a, -1, dst, far_mac, n, &cg, &cp);
		printf("tx=%u rx=%u\n", tx, cg);
		t_sess_close(&a);
		return 0;
	}
	fprintf(stderr, "usage: mvguest pair SOCK_A MAC_A SOCK_B MAC_B FARIF N [bcast]\n"
			"       mvguest far SOCK MAC FARIF N DST\n");
	return 2;
}
