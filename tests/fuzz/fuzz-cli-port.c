/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fuzzes the --port parser (cli_parse_port: every key, the features= list with its '-' tokens,
 * mtu=, queues=, names and paths) with the input as one NUL-terminated spec. Checked: an
 * accepted spec yields a configuration that holds what the parser promises (a valid name, a
 * socket path, queue count and MTU in range, no bit masked off that vhostd needs); parsing the
 * same spec twice gives the same answer.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>

#include "daemon/cli.h"
#include "fuzz.h"
#include "net/virtio_net.h"
#include "vhost/proto.h"
#include "virtq/virtq.h"

#define MAX_SPEC 4096

/* Parses one spec (data as a string) and checks the result. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char spec[MAX_SPEC + 1];
	static int null_fd = -1;
	struct port_config a, b;
	int ra, rb, saved = -1;

	if (size > MAX_SPEC)
		return 0;
	fuzz_quiet_logs();
	memcpy(spec, data, size);
	spec[size] = '\0';
	memset(&a, 0x5a, sizeof(a));
	memset(&b, 0xa5, sizeof(b));
	/* The parser prints its complaints: silence them (not libFuzzer's own reports). */
	if (null_fd < 0 && !getenv("FUZZ_VERBOSE"))
		null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (null_fd >= 0) {
		fflush(stderr);
		saved = dup(STDERR_FILENO);
		dup2(null_fd, STDERR_FILENO);
	}
	ra = cli_parse_port(spec, &a);
	rb = cli_parse_port(spec, &b);
	if (saved >= 0) {
		fflush(stderr);
		dup2(saved, STDERR_FILENO);
		close(saved);
	}
	FUZZ_CHECK(ra == rb);
	FUZZ_CHECK(ra == 0 || ra == -EINVAL);
	if (ra < 0)
		return 0;
	FUZZ_CHECK(strnlen(a.name, sizeof(a.name)) > 0 &&
		   strnlen(a.name, sizeof(a.name)) < sizeof(a.name));
	/* A socket path, except on a switch's uplink, which has no guest and never one. */
	FUZZ_CHECK(strnlen(a.socket, sizeof(a.socket)) < sizeof(a.socket));
	FUZZ_CHECK((a.socket[0] != 0) != a.uplink);
	/* Switch keys: a switch name on switch ports and uplinks only, VLANs on switch ports. */
	FUZZ_CHECK(strnlen(a.sw, sizeof(a.sw)) < sizeof(a.sw));
	FUZZ_CHECK((a.sw[0] != 0) == (a.backend == PORT_BACKEND_SWITCH || a.uplink));
	FUZZ_CHECK(a.vlan <= 4094 && (!a.vlan || a.backend == PORT_BACKEND_SWITCH));
	FUZZ_CHECK(!a.sw[0] || a.queues == 1);
	FUZZ_CHECK(a.queues >= 1 && a.queues <= VU_MAX_QUEUE_PAIRS);
	FUZZ_CHECK(a.mtu == 0 || (a.mtu >= VNET_MTU_MIN && a.mtu <= VNET_MTU_MAX));
	FUZZ_CHECK(!(a.features_off & (1ull << VIRTIO_F_VERSION_1)));
	FUZZ_CHECK(strcmp(a.name, b.name) == 0 && strcmp(a.socket, b.socket) == 0);
	/* A macvtap port always has a lower device and a link name of its own within IFNAMSIZ. */
	if (a.backend == PORT_BACKEND_MACVTAP)
		FUZZ_CHECK(a.dev[0] && a.ifname[0] && strnlen(a.ifname, IFNAMSIZ) < IFNAMSIZ &&
			   strcmp(a.ifname, a.dev) != 0 && a.macvtap_mode != 0);
	else
		FUZZ_CHECK(a.macvtap_mode == 0);
	FUZZ_CHECK(a.features_off == b.features_off && a.mtu == b.mtu && a.queues == b.queues &&
		   a.backend == b.backend && a.poll == b.poll && a.client == b.client);
	return 0;
}
