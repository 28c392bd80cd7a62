/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fuzzes the configuration file parser (config_parse: global settings, [port NAME] sections,
 * every port key, limits) with the input as the file. Checked: a refused file says where
 * ("FILE:LINE: ..."), an accepted one holds what the parser promises (at most CLI_MAX_PORTS
 * ports, each with a valid name and socket (none on an uplink), no two sharing a name or socket
 * or a switch's uplink, each one's
 * canonical spec parsing back to it), and parsing twice gives the same answer.
 */
#include <errno.h>
#include <string.h>

#include "daemon/config.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct config a, b;
	struct cfg_err ea, eb;
	int ra, rb;

	fuzz_quiet_logs();
	ra = config_parse((const char *)data, size, "f.conf", &a, &ea);
	rb = config_parse((const char *)data, size, "f.conf", &b, &eb);
	FUZZ_CHECK(ra == rb);
	FUZZ_CHECK(ra == 0 || ra == -EINVAL || ra == -ENOMEM);
	if (ra == -EINVAL) {
		FUZZ_CHECK(strncmp(ea.msg, "f.conf:", 7) == 0);
		FUZZ_CHECK(strcmp(ea.msg, eb.msg) == 0);
		return 0;
	}
	if (ra < 0)
		return 0;
	FUZZ_CHECK(a.nports <= CLI_MAX_PORTS && a.nports == b.nports);
	for (unsigned i = 0; i < a.nports; i++) {
		struct port_config back;
		struct cfg_err e;
		char spec[PORTCFG_SPEC_MAX];

		/* A switch's uplink has no guest, so no socket; every other port has one. */
		FUZZ_CHECK(a.ports[i].name[0] && (a.ports[i].socket[0] != 0) != a.ports[i].uplink);
		FUZZ_CHECK(portcfg_equal(&a.ports[i], &b.ports[i]));
		portcfg_format(&a.ports[i], spec, sizeof(spec));
		FUZZ_CHECK(portcfg_parse(spec, &back, &e) == 0);
		FUZZ_CHECK(portcfg_equal(&a.ports[i], &back));
		for (unsigned j = 0; j < i; j++)
			FUZZ_CHECK(portcfg_conflict(&a.ports[i], &a.ports[j], &e) == 0);
	}
	return 0;
}
