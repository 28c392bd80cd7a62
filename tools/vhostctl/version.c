/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vhostctl version: this client's version and the daemon's. */
#include <stdio.h>

#include "client.h"
#include "output.h"
#include "vhostctl.h"

#ifndef VHOSTD_VERSION
#define VHOSTD_VERSION "unknown"
#endif

/* The control API version this client speaks (doc/control-api.md). */
#define CONTROL_API 1

/* vhostctl version: "vhostctl X" and "vhostd Y (control API N)"; warns when the daemon speaks
 * another API version than this client. */
int cmd_version(struct invocation *inv)
{
	_cleanup_json_ json_object *res = NULL;
	uint64_t api = 0;
	int r;

	r = ctl_call(inv, "version", NULL, &res);
	if (r != EXIT_OK)
		return r;
	if (!json_str(res, "version") || !json_u64(res, "api", &api))
		return protocol_error("version result without \"version\" and \"api\"");
	if (inv->json)
		print_json(inv, res);
	else
		printf("vhostctl %s\nvhostd %s (control API %s)\n", VHOSTD_VERSION,
		       json_str(res, "version"), json_str(res, "api"));
	if (api != CONTROL_API)
		fprintf(stderr,
			"vhostctl: warning: the daemon speaks control API %s, vhostctl %d\n",
			json_str(res, "api"), CONTROL_API);
	return EXIT_OK;
}
