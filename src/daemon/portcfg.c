/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "daemon/portcfg.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <linux/if_link.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/switch.h"
#include "net/features.h"
#include "net/virtio_net.h"
#include "util/cleanup.h"
#include "util/parse.h"
#include "vhost/proto.h"

int cfg_fail(struct cfg_err *err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	/* cppcheck-suppress ctuuninitvar -- err->msg is only written here */
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return -EINVAL;
}

const char *poll_mode_name(enum poll_mode m)
{
	return m == POLL_EVENT ? "event" : m == POLL_BUSY ? "busy" : "adaptive";
}

const char *port_backend_name(enum port_backend b)
{
	switch (b) {
	case PORT_BACKEND_TAP:
		return "tap";
	case PORT_BACKEND_NULL:
		return "null";
	case PORT_BACKEND_MACVTAP:
		return "macvtap";
	case PORT_BACKEND_SWITCH:
		return "switch";
	case PORT_BACKEND_PACKET:
		return "packet";
	case PORT_BACKEND_XDP:
		return "xdp";
	default:
		return "port";
	}
}

/*
 * Adds one features= switch ("-NAME") to *mask. Refuses a name without '-', an unknown name,
 * a name already given and a feature vhostd cannot do without.
 */
static int feature_off(const char *tok, uint64_t *mask, struct cfg_err *err)
{
	int bit;

	if (tok[0] != '-')
		return cfg_fail(err,
				"features: '%s' must be -NAME (features can only be switched off)",
				tok);
	bit = vnet_feature_bit(tok + 1);
	if (bit < 0)
		return cfg_fail(err, "features: unknown feature '%s' (see --help)", tok + 1);
	if (vnet_features_required() & (1ull << bit))
		return cfg_fail(err, "features: '%s' cannot be switched off", tok + 1);
	if (*mask & (1ull << bit))
		return cfg_fail(err, "features: '%s' given twice", tok + 1);
	*mask |= 1ull << bit;
	return 0;
}

/* features=: one switch, or several separated by ',' (the form the API and config use). */
static int set_features(struct portcfg_builder *b, const char *val, struct cfg_err *err)
{
	_cleanup_free_ char *copy = strdup(val);
	char *save = NULL;
	uint64_t mask = b->c.features_off;
	bool any = false;

	if (!copy)
		return -ENOMEM;
	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (feature_off(t, &mask, err) < 0)
			return -EINVAL;
		any = true;
	}
	if (!any)
		return cfg_fail(err, "features: empty list");
	b->c.features_off = mask;
	b->in_features = true;
	return 0;
}

static int set_mtu(struct portcfg_builder *b, const char *val, struct cfg_err *err)
{
	if (parse_uint(val, VNET_MTU_MIN, VNET_MTU_MAX, &b->c.mtu) < 0)
		return cfg_fail(err, "mtu must be %d..%d", VNET_MTU_MIN, VNET_MTU_MAX);
	return 0;
}

/* Most and least a port's mem_max= may say: 64 TiB (half the x86-64 user address space) and 1 MiB.
 */
#define MEM_MAX_CEIL  (64ull << 40)
#define MEM_MAX_FLOOR (1ull << 20)

static int set_mem_max(struct portcfg_builder *b, const char *val, struct cfg_err *err)
{
	if (parse_size(val, MEM_MAX_FLOOR, MEM_MAX_CEIL, &b->c.mem_max) < 0)
		return cfg_fail(err, "mem_max must be a size from 1M to 64T (suffix K, M, G or T)");
	return 0;
}

static int set_name(struct portcfg_builder *b, const char *val, struct cfg_err *err)
{
	if (!name_valid(val, sizeof(b->c.name)))
		return cfg_fail(err, "invalid name '%s' (letters, digits, '-', '_', '.'; 1..%zu)",
				val, sizeof(b->c.name) - 1);
	strcpy(b->c.name, val);
	return 0;
}

