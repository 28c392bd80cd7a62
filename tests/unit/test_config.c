/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Configuration file and port keys: the documented file is accepted with every setting, any
 * bad line refuses the whole file with its name and line number, and a port's canonical spec
 * parses back to the same port.
 */
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

#include "daemon/config.h"
#include "daemon/portcfg.h"

static struct config cfg;
static struct cfg_err err;

/* Parses text as file "t.conf". */
static int parse(const char *text)
{
	memset(&err, 0, sizeof(err));
	return config_parse(text, strlen(text), "t.conf", &cfg, &err);
}

/* Asserts text is refused with a message starting "t.conf:LINE: " and containing what. */
static void refused_at(const char *text, unsigned line, const char *what)
{
	char prefix[32];

	if (parse(text) != -EINVAL)
		fail_msg("accepted: %s", text);
	snprintf(prefix, sizeof(prefix), "t.conf:%u: ", line);
	if (strncmp(err.msg, prefix, strlen(prefix)) != 0 || !strstr(err.msg, what))
		fail_msg("message '%s' lacks '%s' or '%s'", err.msg, prefix, what);
}

/* Every global setting and port key, comments, blank lines and spacing. */
static void test_good(void **state)
{
	static const char text[] = "# vhostd.conf\n"
				   "\n"
				   "log-level = debug\n"
				   "  workers=2\n"
				   "cpus = 0-1\n"
				   "control = /run/x/control.sock\n"
				   "control-group = kvm\n"
				   "metrics = 127.0.0.1:9417\n"
				   "; another comment\n"
				   "[port vm0]\n"
				   "socket = /run/vm0.sock\n"
				   "backend = tap\n"
				   "ifname = tap-vm0\n"
				   "queues = 4\n"
				   "mtu = 9000\n"
				   "features = -packed, -mrg_rxbuf\n"
				   "poll = busy\n"
				   "\n"
				   "[ port  a ]\n"
				   "socket = /run/a.sock\n"
				   "mode = client\n"
				   "backend = port\n"
				   "peer = b\r\n"
				   "[port b]\n"
				   "socket = /run/b.sock\n"
				   "backend = port\n"
				   "peer = a";

	assert_int_equal(parse(text), 0);
	assert_true(cfg.level_set);
	assert_int_equal(cfg.level, LOG_LVL_DEBUG);
	assert_int_equal(cfg.workers, 2);
	assert_int_equal(cfg.ncpus, 2);
	assert_string_equal(cfg.control, "/run/x/control.sock");
	assert_string_equal(cfg.control_group, "kvm");
	assert_string_equal(cfg.metrics, "127.0.0.1:9417");
	assert_int_equal(cfg.nports, 3);
	assert_string_equal(cfg.ports[0].name, "vm0");
	assert_int_equal(cfg.ports[0].queues, 4);
	assert_int_equal(cfg.ports[0].mtu, 9000);
	assert_int_equal(cfg.ports[0].poll, POLL_BUSY);
	assert_int_not_equal(cfg.ports[0].features_off, 0);
	assert_int_equal(cfg.port_line[0], 10);
	assert_string_equal(cfg.ports[1].name, "a");
	assert_true(cfg.ports[1].client);
	assert_string_equal(cfg.ports[1].peer, "b");
	assert_int_equal(cfg.port_line[1], 19);
	assert_string_equal(cfg.ports[2].peer, "a");

	/* An empty file (or only comments) is a valid file without ports. */
	assert_int_equal(parse(""), 0);
	assert_int_equal(cfg.nports, 0);
	assert_false(cfg.level_set);
	assert_int_equal(parse("# nothing\n\n   \n"), 0);
}

