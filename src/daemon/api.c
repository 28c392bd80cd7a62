/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "daemon/api.h"

#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/switch.h"
#include "daemon/limits.h"
#include "daemon/metrics.h"
#include "net/features.h"
#include "util/cleanup.h"
#include "util/log.h"
#include "vhost/proto.h"

#ifndef VHOSTD_VERSION
#define VHOSTD_VERSION "unknown"
#endif

/* Nesting deeper than this is refused by the parser: no request needs more than 3. */
#define API_MAX_DEPTH 8

/* An error on its way to the reply. */
struct api_err {
	const char *code;
	char msg[256];
};

/* Sets e (printf format). Returns -1, for `return fail(...)`. */
static int __attribute__((format(printf, 3, 4)))
fail(struct api_err *e, const char *code, const char *fmt, ...)
{
	va_list ap;

	e->code = code;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return -1;
}

/* args.key as a string without NUL bytes; NULL (with e set when present but wrong) if not. */
static const char *get_str(struct json_object *args, const char *key, bool required,
			   struct api_err *e)
{
	struct json_object *v;
	const char *s;

	if (!args || !json_object_object_get_ex(args, key, &v)) {
		if (required)
			fail(e, "invalid-argument", "'%s' is missing", key);
		return NULL;
	}
	if (!json_object_is_type(v, json_type_string)) {
		fail(e, "invalid-argument", "'%s' must be a string", key);
		return NULL;
	}
	s = json_object_get_string(v);
	if (strlen(s) != (size_t)json_object_get_string_len(v)) {
		fail(e, "invalid-argument", "'%s' contains a NUL byte", key);
		return NULL;
	}
	return s;
}

/* Adds key: value to obj (json-c takes the value; a NULL value from an allocation failure is
 * stored as null). */
static void put(struct json_object *obj, const char *key, struct json_object *v)
{
	json_object_object_add(obj, key, v);
}

/* An array of the names of the feature bits in mask. */
static struct json_object *feature_names(uint64_t mask)
{
	struct json_object *a = json_object_new_array();

	for (unsigned b = 0; b < 64 && a; b++) {
		const char *n;
		char buf[16];

		if (!(mask & (1ull << b)))
			continue;
		n = vnet_feature_name(b);
		if (!n && b == VHOST_USER_F_PROTOCOL_FEATURES)
			n = "protocol_features";
		if (!n) {
			snprintf(buf, sizeof(buf), "bit%u", b);
			n = buf;
		}
		json_object_array_add(a, json_object_new_string(n));
	}
	return a;
}

/* "0x..." of a 64-bit mask. */
static struct json_object *hex(uint64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "0x%" PRIx64, v);
	return json_object_new_string(buf);
}

/* The port's state word: waiting, connected or broken. */
static const char *state_name(const struct port_info *pi)
{
	return !pi->connected ? "waiting" : pi->broken ? "broken" : "connected";
}

/* The port-show object of p. */
/* The switch a port is on: its name, VLAN, role, the switch's addresses and the port's counters. */
static struct json_object *switch_json(struct port *p, const struct port_config *c)
{
	struct json_object *o = json_object_new_object();
	struct switch_port_stats st = { 0 };
	unsigned macs = 0;

	if (!o)
		return NULL;
	port_switch_stats(p, &st, &macs);
	put(o, "name", json_object_new_string(c->sw));
	put(o, "vlan", json_object_new_int((int)c->vlan));
	put(o, "uplink", json_object_new_boolean(c->uplink));
	put(o, "ageing",
	    json_object_new_int((int)(c->sw_ageing ? c->sw_ageing : SWITCH_AGEING_DEFAULT)));
	put(o, "macs", json_object_new_int((int)macs));
#define SW_COUNTER(f) put(o, #f, json_object_new_int64((int64_t)st.f))
	SW_COUNTER(unicast);
	SW_COUNTER(flooded);
	SW_COUNTER(to_uplink);
	SW_COUNTER(drop_tagged);
	SW_COUNTER(drop_src_mcast);
	SW_COUNTER(drop_gone);
	SW_COUNTER(drop_local);
	SW_COUNTER(drop_flood);
	SW_COUNTER(drop_vlan);
	SW_COUNTER(drop_runt);
	SW_COUNTER(no_room);
	SW_COUNTER(mac_moves);
	SW_COUNTER(moves_refused);
	SW_COUNTER(table_full);
#undef SW_COUNTER
	return o;
}

