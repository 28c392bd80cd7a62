/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vhostctl stats: counters as tables (one per port: a row per queue pair and the total), as JSON,
 * or as the daemon's own kv or Prometheus text. */
#include <stdio.h>
#include <string.h>

#include "client.h"
#include "output.h"
#include "vhostctl.h"

/* The table's columns: header, counter, printed as bytes or as a count. */
static const struct {
	const char *head;
	const char *key;
	bool bytes;
} columns[] = {
	{ "RX PKTS", "rx_packets", false }, { "RX BYTES", "rx_bytes", true },
	{ "RX DROP", "rx_dropped", false }, { "TX PKTS", "tx_packets", false },
	{ "TX BYTES", "tx_bytes", true },   { "TX DROP", "tx_dropped", false },
	{ "TX ERR", "tx_errors", false },   { "FAULTS", "ring_faults", false },
};

#define NCOLS (ARRAY_SIZE(columns) + 1)

/* Formats counter key of c for a cell: bytes in binary units, counts exact below 100000 and in SI
 * units above, "-" when missing. */
static const char *counter_cell(json_object *c, const char *key, bool bytes,
				char buf[static HUMAN_MAX])
{
	uint64_t v;

	if (!json_u64(c, key, &v))
		return NULL;
	return bytes ? human_bytes(buf, v) : human_count(buf, v);
}

/* Appends the row named first holding the counters of c to t. Returns 0 or -ENOMEM. */
static int counter_row(struct table *t, const char *first, json_object *c)
{
	char buf[NCOLS][HUMAN_MAX];
	const char *cells[NCOLS] = { first };

	for (size_t i = 0; i < ARRAY_SIZE(columns); i++)
		cells[i + 1] = counter_cell(c, columns[i].key, columns[i].bytes, buf[i + 1]);
	return table_add(t, cells);
}

/* A counter of c as exact text ("-" when missing) in buf. */
static const char *exact(json_object *c, const char *key, char buf[static HUMAN_MAX])
{
	const char *s = json_str(c, key);

	snprintf(buf, HUMAN_MAX, "%s", s ? s : "-");
	return buf;
}

/* Prints one PORTSTATS object: a heading, the queue/total table and two lines of the rest.
 * Returns the exit status. */
static int print_port(json_object *p)
{
	const char *heads[NCOLS] = { "QUEUE" };
	_cleanup_table_ struct table *t = NULL;
	json_object *total = json_member(p, "total", json_type_object);
	json_object *queues = json_member(p, "queues", json_type_array);
	char b[6][HUMAN_MAX];
	const char *dl;

	if (!json_str(p, "name"))
		return protocol_error("stats for a port without a name");
	for (size_t i = 0; i < ARRAY_SIZE(columns); i++)
		heads[i + 1] = columns[i].head;
	t = table_new(NCOLS, heads, "lrrrrrrrr");
	if (!t)
		return out_of_memory();
	for (size_t i = 0; queues && i < json_object_array_length(queues); i++) {
		json_object *q = json_object_array_get_idx(queues, i);
		const char *name = json_str(q, "queue");
		char qbuf[24];

		snprintf(qbuf, sizeof(qbuf), "%s", name ? name : "?");
		if (counter_row(t, qbuf, q) < 0)
			return out_of_memory();
	}
	if (counter_row(t, "total", total) < 0)
		return out_of_memory();
	printf("port %s: %s\n", json_str(p, "name"), json_str(p, "state") ?: "-");
	table_print(t, stdout);
	printf("kicks rx %s tx %s, calls rx %s tx %s, rx oversize %s, rx stale %s\n",
	       exact(total, "rx_kicks", b[0]), exact(total, "tx_kicks", b[1]),
	       exact(total, "rx_calls", b[2]), exact(total, "tx_calls", b[3]),
	       exact(total, "rx_oversize", b[4]), exact(total, "rx_stale", b[5]));
	dl = json_str(p, "dirty_log");
	printf("announces %s, dirty log %s, log overflows %s\n", exact(p, "announces", b[0]),
	       !dl		     ? "-"
	       : !strcmp(dl, "true") ? "on"
				     : "off",
	       exact(p, "log_overflows", b[1]));
	printf("memory faults %s, front-ends refused %s, messages refused %s\n",
	       exact(p, "mem_faults", b[0]), exact(p, "conn_refused", b[1]),
	       exact(p, "msg_refused", b[2]));
	return EXIT_OK;
}

/* Prints the text member of a kv or prometheus result as it is, ending in a newline. */
static int print_text(json_object *res)
{
	json_object *t = json_member(res, "text", json_type_string);
	size_t len;

	if (!t)
		return protocol_error("stats result without \"text\"");
	len = (size_t)json_object_get_string_len(t);
	fwrite(json_object_get_string(t), 1, len, stdout);
	if (len && json_object_get_string(t)[len - 1] != '\n')
		putchar('\n');
	return EXIT_OK;
}

/* vhostctl stats [PORT] [--format=table|json|prometheus|kv] */
int cmd_stats(struct invocation *inv)
{
	static const char *const formats[] = { "table", "json", "prometheus", "kv" };
	const char *fmt = inv->opt[0] ? inv->opt[0] : "table";
	_cleanup_json_ json_object *args = json_object_new_object();
	_cleanup_json_ json_object *res = NULL;
	json_object *ports;
	bool known = false, table = !strcmp(fmt, "table");
	int r;

	for (size_t i = 0; i < ARRAY_SIZE(formats); i++)
		known |= !strcmp(fmt, formats[i]);
	if (!known)
		return usage_error(inv, "--format: '%s' is none of table, json, prometheus, kv",
				   fmt);
	if (!args ||
	    (inv->nargs &&
	     json_object_object_add(args, "name", json_object_new_string(inv->args[0]))) ||
	    (!table && json_object_object_add(args, "format", json_object_new_string(fmt))))
		return out_of_memory();
	r = ctl_call(inv, "stats", args, &res);
	if (r != EXIT_OK)
		return r;
	if (inv->json || !strcmp(fmt, "json")) {
		print_json(inv, res);
		return EXIT_OK;
	}
	if (!table)
		return print_text(res);
	ports = json_member(res, "ports", json_type_array);
	if (!ports)
		return protocol_error("stats result without \"ports\"");
	for (size_t i = 0; i < json_object_array_length(ports); i++) {
		if (i)
			putchar('\n');
		r = print_port(json_object_array_get_idx(ports, i));
		if (r != EXIT_OK)
			return r;
	}
	return EXIT_OK;
}
