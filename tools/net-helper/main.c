/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vhostd-net-helper: creates a tap on a bridge, or a macvtap over a device (macvtap.c), for an
 * unprivileged vhostd and hands its queue fds over a socketpair (see src/helper/msg.h for the
 * message). Installed setuid root or with file capabilities; before it looks at its arguments
 * it keeps CAP_NET_ADMIN and nothing else (but CAP_DAC_OVERRIDE, not effective, when it has it:
 * macvtap mode raises it to open the link's device node, then gives it up), and the access
 * list (a path fixed at build time) decides which bridges and devices a caller may use.
 */
#include <cap-ng.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend/mvlink.h"
#include "helper/acl.h"
#include "helper/msg.h"
#include "util/cleanup.h"
#include "util/log.h"
#include "util/parse.h"

#include "helper.h"

#ifndef HELPER_ACL
#define HELPER_ACL "/etc/vhostd/helper.conf"
#endif
#ifndef VHOSTD_VERSION
#define VHOSTD_VERSION "unknown"
#endif

/*
 * Keeps CAP_NET_ADMIN and drops every other capability (CAP_DAC_OVERRIDE stays permitted, not
 * effective, when it was there) and, when started setuid, root itself (the process goes back
 * to the caller's uid). Returns 0, or -EPERM when CAP_NET_ADMIN is not there to keep.
 */
static int drop_privileges(void)
{
	bool dac;

	capng_get_caps_process();
	if (!capng_have_capability(CAPNG_PERMITTED, CAP_NET_ADMIN))
		return -EPERM;
	dac = capng_have_capability(CAPNG_PERMITTED, CAP_DAC_OVERRIDE);
	capng_clear(CAPNG_SELECT_BOTH);
	capng_update(CAPNG_ADD, CAPNG_EFFECTIVE | CAPNG_PERMITTED, CAP_NET_ADMIN);
	if (dac)
		capng_update(CAPNG_ADD, CAPNG_PERMITTED, CAP_DAC_OVERRIDE);
	if (geteuid() != getuid() || getegid() != getgid()) {
		if (capng_change_id((int)getuid(), (int)getgid(),
				    CAPNG_DROP_SUPP_GRP | CAPNG_CLEAR_BOUNDING) < 0)
			return -EPERM;
		return 0;
	}
	return capng_apply(CAPNG_SELECT_BOTH) < 0 ? -EPERM : 0;
}

/* Prints the usage. */
static void usage(FILE *f)
{
	fprintf(f,
		"usage: vhostd-net-helper --socketpair=FD (--bridge=BR | --dev=DEV "
		"--macvtap-mode=MODE)\n"
		"                         [--queues=N] [--mac=MAC] [--vnet-hdr] [--ifname=NAME]\n"
		"Creates a tap on bridge BR (or a macvtap over DEV) and sends its queue fds on "
		"FD.\n"
		"Access list: " HELPER_ACL "\n"
		"A macvtap's helper stays and deletes the link when FD reaches end of file.\n"
		"Exit status: 0 done, 1 usage, 2 denied by the access list, 3 access list error,\n"
		"4 no CAP_NET_ADMIN, 5 device error, 6 cannot send, 7 macvtap not deleted.\n");
}

/* Parses MAC "xx:xx:xx:xx:xx:xx". */
static int parse_mac(const char *s, uint8_t mac[6])
{
	unsigned v[6];
	char end;

	if (strlen(s) != 17 || sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3],
				      &v[4], &v[5], &end) != 6)
		return -EINVAL;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)v[i];
	return 0;
}

