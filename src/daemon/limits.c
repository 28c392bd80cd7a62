/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "daemon/limits.h"

#include <inttypes.h>
#include <json-c/json.h>

#include "backend/switch.h"
#include "daemon/config.h"
#include "daemon/control.h"
#include "daemon/daemon.h"
#include "daemon/http.h"
#include "daemon/portcfg.h"
#include "util/memguard.h"
#include "vhost/dev.h"
#include "virtq/vmem.h"

static uint64_t refused[LIMIT_COUNTED];

void limit_refused(enum limit_id id)
{
	if (id < LIMIT_COUNTED)
		__atomic_fetch_add(&refused[id], 1, __ATOMIC_RELAXED);
}

/* Where a limit's refusals are counted. */
enum counter { C_HERE, C_MSG, C_CONN, C_MEMGUARD, C_NONE };

static const struct limit {
	const char *name;
	uint64_t max;
	const char *unit, *scope;
	enum counter counter;
	enum limit_id id; /* for C_HERE */
} table[] = {
	{ "ports", DAEMON_MAX_PORTS, "ports", "daemon", C_HERE, LIMIT_PORTS },
	{ "control_clients", CONTROL_MAX_CLIENTS, "connections", "daemon", C_HERE,
	  LIMIT_CONTROL_CLIENTS },
	{ "control_line", CONTROL_LINE_MAX, "bytes", "control client", C_HERE, LIMIT_CONTROL_LINE },
	{ "control_pending", CONTROL_PENDING_MAX, "bytes", "control client", C_HERE,
	  LIMIT_CONTROL_PENDING },
	{ "control_idle", CONTROL_IDLE_MS, "ms", "control client", C_NONE, 0 },
	{ "metrics_clients", HTTP_MAX_CLIENTS, "connections", "daemon", C_HERE,
	  LIMIT_METRICS_CLIENTS },
	{ "metrics_head", HTTP_HEAD_MAX, "bytes", "metrics client", C_NONE, 0 },
	{ "peer_mappings", MEMGUARD_MAX_MAPPINGS, "mappings", "daemon", C_MEMGUARD, 0 },
	{ "front_ends", 1, "connections", "port", C_CONN, 0 },
	{ "queue_pairs", VU_MAX_QUEUE_PAIRS, "queue pairs", "port", C_NONE, 0 },
	{ "queue_size", VIRTQ_MAX_SIZE, "descriptors", "ring", C_MSG, 0 },
	{ "chain_segments", VIRTQ_MAX_IOV, "segments", "ring", C_NONE, 0 },
	{ "mem_regions", VMEM_MAX_REGIONS, "regions", "port", C_MSG, 0 },
	{ "mem_max", VU_MEM_MAX_DEFAULT, "bytes", "port (mem_max=)", C_MSG, 0 },
	{ "message_payload", VU_MAX_PAYLOAD, "bytes", "port", C_MSG, 0 },
	{ "message_fds", VU_MAX_FDS, "fds", "port", C_MSG, 0 },
	{ "messages_per_turn", 64, "messages", "port", C_NONE, 0 },
	{ "switch_ports", SWITCH_MAX_PORTS, "ports", "switch", C_NONE, 0 },
	{ "switch_macs", SWITCH_MAX_MACS, "addresses", "switch", C_NONE, 0 },
	{ "config_bytes", CONFIG_MAX_BYTES, "bytes", "configuration file", C_NONE, 0 },
	{ "config_line", CONFIG_MAX_LINE, "bytes", "configuration file", C_NONE, 0 },
	{ "port_spec", PORTCFG_SPEC_MAX, "bytes", "port spec", C_NONE, 0 },
};

static const char *const counter_names[] = {
	[C_HERE] = "limits",	 [C_MSG] = "msg_refused", [C_CONN] = "conn_refused",
	[C_MEMGUARD] = "limits", [C_NONE] = "none",
};

/* Refusals counted for l daemon-wide, or -1 when they are counted per port or not at all. */
static int64_t refusals(const struct limit *l)
{
	if (l->counter == C_HERE)
		return (int64_t)__atomic_load_n(&refused[l->id], __ATOMIC_RELAXED);
	if (l->counter == C_MEMGUARD)
		return (int64_t)memguard_refused();
	return -1;
}

struct json_object *limits_json(void)
{
	struct json_object *a = json_object_new_array();

	for (size_t i = 0; a && i < sizeof(table) / sizeof(table[0]); i++) {
		const struct limit *l = &table[i];
		struct json_object *o = json_object_new_object();
		int64_t n = refusals(l);

		if (!o)
			break;
		json_object_object_add(o, "name", json_object_new_string(l->name));
		json_object_object_add(o, "max", json_object_new_uint64(l->max));
		json_object_object_add(o, "unit", json_object_new_string(l->unit));
		json_object_object_add(o, "scope", json_object_new_string(l->scope));
		json_object_object_add(o, "counter",
				       json_object_new_string(counter_names[l->counter]));
		if (n >= 0)
			json_object_object_add(o, "refused", json_object_new_int64(n));
		json_object_array_add(a, o);
	}
	return a;
}

void limits_prometheus(FILE *f)
{
	size_t n = sizeof(table) / sizeof(table[0]);

	fputs("# HELP vhostd_limit A bound on what peers can make vhostd hold (doc/limits.md).\n"
	      "# TYPE vhostd_limit gauge\n",
	      f);
	for (size_t i = 0; i < n; i++)
		fprintf(f, "vhostd_limit{limit=\"%s\"} %" PRIu64 "\n", table[i].name, table[i].max);
	fputs("# HELP vhostd_limit_refused_total Requests refused because a daemon-wide limit was "
	      "reached.\n# TYPE vhostd_limit_refused_total counter\n",
	      f);
	for (size_t i = 0; i < n; i++) {
		int64_t r = refusals(&table[i]);

		if (r >= 0)
			fprintf(f, "vhostd_limit_refused_total{limit=\"%s\"} %" PRId64 "\n",
				table[i].name, r);
	}
}
