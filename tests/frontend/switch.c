/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The VM switch against our own front-end (switch.sh starts vhostd): guest ports a (its MAC
 * pinned with mac=), b and c untagged, v10 and v20 access ports of VLANs 10 and 20, and the tap
 * swup0 as the uplink, captured with a packet socket (802.1Q tags read from PACKET_AUXDATA), all
 * on switch sw0 with switch_ageing=4. Every step checks the frames that arrive byte for byte and
 * every port's receive counter exactly, so a frame that went somewhere it should not is caught.
 */
#include <errno.h>
#include <json-c/json.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "tutil.h"

enum { PA, PB, PC, P10, P20, NPORTS, FRAME = 60 };

static const char *const names[NPORTS] = { "a", "b", "c", "v10", "v20" };
static const char *ctl, *dir;
static struct t_sess sess[NPORTS];
static int upfd = -1;
static uint32_t seq;

/* The station behind each port, and others. */
static const uint8_t MAC[NPORTS][6] = { { 2, 0, 0, 0, 0, 0x0a },
					{ 2, 0, 0, 0, 0, 0x0b },
					{ 2, 0, 0, 0, 0, 0x0c },
					{ 2, 0, 0, 0, 0, 0x10 },
					{ 2, 0, 0, 0, 0, 0x20 } };