/* Parses the command line into *a. Returns 0, or -EINVAL after printing why. */
static int parse_args(int argc, char **argv, struct args *a)
{
	static const struct option opts[] = {
		{ "socketpair", required_argument, NULL, 's' },
		{ "bridge", required_argument, NULL, 'b' },
		{ "dev", required_argument, NULL, 'd' },
		{ "macvtap-mode", required_argument, NULL, 'm' },
		{ "queues", required_argument, NULL, 'q' },
		{ "mac", required_argument, NULL, 'M' },
		{ "vnet-hdr", no_argument, NULL, 'v' },
		{ "ifname", required_argument, NULL, 'i' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	unsigned fd;
	uint32_t mode;
	int o;

	*a = (struct args){ .sock = -1, .queues = 1 };
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 's':
			if (parse_uint(optarg, 0, 65535, &fd) < 0)
				goto bad;
			a->sock = (int)fd;
			break;
		case 'b':
			a->bridge = optarg;
			break;
		case 'd':
			a->dev = optarg;
			break;
		case 'm':
			a->mode = optarg;
			break;
		case 'q':
			if (parse_uint(optarg, 1, HELPER_MAX_QUEUES, &a->queues) < 0)
				goto bad;
			break;
		case 'M':
			if (parse_mac(optarg, a->mac) < 0)
				goto bad;
			a->mac_set = true;
			break;
		case 'v':
			a->vnet_hdr = true;
			break;
		case 'i':
			a->ifname = optarg;
			break;
		case 'h':
			usage(stdout);
			exit(EXIT_OK);
		case 'V':
			printf("vhostd-net-helper %s\n", VHOSTD_VERSION);
			exit(EXIT_OK);
		default:
			goto bad;
		}
	}
	if (optind != argc || a->sock < 0 || !a->bridge == !a->dev || (a->dev && !a->mode) ||
	    (a->bridge && a->mode))
		goto bad;
	{
		const char *const names[] = { a->ifname, a->bridge, a->dev };

		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
			if (names[i] && !acl_name_ok(names[i])) {
				fprintf(stderr,
					"vhostd-net-helper: '%.32s' is no interface name (1..15 of "
					"A-Z a-z 0-9 - _ .)\n",
					names[i]);
				return -EINVAL;
			}
		}
	}
	if (a->mode && mvlink_mode_parse(a->mode, &mode) < 0) {
		fprintf(stderr, "vhostd-net-helper: --macvtap-mode: vepa, private, bridge or "
				"passthrough\n");
		return -EINVAL;
	}
	return 0;
bad:
	usage(stderr);
	return -EINVAL;
}

/* An AF_INET datagram socket for interface ioctls. */
static int ctl_socket(void)
{
	return socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
}

/* Opens one queue of tap name (created by the first open). Returns the fd or -errno. */
static int tap_queue(const char *name, bool multi, bool vnet_hdr, char ret_name[IFNAMSIZ])
{
	struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI };
	_cleanup_close_ int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (multi)
		ifr.ifr_flags |= IFF_MULTI_QUEUE;
	if (vnet_hdr)
		ifr.ifr_flags |= IFF_VNET_HDR;
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0)
		return -errno;
	memcpy(ret_name, ifr.ifr_name, IFNAMSIZ);
	return TAKE_FD(fd);
}

int helper_vnet_hdr(int fd, struct helper_msg *m)
{
	static const unsigned offloads[] = {
		TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN,
		TUN_F_CSUM,
		0,
	};
	int hdr = 12;

	if (ioctl(fd, TUNSETVNETHDRSZ, &hdr) < 0) {
		int r = -errno;

		snprintf(m->error, sizeof(m->error), "TUNSETVNETHDRSZ: %s", strerror(-r));
		return r;
	}
	m->vnet_hdr_size = (uint32_t)hdr;
	for (size_t i = 0; i < sizeof(offloads) / sizeof(offloads[0]); i++) {
		if (ioctl(fd, TUNSETOFFLOAD, (unsigned long)offloads[i]) == 0) {
			m->offloads = offloads[i];
			break;
		}
	}
	return 0;
}

/*
 * Creates the tap (name from --ifname, else the kernel's vhnt%d), its queues, its header size
 * and offloads, attaches it to the bridge and brings it up. Fills m and fds[]. 0 or -errno
 * (m->error says where).
 */