static struct json_object *port_json(struct port *p, enum port_source src)
{
	const struct port_config *c = port_config(p);
	struct json_object *o = json_object_new_object(), *feat, *proto, *rings, *workers;
	struct port_info info, *pi = &info;
	char spec[PORTCFG_SPEC_MAX];

	if (!o)
		return NULL;
	port_snapshot(p, pi);
	portcfg_format(c, spec, sizeof(spec));
	put(o, "name", json_object_new_string(c->name));
	put(o, "spec", json_object_new_string(spec));
	put(o, "socket", json_object_new_string(c->socket));
	put(o, "mode", json_object_new_string(c->client ? "client" : "server"));
	put(o, "backend", json_object_new_string(port_backend_name(c->backend)));
	if (c->ifname[0])
		put(o, "ifname", json_object_new_string(c->ifname));
	if (c->backend == PORT_BACKEND_MACVTAP)
		put(o, "macvtap_mode",
		    json_object_new_string(port_macvtap_mode_name(c->macvtap_mode)));
	if (c->backend == PORT_BACKEND_NULL && c->gen)
		put(o, "gen", json_object_new_int((int)c->gen));
	if (c->backend == PORT_BACKEND_PORT)
		put(o, "peer", json_object_new_string(c->peer));
	if (c->backend == PORT_BACKEND_XDP)
		put(o, "queue", json_object_new_int((int)c->xdp_queue));
	if (c->dev[0])
		put(o, "dev", json_object_new_string(c->dev));
	if (c->bridge[0])
		put(o, "bridge", json_object_new_string(c->bridge));
	if (c->helper[0])
		put(o, "helper", json_object_new_string(c->helper));
	if (c->sw[0])
		put(o, "switch", switch_json(p, c));
	if (c->mac_set) {
		char mac[18];

		snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", c->mac[0], c->mac[1],
			 c->mac[2], c->mac[3], c->mac[4], c->mac[5]);
		put(o, "mac", json_object_new_string(mac));
	}
	put(o, "queues", json_object_new_int((int)c->queues));
	put(o, "poll", json_object_new_string(poll_mode_name(c->poll)));
	put(o, "mtu", c->mtu ? json_object_new_int((int)c->mtu) : NULL);
	put(o, "state", json_object_new_string(state_name(pi)));
	put(o, "source", json_object_new_string(port_source_name(src)));
	workers = json_object_new_array();
	for (unsigned i = 0; i < pi->nworkers && workers; i++)
		json_object_array_add(workers, json_object_new_int((int)pi->workers[i]));
	put(o, "workers", workers);
	feat = json_object_new_object();
	if (feat) {
		put(feat, "offered", feature_names(pi->offered));
		put(feat, "negotiated", feature_names(pi->features));
		put(feat, "off", feature_names(c->features_off));
	}
	put(o, "features", feat);
	proto = json_object_new_object();
	if (proto) {
		put(proto, "offered", hex(pi->offered_proto));
		put(proto, "negotiated", hex(pi->proto));
	}
	put(o, "protocol_features", proto);
	rings = json_object_new_array();
	for (unsigned i = 0; i < pi->nrings && rings; i++) {
		const struct port_ring_info *r = &pi->ring[i];
		struct json_object *ro = json_object_new_object();

		if (!ro)
			break;
		put(ro, "index", json_object_new_int((int)i));
		put(ro, "queue", json_object_new_int((int)i / 2));
		put(ro, "dir", json_object_new_string(i % 2 ? "tx" : "rx"));
		put(ro, "size", json_object_new_int((int)r->size));
		put(ro, "layout", json_object_new_string(r->packed ? "packed" : "split"));
		put(ro, "state",
		    json_object_new_string(r->broken	? "broken"
					   : r->started ? "started"
							: "stopped"));
		put(ro, "enabled", json_object_new_boolean(r->enabled));
		put(ro, "kick",
		    json_object_new_string(!r->started	? "none"
					   : r->kick_fd ? "eventfd"
							: "polled"));
		json_object_array_add(rings, ro);
	}
	put(o, "rings", rings);
	return o;
}

