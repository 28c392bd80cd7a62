/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Command line: the documented --port shape is accepted and everything else is refused before
 * anything is created (unknown and missing keys, bad names, queue counts, MTUs and feature
 * switches, over-long paths, ports sharing a name, socket or tap), with the output left
 * untouched on failure.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "daemon/cli.h"
#include "daemon/portcfg.h"

#define GOOD "name=vm0,socket=/run/vm0.sock,backend=tap,ifname=vhd0"

/* Writable argv storage: getopt_long permutes argv, and cli keeps pointers into it. */
static char arg_pool[160][256];
static char *argv_buf[161];
static struct cli out;

/* Runs cli_parse over the NULL-terminated list args (argv[0] is added). */
static int parse_list(const char *const *args)
{
	int argc = 0;

	strcpy(arg_pool[0], "vhostd");
	argv_buf[argc++] = arg_pool[0];
	for (; *args; args++) {
		assert_true(argc < 160);
		assert_true(strlen(*args) < sizeof(arg_pool[0]));
		strcpy(arg_pool[argc], *args);
		argv_buf[argc] = arg_pool[argc];
		argc++;
	}
	argv_buf[argc] = NULL;
	return cli_parse(argc, argv_buf, &out);
}

#define PARSE(...) parse_list((const char *const[]){ __VA_ARGS__, NULL })

/* Parses one --port value into a zeroed config and checks the output is untouched on failure. */
static int port(const char *spec, struct port_config *ret)
{
	struct port_config before;
	int r;

	memset(ret, 0xa5, sizeof(*ret));
	before = *ret;
	r = cli_parse_port(spec, ret);
	if (r < 0)
		assert_memory_equal(ret, &before, sizeof(before));
	return r;
}

/* Asserts spec is refused. */
static void refused(const char *spec)
{
	struct port_config c;

	if (port(spec, &c) != -EINVAL)
		fail_msg("--port '%s' accepted", spec);
}

/* Asserts spec is accepted. */
static void accepted(const char *spec)
{
	struct port_config c;

	if (port(spec, &c) != 0)
		fail_msg("--port '%s' refused", spec);
}

/* The documented shape with defaults, then every optional key, in any order. */
static void test_port_good(void **state)
{
	struct port_config c;

	assert_int_equal(port(GOOD, &c), 0);
	assert_string_equal(c.name, "vm0");
	assert_string_equal(c.socket, "/run/vm0.sock");
	assert_int_equal(c.backend, PORT_BACKEND_TAP);
	assert_string_equal(c.ifname, "vhd0");
	assert_int_equal(c.queues, 1);
	assert_false(c.client);

	assert_int_equal(port("queues=16,mode=client,ifname=t-0.x_y,backend=tap,"
			      "socket=/a=b/c.sock,name=A-z_0.9",
			      &c),
			 0);
	assert_string_equal(c.name, "A-z_0.9");
	assert_string_equal(c.socket, "/a=b/c.sock"); /* only the first '=' splits */
	assert_string_equal(c.ifname, "t-0.x_y");
	assert_int_equal(c.queues, 16);
	assert_true(c.client);
	assert_int_equal(port(GOOD ",mode=server,queues=7", &c), 0);
	assert_false(c.client);
	assert_int_equal(c.queues, 7);
	/* The last of a repeated key wins. */
	assert_int_equal(port(GOOD ",queues=2,queues=3", &c), 0);
	assert_int_equal(c.queues, 3);
}

/* Unknown keys, keys without '=', and keys in the wrong case are refused. */
static void test_port_unknown_key(void **state)
{
	refused(GOOD ",foo=bar");
	refused(GOOD ",queue=2");
	refused(GOOD ",=x");
	refused(GOOD ",mode");
	refused(GOOD ",ifname");
	refused("Name=vm0,socket=/s,backend=tap,ifname=t0");
	refused(GOOD ", mode=client");
}

/* Each required key missing is refused, as is an empty spec. */
static void test_port_missing_key(void **state)
{
	refused("");
	refused(",");
	refused("socket=/s,backend=tap,ifname=t0");
	refused("name=a,backend=tap,ifname=t0");
	refused("name=a,socket=/s,ifname=t0");
	refused("name=a,socket=/s,backend=tap");
	refused("name=,socket=/s,backend=tap,ifname=t0");
	refused("name=a,socket=,backend=tap,ifname=t0");
	refused("name=a,socket=/s,backend=tap,ifname=");
}