static int set_socket(struct portcfg_builder *b, const char *val, struct cfg_err *err)
{
	if (!*val || strlen(val) >= sizeof(b->c.socket))
		return cfg_fail(err, "socket path empty or longer than %zu",
				sizeof(b->c.socket) - 1);
	/* A port is also written as one comma-separated spec (--port, port show). */
	if (strchr(val, ','))
		return cfg_fail(err, "socket path may not contain ','");
	strcpy(b->c.socket, val);
	return 0;
}

static int set_backend(struct portcfg_builder *b, const char *val, struct cfg_err *err)
{
	if (strcmp(val, "tap") == 0)
		b->c.backend = PORT_BACKEND_TAP;
	else if (strcmp(val, "null") == 0)
		b->c.backend = PORT_BACKEND_NULL;
	else if (strcmp(val, "port") == 0)
		b->c.backend = PORT_BACKEND_PORT;
	else if (strcmp(val, "macvtap") == 0)
		b->c.backend = PORT_BACKEND_MACVTAP;
	else if (strcmp(val, "switch") == 0)
		b->c.backend = PORT_BACKEND_SWITCH;
	else if (strcmp(val, "packet") == 0)
		b->c.backend = PORT_BACKEND_PACKET;
	else if (strcmp(val, "xdp") == 0)
		b->c.backend = PORT_BACKEND_XDP;
	else
		return cfg_fail(err,
				"unknown backend '%s' (known: tap, null, port, macvtap, switch, "
				"packet, xdp)",
				val);
	b->have_backend = true;
	return 0;
}

static int set_poll(struct portcfg_builder *b, const char *val, struct cfg_err *err)
{
	if (poll_mode_parse(val, &b->c.poll) < 0)
		return cfg_fail(err, "poll must be event, busy or adaptive");
	return 0;
}

static int set_gen(struct portcfg_builder *b, const char *val, struct cfg_err *err)
{
	if (parse_uint(val, 14, 65535, &b->c.gen) < 0)
		return cfg_fail(err, "gen must be a frame size 14..65535");
	return 0;
}

static int set_peer(struct portcfg_builder *b, const char *val, struct cfg_err *err)
{
	if (!name_valid(val, sizeof(b->c.peer)))
		return cfg_fail(err, "invalid peer '%s'", val);
	strcpy(b->c.peer, val);
	return 0;
}

static int set_ifname(struct portcfg_builder *b, const char *val, struct cfg_err *err)
{
	if (!name_valid(val, sizeof(b->c.ifname)))
		return cfg_fail(err, "invalid ifname '%s'", val);
	strcpy(b->c.ifname, val);
	return 0;
}

static int set_dev(struct portcfg_builder *b, const char *val, struct cfg_err *err)
{
	if (!name_valid(val, sizeof(b->c.dev)))
		return cfg_fail(err, "invalid dev '%s' (an interface name)", val);
	strcpy(b->c.dev, val);
	return 0;
}

/* mac=: six hexadecimal pairs separated by ':', a unicast address other than all zeros. */
static int set_mac(struct portcfg_builder *b, const char *val, struct cfg_err *err)
{
	unsigned v[6];
	char end;

	if (strlen(val) != 17 || sscanf(val, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2],
					&v[3], &v[4], &v[5], &end) != 6)
		return cfg_fail(err, "mac must be six hex pairs such as 52:54:00:12:34:56");
	for (unsigned i = 0; i < 17; i++)
		if ((i % 3 == 2) != (val[i] == ':') ||
		    (i % 3 != 2 && !isxdigit((unsigned char)val[i])))
			return cfg_fail(err, "mac must be six hex pairs such as 52:54:00:12:34:56");
	if (v[0] & 1)
		return cfg_fail(err, "mac %s is a multicast address", val);
	if (!(v[0] | v[1] | v[2] | v[3] | v[4] | v[5]))
		return cfg_fail(err, "mac may not be all zeros");
	for (unsigned i = 0; i < 6; i++)
		b->c.mac[i] = (uint8_t)v[i];
	b->c.mac_set = true;
	return 0;
}