/* Adds the counters of one queue pair (or a total) to o. */
static void put_counters(struct json_object *o, const struct port_queue_stats *q)
{
	static const struct {
		const char *name;
		size_t off;
	} fields[] = {
		{ "tx_packets", offsetof(struct port_queue_stats, st.tx_packets) },
		{ "tx_bytes", offsetof(struct port_queue_stats, st.tx_bytes) },
		{ "tx_dropped", offsetof(struct port_queue_stats, st.tx_dropped) },
		{ "tx_errors", offsetof(struct port_queue_stats, st.tx_errors) },
		{ "rx_packets", offsetof(struct port_queue_stats, st.rx_packets) },
		{ "rx_bytes", offsetof(struct port_queue_stats, st.rx_bytes) },
		{ "rx_dropped", offsetof(struct port_queue_stats, st.rx_dropped) },
		{ "rx_oversize", offsetof(struct port_queue_stats, st.rx_oversize) },
		{ "rx_stale", offsetof(struct port_queue_stats, st.rx_stale) },
		{ "tx_kicks", offsetof(struct port_queue_stats, tx_kicks) },
		{ "rx_kicks", offsetof(struct port_queue_stats, rx_kicks) },
		{ "tx_calls", offsetof(struct port_queue_stats, tx_calls) },
		{ "rx_calls", offsetof(struct port_queue_stats, rx_calls) },
		{ "ring_faults", offsetof(struct port_queue_stats, ring_faults) },
	};

	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		uint64_t v;

		memcpy(&v, (const char *)q + fields[i].off, sizeof(v));
		put(o, fields[i].name, json_object_new_uint64(v));
	}
}

/* The stats object of one port. */
static struct json_object *port_stats_json(struct port *p)
{
	struct json_object *o = json_object_new_object(), *queues, *total;
	struct port_info info, *pi = &info;
	struct port_queue_stats sum;

	if (!o)
		return NULL;
	port_snapshot(p, pi);
	port_stats_total(pi, &sum);
	put(o, "name", json_object_new_string(port_name(p)));
	put(o, "state", json_object_new_string(state_name(pi)));
	total = json_object_new_object();
	if (total)
		put_counters(total, &sum);
	put(o, "total", total);
	queues = json_object_new_array();
	for (unsigned q = 0; q < pi->nqueues && queues; q++) {
		struct json_object *qo = json_object_new_object();

		if (!qo)
			break;
		put(qo, "queue", json_object_new_int((int)q));
		put_counters(qo, &pi->q[q]);
		json_object_array_add(queues, qo);
	}
	put(o, "queues", queues);
	put(o, "announces", json_object_new_uint64(pi->announces));
	put(o, "dirty_log", json_object_new_boolean(pi->dirty_log));
	put(o, "log_overflows", json_object_new_uint64(pi->log_overflows));
	put(o, "mem_faults", json_object_new_uint64(pi->mem_faults));
	put(o, "conn_refused", json_object_new_uint64(pi->conn_refused));
	put(o, "msg_refused", json_object_new_uint64(pi->msg_refused));
	return o;
}

/* Operation handlers: args already checked against the table's fields. 0 or -1 (e set). */
typedef int (*op_fn)(struct api_ctx *ctx, struct json_object *args, struct json_object *res,
		     struct api_err *e);

static int op_version(struct api_ctx *ctx, struct json_object *args, struct json_object *res,
		      struct api_err *e)
{
	put(res, "version", json_object_new_string(VHOSTD_VERSION));
	put(res, "api", json_object_new_int(API_VERSION));
	return 0;
}

/* A port key's value from the API as text: strings as they are, integers in decimal. */
static int key_text(struct json_object *v, const char *key, char *buf, size_t len,
		    struct api_err *e)
{
	if (json_object_is_type(v, json_type_int)) {
		snprintf(buf, len, "%" PRId64, json_object_get_int64(v));
		return 0;
	}
	if (!json_object_is_type(v, json_type_string))
		return fail(e, "invalid-argument", "'%s' must be a string or an integer", key);
	if (strlen(json_object_get_string(v)) != (size_t)json_object_get_string_len(v) ||
	    (size_t)json_object_get_string_len(v) >= len)
		return fail(e, "invalid-argument", "'%s': value too long or with a NUL byte", key);
	strcpy(buf, json_object_get_string(v));
	return 0;
}

static int op_port_add(struct api_ctx *ctx, struct json_object *args, struct json_object *res,
		       struct api_err *e)
{
	struct port_config c;
	struct json_object *o;
	struct cfg_err err;
	int r;