/* Names: only [A-Za-z0-9_.-], 1..31 characters; interface names 1..15. */
static void test_port_names(void **state)
{
	char spec[256];
	char n31[32], n32[33];

	memset(n31, 'n', 31);
	n31[31] = '\0';
	memset(n32, 'n', 32);
	n32[32] = '\0';
	snprintf(spec, sizeof(spec), "name=%s,socket=/s,backend=tap,ifname=t0", n31);
	accepted(spec);
	snprintf(spec, sizeof(spec), "name=%s,socket=/s,backend=tap,ifname=t0", n32);
	refused(spec);
	refused("name=a b,socket=/s,backend=tap,ifname=t0");
	refused("name=a/b,socket=/s,backend=tap,ifname=t0");
	refused("name=a:b,socket=/s,backend=tap,ifname=t0");
	refused("name=v\xc3\xa9,socket=/s,backend=tap,ifname=t0");
	refused("name=a\tb,socket=/s,backend=tap,ifname=t0");
	refused("name=a=b,socket=/s,backend=tap,ifname=t0");
	accepted("name=a,socket=/s,backend=tap,ifname=abcdefghijklmno");
	refused("name=a,socket=/s,backend=tap,ifname=abcdefghijklmnop");
	refused("name=a,socket=/s,backend=tap,ifname=eth 0");
	refused("name=a,socket=/s,backend=tap,ifname=../x");
	refused("name=a,socket=/s,backend=tap,ifname=a/b");
}

/* queues is a plain decimal 1..16: 0, 17, "4x" and other spellings are refused. */
static void test_port_queues(void **state)
{
	static const char *const bad[] = { "0",
					   "17",
					   "4x",
					   "",
					   "-1",
					   "+4",
					   " 4",
					   "0x4",
					   "4 ",
					   "1e1",
					   "99999999999999999999",
					   "4294967297" };
	char spec[128];

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(spec, sizeof(spec), GOOD ",queues=%s", bad[i]);
		refused(spec);
	}
	accepted(GOOD ",queues=1");
	accepted(GOOD ",queues=16");
}

/* The socket path must fit sockaddr_un (107 bytes and a NUL). */
static void test_port_socket_length(void **state)
{
	char path[200], spec[300];
	struct port_config c;

	memset(path, 'p', sizeof(path));
	path[0] = '/';
	path[107] = '\0';
	snprintf(spec, sizeof(spec), "name=a,socket=%s,backend=tap,ifname=t0", path);
	assert_int_equal(port(spec, &c), 0);
	assert_int_equal(strlen(c.socket), 107);
	path[107] = 'p';
	path[108] = '\0';
	snprintf(spec, sizeof(spec), "name=a,socket=%s,backend=tap,ifname=t0", path);
	refused(spec);
	path[150] = '\0';
	snprintf(spec, sizeof(spec), "name=a,socket=%s,backend=tap,ifname=t0", path);
	refused(spec);
}

/* Bad values of backend and mode, and keys that belong to another back-end. */
static void test_port_backend_and_mode(void **state)
{
	struct port_config c;

	refused("name=a,socket=/s,backend=xdp,ifname=t0");
	refused("name=a,socket=/s,backend=TAP,ifname=t0");
	refused(GOOD ",mode=Client");
	refused(GOOD ",mode=");
	/* Other back-ends, as far as they exist today. */
	assert_int_equal(port("name=a,socket=/s,backend=null", &c), 0);
	assert_int_equal(c.backend, PORT_BACKEND_NULL);
	refused("name=a,socket=/s,backend=null,ifname=t0"); /* ifname only with tap */
	refused("name=a,socket=/s,backend=port");	    /* port needs peer= */
	refused(GOOD ",peer=b");			    /* peer only with port */
	refused(GOOD ",gen=64");			    /* gen only with null */
	refused("name=a,socket=/s,backend=null,gen=13");
	refused("name=a,socket=/s,backend=null,gen=65536");
	accepted("name=a,socket=/s,backend=null,gen=64");
	accepted("name=a,socket=/s,backend=port,peer=b");
}

