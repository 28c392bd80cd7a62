/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "daemon/cli.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/portcfg.h"
#include "dataplane/worker.h"
#include "net/features.h"
#include "net/virtio_net.h"
#include "util/cleanup.h"
#include "util/parse.h"
#include "vhost/proto.h"

void cli_usage(void)
{
	printf("Usage: vhostd --port name=NAME,socket=PATH,backend=tap,ifname=IF"
	       "[,mode=server|client][,queues=N][,mtu=N]\n"
	       "              [,features=-NAME[,-NAME...]] [--port ...]\n"
	       "       (or backend=null[,gen=SIZE], or backend=port,peer=NAME)\n"
	       "              [--config PATH] [--log-level debug|info|warn|error]\n"
	       "              [--control PATH | --no-control] [--control-group GROUP]\n"
	       "              [--metrics ADDR:PORT] [--ready-fd N] [--workers N] [--cpus LIST]\n"
	       "              [--no-seccomp]\n"
	       "              [--help] [--version]\n"
	       "\n"
	       "A vhost-user virtio-net back-end. Each --port is one vhost-user socket whose "
	       "guest\n"
	       "NIC is backed by a host network device.\n"
	       "  name=NAME      port name: letters, digits, '-', '_', '.' (at most %d)\n"
	       "  socket=PATH    vhost-user unix socket\n"
	       "  mode=server    listen on PATH for the front-end (default)\n"
	       "  mode=client    connect to a front-end listening on PATH; reconnect on loss\n"
	       "  backend=tap    a tap device with virtio-net headers\n"
	       "  ifname=IF      tap name; created, or attached if it already exists\n"
	       "  backend=null   drop what the guest sends; with gen=SIZE, feed the guest an\n"
	       "                 endless stream of SIZE-byte frames (benchmarks)\n"
	       "  backend=port   cross-connect with the port peer=NAME (which names this one)\n"
	       "  queues=N       queue pairs, 1..%d (default 1)\n"
	       "  poll=MODE      event: sleep until kicked; busy: poll while the rings run;\n"
	       "                 adaptive (default): poll while busy, sleep when idle\n"
	       "  mtu=N          tap: set the tap's MTU to N (%d..%d) at start; a front-end's\n"
	       "                 VHOST_USER_NET_SET_MTU overrides it while it is connected\n"
	       "  features=-NAME,-NAME...\n"
	       "                 never offer these virtio features on this port: csum,\n"
	       "                 guest_csum, mtu, mac, guest_tso4, guest_tso6, guest_ecn,\n"
	       "                 guest_ufo, host_tso4, host_tso6, host_ecn, host_ufo, mrg_rxbuf,\n"
	       "                 status, guest_announce, mq, log_all (no migration), any_layout,\n"
	       "                 indirect_desc, event_idx, packed, in_order, guest_uso4,\n"
	       "                 guest_uso6, host_uso\n"
	       "  --workers N    data-path threads (default 1); queue pairs spread over them\n"
	       "  --cpus LIST    pin worker i to the i-th CPU of LIST (e.g. 1 or 0,2-3)\n"
	       "  --config PATH  ports and settings from a file (vhostd.conf(5)); without it and\n"
	       "                 without --port, " CLI_DEFAULT_CONFIG " if it exists\n"
	       "  --control PATH the JSON control socket vhostctl talks to (default\n"
	       "                 " CLI_DEFAULT_CONTROL "); --no-control: none\n"
	       "  --control-group GROUP  members of GROUP may use the control socket too\n"
	       "  --metrics ADDR:PORT    serve Prometheus metrics over HTTP on ADDR:PORT\n"
	       "  --helper PATH  when not root, tap ports (with bridge=) and macvtap ports get\n"
	       "                 their device from this vhostd-net-helper (a port's helper= wins)\n"
	       "  --ready-fd N   write READY=1 to fd N once every port is set up\n"
	       "  --no-seccomp   no seccomp filters (for debugging, valgrind); they are on by\n"
	       "                 default: a call outside the lists is logged and fails (EPERM)\n"
	       "Command-line settings win over the file's; ports come from both.\n"
	       "Signals: SIGTERM/SIGINT exit, SIGHUP reloads the configuration file, SIGUSR1\n"
	       "logs every port's counters.\n",
	       PORT_NAME_MAX - 1, VU_MAX_QUEUE_PAIRS, VNET_MTU_MIN, VNET_MTU_MAX);
}

int cli_parse_port(const char *spec, struct port_config *ret)
{
	struct cfg_err err;
	int r = portcfg_parse(spec, ret, &err);

	if (r == -EINVAL)
		fprintf(stderr, "vhostd: --port: %s\n", err.msg);
	return r;
}

/* Returns the index of the port named name, or -1. */
static int find_port(const struct cli *c, const char *name)
{
	for (unsigned i = 0; i < c->nports; i++)
		if (strcmp(c->ports[i].name, name) == 0)
			return (int)i;
	return -1;
}

/* Refuses two ports sharing a name, socket or tap, and peers that do not name each other. */
static int check_ports(const struct cli *c)
{
	struct cfg_err err;

	for (unsigned i = 0; i < c->nports; i++) {
		const struct port_config *a = &c->ports[i];
		int k = find_port(c, a->peer);

		for (unsigned j = 0; j < i; j++) {
			if (portcfg_conflict(a, &c->ports[j], &err) < 0) {
				fprintf(stderr, "vhostd: %s\n", err.msg);
				return -EINVAL;
			}
		}
		if (a->backend != PORT_BACKEND_PORT)
			continue;
		/* On the command line both ends of a cross-connection are given together. */
		if (k < 0 || portcfg_check_peer(a, &c->ports[k], &err) < 0) {
			if (k < 0)
				cfg_fail(&err, "port %s: peer %s is not given", a->name, a->peer);
			fprintf(stderr, "vhostd: %s\n", err.msg);
			return -EINVAL;
		}
	}
	return 0;
}