/* The VM switch (src/backend/switch.h): switch=, vlan=, uplink=, switch_ageing=. */
static int set_switch(struct portcfg_builder *b, const char *val, struct cfg_err *err)
{
	if (!name_valid(val, sizeof(b->c.sw)))
		return cfg_fail(err, "invalid switch '%s' (letters, digits, '-', '_', '.'; 1..%zu)",
				val, sizeof(b->c.sw) - 1);
	strcpy(b->c.sw, val);
	return 0;
}

static int set_vlan(struct portcfg_builder *b, const char *val, struct cfg_err *err)
{
	if (parse_uint(val, 1, 4094, &b->c.vlan) < 0)
		return cfg_fail(err, "vlan must be a VLAN id 1..4094");
	return 0;
}

static int set_uplink(struct portcfg_builder *b, const char *val, struct cfg_err *err)
{
	if (strcmp(val, "1") != 0 && strcmp(val, "0") != 0)
		return cfg_fail(err, "uplink must be 1 or 0");
	b->c.uplink = val[0] == '1';
	return 0;
}

static int set_switch_ageing(struct portcfg_builder *b, const char *val, struct cfg_err *err)
{
	if (parse_uint(val, 1, SWITCH_AGEING_MAX, &b->c.sw_ageing) < 0)
		return cfg_fail(err, "switch_ageing must be 1..%d seconds", SWITCH_AGEING_MAX);
	return 0;
}

/* Checks the switch keys of c: switch ports, uplinks and what goes with them. */
static int finish_switch(const struct port_config *c, struct cfg_err *err)
{
	bool sw = c->backend == PORT_BACKEND_SWITCH;

	if (sw && !c->sw[0])
		return cfg_fail(err, "port %s: backend=switch needs switch=NAME", c->name);
	if (c->vlan && !sw)
		return cfg_fail(err, "port %s: vlan= goes with backend=switch only", c->name);
	if (c->uplink && (sw || c->backend == PORT_BACKEND_PORT || !c->sw[0]))
		return cfg_fail(err,
				"port %s: uplink=1 makes the device of a port of another back-end "
				"(tap, ...) the uplink of switch=NAME",
				c->name);
	if (c->sw[0] && !sw && !c->uplink)
		return cfg_fail(err, "port %s: switch= goes with backend=switch or uplink=1",
				c->name);
	if (c->sw_ageing && !c->sw[0])
		return cfg_fail(err, "port %s: switch_ageing= goes with switch=", c->name);
	if (c->sw[0] && c->queues != 1)
		return cfg_fail(err, "port %s: switch ports and uplinks have one queue pair",
				c->name);
	if (c->uplink && c->socket[0])
		return cfg_fail(err, "port %s: an uplink has no guest: no socket=", c->name);
	if (!c->uplink && !c->socket[0])
		return cfg_fail(err, "a port needs name=, socket= and backend=");
	return 0;
}

/* queue=: xdp's first device queue; the device's own queue count is checked at port set-up. */
static int set_xdp_queue(struct portcfg_builder *b, const char *val, struct cfg_err *err)
{
	if (parse_uint(val, 0, 1023, &b->c.xdp_queue) < 0)
		return cfg_fail(err, "queue must be a device queue 0..1023");
	b->have_xdp_queue = true;
	return 0;
}

static int set_bridge(struct portcfg_builder *b, const char *val, struct cfg_err *err)
{
	if (!name_valid(val, sizeof(b->c.bridge)))
		return cfg_fail(err, "invalid bridge '%s' (an interface name)", val);
	strcpy(b->c.bridge, val);
	return 0;
}