/* mtu= is a plain decimal 68..65535, for taps only; absent means 0 (leave the tap's MTU). */
static void test_port_mtu(void **state)
{
	static const char *const bad[] = { "0",
					   "67",
					   "65536",
					   "",
					   "-1",
					   "+9000",
					   " 9000",
					   "9000 ",
					   "9k",
					   "0x2328",
					   "1e4",
					   "4294967296",
					   "99999999999999999999" };
	struct port_config c;
	char spec[128];

	assert_int_equal(port(GOOD, &c), 0);
	assert_int_equal(c.mtu, 0);
	assert_int_equal(port(GOOD ",mtu=9000", &c), 0);
	assert_int_equal(c.mtu, 9000);
	assert_int_equal(port(GOOD ",mtu=68", &c), 0);
	assert_int_equal(c.mtu, 68);
	assert_int_equal(port(GOOD ",mtu=65535", &c), 0);
	assert_int_equal(c.mtu, 65535);
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(spec, sizeof(spec), GOOD ",mtu=%s", bad[i]);
		refused(spec);
	}
	/* Only a tap has an MTU vhostd sets. */
	refused("name=a,socket=/s,backend=null,mtu=9000");
	refused("name=a,socket=/s,backend=port,peer=b,mtu=9000");
}

/* mem_max=: a size with a binary suffix, 1M..64T, written back canonically. */
static void test_port_mem_max(void **state)
{
	static const char *const bad[] = { "0",
					   "1023K",
					   "65T",
					   "64T1",
					   "",
					   "-1M",
					   "1X",
					   "M",
					   "1MM",
					   " 1M",
					   "1m",
					   "0x10M",
					   "18446744073709551615T",
					   "99999999999999999999" };
	static const struct {
		const char *in, *canon;
		uint64_t bytes;
	} good[] = {
		{ "1M", "1M", 1ull << 20 },	     { "1024K", "1M", 1ull << 20 },
		{ "1536M", "1536M", 1536ull << 20 }, { "2048M", "2G", 2ull << 30 },
		{ "64T", "64T", 64ull << 40 },	     { "1048577", "1048577", 1048577 },
	};
	struct port_config c;
	char spec[160], canon[PORTCFG_SPEC_MAX];

	(void)state;
	assert_int_equal(port(GOOD, &c), 0);
	assert_int_equal(c.mem_max, 0);
	for (unsigned i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		snprintf(spec, sizeof(spec), GOOD ",mem_max=%s", good[i].in);
		assert_int_equal(port(spec, &c), 0);
		assert_int_equal(c.mem_max, good[i].bytes);
		portcfg_format(&c, canon, sizeof(canon));
		snprintf(spec, sizeof(spec), ",mem_max=%s,", good[i].canon);
		if (!strstr(canon, spec))
			fail_msg("%s: canonical spec %s lacks %s", good[i].in, canon, spec);
	}
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(spec, sizeof(spec), GOOD ",mem_max=%s", bad[i]);
		refused(spec);
	}
}