/* Each kind of bad line is refused with its line number; a port's own errors name its header. */
static void test_bad_lines(void **state)
{
	refused_at("log-level = loud\n", 1, "log-level");
	refused_at("\nworkers = 0\n", 2, "workers");
	refused_at("workers = 1x\n", 1, "workers");
	refused_at("cpus = a\n", 1, "cpus");
	refused_at("metrics = 9417\n", 1, "metrics");
	refused_at("control =\n", 1, "control");
	refused_at("colour = blue\n", 1, "unknown setting 'colour'");
	refused_at("just words\n", 1, "expected key = value");
	refused_at(" = x\n", 1, "key is missing");
	refused_at("[port]\n", 1, "unknown section");
	refused_at("[ports a]\n", 1, "unknown section");
	refused_at("[port a\n", 1, "section header");
	refused_at("[port a] x\n", 1, "section header");
	refused_at("[bridge a]\n", 1, "unknown section");
	refused_at("[port a/b]\n", 1, "invalid name");
	refused_at("[port a]\nsocket=/s\nbackend=null\nname = b\n", 4, "header");
	refused_at("[port a]\nsocket=/s\nbackend=nul\n", 3, "unknown backend");
	refused_at("[port a]\nsocket=/s\nbackend=null\nqueues=99\n", 4, "queues");
	refused_at("[port a]\nsocket=/s\nbackend=null\nfeatures=packed\n", 4, "-NAME");
	refused_at("[port a]\nsocket=/s\nbackend=null\nfeatures=-bogus\n", 4, "unknown feature");
	refused_at("[port a]\nsocket=/s\nbackend=null\nfeatures=\n", 4, "empty");
	/* Keys that are fine alone but wrong together: the port's header line is named. */
	refused_at("\n[port a]\nsocket=/s\n", 2, "needs name=, socket= and backend=");
	refused_at("[port a]\nsocket=/s\nbackend=tap\n[port b]\nsocket=/t\nbackend=null\n", 1,
		   "ifname");
	refused_at("[port a]\nsocket=/s\nbackend=null\n\n[port b]\nsocket=/s\nbackend=null\n", 5,
		   "share a socket");
	refused_at("[port a]\nsocket=/s\nbackend=null\n[port a]\nsocket=/t\nbackend=null\n", 4,
		   "share a name");
	refused_at("[port a]\nsocket=/s\nbackend=port\npeer=a\n", 1, "itself");
	/* A socket path with a comma has no --port spelling (found by fuzz-config). */
	refused_at("[port a]\nsocket=/s,t\nbackend=null\n", 2, "','");
	/* Global settings after a section belong to the port, and are unknown keys there. */
	refused_at("[port a]\nsocket=/s\nbackend=null\nworkers=2\n", 4, "unknown key 'workers'");
}

/* Size limits: an over-long line, a NUL byte, too many ports, a file over the limit. */
static void test_limits(void **state)
{
	size_t big = CONFIG_MAX_LINE + 10;
	static char text[CONFIG_MAX_BYTES + 2];
	size_t n = 0;

	memcpy(text, "control = /", 11);
	memset(text + 11, 'a', big - 11);
	text[big] = '\0';
	refused_at(text, 1, "longer than");
	assert_int_equal(config_parse("a = b\0c\n", 8, "t.conf", &cfg, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "NUL"));
	for (unsigned i = 0; i <= CLI_MAX_PORTS; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n,
				      "[port p%u]\nsocket=/s%u\nbackend=null\n", i, i);
	refused_at(text, 3 * CLI_MAX_PORTS + 1, "more than");
	memset(text, '#', CONFIG_MAX_BYTES + 1);
	assert_int_equal(config_parse(text, CONFIG_MAX_BYTES + 1, "t.conf", &cfg, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "larger than"));
}

/* config_load: a missing file, a directory, and a real file. */
static void test_load(void **state)
{
	char path[] = "/tmp/vhostd-test-conf-XXXXXX";
	int fd = mkstemp(path);
	static const char text[] = "[port a]\nsocket=/s\nbackend=null\ngen=64\n";

	assert_int_equal(config_load("/nonexistent/vhostd.conf", &cfg, &err), -ENOENT);
	assert_int_equal(config_load("/tmp", &cfg, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "not a regular file"));
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, sizeof(text) - 1), sizeof(text) - 1);
	close(fd);
	assert_int_equal(config_load(path, &cfg, &err), 0);
	assert_int_equal(cfg.nports, 1);
	assert_int_equal(cfg.ports[0].gen, 64);
	unlink(path);
}

/* The canonical spec parses back to an equal port; any change makes it unequal. */
static void test_format_roundtrip(void **state)
{
	static const char *const specs[] = {
		"name=a,socket=/s,backend=tap,ifname=t0",
		"name=a,socket=/s,backend=tap,ifname=t0,mtu=9000,queues=4,poll=busy,mode=client",
		"name=b,socket=/x/y.sock,backend=null,gen=1518,features=-packed,-mrg_rxbuf,-mq",
		"name=c,socket=/c,backend=port,peer=d,queues=2,poll=event",
		"name=e,socket=/e,backend=tap,ifname=t1,mac=52:54:00:ab:cd:ef",
		"name=f,socket=/"
		"f,backend=switch,switch=sw0,vlan=10,switch_ageing=60,mac=02:00:00:00:00:01",
		"name=g,backend=tap,ifname=up0,switch=sw0,uplink=1",
	};
	struct port_config a, b;
	char buf[512];

	for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
		assert_int_equal(portcfg_parse(specs[i], &a, &err), 0);
		portcfg_format(&a, buf, sizeof(buf));
		assert_int_equal(portcfg_parse(buf, &b, &err), 0);
		assert_true(portcfg_equal(&a, &b));
		assert_int_equal(a.features_off, b.features_off);
		b.queues = a.queues == 1 ? 2 : 1;
		assert_false(portcfg_equal(&a, &b));
	}
	/* Worker placement is no part of a port's configuration. */
	assert_int_equal(portcfg_parse(specs[0], &a, &err), 0);
	b = a;
	b.worker_base = 3;
	assert_true(portcfg_equal(&a, &b));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_bad_lines),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_load),
		cmocka_unit_test(test_format_roundtrip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