/* helper=: an absolute path without ',' (the spec's separator), to a program run by vhostd. */
static int set_helper(struct portcfg_builder *b, const char *val, struct cfg_err *err)
{
	if (val[0] != '/' || strlen(val) >= sizeof(b->c.helper) || strchr(val, ','))
		return cfg_fail(err, "helper must be an absolute path of at most %zu bytes, no ','",
				sizeof(b->c.helper) - 1);
	strcpy(b->c.helper, val);
	return 0;
}

static int set_mode(struct portcfg_builder *b, const char *val, struct cfg_err *err)
{
	if (strcmp(val, "server") == 0)
		b->c.client = false;
	else if (strcmp(val, "client") == 0)
		b->c.client = true;
	else
		return cfg_fail(err, "mode must be server or client");
	return 0;
}

static int set_queues(struct portcfg_builder *b, const char *val, struct cfg_err *err)
{
	if (parse_uint(val, 1, VU_MAX_QUEUE_PAIRS, &b->c.queues) < 0)
		return cfg_fail(err, "queues must be 1..%d", VU_MAX_QUEUE_PAIRS);
	return 0;
}

/* ---- macvtap ---- */

/* The macvtap modes as macvtap_mode= spells them, with the kernel's values. */
static const struct {
	const char *name;
	uint32_t mode;
} macvtap_modes[] = {
	{ "vepa", MACVLAN_MODE_VEPA },
	{ "private", MACVLAN_MODE_PRIVATE },
	{ "bridge", MACVLAN_MODE_BRIDGE },
	{ "passthrough", MACVLAN_MODE_PASSTHRU },
};

const char *port_macvtap_mode_name(uint32_t mode)
{
	for (size_t i = 0; i < ARRAY_SIZE(macvtap_modes); i++)
		if (macvtap_modes[i].mode == mode)
			return macvtap_modes[i].name;
	return "?";
}

static int set_macvtap_mode(struct portcfg_builder *b, const char *val, struct cfg_err *err)
{
	for (size_t i = 0; i < ARRAY_SIZE(macvtap_modes); i++)
		if (strcmp(val, macvtap_modes[i].name) == 0) {
			b->c.macvtap_mode = macvtap_modes[i].mode;
			return 0;
		}
	return cfg_fail(err, "macvtap_mode must be vepa, private, bridge or passthrough");
}

/*
 * The link name of a macvtap port without ifname=: "mvt" and the port name when that fits
 * IFNAMSIZ (names of up to 12 characters), else "mvt", the name's first 4 characters and 8 hex
 * digits of a hash (FNV-1a) of the whole name. Stable across restarts.
 */
static void macvtap_default_ifname(const char *name, char ret[IFNAMSIZ])
{
	uint32_t h = 2166136261u;

	if (strlen(name) <= IFNAMSIZ - 1 - 3) {
		snprintf(ret, IFNAMSIZ, "mvt%s", name);
		return;
	}
	for (const char *p = name; *p; p++) {
		h ^= (uint8_t)*p;
		h *= 16777619u;
	}
	snprintf(ret, IFNAMSIZ, "mvt%.4s%08" PRIx32, name, h);
}

/* Checks the keys of a macvtap port and fills in its default link name. */
static int macvtap_finish(struct port_config *c, struct cfg_err *err)
{
	if (!c->dev[0] || !c->macvtap_mode)
		return cfg_fail(err,
				"port %s: backend=macvtap needs dev= and macvtap_mode=", c->name);
	if (!c->ifname[0])
		macvtap_default_ifname(c->name, c->ifname);
	if (strcmp(c->ifname, c->dev) == 0)
		return cfg_fail(err, "port %s: ifname= and dev= name the same interface %s",
				c->name, c->dev);
	return 0;
}