	if (!args)
		return fail(e, "invalid-argument",
			    "port-add needs 'spec', or name, socket and backend");
	if (json_object_object_length(args) == 1 && json_object_object_get_ex(args, "spec", NULL)) {
		const char *spec = get_str(args, "spec", true, e);

		if (!spec)
			return -1;
		r = portcfg_parse(spec, &c, &err);
	} else {
		struct portcfg_builder b;

		if (json_object_object_get_ex(args, "spec", NULL))
			return fail(e, "invalid-argument", "'spec' goes alone, without other keys");
		portcfg_begin(&b);
		r = 0;
		json_object_object_foreach(args, key, v)
		{
			char val[512];

			if (key_text(v, key, val, sizeof(val), e) < 0)
				return -1;
			r = portcfg_set(&b, key, val, &err);
			if (r < 0)
				break;
		}
		if (r == 0)
			r = portcfg_finish(&b, &c, &err);
	}
	if (r == -ENOMEM)
		return fail(e, "failed", "out of memory");
	if (r < 0)
		return fail(e, "invalid-argument", "%s", err.msg);
	r = daemon_port_add(ctx->d, &c, PORT_SRC_API, &err);
	if (r == -EEXIST)
		return fail(e, "exists", "%s", err.msg);
	if (r == -EINVAL)
		return fail(e, "invalid-argument", "%s", err.msg);
	if (r < 0)
		return fail(e, "failed", "%s", err.msg);
	log_info("%s: port added through the control API", c.name);
	o = port_json(daemon_find(ctx->d, c.name, NULL), PORT_SRC_API);
	if (o) {
		json_object_object_foreach(o, k, v)
		{
			put(res, k, json_object_get(v));
		}
	}
	json_object_put(o);
	return 0;
}

/* The port named by args.name, or NULL with e set. */
static struct port *named_port(struct api_ctx *ctx, struct json_object *args, enum port_source *src,
			       struct api_err *e)
{
	const char *name = get_str(args, "name", true, e);
	struct port *p;

	if (!name)
		return NULL;
	p = daemon_find(ctx->d, name, src);
	if (!p)
		fail(e, "not-found", "no port named %.64s", name);
	return p;
}

static int op_port_del(struct api_ctx *ctx, struct json_object *args, struct json_object *res,
		       struct api_err *e)
{
	struct port *p = named_port(ctx, args, NULL, e);

	if (!p)
		return -1;
	daemon_port_del(ctx->d, port_name(p));
	return 0;
}

static int op_port_list(struct api_ctx *ctx, struct json_object *args, struct json_object *res,
			struct api_err *e)
{
	struct json_object *a = json_object_new_array();

	for (unsigned i = 0; i < daemon_nports(ctx->d) && a; i++) {
		enum port_source src;
		struct port *p = daemon_port(ctx->d, i, &src);
		struct json_object *full = port_json(p, src), *o = json_object_new_object(), *v;
		static const char *const keep[] = { "name",   "socket", "mode",	  "backend",
						    "queues", "state",	"workers" };

		for (size_t k = 0; full && o && k < sizeof(keep) / sizeof(keep[0]); k++)
			if (json_object_object_get_ex(full, keep[k], &v))
				put(o, keep[k], json_object_get(v));
		json_object_put(full);
		if (o)
			json_object_array_add(a, o);
	}
	put(res, "ports", a);
	return 0;
}

static int op_port_show(struct api_ctx *ctx, struct json_object *args, struct json_object *res,
			struct api_err *e)
{
	enum port_source src;
	struct port *p = named_port(ctx, args, &src, e);
	struct json_object *o;

	if (!p)
		return -1;
	o = port_json(p, src);
	if (!o)
		return fail(e, "failed", "out of memory");
	json_object_object_foreach(o, k, v)
	{
		put(res, k, json_object_get(v));
	}
	json_object_put(o);
	return 0;
}

static int op_stats(struct api_ctx *ctx, struct json_object *args, struct json_object *res,
		    struct api_err *e)
{
	const char *format = get_str(args, "format", false, e);
	const char *only = get_str(args, "name", false, e);
	struct json_object *a;