/* features=: '-' names from the table, continued by the following '-' tokens. */
static void test_port_features(void **state)
{
	struct port_config c;

	assert_int_equal(port(GOOD, &c), 0);
	assert_int_equal(c.features_off, 0);
	assert_int_equal(port(GOOD ",features=-mrg_rxbuf", &c), 0);
	assert_int_equal(c.features_off, 1ull << 15);
	/* The list goes on over '-' tokens, and ends at the next key. */
	assert_int_equal(port("name=a,features=-packed,-event_idx,-log_all,socket=/s,backend=tap,"
			      "ifname=t0,queues=2",
			      &c),
			 0);
	assert_int_equal(c.features_off, (1ull << 34) | (1ull << 29) | (1ull << 26));
	assert_int_equal(c.queues, 2);
	assert_string_equal(c.socket, "/s");
	/* Every name of the table, each on its bit. */
	assert_int_equal(port(GOOD ",features=-csum,-guest_csum,-mtu,-mac,-guest_tso4,"
				   "-guest_tso6,-guest_ecn,-guest_ufo,-host_tso4,-host_tso6,"
				   "-host_ecn,-host_ufo,-mrg_rxbuf,-status,-guest_announce,-mq,"
				   "-any_layout,-indirect_desc,-event_idx,-packed,-in_order,"
				   "-host_uso,-guest_uso4,-guest_uso6,-log_all",
			      &c),
			 0);
	assert_int_equal(c.features_off, 0xffabull | (1ull << 16) | (1ull << 21) | (1ull << 22) |
						 (1ull << 26) | (1ull << 27) | (1ull << 28) |
						 (1ull << 29) | (1ull << 34) | (1ull << 35) |
						 (1ull << 54) | (1ull << 55) | (1ull << 56));
	assert_int_equal(c.features_off & (1ull << 2 | 1ull << 4 | 1ull << 6), 0);

	refused(GOOD ",features=");
	refused(GOOD ",features=mrg_rxbuf");		/* features only go off */
	refused(GOOD ",features=-mrg_rxbuf,event_idx"); /* a name without '-' is no key either */
	refused(GOOD ",features=+mrg_rxbuf");
	refused(GOOD ",features=-");
	refused(GOOD ",features=--mrg_rxbuf");
	refused(GOOD ",features=-MRG_RXBUF");
	refused(GOOD ",features=-mrg-rxbuf");
	refused(GOOD ",features=-virtio_net_f_mrg_rxbuf");
	refused(GOOD ",features=-ctrl_vq"); /* not in the table */
	refused(GOOD ",features=-bogus");
	refused(GOOD ",features=-mrg_rxbuf ");
	refused(GOOD ",features=-mrg_rxbuf,-mrg_rxbuf"); /* repeated */
	refused(GOOD ",features=-mrg_rxbuf,-event_idx,-mrg_rxbuf");
	refused(GOOD ",features=-version_1"); /* vhostd needs modern virtio */
	refused(GOOD ",features=-mq,-version_1");
	refused(GOOD ",features=-mq=1");
	/* A '-' token with no features= before it (or after another key) is no key. */
	refused(GOOD ",-mrg_rxbuf");
	refused("-mrg_rxbuf," GOOD);
	refused(GOOD ",features=-mq,queues=2,-event_idx");
	/* A second features= adds to the first; a name repeated across them is refused. */
	assert_int_equal(port(GOOD ",features=-mq,queues=2,features=-event_idx", &c), 0);
	assert_int_equal(c.features_off, (1ull << 22) | (1ull << 29));
	refused(GOOD ",features=-mq,features=-mq");
}

/* mac=: six hex pairs, unicast, not zero; printed back in the canonical spec. dev= needs a
 * back-end over a host device (tap, null and port have none). */
static void test_port_mac_dev(void **state)
{
	static const char *const bad[] = { "52:54:00:12:34",	 "52:54:00:12:34:56:78",
					   "52-54-00-12-34-56",	 "5254.0012.3456",
					   "52:54:00:12:34:5g",	 "01:00:5e:00:00:01",
					   "00:00:00:00:00:00",	 " 52:54:00:12:34:56",
					   "52:54:00:12:34:56 ", "+2:54:00:12:34:56",
					   "52:54:00:12:34:5",	 "" };
	struct port_config c;
	char spec[128];

	assert_int_equal(port(GOOD ",mac=52:54:00:AB:cd:0f", &c), 0);
	assert_true(c.mac_set);
	assert_int_equal(c.mac[3], 0xab);
	assert_int_equal(c.mac[5], 0x0f);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(spec, sizeof(spec), GOOD ",mac=%s", bad[i]);
		refused(spec);
	}
	refused(GOOD ",dev=eth0");
	refused("name=a,socket=/s,backend=null,dev=eth0");
}

/* backend=macvtap: dev= and macvtap_mode= needed, the link name derived when ifname= is absent
 * (within IFNAMSIZ), the canonical spec parses back to the same port; passthrough takes its
 * device whole. */
