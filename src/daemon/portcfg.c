/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "daemon/portcfg.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	case PORT_BACKEND_PORT:
		return "port";
	case PORT_BACKEND_PACKET:
		return "packet";
	case PORT_BACKEND_XDP:
		return "xdp";
	}
	return "?";
}

/* True if s is a non-empty name of [A-Za-z0-9_.-] shorter than max. */
static bool valid_name(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n >= max)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.'))
			return false;
	}
	return true;
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

static int set_name(struct portcfg_builder *b, const char *val, struct cfg_err *err)
{
	if (!valid_name(val, sizeof(b->c.name)))
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
	else if (strcmp(val, "packet") == 0)
		b->c.backend = PORT_BACKEND_PACKET;
	else if (strcmp(val, "xdp") == 0)
		b->c.backend = PORT_BACKEND_XDP;
	else
		return cfg_fail(err, "unknown backend '%s' (known: tap, null, port, packet, xdp)",
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
	if (!valid_name(val, sizeof(b->c.peer)))
		return cfg_fail(err, "invalid peer '%s'", val);
	strcpy(b->c.peer, val);
	return 0;
}

static int set_ifname(struct portcfg_builder *b, const char *val, struct cfg_err *err)
{
	if (!valid_name(val, sizeof(b->c.ifname)))
		return cfg_fail(err, "invalid ifname '%s'", val);
	strcpy(b->c.ifname, val);
	return 0;
}

static int set_dev(struct portcfg_builder *b, const char *val, struct cfg_err *err)
{
	if (!valid_name(val, sizeof(b->c.dev)))
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

/* queue=: xdp's first device queue; the device's own queue count is checked at port set-up. */
static int set_xdp_queue(struct portcfg_builder *b, const char *val, struct cfg_err *err)
{
	if (parse_uint(val, 0, 1023, &b->c.xdp_queue) < 0)
		return cfg_fail(err, "queue must be a device queue 0..1023");
	b->have_xdp_queue = true;
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

/* Every port key: the command line, the configuration file and the API take exactly these. */
static const struct {
	const char *key;
	int (*set)(struct portcfg_builder *b, const char *val, struct cfg_err *err);
} keys[] = {
	{ "name", set_name },	  { "socket", set_socket },	{ "backend", set_backend },
	{ "mode", set_mode },	  { "queues", set_queues },	{ "poll", set_poll },
	{ "ifname", set_ifname }, { "gen", set_gen },		{ "peer", set_peer },
	{ "mtu", set_mtu },	  { "features", set_features }, { "dev", set_dev },
	{ "mac", set_mac },	  { "queue", set_xdp_queue },
};

bool portcfg_backend_has_dev(enum port_backend b)
{
	return b == PORT_BACKEND_PACKET || b == PORT_BACKEND_XDP;
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
	const struct port_config *c = &b->c;

	if (!c->name[0] || !c->socket[0] || !b->have_backend)
		return cfg_fail(err, "a port needs name=, socket= and backend=");
	if ((c->backend == PORT_BACKEND_TAP) != (c->ifname[0] != 0))
		return cfg_fail(err, "port %s: ifname= goes with backend=tap, and only there",
				c->name);
	if ((c->backend == PORT_BACKEND_PORT) != (c->peer[0] != 0))
		return cfg_fail(err, "port %s: peer= goes with backend=port, and only there",
				c->name);
	if (c->mtu && c->backend != PORT_BACKEND_TAP)
		return cfg_fail(err, "port %s: mtu= goes with backend=tap only", c->name);
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
	if (c->gen && c->backend != PORT_BACKEND_NULL)
		return cfg_fail(err, "port %s: gen= goes with backend=null only", c->name);
	if (c->backend == PORT_BACKEND_PORT && strcmp(c->peer, c->name) == 0)
		return cfg_fail(err, "port %s: peer= names the port itself", c->name);
	*ret = *c;
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
	else if (strcmp(a->socket, b->socket) == 0)
		what = "socket";
	else if (a->ifname[0] && strcmp(a->ifname, b->ifname) == 0)
		what = "ifname";
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
	char extra[128] = "", names[512];
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
	case PORT_BACKEND_PACKET:
		break;
	case PORT_BACKEND_XDP:
		snprintf(extra, sizeof(extra), ",queue=%u", c->xdp_queue);
		break;
	}
	if (c->dev[0]) {
		size_t e = strlen(extra);

		snprintf(extra + e, sizeof(extra) - e, ",dev=%s", c->dev);
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
	n = snprintf(buf, len, "name=%s,socket=%s,mode=%s,backend=%s%s,queues=%u,poll=%s%s",
		     c->name, c->socket, c->client ? "client" : "server",
		     port_backend_name(c->backend), extra, c->queues, poll_mode_name(c->poll),
		     names);
	return n < 0 ? 0 : (size_t)n;
}

bool portcfg_equal(const struct port_config *a, const struct port_config *b)
{
	char sa[512], sb[512];

	portcfg_format(a, sa, sizeof(sa));
	portcfg_format(b, sb, sizeof(sb));
	return strcmp(sa, sb) == 0;
}