	if (e->code)
		return -1;
	if (only && !daemon_find(ctx->d, only, NULL))
		return fail(e, "not-found", "no port named %.64s", only);
	if (format && strcmp(format, "json") != 0) {
		_cleanup_free_ char *text = NULL;

		if (strcmp(format, "prometheus") == 0)
			text = metrics_prometheus(ctx->d, only);
		else if (strcmp(format, "kv") == 0)
			text = metrics_kv(ctx->d, only);
		else
			return fail(e, "invalid-argument", "format must be json, prometheus or kv");
		if (!text)
			return fail(e, "failed", "out of memory");
		put(res, "text", json_object_new_string(text));
		return 0;
	}
	a = json_object_new_array();
	for (unsigned i = 0; i < daemon_nports(ctx->d) && a; i++) {
		struct port *p = daemon_port(ctx->d, i, NULL);

		if (!only || strcmp(port_name(p), only) == 0)
			json_object_array_add(a, port_stats_json(p));
	}
	put(res, "ports", a);
	if (!only)
		put(res, "limits", limits_json());
	return 0;
}

static int op_set(struct api_ctx *ctx, struct json_object *args, struct json_object *res,
		  struct api_err *e)
{
	const char *level = get_str(args, "log_level", false, e);
	const char *poll = get_str(args, "poll", false, e);
	const char *name = get_str(args, "port", false, e);
	enum log_level lv = LOG_LVL_INFO;
	enum poll_mode m = POLL_ADAPTIVE;
	struct port *p = NULL;

	if (e->code)
		return -1;
	if (!level && !poll)
		return fail(e, "invalid-argument", "nothing to set: log_level, or port and poll");
	if (level && log_parse_level(level, &lv) < 0)
		return fail(e, "invalid-argument", "log_level must be debug, info, warn or error");
	if (!poll != !name)
		return fail(e, "invalid-argument", "'poll' and 'port' go together");
	if (poll && poll_mode_parse(poll, &m) < 0)
		return fail(e, "invalid-argument", "poll must be event, busy or adaptive");
	if (name && !(p = daemon_find(ctx->d, name, NULL)))
		return fail(e, "not-found", "no port named %.64s", name);
	/* Checked whole first: a request either does everything it asks or nothing. */
	if (level) {
		log_set_level(lv);
		log_info("log level %s", level);
	}
	if (p)
		port_set_poll(p, m);
	return 0;
}

/* Adds the names of l as an array called key. */
static void put_names(struct json_object *o, const char *key, const struct name_list *l)
{
	struct json_object *a = json_object_new_array();

	for (unsigned i = 0; i < l->n && a; i++)
		json_object_array_add(a, json_object_new_string(l->name[i]));
	put(o, key, a);
}

static int op_reload(struct api_ctx *ctx, struct json_object *args, struct json_object *res,
		     struct api_err *e)
{
	struct reload_report report, *rep = &report;
	struct cfg_err err;
	int r;

	if (!ctx->reload)
		return fail(e, "failed", "no configuration file to reload");
	r = ctx->reload(ctx->opaque, rep, &err);
	if (r < 0 && r != -EIO)
		return fail(e, "failed", "%s (nothing changed)", err.msg);
	if (r == -EIO)
		return fail(e, "failed", "reload applied in part: %s", err.msg);
	put_names(res, "added", &rep->added);
	put_names(res, "removed", &rep->removed);
	put_names(res, "changed", &rep->changed);
	put_names(res, "unchanged", &rep->unchanged);
	return 0;
}

/* Every operation and the fields its args may have (NULL-terminated; "*" = port keys). */
static const struct op {
	const char *name;
	op_fn fn;
	const char *fields[5];
} ops[] = {
	{ "version", op_version, { NULL } },
	{ "port-add", op_port_add, { "spec", "*", NULL } },
	{ "port-del", op_port_del, { "name", NULL } },
	{ "port-list", op_port_list, { NULL } },
	{ "port-show", op_port_show, { "name", NULL } },
	{ "stats", op_stats, { "name", "format", NULL } },
	{ "set", op_set, { "log_level", "port", "poll", NULL } },
	{ "reload", op_reload, { NULL } },
};

/* True when key may appear in op's args. */
static bool field_ok(const struct op *op, const char *key)
{
	for (const char *const *f = op->fields; *f; f++)
		if (strcmp(*f, key) == 0 || (strcmp(*f, "*") == 0 && portcfg_is_key(key)))
			return true;
	return false;
}