int cli_parse_cpus(const char *s, unsigned *cpus, unsigned max)
{
	_cleanup_free_ char *copy = strdup(s);
	char *save = NULL;
	unsigned n = 0;

	if (!copy)
		return -ENOMEM;
	for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *dash = strchr(tok, '-');
		unsigned lo, hi;

		if (dash)
			*dash = '\0';
		if (parse_uint(tok, 0, 4095, &lo) < 0)
			return -EINVAL;
		hi = lo;
		if (dash && (parse_uint(dash + 1, lo, 4095, &hi) < 0))
			return -EINVAL;
		for (unsigned cpu = lo; cpu <= hi; cpu++) {
			if (n == max)
				return -EINVAL;
			cpus[n++] = cpu;
		}
	}
	return n ? (int)n : -EINVAL;
}

int cli_parse(int argc, char **argv, struct cli *ret)
{
	static const struct option opts[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "control", required_argument, NULL, 'c' },
		{ "no-control", no_argument, NULL, 'n' },
		{ "control-group", required_argument, NULL, 'g' },
		{ "config", required_argument, NULL, 'f' },
		{ "metrics", required_argument, NULL, 'm' },
		{ "helper", required_argument, NULL, 'H' },
		{ "ready-fd", required_argument, NULL, 'r' },
		{ "workers", required_argument, NULL, 'w' },
		{ "cpus", required_argument, NULL, 'C' },
		{ "no-seccomp", no_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	struct cli c = {
		.level = LOG_LVL_INFO,
		.ready_fd = -1,
		.workers = 1,
		.control = CLI_DEFAULT_CONTROL,
		.seccomp = true,
	};
	unsigned fd;
	int o;

	optind = 0; /* glibc: 0 fully resets getopt, so parsing twice works */
	opterr = 1;
	while ((o = getopt_long(argc, argv, "hV", opts, NULL)) != -1) {
		switch (o) {
		case 'p':
			if (c.nports == CLI_MAX_PORTS) {
				fprintf(stderr, "vhostd: at most %d ports\n", CLI_MAX_PORTS);
				return -EINVAL;
			}
			if (cli_parse_port(optarg, &c.ports[c.nports]) < 0)
				return -EINVAL;
			c.nports++;
			break;
		case 'l':
			if (log_parse_level(optarg, &c.level) < 0) {
				fprintf(stderr,
					"vhostd: --log-level: debug, info, warn or error\n");
				return -EINVAL;
			}
			c.level_set = true;
			break;
		case 'c':
			if (!*optarg ||
			    strlen(optarg) >= sizeof(((struct port_config *)0)->socket)) {
				fprintf(stderr, "vhostd: --control: path empty or too long\n");
				return -EINVAL;
			}
			c.control = optarg;
			c.control_set = true;
			break;
		case 'n':
			c.control = NULL;
			c.control_set = true;
			break;
		case 'g':
			if (!*optarg || strlen(optarg) > 64) {
				fprintf(stderr,
					"vhostd: --control-group: a group name or number\n");
				return -EINVAL;
			}
			c.control_group = optarg;
			break;
		case 'f':
			if (!*optarg || strlen(optarg) >= PATH_MAX) {
				fprintf(stderr, "vhostd: --config: path empty or too long\n");
				return -EINVAL;
			}
			c.config = optarg;
			break;
		case 'H':
			if (optarg[0] != '/' ||
			    strlen(optarg) >= sizeof(((struct port_config *)0)->helper)) {
				fprintf(stderr, "vhostd: --helper: an absolute path\n");
				return -EINVAL;
			}
			c.helper = optarg;
			break;
		case 'm':
			if (!*optarg || strlen(optarg) > 64 || !strchr(optarg, ':')) {
				fprintf(stderr,
					"vhostd: --metrics: ADDR:PORT, e.g. 127.0.0.1:9417\n");
				return -EINVAL;
			}
			c.metrics = optarg;
			break;
		case 'r':
			if (parse_uint(optarg, 3, INT_MAX, &fd) < 0) {
				fprintf(stderr,
					"vhostd: --ready-fd: a file descriptor number >= 3\n");
				return -EINVAL;
			}
			c.ready_fd = (int)fd;
			break;
		case 'w':
			if (parse_uint(optarg, 1, WORKERS_MAX, &c.workers) < 0) {
				fprintf(stderr, "vhostd: --workers: 1..%d\n", WORKERS_MAX);
				return -EINVAL;
			}
			c.workers_set = true;
			break;
		case 'C': {
			int n = cli_parse_cpus(optarg, c.cpus, CLI_MAX_CPUS);

			if (n < 0) {
				fprintf(stderr,
					"vhostd: --cpus: a list like 1,3-5 of CPU numbers\n");
				return -EINVAL;
			}
			c.ncpus = (unsigned)n;
			break;
		}
		case 'S':
			c.seccomp = false;
			c.seccomp_set = true;
			break;
		case 'h':
			c.help = true;
			break;
		case 'V':
			c.version = true;
			break;
		default:
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "vhostd: unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	if (!c.help && !c.version && c.nports == 0 && !c.config && !c.control) {
		fprintf(stderr, "vhostd: no --port, --config or control socket (see --help)\n");
		return -EINVAL;
	}
	if (check_ports(&c) < 0)
		return -EINVAL;
	*ret = c;
	return 0;
}
