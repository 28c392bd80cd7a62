/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vhostctl port add|del|list|show: the port-* operations. */
#include <stdio.h>
#include <string.h>

#include "client.h"
#include "output.h"
#include "vhostctl.h"

/* The members port show prints in this order, before any others the daemon adds. "features",
 * "protocol_features" and "rings" have their own layout. */
static const char *const show_order[] = {
	"name",	 "state", "source", "spec", "socket", "mode",	 "backend",  "ifname",
	"gen",	 "peer",  "queues", "poll", "mtu",    "workers", "features", "protocol_features",
	"rings",
};

/* True if key is one of show_order. */
static bool known_member(const char *key)
{
	for (size_t i = 0; i < ARRAY_SIZE(show_order); i++)
		if (!strcmp(show_order[i], key))
			return true;
	return false;
}

/* Prints member key of port as a field: scalars as text, arrays of scalars as words, anything
 * else as one line of JSON. Absent members print nothing. */
static void show_member(json_object *port, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(port, key, &v))
		return;
	if (json_object_is_type(v, json_type_array))
		print_field_words(key, v);
	else if (json_object_is_type(v, json_type_object))
		print_field(key,
			    json_object_to_json_string_ext(
				    v, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	else
		print_field(key, v ? json_object_get_string(v) : NULL);
}

/* Prints a port-show result: "key: value" lines, then the rings as a table. Returns the exit
 * status (EXIT_PROTOCOL when the result has no name). */
static int show_port(json_object *port)
{
	static const char *const heads[] = { "RING",   "QUEUE", "DIR",	   "SIZE",
					     "LAYOUT", "STATE", "ENABLED", "KICK" };
	static const char *const keys[] = { "index",  "queue", "dir",	  "size",
					    "layout", "state", "enabled", "kick" };
	json_object *feat = json_member(port, "features", json_type_object);
	json_object *pf = json_member(port, "protocol_features", json_type_object);
	json_object *rings = json_member(port, "rings", json_type_array);
	_cleanup_table_ struct table *t = NULL;

	if (!json_str(port, "name"))
		return protocol_error("port without a name");
	for (size_t i = 0; i < ARRAY_SIZE(show_order); i++) {
		if (!strcmp(show_order[i], "features")) {
			if (!feat)
				continue;
			print_field_words("features offered",
					  json_member(feat, "offered", json_type_array));
			print_field_words("features negotiated",
					  json_member(feat, "negotiated", json_type_array));
			print_field_words("features off",
					  json_member(feat, "off", json_type_array));
		} else if (!strcmp(show_order[i], "protocol_features")) {
			if (!pf)
				continue;
			print_field("protocol offered", json_str(pf, "offered"));
			print_field("protocol negotiated", json_str(pf, "negotiated"));
		} else if (strcmp(show_order[i], "rings") != 0) {
			show_member(port, show_order[i]);
		}
	}
	json_object_object_foreach(port, key, val)
	{
		(void)val;
		if (!known_member(key))
			show_member(port, key);
	}
	if (!rings)
		return EXIT_OK;
	t = table_new(ARRAY_SIZE(heads), heads, "rrlrllll");
	if (!t)
		return out_of_memory();
	for (size_t i = 0; i < json_object_array_length(rings); i++) {
		json_object *ring = json_object_array_get_idx(rings, i);
		const char *cells[ARRAY_SIZE(keys)];

		for (size_t k = 0; k < ARRAY_SIZE(keys); k++)
			cells[k] = json_str(ring, keys[k]);
		if (cells[6])
			cells[6] = !strcmp(cells[6], "true") ? "yes" : "no";
		if (table_add(t, cells) < 0)
			return out_of_memory();
	}
	putchar('\n');
	table_print(t, stdout);
	return EXIT_OK;
}

/* Runs op with {"name": NAME} or {"spec": SPEC} and prints the resulting port (or, with -j, the
 * result). */
static int call_show(struct invocation *inv, const char *op, const char *key)
{
	_cleanup_json_ json_object *args = make_args(key, inv->args[0], NULL, NULL);
	_cleanup_json_ json_object *res = NULL;
	int r;

	if (!args)
		return out_of_memory();
	r = ctl_call(inv, op, args, &res);
	if (r != EXIT_OK)
		return r;
	if (inv->json) {
		print_json(inv, res);
		return EXIT_OK;
	}
	return show_port(res);
}

/* vhostctl port add SPEC: the spec goes to the daemon as it is (the daemon parses it exactly as
 * vhostd --port does); prints the new port. */
int cmd_port_add(struct invocation *inv)
{
	return call_show(inv, "port-add", "spec");
}

/* vhostctl port show NAME */
int cmd_port_show(struct invocation *inv)
{
	return call_show(inv, "port-show", "name");
}

/* vhostctl port del NAME: prints nothing on success (the result with -j). */
int cmd_port_del(struct invocation *inv)
{
	_cleanup_json_ json_object *args = make_args("name", inv->args[0], NULL, NULL);
	_cleanup_json_ json_object *res = NULL;

	if (!args)
		return out_of_memory();
	if (inv->json)
		return ctl_call_print_json(inv, "port-del", args);
	return ctl_call(inv, "port-del", args, &res);
}

/* vhostctl port list: one row per port. */
int cmd_port_list(struct invocation *inv)
{
	static const char *const heads[] = { "NAME", "STATE",	"BACKEND", "QUEUES",
					     "MODE", "WORKERS", "SOCKET" };
	static const char *const keys[] = { "name", "state",   "backend", "queues",
					    "mode", "workers", "socket" };
	_cleanup_json_ json_object *res = NULL;
	_cleanup_table_ struct table *t = NULL;
	json_object *ports;
	int r;

	if (inv->json)
		return ctl_call_print_json(inv, "port-list", NULL);
	r = ctl_call(inv, "port-list", NULL, &res);
	if (r != EXIT_OK)
		return r;
	ports = json_member(res, "ports", json_type_array);
	if (!ports)
		return protocol_error("port-list result without \"ports\"");
	t = table_new(ARRAY_SIZE(heads), heads, "lllrlrl");
	if (!t)
		return out_of_memory();
	for (size_t i = 0; i < json_object_array_length(ports); i++) {
		json_object *p = json_object_array_get_idx(ports, i);
		const char *cells[ARRAY_SIZE(keys)];
		char text[ARRAY_SIZE(keys)][64];

		for (size_t k = 0; k < ARRAY_SIZE(keys); k++)
			cells[k] = json_text(p, keys[k], text[k], sizeof(text[k]));
		if (table_add(t, cells) < 0)
			return out_of_memory();
	}
	table_print(t, stdout);
	return EXIT_OK;
}
