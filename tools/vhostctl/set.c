/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vhostctl set log-level|poll: the set operation. The values go to the daemon unchecked, so a
 * level or mode it learns later needs no new vhostctl; it refuses what it does not know. */
#include "client.h"
#include "vhostctl.h"

/* Sends set with args; prints nothing on success (the result with -j). */
static int call_set(struct invocation *inv, json_object *args)
{
	_cleanup_json_ json_object *res = NULL;

	if (!args)
		return out_of_memory();
	if (inv->json)
		return ctl_call_print_json(inv, "set", args);
	return ctl_call(inv, "set", args, &res);
}

/* vhostctl set log-level LEVEL */
int cmd_set_log_level(struct invocation *inv)
{
	_cleanup_json_ json_object *args = make_args("log_level", inv->args[0], NULL, NULL);

	return call_set(inv, args);
}

/* vhostctl set poll PORT MODE */
int cmd_set_poll(struct invocation *inv)
{
	_cleanup_json_ json_object *args = make_args("port", inv->args[0], "poll", inv->args[1]);

	return call_set(inv, args);
}