static int make_tap(const struct args *a, struct helper_msg *m, int *fds)
{
	_cleanup_close_ int s = ctl_socket();
	struct ifreq ifr = { 0 };
	char name[IFNAMSIZ];

	if (s < 0)
		return -errno;
	snprintf(name, sizeof(name), "%s", a->ifname ? a->ifname : "vhnt%d");
	for (unsigned q = 0; q < a->queues; q++) {
		int fd = tap_queue(q ? m->ifname : name, a->queues > 1, a->vnet_hdr, m->ifname);

		if (fd < 0) {
			snprintf(m->error, sizeof(m->error), "cannot create tap queue %u: %s", q,
				 strerror(-fd));
			return fd;
		}
		fds[m->nfds++] = fd;
	}
	if (a->vnet_hdr) {
		int r = helper_vnet_hdr(fds[0], m);

		if (r < 0)
			return r;
	}
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", m->ifname);
	if (a->mac_set) {
		/* The tap's own address, not the guest's: fe:... as libvirt does, so the bridge
		 * never takes the guest's address for its own. */
		ifr.ifr_hwaddr.sa_family = 1; /* ARPHRD_ETHER */
		memcpy(ifr.ifr_hwaddr.sa_data, a->mac, 6);
		ifr.ifr_hwaddr.sa_data[0] = (char)0xfe;
		if (ioctl(s, SIOCSIFHWADDR, &ifr) < 0) {
			snprintf(m->error, sizeof(m->error), "cannot set the tap's address: %s",
				 strerror(errno));
			return -errno;
		}
	}
	m->ifindex = if_nametoindex(m->ifname);
	ifr.ifr_ifindex = (int)m->ifindex;
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", a->bridge);
	if (ioctl(s, SIOCBRADDIF, &ifr) < 0) {
		snprintf(m->error, sizeof(m->error), "cannot add %s to bridge %s: %s", m->ifname,
			 a->bridge, strerror(errno));
		return -errno;
	}
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", m->ifname);
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		return -errno;
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0) {
		snprintf(m->error, sizeof(m->error), "cannot bring %s up: %s", m->ifname,
			 strerror(errno));
		return -errno;
	}
	return 0;
}

/* Sends the record with fds[0..nfds) on sock. 0 or -errno. */
static int send_msg(int sock, const struct helper_msg *m, const int *fds)
{
	uint8_t buf[HELPER_MSG_LEN];
	union {
		char buf[CMSG_SPACE(sizeof(int) * HELPER_MAX_QUEUES)];
		struct cmsghdr align;
	} u;
	struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	helper_msg_encode(m, buf);
	if (m->nfds) {
		struct cmsghdr *c;

		mh.msg_control = u.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * m->nfds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * m->nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * m->nfds);
	}
	return sendmsg(sock, &mh, MSG_NOSIGNAL) == (ssize_t)sizeof(buf) ? 0 : -errno;
}

/* Reports a failure (msg) on the socketpair, when there is one, and returns status. */
static int fail(const struct args *a, int err, int status, const char *msg)
{
	struct helper_msg m = { .status = (uint32_t)(err ? err : EPERM) };

	snprintf(m.error, sizeof(m.error), "%s", msg);
	fprintf(stderr, "vhostd-net-helper: %s\n", m.error);
	if (a->sock >= 0 && send_msg(a->sock, &m, NULL) < 0)
		return EXIT_SEND;
	return status;
}

int main(int argc, char **argv)
{
	struct args a = { .sock = -1 };
	struct helper_msg m = { 0 };
	struct acl_err err;
	int fds[HELPER_MAX_QUEUES];
	char msg[sizeof(err.msg) + 32];
	const char *name;
	int r;

	/* Before anything the caller controls is looked at. */
	if (drop_privileges() < 0) {
		fprintf(stderr, "vhostd-net-helper: needs CAP_NET_ADMIN: install it setuid root or "
				"with cap_net_admin+ep\n");
		return EXIT_NO_CAP;
	}
	if (parse_args(argc, argv, &a) < 0)
		return EXIT_USAGE;
	/* What the shared link code logs goes where vhostd's lines go (its stderr, inherited). */
	log_init();
	name = a.bridge ? a.bridge : a.dev;
	r = acl_check(HELPER_ACL, name, &err);
	if (r < 0) {
		snprintf(msg, sizeof(msg), "access list: %s", err.msg);
		return fail(&a, -r, EXIT_ACL_ERROR, msg);
	}
	if (r == 0) {
		snprintf(msg, sizeof(msg), "access denied by ACL: %.32s", name);
		return fail(&a, EPERM, EXIT_DENIED, msg);
	}
	if (!a.dev)
		helper_drop_dac();
	r = a.dev ? helper_make_macvtap(&a, &m, fds) : make_tap(&a, &m, fds);
	if (r < 0) {
		int status = fail(&a, -r, EXIT_DEVICE, m.error);

		close_fds(fds, m.nfds);
		return status;
	}
	r = send_msg(a.sock, &m, fds);
	close_fds(fds, m.nfds);
	if (r < 0) {
		fprintf(stderr, "vhostd-net-helper: cannot send on fd %d: %s\n", a.sock,
			strerror(-r));
		/* A macvtap nobody received is not left behind. */
		if (a.dev)
			helper_stay(-1, &m);
		return EXIT_SEND;
	}
	return a.dev ? helper_stay(a.sock, &m) : EXIT_OK;
}
