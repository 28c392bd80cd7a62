/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "daemon/cli.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/worker.h"
#include "net/features.h"
#include "net/virtio_net.h"
#include "util/cleanup.h"
#include "vhost/proto.h"

void cli_usage(void)
{
	printf("Usage: vhostd --port name=NAME,socket=PATH,backend=tap,ifname=IF"
	       "[,mode=server|client][,queues=N][,mtu=N]\n"
	       "              [,features=-NAME[,-NAME...]] [--port ...]\n"
	       "       (or backend=null[,gen=SIZE], or backend=port,peer=NAME)\n"
	       "              [--log-level debug|info|warn|error] [--control PATH] [--ready-fd N]\n"
	       "              [--workers N] [--cpus LIST]\n"
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
	       "  --control PATH answer \"stats\" on a unix socket (see vhostctl)\n"
	       "  --ready-fd N   write READY=1 to fd N once every port is set up\n"
	       "Signals: SIGTERM/SIGINT exit, SIGUSR1 logs every port's counters.\n",
	       PORT_NAME_MAX - 1, VU_MAX_QUEUE_PAIRS, VNET_MTU_MIN, VNET_MTU_MAX);
}

/* True if s is a non-empty name of [A-Za-z0-9_.-] shorter than max. */
static bool valid_name(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n >= max)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.'))
			return false;
	}
	return true;
}

/* Parses a decimal unsigned in [min, max]. */
static int parse_uint(const char *s, unsigned min, unsigned max, unsigned *ret)
{
	char *end;
	unsigned long v;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -EINVAL;
	*ret = (unsigned)v;
	return 0;
}

/*
 * Adds one features= switch ("-NAME") to *mask. Refuses, with a message naming the token, a
 * name without '-', an unknown name, a name already given and a feature vhostd cannot do
 * without. Returns 0 or -EINVAL.
 */
static int parse_feature_off(const char *tok, uint64_t *mask)
{
	int bit;

	if (tok[0] != '-') {
		fprintf(stderr,
			"vhostd: --port: features: '%s' must be -NAME (features can only be "
			"switched off)\n",
			tok);
		return -EINVAL;
	}
	bit = vnet_feature_bit(tok + 1);
	if (bit < 0) {
		fprintf(stderr, "vhostd: --port: features: unknown feature '%s' (see --help)\n",
			tok + 1);
		return -EINVAL;
	}
	if (vnet_features_required() & (1ull << bit)) {
		fprintf(stderr, "vhostd: --port: features: '%s' cannot be switched off\n", tok + 1);
		return -EINVAL;
	}
	if (*mask & (1ull << bit)) {
		fprintf(stderr, "vhostd: --port: features: '%s' given twice\n", tok + 1);
		return -EINVAL;
	}
	*mask |= 1ull << bit;
	return 0;
}