/* Every port key: the command line, the configuration file and the API take exactly these. */
static const struct {
	const char *key;
	int (*set)(struct portcfg_builder *b, const char *val, struct cfg_err *err);
} keys[] = {
	{ "name", set_name },	      { "socket", set_socket },
	{ "backend", set_backend },   { "mode", set_mode },
	{ "queues", set_queues },     { "poll", set_poll },
	{ "ifname", set_ifname },     { "gen", set_gen },
	{ "peer", set_peer },	      { "mtu", set_mtu },
	{ "features", set_features }, { "dev", set_dev },
	{ "mac", set_mac },	      { "macvtap_mode", set_macvtap_mode },
	{ "bridge", set_bridge },     { "helper", set_helper },
	{ "switch", set_switch },     { "vlan", set_vlan },
	{ "uplink", set_uplink },     { "switch_ageing", set_switch_ageing },
	{ "queue", set_xdp_queue },   { "mem_max", set_mem_max },
};

bool portcfg_backend_has_dev(enum port_backend b)
{
	return b == PORT_BACKEND_MACVTAP || b == PORT_BACKEND_PACKET || b == PORT_BACKEND_XDP;
}

bool portcfg_is_key(const char *key)
{
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (strcmp(key, keys[i].key) == 0)
			return true;
	return false;
}

void portcfg_begin(struct portcfg_builder *b)
{
	memset(b, 0, sizeof(*b));
	b->c.queues = 1;
	b->c.backend = PORT_BACKEND_TAP;
	b->c.poll = POLL_ADAPTIVE;
}

int portcfg_set(struct portcfg_builder *b, const char *key, const char *val, struct cfg_err *err)
{
	b->in_features = false;
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (strcmp(key, keys[i].key) == 0)
			return keys[i].set(b, val, err);
	return cfg_fail(err, "unknown key '%s'", key);
}

int portcfg_finish(const struct portcfg_builder *b, struct port_config *ret, struct cfg_err *err)
{
	struct port_config out = b->c, *c = &out;

	if (!c->name[0] || !b->have_backend)
		return cfg_fail(err, "a port needs name=, socket= and backend=");
	if (finish_switch(c, err) < 0)
		return -EINVAL;
	if (c->backend == PORT_BACKEND_MACVTAP) {
		if (macvtap_finish(c, err) < 0)
			return -EINVAL;
	} else if (c->macvtap_mode) {
		return cfg_fail(err, "port %s: macvtap_mode= goes with backend=macvtap only",
				c->name);
	} else if ((c->backend == PORT_BACKEND_TAP) != (c->ifname[0] != 0)) {
		return cfg_fail(err,
				"port %s: ifname= goes with backend=tap (needed) or macvtap, and "
				"only there",
				c->name);
	}
	if ((c->backend == PORT_BACKEND_PORT) != (c->peer[0] != 0))
		return cfg_fail(err, "port %s: peer= goes with backend=port, and only there",
				c->name);
	if (c->mtu && c->backend != PORT_BACKEND_TAP && c->backend != PORT_BACKEND_MACVTAP)
		return cfg_fail(err, "port %s: mtu= goes with backend=tap or macvtap only",
				c->name);
	if (c->dev[0] && !portcfg_backend_has_dev(c->backend))
		return cfg_fail(err, "port %s: dev= goes with a back-end over a host device",
				c->name);
	if (portcfg_backend_has_dev(c->backend) && !c->dev[0])
		return cfg_fail(err, "port %s: backend=%s needs dev= (the host device)", c->name,
				port_backend_name(c->backend));
	if (b->have_xdp_queue && c->backend != PORT_BACKEND_XDP)
		return cfg_fail(err, "port %s: queue= goes with backend=xdp only", c->name);
	if (c->backend == PORT_BACKEND_XDP && c->xdp_queue + c->queues > 1024)
		return cfg_fail(err, "port %s: queue= plus queues= beyond device queue 1023",
				c->name);
	if (c->bridge[0] && c->backend != PORT_BACKEND_TAP)
		return cfg_fail(err, "port %s: bridge= goes with backend=tap", c->name);
	if (c->helper[0] && c->backend != PORT_BACKEND_TAP && c->backend != PORT_BACKEND_MACVTAP)
		return cfg_fail(err, "port %s: helper= goes with backend=tap or macvtap", c->name);
	if (c->gen && c->backend != PORT_BACKEND_NULL)
		return cfg_fail(err, "port %s: gen= goes with backend=null only", c->name);
	if (c->backend == PORT_BACKEND_PORT && strcmp(c->peer, c->name) == 0)
		return cfg_fail(err, "port %s: peer= names the port itself", c->name);
	*ret = out;
	return 0;
}