static void test_port_macvtap(void **state)
{
	const char *mv = "name=vm0,socket=/s,backend=macvtap,dev=eth0";
	struct port_config c, d;
	char spec[512], buf[600];

	snprintf(buf, sizeof(buf), "%s,macvtap_mode=vepa,mac=52:54:00:12:34:56,mtu=9000", mv);
	assert_int_equal(port(buf, &c), 0);
	assert_int_equal(c.backend, PORT_BACKEND_MACVTAP);
	assert_string_equal(c.ifname, "mvtvm0");
	assert_string_equal(c.dev, "eth0");
	assert_int_equal(c.macvtap_mode, 2); /* MACVLAN_MODE_VEPA */
	portcfg_format(&c, spec, sizeof(spec));
	assert_non_null(strstr(spec, ",ifname=mvtvm0,macvtap_mode=vepa,mtu=9000,dev=eth0,mac="));
	assert_int_equal(port(spec, &d), 0);
	assert_true(portcfg_equal(&c, &d));
	assert_int_equal(port("name=averyveryverylongname,socket=/s,backend=macvtap,dev=e0,"
			      "macvtap_mode=passthrough",
			      &c),
			 0);
	assert_int_equal(strlen(c.ifname), 15);
	assert_memory_equal(c.ifname, "mvtaver", 7);
	snprintf(buf, sizeof(buf), "%s,macvtap_mode=private,ifname=mv0", mv);
	assert_int_equal(port(buf, &c), 0);
	assert_string_equal(c.ifname, "mv0");
	refused(mv);
	refused("name=vm0,socket=/s,backend=macvtap,macvtap_mode=bridge");
	snprintf(buf, sizeof(buf), "%s,macvtap_mode=hairpin", mv);
	refused(buf);
	snprintf(buf, sizeof(buf), "%s,macvtap_mode=bridge,ifname=eth0", mv);
	refused(buf);
	refused(GOOD ",macvtap_mode=bridge");
	refused("name=a,socket=/s,backend=null,macvtap_mode=bridge");
	/* Two ports over one device: fine unless one of them is in passthrough mode. */
	assert_int_equal(
		PARSE("--port", "name=a,socket=/s1,backend=macvtap,dev=e0,macvtap_mode=bridge",
		      "--port", "name=b,socket=/s2,backend=macvtap,dev=e0,macvtap_mode=vepa"),
		0);
	assert_int_equal(PARSE("--port",
			       "name=a,socket=/s1,backend=macvtap,dev=e0,macvtap_mode=bridge",
			       "--port",
			       "name=b,socket=/s2,backend=macvtap,dev=e0,macvtap_mode=passthrough"),
			 -EINVAL);
	/* The derived link name counts as the port's ifname. */
	assert_int_equal(PARSE("--port",
			       "name=a,socket=/s1,backend=macvtap,dev=e0,macvtap_mode=bridge",
			       "--port", "name=b,socket=/s2,backend=tap,ifname=mvta"),
			 -EINVAL);
}

/* The switch keys: switch ports, uplinks and what goes with what. */
static void test_port_switch(void **state)
{
	static const char *const bad[] = {
		"name=a,socket=/s,backend=switch",			      /* no switch= */
		"name=a,socket=/s,backend=switch,switch=sw0,vlan=0",	      /* VLAN range */
		"name=a,socket=/s,backend=switch,switch=sw0,vlan=4095",	      /* VLAN range */
		"name=a,socket=/s,backend=switch,switch=sw0,vlan=x",	      /* not a number */
		"name=a,socket=/s,backend=switch,switch=sw0,queues=2",	      /* one queue pair */
		"name=a,socket=/s,backend=switch,switch=sw0,uplink=1",	      /* a guest port */
		"name=a,socket=/s,backend=switch,switch=s/w",		      /* name characters */
		"name=a,socket=/s,backend=switch,switch=sw0,switch_ageing=0", /* ageing range */
		"name=a,socket=/s,backend=switch,switch=sw0,switch_ageing=1000001",
		"name=a,socket=/s,backend=tap,ifname=t0,vlan=10",	      /* vlan= elsewhere */
		"name=a,socket=/s,backend=tap,ifname=t0,switch=sw0",	      /* no uplink=1 */
		"name=a,socket=/s,backend=tap,ifname=t0,uplink=1",	      /* no switch= */
		"name=a,socket=/s,backend=tap,ifname=t0,switch=sw0,uplink=1", /* a socket */
		"name=a,backend=tap,ifname=t0,switch=sw0,uplink=2",	      /* 0 or 1 */
		"name=a,backend=port,peer=b,switch=sw0,uplink=1",	      /* not a device */
		"name=a,backend=tap,ifname=t0,switch=sw0,uplink=1,queues=2",
		"name=a,backend=tap,ifname=t0",			 /* a socket after all */
		"name=a,socket=/s,backend=null,switch_ageing=5", /* without switch= */
	};
	struct port_config c;

	assert_int_equal(port("name=a,socket=/s,backend=switch,switch=sw0,vlan=4094", &c), 0);
	assert_int_equal(c.backend, PORT_BACKEND_SWITCH);
	assert_string_equal(c.sw, "sw0");
	assert_int_equal(c.vlan, 4094);
	assert_false(c.uplink);
	assert_int_equal(
		port("name=u,backend=tap,ifname=t0,switch=sw0,uplink=1,switch_ageing=9", &c), 0);
	assert_true(c.uplink);
	assert_int_equal(c.sw_ageing, 9);
	assert_string_equal(c.socket, "");
	accepted("name=u,backend=null,switch=sw0,uplink=1");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		refused(bad[i]);
	/* One uplink per switch; one ageing per switch; two uplinks of two switches are fine. */
	assert_int_equal(PARSE("--port", "name=u,backend=tap,ifname=t0,switch=sw0,uplink=1",
			       "--port", "name=v,backend=tap,ifname=t1,switch=sw0,uplink=1"),
			 -EINVAL);
	assert_int_equal(PARSE("--port", "name=u,backend=tap,ifname=t0,switch=sw0,uplink=1",
			       "--port", "name=v,backend=tap,ifname=t1,switch=sw1,uplink=1"),
			 0);
	assert_int_equal(PARSE("--port", "name=a,socket=/a,backend=switch,switch=sw0", "--port",
			       "name=b,socket=/b,backend=switch,switch=sw0,switch_ageing=300"),
			 0);
	assert_int_equal(PARSE("--port", "name=a,socket=/a,backend=switch,switch=sw0", "--port",
			       "name=b,socket=/b,backend=switch,switch=sw0,switch_ageing=3"),
			 -EINVAL);
}