static const uint8_t BCAST[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
static const uint8_t HOST[6] = { 2, 0, 0, 0, 0, 0xee };	  /* behind the uplink */
static const uint8_t NOBODY[6] = { 2, 0, 0, 0, 0, 0x0d }; /* never sends */
static const uint8_t AGED[6] = { 2, 0, 0, 0, 0, 0x0e };

/* A 60-byte frame dst <- src of `type` (0x0806: an ARP request body) with a fresh sequence. */
static void mkframe(uint8_t *f, const uint8_t *dst, const uint8_t *src, uint16_t type)
{
	memset(f, 0, FRAME);
	memcpy(f, dst, 6);
	memcpy(f + 6, src, 6);
	f[12] = (uint8_t)(type >> 8);
	f[13] = (uint8_t)type;
	if (type == 0x0806) {
		static const uint8_t arp[8] = { 0, 1, 8, 0, 6, 4, 0, 1 };

		memcpy(f + 14, arp, 8);
		memcpy(f + 22, src, 6);
	}
	seq++;
	memcpy(f + 50, &seq, 4);
}

/* Counter key of port name's switch object (port-show). */
static uint64_t swc(const char *name, const char *key)
{
	char req[160];
	struct json_object *r, *o;
	uint64_t v;

	snprintf(req, sizeof(req), "{\"op\":\"port-show\",\"args\":{\"name\":\"%s\"}}\n", name);
	r = t_ctl_call(ctl, req);
	if (!json_object_object_get_ex(r, "result", &o) ||
	    !json_object_object_get_ex(o, "switch", &o) || !json_object_object_get_ex(o, key, &o))
		fail_msg("no switch.%s for %s: %s", key, name, json_object_to_json_string(r));
	v = (uint64_t)json_object_get_int64(o);
	json_object_put(r);
	return v;
}

/* Port name's rx_packets (or tx_dropped when drops). */
static uint64_t stat_of(const char *name, bool drops)
{
	struct t_stats st;

	assert_int_equal(t_stats(ctl, name, &st), 0);
	return drops ? st.tx_dropped : st.rx_packets;
}

/* Every guest port's rx_packets and the uplink's to_uplink into c. */
static void snap(uint64_t c[NPORTS + 1])
{
	for (unsigned i = 0; i < NPORTS; i++)
		c[i] = sess[i].conn.fd >= 0 ? stat_of(names[i], false) : 0;
	c[NPORTS] = swc("up", "to_uplink");
}

/* Asserts the counters moved by exactly want[] since before. */
static void expect_delta(const uint64_t before[NPORTS + 1], const int want[NPORTS + 1],
			 const char *what)
{
	uint64_t now[NPORTS + 1];

	snap(now);
	for (unsigned i = 0; i <= NPORTS; i++)
		if (now[i] - before[i] != (uint64_t)want[i])
			fail_msg("%s: %s received %llu frame(s), expected %d", what,
				 i < NPORTS ? names[i] : "the uplink",
				 (unsigned long long)(now[i] - before[i]), want[i]);
}

/* Port p's guest sends f and gets its buffer back. */
static void send_from(unsigned p, const uint8_t *f)
{
	assert_true(t_sess_tx(&sess[p], f, FRAME) >= 0);
	assert_int_equal(t_sess_tx_drain(&sess[p], T_TIMEOUT), 0);
}

/* Port p's guest receives exactly f. */
static void recv_on(unsigned p, const uint8_t *f, size_t len, const char *what)
{
	uint8_t in[2048];
	struct vuf_rx_pkt pkt;
	int n = t_sess_rx(&sess[p], in, sizeof(in), &pkt, T_TIMEOUT);

	if (n < 0)
		fail_msg("%s: nothing reached %s (%d)", what, names[p], n);
	if ((size_t)n != len || memcmp(in, f, len) != 0)
		fail_msg("%s: %s got another frame (%d bytes, seq %u)", what, names[p], n,
			 n >= 54 ? *(uint32_t *)(in + 50) : 0);
}

/* The next frame vhostd wrote to the uplink tap: f, tagged with vid (0: untagged). */
static void recv_uplink(const uint8_t *f, unsigned vid, const char *what)
{
	int64_t deadline = t_now_ms() + T_TIMEOUT;

	for (;;) {
		uint8_t in[2048];
		union {
			struct cmsghdr c;
			char b[CMSG_SPACE(sizeof(struct tpacket_auxdata))];
		} cbuf;
		struct sockaddr_ll from;
		struct iovec iov = { in, sizeof(in) };
		struct msghdr mh = { .msg_name = &from,
				     .msg_namelen = sizeof(from),
				     .msg_iov = &iov,
				     .msg_iovlen = 1,
				     .msg_control = &cbuf,
				     .msg_controllen = sizeof(cbuf) };
		struct pollfd pf = { .fd = upfd, .events = POLLIN };
		unsigned tag = 0;
		ssize_t n;

		if (poll(&pf, 1, (int)(deadline - t_now_ms())) <= 0)
			fail_msg("%s: nothing on the uplink", what);
		n = recvmsg(upfd, &mh, MSG_DONTWAIT);
		if (n < 0 || from.sll_pkttype == PACKET_OUTGOING)
			continue;
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
			if (c->cmsg_level == SOL_PACKET && c->cmsg_type == PACKET_AUXDATA) {
				struct tpacket_auxdata aux;

				memcpy(&aux, CMSG_DATA(c), sizeof(aux));
				if (aux.tp_status & TP_STATUS_VLAN_VALID)
					tag = aux.tp_vlan_tci & 0xfff;
			}
		if (tag != vid)
			fail_msg("%s: uplink frame tagged %u, expected %u", what, tag, vid);
		if ((size_t)n != FRAME || memcmp(in, f, FRAME) != 0)
			fail_msg("%s: another frame on the uplink (%zd bytes)", what, n);
		return;
	}
}

/* f sent into the switch from the uplink's far side, tagged with vid when not 0. */
static void send_uplink(const uint8_t *f, unsigned vid)
{
	uint8_t out[FRAME + 4];

	if (!vid) {
		assert_int_equal(t_pkt_send(upfd, f, FRAME), 0);
		return;
	}
	memcpy(out, f, 12);
	out[12] = 0x81;
	out[13] = 0;
	out[14] = (uint8_t)(vid >> 8);
	out[15] = (uint8_t)vid;
	memcpy(out + 16, f + 12, FRAME - 12);
	assert_int_equal(t_pkt_send(upfd, out, sizeof(out)), 0);
}

/* Makes the switch learn every guest station (each broadcasts once; the floods are read). */
static void learn_all(void)
{
	uint8_t f[FRAME];

	for (unsigned p = 0; p < NPORTS; p++) {
		mkframe(f, BCAST, MAC[p], 0x0806);
		send_from(p, f);
		for (unsigned o = 0; o < NPORTS; o++)
			if (o != p && (o == P10 || o == P20 ? o == p : p != P10 && p != P20))
				recv_on(o, f, FRAME, "learning");
		recv_uplink(f, p == P10 ? 10 : p == P20 ? 20 : 0, "learning");
	}
}

/* Broadcast and ARP reach every port of the VLAN and the uplink; the reply only the asker. */
static void test_broadcast_arp(void **state)
{
	uint64_t c[NPORTS + 1];
	uint8_t f[FRAME];

	snap(c);
	mkframe(f, BCAST, MAC[PA], 0x0806);
	send_from(PA, f);
	recv_on(PB, f, FRAME, "ARP request");
	recv_on(PC, f, FRAME, "ARP request");
	recv_uplink(f, 0, "ARP request");
	expect_delta(c, (int[]){ 0, 1, 1, 0, 0, 1 }, "ARP request from a");

	snap(c);
	mkframe(f, MAC[PA], MAC[PB], 0x0806);
	f[21] = 2; /* the reply */
	send_from(PB, f);
	recv_on(PA, f, FRAME, "ARP reply");
	expect_delta(c, (int[]){ 1, 0, 0, 0, 0, 0 }, "ARP reply b -> a");
}

/* Learnt unicast reaches one port; unknown unicast and multicast flood the VLAN and uplink. */
static void test_unicast(void **state)
{
	uint64_t c[NPORTS + 1];
	uint8_t f[FRAME];

	learn_all();
	for (unsigned k = 0; k < 5; k++) {
		snap(c);
		mkframe(f, MAC[PB], MAC[PC], 0x88b5);
		send_from(PC, f);
		recv_on(PB, f, FRAME, "unicast c -> b");
		expect_delta(c, (int[]){ 0, 1, 0, 0, 0, 0 }, "unicast c -> b");
	}
	snap(c);
	mkframe(f, NOBODY, MAC[PA], 0x88b5);
	send_from(PA, f);
	recv_on(PB, f, FRAME, "unknown unicast");
	recv_on(PC, f, FRAME, "unknown unicast");
	recv_uplink(f, 0, "unknown unicast");
	expect_delta(c, (int[]){ 0, 1, 1, 0, 0, 1 }, "unknown unicast from a");

	snap(c);
	mkframe(f, (const uint8_t[]){ 0x01, 0x00, 0x5e, 0, 0, 1 }, MAC[PB], 0x0800);
	send_from(PB, f);
	recv_on(PA, f, FRAME, "multicast");
	recv_on(PC, f, FRAME, "multicast");
	recv_uplink(f, 0, "multicast");
	expect_delta(c, (int[]){ 1, 0, 1, 0, 0, 1 }, "multicast from b");

	/* From the uplink: to a learnt guest only; from the host, learnt on the uplink. */
	snap(c);
	mkframe(f, MAC[PC], HOST, 0x88b5);
	send_uplink(f, 0);
	recv_on(PC, f, FRAME, "uplink -> c");
	expect_delta(c, (int[]){ 0, 0, 1, 0, 0, 0 }, "uplink -> c");
	snap(c);
	mkframe(f, HOST, MAC[PA], 0x88b5);
	send_from(PA, f);
	recv_uplink(f, 0, "a -> host");
	expect_delta(c, (int[]){ 0, 0, 0, 0, 0, 1 }, "a -> host behind the uplink");
}

/* Access VLANs see only themselves; the uplink carries them tagged, and untags them inbound. */
static void test_vlans(void **state)
{
	uint64_t c[NPORTS + 1];
	uint8_t f[FRAME];

	learn_all();
	snap(c);
	mkframe(f, BCAST, MAC[P10], 0x0806);
	send_from(P10, f);
	recv_uplink(f, 10, "VLAN 10 broadcast");
	expect_delta(c, (int[]){ 0, 0, 0, 0, 0, 1 }, "broadcast in VLAN 10");

	/* v20 -> v10's address: not in VLAN 20, so flooded there: the uplink only, tag 20. */
	snap(c);
	mkframe(f, MAC[P10], MAC[P20], 0x88b5);
	send_from(P20, f);
	recv_uplink(f, 20, "VLAN 20 to a VLAN 10 address");
	expect_delta(c, (int[]){ 0, 0, 0, 0, 0, 1 }, "v20 -> v10's address");

	/* a -> v10's address (learnt in VLAN 10 only): flooded in VLAN 0, never into VLAN 10. */
	snap(c);
	mkframe(f, MAC[P10], MAC[PA], 0x88b5);
	send_from(PA, f);
	recv_on(PB, f, FRAME, "a -> v10's address");
	recv_on(PC, f, FRAME, "a -> v10's address");
	recv_uplink(f, 0, "a -> v10's address");
	expect_delta(c, (int[]){ 0, 1, 1, 0, 0, 1 }, "a -> v10's address");

	/* Tagged broadcast from the uplink: VLAN 10's port only, untagged. */
	snap(c);
	mkframe(f, BCAST, HOST, 0x0806);
	send_uplink(f, 10);
	recv_on(P10, f, FRAME, "uplink VLAN 10 broadcast");
	expect_delta(c, (int[]){ 0, 0, 0, 1, 0, 0 }, "uplink broadcast tagged 10");
	snap(c);
	mkframe(f, MAC[P20], HOST, 0x88b5);
	send_uplink(f, 20);
	recv_on(P20, f, FRAME, "uplink VLAN 20 unicast");
	expect_delta(c, (int[]){ 0, 0, 0, 0, 1, 0 }, "uplink unicast tagged 20");
	/* v20's address tagged 10: not known in VLAN 10, so flooded there. */
	snap(c);
	mkframe(f, MAC[P20], HOST, 0x88b5);
	send_uplink(f, 10);
	recv_on(P10, f, FRAME, "v20's address tagged 10");
	expect_delta(c, (int[]){ 0, 0, 0, 1, 0, 0 }, "v20's address tagged 10");
	/* A VLAN no port is in, then a double tag: nowhere (the second counted). */
	snap(c);
	uint64_t dv = swc("up", "drop_vlan");
	mkframe(f, BCAST, HOST, 0x0806);
	send_uplink(f, 30);
	mkframe(f, BCAST, HOST, 0x8100);
	f[15] = 10; /* the inner tag's VID */
	send_uplink(f, 10);
	/* The uplink is read in order: a frame after both proves they were handled. */
	mkframe(f, MAC[PB], HOST, 0x88b5);
	send_uplink(f, 0);
	recv_on(PB, f, FRAME, "after the VLAN 30 and double-tagged frames");
	assert_int_equal(swc("up", "drop_vlan") - dv, 1);
	expect_delta(c, (int[]){ 0, 1, 0, 0, 0, 0 }, "VLAN 30 and a double tag from the uplink");
}

/* Hostile guests: tagged frames, multicast sources, stealing a pinned address; all counted. */
static void test_hostile(void **state)
{
	uint64_t c[NPORTS + 1], tagged = swc("b", "drop_tagged"), mc = swc("b", "drop_src_mcast");
	uint64_t refused = swc("c", "moves_refused"), drops = stat_of("b", true);
	uint8_t f[FRAME];

	learn_all();
	snap(c);
	mkframe(f, BCAST, MAC[PB], 0x8100);
	send_from(PB, f);
	mkframe(f, BCAST, MAC[PB], 0x88a8);
	send_from(PB, f);
	mkframe(f, MAC[PA], (const uint8_t[]){ 3, 0, 0, 0, 0, 0x0b }, 0x88b5);
	send_from(PB, f);
	assert_int_equal(swc("b", "drop_tagged") - tagged, 2);
	assert_int_equal(swc("b", "drop_src_mcast") - mc, 1);
	assert_int_equal(stat_of("b", true) - drops, 3);
	expect_delta(c, (int[]){ 0, 0, 0, 0, 0, 0 }, "hostile frames from b");

	/* c claims a's pinned address: not moved; frames to it still reach a. */
	mkframe(f, NOBODY, MAC[PA], 0x88b5);
	send_from(PC, f);
	recv_on(PA, f, FRAME, "spoofed flood");
	recv_on(PB, f, FRAME, "spoofed flood");
	recv_uplink(f, 0, "spoofed flood");
	assert_int_equal(swc("c", "moves_refused") - refused, 1);
	snap(c);
	mkframe(f, MAC[PA], MAC[PB], 0x88b5);
	send_from(PB, f);
	recv_on(PA, f, FRAME, "to the pinned address");
	expect_delta(c, (int[]){ 1, 0, 0, 0, 0, 0 }, "b -> a after c's spoof");

	/* c takes b's learnt address once; b taking it back at once is refused. */
	uint64_t moves = swc("c", "mac_moves");
	refused = swc("b", "moves_refused");
	mkframe(f, MAC[PA], MAC[PB], 0x88b5);
	send_from(PC, f);
	recv_on(PA, f, FRAME, "c as b");
	send_from(PB, f);
	recv_on(PA, f, FRAME, "b as b");
	assert_int_equal(swc("c", "mac_moves") - moves, 1);
	assert_int_equal(swc("b", "moves_refused") - refused, 1);
	snap(c);
	mkframe(f, MAC[PB], MAC[PA], 0x88b5);
	send_from(PA, f);
	recv_on(PC, f, FRAME, "b's address, now on c");
	expect_delta(c, (int[]){ 0, 0, 1, 0, 0, 0 }, "a -> b's address held by c");
}

/* An address not seen for longer than the ageing time is flooded to again. */
static void test_ageing(void **state)
{
	uint64_t c[NPORTS + 1];
	uint8_t f[FRAME];

	mkframe(f, HOST, AGED, 0x88b5);
	send_from(PB, f);
	recv_uplink(f, 0, "AGED to host");
	snap(c);
	mkframe(f, AGED, MAC[PA], 0x88b5);
	send_from(PA, f);
	recv_on(PB, f, FRAME, "to AGED");
	expect_delta(c, (int[]){ 0, 1, 0, 0, 0, 0 }, "a -> AGED while learnt");
	/* The subject is time itself: switch_ageing=4, so gone 4 s after it was last seen. */
	usleep(4600 * 1000);
	snap(c);
	mkframe(f, AGED, MAC[PA], 0x88b5);
	send_from(PA, f);
	recv_on(PB, f, FRAME, "to AGED, aged");
	recv_on(PC, f, FRAME, "to AGED, aged");
	recv_uplink(f, 0, "to AGED, aged");
	expect_delta(c, (int[]){ 0, 1, 1, 0, 0, 1 }, "a -> AGED after ageing");
}

/* Ports deleted and added at run time: frames to the gone port are dropped and counted. */
static void test_port_del_add(void **state)
{
	struct t_opts o = { 0 };
	struct json_object *r;
	uint64_t c[NPORTS + 1], gone, drops;
	uint8_t f[FRAME];
	char req[512];

	learn_all();
	r = t_ctl_call(ctl, "{\"op\":\"port-del\",\"args\":{\"name\":\"c\"}}\n");
	assert_true(json_object_get_boolean(json_object_object_get(r, "ok")));
	json_object_put(r);
	t_sess_close(&sess[PC]);
	sess[PC].conn.fd = -1;
	gone = swc("a", "drop_gone");
	drops = stat_of("a", true);
	snap(c);
	mkframe(f, MAC[PC], MAC[PA], 0x88b5);
	send_from(PA, f);
	assert_int_equal(swc("a", "drop_gone") - gone, 1);
	assert_int_equal(stat_of("a", true) - drops, 1);
	expect_delta(c, (int[]){ 0, 0, 0, 0, 0, 0 }, "a -> c's address, c gone");
	/* The others carry on. */
	mkframe(f, MAC[PB], MAC[PA], 0x88b5);
	send_from(PA, f);
	recv_on(PB, f, FRAME, "a -> b with c gone");

	snprintf(req, sizeof(req),
		 "{\"op\":\"port-add\",\"args\":{\"spec\":\"name=c,socket=%s/c.sock,"
		 "backend=switch,switch=sw0,switch_ageing=4\"}}\n",
		 dir);
	r = t_ctl_call(ctl, req);
	if (!json_object_get_boolean(json_object_object_get(r, "ok")))
		fail_msg("port-add c: %s", json_object_to_json_string(r));
	json_object_put(r);
	snprintf(req, sizeof(req), "%s/c.sock", dir);
	assert_int_equal(t_sess_open(&sess[PC], req, &o), 0);
	mkframe(f, HOST, MAC[PC], 0x88b5);
	send_from(PC, f);
	recv_uplink(f, 0, "c back");
	snap(c);
	mkframe(f, MAC[PC], MAC[PA], 0x88b5);
	send_from(PA, f);
	recv_on(PC, f, FRAME, "a -> c again");
	expect_delta(c, (int[]){ 0, 0, 1, 0, 0, 0 }, "a -> c after it came back");
}

/* Connects every guest port and the uplink capture. */
static int setup(void **state)
{
	struct t_opts o = { 0 };
	char path[512];
	int one = 1;

	ctl = getenv("VUF_CTL");
	dir = getenv("VUF_DIR");
	if (!ctl || !dir)
		return -1;
	for (unsigned i = 0; i < NPORTS; i++) {
		snprintf(path, sizeof(path), "%s/%s.sock", dir, names[i]);
		if (t_sess_open(&sess[i], path, &o) < 0)
			return -1;
	}
	upfd = t_pkt_open("swup0");
	if (upfd < 0 || setsockopt(upfd, SOL_PACKET, PACKET_AUXDATA, &one, sizeof(one)) < 0)
		return -1;
	return 0;
}

static int teardown(void **state)
{
	for (unsigned i = 0; i < NPORTS; i++)
		t_sess_close(&sess[i]);
	if (upfd >= 0)
		close(upfd);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_broadcast_arp), cmocka_unit_test(test_unicast),
		cmocka_unit_test(test_vlans),	      cmocka_unit_test(test_hostile),
		cmocka_unit_test(test_ageing),	      cmocka_unit_test(test_port_del_add),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