/* Serialises a reply object (taking it) into a malloc'ed string. */
static char *finish(struct json_object *reply)
{
	char *out = NULL;

	if (reply)
		out = strdup(json_object_to_json_string_ext(
			reply, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(reply);
	return out;
}

/* The reply object for id with error e. */
static struct json_object *error_object(struct json_object *id, const struct api_err *e)
{
	struct json_object *reply = json_object_new_object(), *err = json_object_new_object();

	if (!reply || !err) {
		json_object_put(reply);
		json_object_put(err);
		json_object_put(id);
		return NULL;
	}
	put(err, "code", json_object_new_string(e->code));
	put(err, "message", json_object_new_string(e->msg));
	put(reply, "id", id);
	put(reply, "ok", json_object_new_boolean(false));
	put(reply, "error", err);
	return reply;
}

char *api_error_reply(const char *code, const char *message)
{
	struct api_err e = { .code = code };

	snprintf(e.msg, sizeof(e.msg), "%s", message);
	return finish(error_object(NULL, &e));
}

/* Checks the request's shape and runs its operation into res. 0 or -1 (e set). */
static int dispatch(struct api_ctx *ctx, struct json_object *req, struct json_object *res,
		    struct api_err *e)
{
	struct json_object *opv, *args = NULL;
	const struct op *op = NULL;
	const char *name;

	if (!json_object_object_get_ex(req, "op", &opv) ||
	    !json_object_is_type(opv, json_type_string))
		return fail(e, "invalid-request", "'op' (a string) is missing");
	name = json_object_get_string(opv);
	json_object_object_foreach(req, rkey, rv)
	{
		(void)rv;
		if (strcmp(rkey, "id") != 0 && strcmp(rkey, "op") != 0 && strcmp(rkey, "args") != 0)
			return fail(e, "invalid-request", "unknown request field '%.64s'", rkey);
	}
	if (json_object_object_get_ex(req, "args", &args) &&
	    !json_object_is_type(args, json_type_null) &&
	    !json_object_is_type(args, json_type_object))
		return fail(e, "invalid-request", "'args' must be an object");
	if (args && json_object_is_type(args, json_type_null))
		args = NULL;
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (strcmp(ops[i].name, name) == 0)
			op = &ops[i];
	if (!op)
		return fail(e, "unknown-op", "unknown operation '%.64s'", name);
	if (args) {
		json_object_object_foreach(args, key, v)
		{
			(void)v;
			if (!field_ok(op, key))
				return fail(e, "invalid-argument", "%s: unknown field '%.64s'",
					    op->name, key);
		}
	}
	return op->fn(ctx, args, res, e);
}

/* True when s[0..len) holds only spaces, tabs and carriage returns. */
static bool blank(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
			return false;
	return true;
}

char *api_handle(struct api_ctx *ctx, const char *line, size_t len)
{
	struct json_tokener *tok = json_tokener_new_ex(API_MAX_DEPTH);
	struct json_object *req = NULL, *id = NULL, *res = NULL, *reply;
	struct api_err e = { 0 };

	if (!tok)
		return NULL;
	if (len > INT32_MAX)
		len = INT32_MAX;
	req = json_tokener_parse_ex(tok, line, (int)len);
	/* The whole line must be one value: trailing bytes (other than spaces) are an error. */
	if (!req || json_tokener_get_error(tok) != json_tokener_success ||
	    !blank(line + json_tokener_get_parse_end(tok), len - json_tokener_get_parse_end(tok))) {
		fail(&e, "parse-error", "not one JSON value: %s",
		     req ? "trailing bytes after it"
			 : json_tokener_error_desc(json_tokener_get_error(tok)));
	} else if (!json_object_is_type(req, json_type_object)) {
		fail(&e, "invalid-request", "a request is a JSON object");
	} else {
		if (json_object_object_get_ex(req, "id", &id) &&
		    (json_object_is_type(id, json_type_object) ||
		     json_object_is_type(id, json_type_array)))
			id = NULL;
		id = json_object_get(id);
		res = json_object_new_object();
		if (!res)
			fail(&e, "failed", "out of memory");
		else if (dispatch(ctx, req, res, &e) < 0 && !e.code)
			fail(&e, "failed", "internal error");
	}
	json_tokener_free(tok);
	json_object_put(req);
	if (e.code) {
		json_object_put(res);
		return finish(error_object(id, &e));
	}
	reply = json_object_new_object();
	if (!reply) {
		json_object_put(res);
		json_object_put(id);
		return NULL;
	}
	put(reply, "id", id);
	put(reply, "ok", json_object_new_boolean(true));
	put(reply, "result", res);
	return finish(reply);
}