/* backend=packet and xdp need dev=; queue= is xdp's only; the canonical spec round-trips. */
static void test_port_packet_xdp(void **state)
{
	struct port_config c, c2;
	char spec[512];

	assert_int_equal(port("name=a,socket=/s,backend=packet,dev=eth0,queues=2", &c), 0);
	assert_int_equal(c.backend, PORT_BACKEND_PACKET);
	assert_string_equal(c.dev, "eth0");
	portcfg_format(&c, spec, sizeof(spec));
	assert_non_null(strstr(spec, "backend=packet,dev=eth0"));
	assert_int_equal(port(spec, &c2), 0);
	assert_true(portcfg_equal(&c, &c2));
	assert_int_equal(port("name=a,socket=/s,backend=xdp,dev=eth0,queue=3,queues=4", &c), 0);
	assert_int_equal(c.backend, PORT_BACKEND_XDP);
	assert_int_equal(c.xdp_queue, 3);
	portcfg_format(&c, spec, sizeof(spec));
	assert_non_null(strstr(spec, "backend=xdp,queue=3,dev=eth0"));
	assert_int_equal(port(spec, &c2), 0);
	assert_true(portcfg_equal(&c, &c2));
	assert_int_equal(port("name=a,socket=/s,backend=xdp,dev=eth0", &c), 0);
	assert_int_equal(c.xdp_queue, 0);
	refused("name=a,socket=/s,backend=packet");
	refused("name=a,socket=/s,backend=xdp");
	refused("name=a,socket=/s,backend=packet,dev=eth0,queue=1");
	refused("name=a,socket=/s,backend=tap,ifname=t0,queue=1");
	refused("name=a,socket=/s,backend=xdp,dev=eth0,queue=1024");
	refused("name=a,socket=/s,backend=xdp,dev=eth0,queue=-1");
	refused("name=a,socket=/s,backend=xdp,dev=eth0,queue=1020,queues=8");
	refused("name=a,socket=/s,backend=packet,dev=eth0/x");
	refused("name=a,socket=/s,backend=packet,dev=0123456789abcdef");
	refused("name=a,socket=/s,backend=packet,dev=eth0,ifname=t0");
}