int cli_parse_port(const char *spec, struct port_config *ret)
{
	_cleanup_free_ char *copy = strdup(spec);
	struct port_config c = { .queues = 1, .backend = PORT_BACKEND_TAP, .poll = POLL_ADAPTIVE };
	bool have_backend = false, in_features = false;
	char *save = NULL;

	if (!copy)
		return -ENOMEM;
	for (char *kv = strtok_r(copy, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
		char *val = strchr(kv, '=');

		/* Keys never start with '-': such a token continues a features= list. */
		if (kv[0] == '-' && in_features) {
			if (parse_feature_off(kv, &c.features_off) < 0)
				return -EINVAL;
			continue;
		}
		in_features = false;
		if (!val) {
			fprintf(stderr, "vhostd: --port: '%s' is not key=value\n", kv);
			return -EINVAL;
		}
		*val++ = '\0';
		if (strcmp(kv, "features") == 0) {
			if (parse_feature_off(val, &c.features_off) < 0)
				return -EINVAL;
			in_features = true;
		} else if (strcmp(kv, "mtu") == 0) {
			if (parse_uint(val, VNET_MTU_MIN, VNET_MTU_MAX, &c.mtu) < 0) {
				fprintf(stderr, "vhostd: --port: mtu must be %d..%d\n",
					VNET_MTU_MIN, VNET_MTU_MAX);
				return -EINVAL;
			}
		} else if (strcmp(kv, "name") == 0) {
			if (!valid_name(val, sizeof(c.name))) {
				fprintf(stderr, "vhostd: --port: invalid name '%s'\n", val);
				return -EINVAL;
			}
			strcpy(c.name, val);
		} else if (strcmp(kv, "socket") == 0) {
			if (!*val || strlen(val) >= sizeof(c.socket)) {
				fprintf(stderr,
					"vhostd: --port: socket path empty or longer than %zu\n",
					sizeof(c.socket) - 1);
				return -EINVAL;
			}
			strcpy(c.socket, val);
		} else if (strcmp(kv, "backend") == 0) {
			if (strcmp(val, "tap") == 0)
				c.backend = PORT_BACKEND_TAP;
			else if (strcmp(val, "null") == 0)
				c.backend = PORT_BACKEND_NULL;
			else if (strcmp(val, "port") == 0)
				c.backend = PORT_BACKEND_PORT;
			else {
				fprintf(stderr,
					"vhostd: --port: unknown backend '%s' (known: tap, null, "
					"port)\n",
					val);
				return -EINVAL;
			}
			have_backend = true;
		} else if (strcmp(kv, "poll") == 0) {
			if (poll_mode_parse(val, &c.poll) < 0) {
				fprintf(stderr,
					"vhostd: --port: poll must be event, busy or adaptive\n");
				return -EINVAL;
			}
		} else if (strcmp(kv, "gen") == 0) {
			if (parse_uint(val, 14, 65535, &c.gen) < 0) {
				fprintf(stderr,
					"vhostd: --port: gen must be a frame size 14..65535\n");
				return -EINVAL;
			}
		} else if (strcmp(kv, "peer") == 0) {
			if (!valid_name(val, sizeof(c.peer))) {
				fprintf(stderr, "vhostd: --port: invalid peer '%s'\n", val);
				return -EINVAL;
			}
			strcpy(c.peer, val);
		} else if (strcmp(kv, "ifname") == 0) {
			if (!valid_name(val, sizeof(c.ifname))) {
				fprintf(stderr, "vhostd: --port: invalid ifname '%s'\n", val);
				return -EINVAL;
			}
			strcpy(c.ifname, val);
		} else if (strcmp(kv, "mode") == 0) {
			if (strcmp(val, "server") == 0)
				c.client = false;
			else if (strcmp(val, "client") == 0)
				c.client = true;
			else {
				fprintf(stderr, "vhostd: --port: mode must be server or client\n");
				return -EINVAL;
			}
		} else if (strcmp(kv, "queues") == 0) {
			if (parse_uint(val, 1, VU_MAX_QUEUE_PAIRS, &c.queues) < 0) {
				fprintf(stderr, "vhostd: --port: queues must be 1..%d\n",
					VU_MAX_QUEUE_PAIRS);
				return -EINVAL;
			}
		} else {
			fprintf(stderr, "vhostd: --port: unknown key '%s'\n", kv);
			return -EINVAL;
		}
	}
	if (!c.name[0] || !c.socket[0] || !have_backend) {
		fprintf(stderr, "vhostd: --port needs name=, socket= and backend=\n");
		return -EINVAL;
	}
	if ((c.backend == PORT_BACKEND_TAP) != (c.ifname[0] != 0)) {
		fprintf(stderr,
			"vhostd: --port %s: ifname= goes with backend=tap, and only there\n",
			c.name);
		return -EINVAL;
	}
	if ((c.backend == PORT_BACKEND_PORT) != (c.peer[0] != 0)) {
		fprintf(stderr, "vhostd: --port %s: peer= goes with backend=port, and only there\n",
			c.name);
		return -EINVAL;
	}
	if (c.mtu && c.backend != PORT_BACKEND_TAP) {
		fprintf(stderr, "vhostd: --port %s: mtu= goes with backend=tap only\n", c.name);
		return -EINVAL;
	}
	if (c.gen && c.backend != PORT_BACKEND_NULL) {
		fprintf(stderr, "vhostd: --port %s: gen= goes with backend=null only\n", c.name);
		return -EINVAL;
	}
	*ret = c;
	return 0;
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
	for (unsigned i = 0; i < c->nports; i++) {
		const struct port_config *a = &c->ports[i];
		int k;

		for (unsigned j = 0; j < i; j++) {
			const struct port_config *b = &c->ports[j];
			const char *what = NULL;

			if (strcmp(a->name, b->name) == 0)
				what = "name";
			else if (strcmp(a->socket, b->socket) == 0)
				what = "socket";
			else if (a->ifname[0] && strcmp(a->ifname, b->ifname) == 0)
				what = "ifname";
			if (what) {
				fprintf(stderr, "vhostd: ports %s and %s share a %s\n", b->name,
					a->name, what);
				return -EINVAL;
			}
		}
		if (a->backend != PORT_BACKEND_PORT)
			continue;
		k = find_port(c, a->peer);
		if (k < 0 || (unsigned)k == i || c->ports[k].backend != PORT_BACKEND_PORT ||
		    strcmp(c->ports[k].peer, a->name) != 0 || c->ports[k].queues != a->queues) {
			fprintf(stderr,
				"vhostd: port %s: peer %s must be another backend=port port with "
				"peer=%s and as many queues\n",
				a->name, a->peer, a->name);
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
		{ "ready-fd", required_argument, NULL, 'r' },
		{ "workers", required_argument, NULL, 'w' },
		{ "cpus", required_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	struct cli c = { .level = LOG_LVL_INFO, .ready_fd = -1, .workers = 1 };
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
			break;
		case 'c':
			if (!*optarg ||
			    strlen(optarg) >= sizeof(((struct port_config *)0)->socket)) {
				fprintf(stderr, "vhostd: --control: path empty or too long\n");
				return -EINVAL;
			}
			c.control = optarg;
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
	if (!c.help && !c.version && c.nports == 0) {
		fprintf(stderr, "vhostd: no --port given (see --help)\n");
		return -EINVAL;
	}
	if (check_ports(&c) < 0)
		return -EINVAL;
	*ret = c;
	return 0;
}
