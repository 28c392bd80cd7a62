/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vhostctl reload: the daemon re-reads its configuration file; prints what that did to the
 * ports. */
#include <stdio.h>

#include "client.h"
#include "output.h"
#include "vhostctl.h"

/* vhostctl reload: "added:", "removed:", "changed:" and "unchanged:" lines of port names. */
int cmd_reload(struct invocation *inv)
{
	static const char *const lists[] = { "added", "removed", "changed", "unchanged" };
	_cleanup_json_ json_object *res = NULL;
	int r;

	if (inv->json)
		return ctl_call_print_json(inv, "reload", NULL);
	r = ctl_call(inv, "reload", NULL, &res);
	if (r != EXIT_OK)
		return r;
	for (size_t i = 0; i < ARRAY_SIZE(lists); i++)
		print_field_words(lists[i], json_member(res, lists[i], json_type_array));
	return EXIT_OK;
}