int portcfg_parse(const char *spec, struct port_config *ret, struct cfg_err *err)
{
	_cleanup_free_ char *copy = strdup(spec);
	struct portcfg_builder b;
	char *save = NULL;

	if (!copy)
		return -ENOMEM;
	portcfg_begin(&b);
	for (char *kv = strtok_r(copy, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
		char *val = strchr(kv, '=');
		int r;

		/* Keys never start with '-': such a token continues a features= list. */
		if (kv[0] == '-' && b.in_features) {
			if (feature_off(kv, &b.c.features_off, err) < 0)
				return -EINVAL;
			continue;
		}
		if (!val)
			return cfg_fail(err, "'%s' is not key=value", kv);
		*val++ = '\0';
		r = portcfg_set(&b, kv, val, err);
		if (r < 0)
			return r;
	}
	return portcfg_finish(&b, ret, err);
}

int portcfg_conflict(const struct port_config *a, const struct port_config *b, struct cfg_err *err)
{
	const char *what = NULL;

	if (strcmp(a->name, b->name) == 0)
		what = "name";
	else if (a->socket[0] && strcmp(a->socket, b->socket) == 0)
		what = "socket";
	else if (a->ifname[0] && strcmp(a->ifname, b->ifname) == 0)
		what = "ifname";
	else if (a->dev[0] && strcmp(a->dev, b->dev) == 0 &&
		 ((a->backend == PORT_BACKEND_MACVTAP &&
		   a->macvtap_mode == MACVLAN_MODE_PASSTHRU) ||
		  (b->backend == PORT_BACKEND_MACVTAP &&
		   b->macvtap_mode == MACVLAN_MODE_PASSTHRU))) {
		cfg_fail(err,
			 "ports %s and %s share dev %s, which a macvtap in passthrough mode takes "
			 "whole",
			 b->name, a->name, a->dev);
		return -EEXIST;
	}
	if (!what && a->sw[0] && strcmp(a->sw, b->sw) == 0) {
		if (a->uplink && b->uplink)
			what = "switch uplink (a switch has at most one)";
		else if ((a->sw_ageing ? a->sw_ageing : SWITCH_AGEING_DEFAULT) !=
			 (b->sw_ageing ? b->sw_ageing : SWITCH_AGEING_DEFAULT))
			what = "switch but not its switch_ageing";
	}
	if (!what)
		return 0;
	cfg_fail(err, "ports %s and %s share a %s", b->name, a->name, what);
	return -EEXIST;
}

int portcfg_check_peer(const struct port_config *a, const struct port_config *peer,
		       struct cfg_err *err)
{
	if (a->backend != PORT_BACKEND_PORT || !peer)
		return 0;
	if (peer->backend != PORT_BACKEND_PORT || strcmp(peer->peer, a->name) != 0 ||
	    peer->queues != a->queues)
		return cfg_fail(err,
				"port %s: peer %s must be another backend=port port with peer=%s "
				"and as many queues",
				a->name, a->peer, a->name);
	return 0;
}

size_t portcfg_format(const struct port_config *c, char *buf, size_t len)
{
	char extra[384] = "", names[512], sock[sizeof(c->socket) + 8] = "";
	int n;

	switch (c->backend) {
	case PORT_BACKEND_TAP:
		n = snprintf(extra, sizeof(extra), ",ifname=%s", c->ifname);
		if (c->mtu && n > 0 && (size_t)n < sizeof(extra))
			snprintf(extra + n, sizeof(extra) - (size_t)n, ",mtu=%u", c->mtu);
		break;
	case PORT_BACKEND_NULL:
		if (c->gen)
			snprintf(extra, sizeof(extra), ",gen=%u", c->gen);
		break;
	case PORT_BACKEND_PORT:
		snprintf(extra, sizeof(extra), ",peer=%s", c->peer);
		break;
	case PORT_BACKEND_MACVTAP:
		n = snprintf(extra, sizeof(extra), ",ifname=%s,macvtap_mode=%s", c->ifname,
			     port_macvtap_mode_name(c->macvtap_mode));
		if (c->mtu && n > 0 && (size_t)n < sizeof(extra))
			snprintf(extra + n, sizeof(extra) - (size_t)n, ",mtu=%u", c->mtu);
		break;
	case PORT_BACKEND_SWITCH:
		break; /* switch= and the rest follow, as on an uplink */
	case PORT_BACKEND_PACKET:
		break;
	case PORT_BACKEND_XDP:
		snprintf(extra, sizeof(extra), ",queue=%u", c->xdp_queue);
		break;
	}
	if (c->sw[0]) {
		size_t e = strlen(extra);

		snprintf(extra + e, sizeof(extra) - e, ",switch=%s", c->sw);
		e = strlen(extra);
		if (c->vlan)
			snprintf(extra + e, sizeof(extra) - e, ",vlan=%u", c->vlan);
		e = strlen(extra);
		if (c->uplink)
			snprintf(extra + e, sizeof(extra) - e, ",uplink=1");
		e = strlen(extra);
		if (c->sw_ageing)
			snprintf(extra + e, sizeof(extra) - e, ",switch_ageing=%u", c->sw_ageing);
	}
	if (c->bridge[0]) {
		size_t e = strlen(extra);

		snprintf(extra + e, sizeof(extra) - e, ",bridge=%s", c->bridge);
	}
	if (c->helper[0]) {
		size_t e = strlen(extra);

		snprintf(extra + e, sizeof(extra) - e, ",helper=%s", c->helper);
	}
	if (c->dev[0]) {
		size_t e = strlen(extra);

		snprintf(extra + e, sizeof(extra) - e, ",dev=%s", c->dev);
	}
	if (c->mem_max) {
		size_t e = strlen(extra);
		char sz[32];

		format_size(c->mem_max, sz, sizeof(sz));
		snprintf(extra + e, sizeof(extra) - e, ",mem_max=%s", sz);
	}
	if (c->mac_set) {
		size_t e = strlen(extra);

		snprintf(extra + e, sizeof(extra) - e, ",mac=%02x:%02x:%02x:%02x:%02x:%02x",
			 c->mac[0], c->mac[1], c->mac[2], c->mac[3], c->mac[4], c->mac[5]);
	}
	names[0] = '\0';
	if (c->features_off) {
		char list[480], *p;

		vnet_features_format(c->features_off, list, sizeof(list));
		/* "a,b" becomes ",features=-a,-b". */
		n = snprintf(names, sizeof(names), ",features=-");
		for (p = list; *p && (size_t)n + 2 < sizeof(names); p++) {
			names[n++] = *p;
			if (*p == ',')
				names[n++] = '-';
		}
		names[n] = '\0';
	}
	if (c->socket[0]) /* an uplink has none */
		snprintf(sock, sizeof(sock), ",socket=%s", c->socket);
	n = snprintf(buf, len, "name=%s%s,mode=%s,backend=%s%s,queues=%u,poll=%s%s", c->name, sock,
		     c->client ? "client" : "server", port_backend_name(c->backend), extra,
		     c->queues, poll_mode_name(c->poll), names);
	return n < 0 ? 0 : (size_t)n;
}

bool portcfg_equal(const struct port_config *a, const struct port_config *b)
{
	char sa[PORTCFG_SPEC_MAX], sb[PORTCFG_SPEC_MAX];

	portcfg_format(a, sa, sizeof(sa));
	portcfg_format(b, sb, sizeof(sb));
	return strcmp(sa, sb) == 0;
}