/* A full command line: defaults, every option, and its bad values. */
static void test_parse_options(void **state)
{
	char ctl[200];

	assert_int_equal(PARSE("--port", GOOD), 0);
	assert_int_equal(out.nports, 1);
	assert_string_equal(out.ports[0].name, "vm0");
	assert_int_equal(out.level, LOG_LVL_INFO);
	assert_false(out.level_set);
	assert_string_equal(out.control, CLI_DEFAULT_CONTROL);
	assert_false(out.control_set);
	assert_null(out.config);
	assert_null(out.metrics);
	assert_null(out.control_group);
	assert_int_equal(out.ready_fd, -1);
	assert_false(out.help);

	/* No port at all is fine while there is a way to add them (control socket or file). */
	assert_int_equal(PARSE("--log-level", "warn"), 0);
	assert_int_equal(out.nports, 0);
	assert_true(out.level_set);
	assert_int_equal(PARSE("--no-control"), -EINVAL);
	assert_int_equal(PARSE("--no-control", "--config", "/etc/x.conf"), 0);
	assert_string_equal(out.config, "/etc/x.conf");
	assert_null(out.control);
	assert_true(out.control_set);
	assert_int_equal(PARSE("--metrics", "127.0.0.1:9417", "--control-group", "kvm"), 0);
	assert_string_equal(out.metrics, "127.0.0.1:9417");
	assert_string_equal(out.control_group, "kvm");
	assert_int_equal(PARSE("--metrics", "9417"), -EINVAL);
	assert_int_equal(PARSE("--metrics", ""), -EINVAL);
	assert_int_equal(PARSE("--config", ""), -EINVAL);
	assert_int_equal(PARSE("--control-group", ""), -EINVAL);

	assert_int_equal(PARSE("--log-level", "debug", "--control", "/run/ctl", "--ready-fd", "7",
			       "--port=" GOOD),
			 0);
	assert_int_equal(out.level, LOG_LVL_DEBUG);
	assert_string_equal(out.control, "/run/ctl");
	assert_int_equal(out.ready_fd, 7);
	assert_int_equal(out.nports, 1);

	assert_int_equal(PARSE("--help"), 0);
	assert_true(out.help);
	assert_int_equal(PARSE("-V"), 0);
	assert_true(out.version);

	assert_int_equal(PARSE("--port", GOOD, "--log-level", "verbose"), -EINVAL);
	assert_int_equal(PARSE("--port", GOOD, "--ready-fd", "2"), -EINVAL);
	assert_int_equal(PARSE("--port", GOOD, "--ready-fd", "-1"), -EINVAL);
	assert_int_equal(PARSE("--port", GOOD, "--ready-fd", "3x"), -EINVAL);
	assert_int_equal(PARSE("--port", GOOD, "--ready-fd", "99999999999"), -EINVAL);
	assert_int_equal(PARSE("--port", GOOD, "--control", ""), -EINVAL);
	memset(ctl, 'c', sizeof(ctl));
	ctl[0] = '/';
	ctl[108] = '\0';
	assert_int_equal(PARSE("--port", GOOD, "--control", ctl), -EINVAL);
	ctl[107] = '\0';
	assert_int_equal(PARSE("--port", GOOD, "--control", ctl), 0);
	assert_int_equal(PARSE("--port", GOOD, "extra"), -EINVAL);
	assert_int_equal(PARSE("--port", GOOD, "--bogus"), -EINVAL);
	assert_int_equal(PARSE("--port"), -EINVAL);
	assert_int_equal(PARSE("--port", "name=x"), -EINVAL);
	assert_int_equal(PARSE("--log-level", "warn", "--no-control"), -EINVAL); /* no port */
}

/* Two ports may not share a name, a socket or a tap. */
static void test_parse_duplicates(void **state)
{
	assert_int_equal(PARSE("--port", "name=a,socket=/s1,backend=tap,ifname=t1", "--port",
			       "name=b,socket=/s2,backend=tap,ifname=t2"),
			 0);
	assert_int_equal(out.nports, 2);
	assert_int_equal(PARSE("--port", "name=a,socket=/s1,backend=tap,ifname=t1", "--port",
			       "name=a,socket=/s2,backend=tap,ifname=t2"),
			 -EINVAL);
	assert_int_equal(PARSE("--port", "name=a,socket=/s1,backend=tap,ifname=t1", "--port",
			       "name=b,socket=/s1,backend=tap,ifname=t2"),
			 -EINVAL);
	assert_int_equal(PARSE("--port", "name=a,socket=/s1,backend=tap,ifname=t1", "--port",
			       "name=b,socket=/s2,backend=tap,ifname=t1"),
			 -EINVAL);
	/* A duplicate far from its twin. */
	assert_int_equal(PARSE("--port", "name=a,socket=/s1,backend=tap,ifname=t1", "--port",
			       "name=b,socket=/s2,backend=tap,ifname=t2", "--port",
			       "name=c,socket=/s3,backend=tap,ifname=t3", "--port",
			       "name=d,socket=/s1,backend=tap,ifname=t4"),
			 -EINVAL);
	/* Two non-tap ports both without an ifname do not "share" one. */
	assert_int_equal(PARSE("--port", "name=a,socket=/s1,backend=null", "--port",
			       "name=b,socket=/s2,backend=null"),
			 0);
}

/* Port-to-port peers must name each other. */
static void test_parse_peers(void **state)
{
	assert_int_equal(PARSE("--port", "name=a,socket=/s1,backend=port,peer=b", "--port",
			       "name=b,socket=/s2,backend=port,peer=a"),
			 0);
	assert_int_equal(PARSE("--port", "name=a,socket=/s1,backend=port,peer=b"), -EINVAL);
	assert_int_equal(PARSE("--port", "name=a,socket=/s1,backend=port,peer=a"), -EINVAL);
	assert_int_equal(PARSE("--port", "name=a,socket=/s1,backend=port,peer=b", "--port",
			       "name=b,socket=/s2,backend=port,peer=c", "--port",
			       "name=c,socket=/s3,backend=port,peer=b"),
			 -EINVAL);
	assert_int_equal(PARSE("--port", "name=a,socket=/s1,backend=port,peer=b", "--port",
			       "name=b,socket=/s2,backend=null"),
			 -EINVAL);
}

/* CLI_MAX_PORTS ports are accepted, one more is refused. */
static void test_parse_max_ports(void **state)
{
	const char *args[2 * (CLI_MAX_PORTS + 1) + 1];
	static char specs[CLI_MAX_PORTS + 1][96];

	for (unsigned i = 0; i <= CLI_MAX_PORTS; i++) {
		snprintf(specs[i], sizeof(specs[i]), "name=p%u,socket=/s%u,backend=tap,ifname=t%u",
			 i, i, i);
		args[2 * i] = "--port";
		args[2 * i + 1] = specs[i];
	}
	args[2 * CLI_MAX_PORTS] = NULL;
	assert_int_equal(parse_list(args), 0);
	assert_int_equal(out.nports, CLI_MAX_PORTS);
	args[2 * CLI_MAX_PORTS] = "--port";
	args[2 * CLI_MAX_PORTS + 2] = NULL;
	assert_int_equal(parse_list(args), -EINVAL);
}

/*
 * Regression test (was a bug, now fixed; src/daemon/cli.c, cli_parse: "optind = 1;"): cli_parse
 * must work when called again after a failure in the middle of a group of short options ("-xV": 'x'
 * unknown, 'V' pending). glibc's getopt only forgets its position inside the previous argv when
 * optind is set to 0; with optind = 1 the next call resumes at the stale pointer into the old argv
 * (here it reads "port" out of the reused buffer and refuses the valid command line as "invalid
 * option 'p'"). Today the daemon parses once per process, so only tests and a future re-parse are
 * affected.
 */
static void test_parse_twice(void **state)
{
	assert_int_equal(PARSE("-xV"), -EINVAL);
	memset(&out, 0, sizeof(out));
	assert_int_equal(PARSE("--port", GOOD), 0);
	assert_int_equal(out.nports, 1);
	assert_false(out.version);
}

/* Runs every test above; the exit status is the number of failures. */
int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_port_mac_dev),
		cmocka_unit_test(test_port_mem_max),
		cmocka_unit_test(test_port_switch),
		cmocka_unit_test(test_port_packet_xdp),
		cmocka_unit_test(test_port_good),
		cmocka_unit_test(test_port_unknown_key),
		cmocka_unit_test(test_port_missing_key),
		cmocka_unit_test(test_port_names),
		cmocka_unit_test(test_port_queues),
		cmocka_unit_test(test_port_socket_length),
		cmocka_unit_test(test_port_backend_and_mode),
		cmocka_unit_test(test_port_mtu),
		cmocka_unit_test(test_port_features),
		cmocka_unit_test(test_port_macvtap),
		cmocka_unit_test(test_parse_options),
		cmocka_unit_test(test_parse_duplicates),
		cmocka_unit_test(test_parse_peers),
		cmocka_unit_test(test_parse_max_ports),
		/* Last: if getopt state leaks, it must not disturb the others. */
		cmocka_unit_test(test_parse_twice),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
