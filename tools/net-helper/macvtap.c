/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vhostd-net-helper's macvtap mode. The link is made by the code vhostd uses as root
 * (src/backend/mvlink.c), marked with the helper's own pid, so that a link whose helper was
 * killed is recognised as a leftover and replaced by the next request for that name.
 *
 * Lifetime: a macvtap link does not go with its queue fds the way a tap does, so the helper
 * stays after it sent the record, holding nothing but the socketpair and CAP_NET_ADMIN, and
 * deletes the link when vhostd closes its end (the port is deleted, or vhostd exits or dies:
 * the kernel closes it then too) or when it is told to stop (SIGTERM, SIGINT). SIGHUP and
 * SIGPIPE are ignored: the helper has no terminal and writes nothing after the record.
 */
#include <cap-ng.h>
#include <errno.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backend/mvlink.h"
#include "util/cleanup.h"

#include "helper.h"

/* Tries when /dev/tapN is another namespace's link's node: each new link gets a new ifindex. */
#define NODE_TRIES 4
/* Names vhmt0.. tried without --ifname. */
#define AUTO_NAMES 100u

static volatile sig_atomic_t stop_signal;

/* SIGTERM/SIGINT: the wait ends and the link is deleted. */
static void on_stop(int sig)
{
	stop_signal = sig;
}

/* Blocks SIGTERM and SIGINT (into *old: the mask to wait with) and routes them to on_stop, so
 * that one arriving while the link is made ends the wait as soon as it starts. */
static void catch_stop(sigset_t *old)
{
	struct sigaction sa = { .sa_handler = on_stop }; /* no SA_RESTART: poll must return */
	sigset_t stop;

	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	sigprocmask(SIG_BLOCK, &stop, old);
	sigdelset(old, SIGTERM);
	sigdelset(old, SIGINT);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGHUP, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
}

static sigset_t wait_mask;

void helper_drop_dac(void)
{
	capng_update(CAPNG_DROP, CAPNG_EFFECTIVE | CAPNG_PERMITTED, CAP_DAC_OVERRIDE);
	capng_apply(CAPNG_SELECT_CAPS);
}

/*
 * Opens n queues of link ifname, with CAP_DAC_OVERRIDE raised for the open only: the node is
 * root's, mode 0600, and the helper runs as its caller. 0 or -errno.
 */
static int open_queues(const char *ifname, int ifindex, unsigned n, int *fds)
{
	bool raised = capng_have_capability(CAPNG_PERMITTED, CAP_DAC_OVERRIDE);
	int r;

	if (raised) {
		capng_update(CAPNG_ADD, CAPNG_EFFECTIVE, CAP_DAC_OVERRIDE);
		raised = capng_apply(CAPNG_SELECT_CAPS) == 0;
	}
	r = mvlink_open_queues(ifname, ifindex, n, false, fds);
	if (raised) {
		capng_update(CAPNG_DROP, CAPNG_EFFECTIVE, CAP_DAC_OVERRIDE);
		capng_apply(CAPNG_SELECT_CAPS);
	}
	return r;
}

/* A free name for the link into name: --ifname, or the first vhmtN not in use. 0 or -EEXIST. */
static int pick_name(const struct args *a, char name[IFNAMSIZ])
{
	if (a->ifname) {
		snprintf(name, IFNAMSIZ, "%s", a->ifname);
		return 0;
	}
	for (unsigned i = 0; i < AUTO_NAMES; i++) {
		snprintf(name, IFNAMSIZ, "vhmt%u", i);
		if (if_nametoindex(name) == 0)
			return 0;
	}
	return -EEXIST;
}

/*
 * Makes the link and opens its queues into fds[] (m->nfds of them). A /dev/tapN that is another
 * namespace's link's is not ours to use, and without CAP_MKNOD no private node can be made: the
 * link is made again, with a new ifindex, a few times. Returns the ifindex or -errno.
 */
static int make_link(struct nl_sock *sk, const struct mvlink_params *p, unsigned queues,
		     struct helper_msg *m, int *fds)
{
	int r = -EXDEV, ifindex = 0;

	for (unsigned t = 0; t < NODE_TRIES && r == -EXDEV; t++) {
		r = mvlink_create(sk, p, &ifindex, NULL);
		if (r < 0) {
			snprintf(m->error, sizeof(m->error), "macvtap %s over %s (%s): %s%s",
				 p->ifname, p->dev, mvlink_mode_name(p->mode), strerror(-r),
				 mvlink_hint(p->mode, r));
			return r;
		}
		r = open_queues(p->ifname, ifindex, queues, fds);
		if (r < 0) {
			close_fds(fds, queues);
			mvlink_delete(sk, ifindex, p->ifname);
		}
	}
	if (r < 0) {
		snprintf(m->error, sizeof(m->error), "cannot open the queues of macvtap %s: %s%s",
			 p->ifname, strerror(-r),
			 r == -EACCES ? " (install the helper with cap_dac_override too)" : "");
		return r;
	}
	m->nfds = queues;
	return ifindex;
}

int helper_make_macvtap(const struct args *a, struct helper_msg *m, int *fds)
{
	_cleanup_mvlink_ struct nl_sock *sk = NULL;
	struct mvlink_params p = { .dev = a->dev,
				   .mac = a->mac_set ? a->mac : NULL,
				   .stale_same_dev = true };
	char name[IFNAMSIZ];
	int r, ifindex;

	catch_stop(&wait_mask);
	if (mvlink_mode_parse(a->mode, &p.mode) < 0) {
		snprintf(m->error, sizeof(m->error), "no macvtap mode %.16s", a->mode);
		return -EINVAL;
	}
	r = mvlink_open(&sk);
	if (r < 0) {
		snprintf(m->error, sizeof(m->error), "no route netlink socket: %s", strerror(-r));
		return r;
	}
	if (pick_name(a, name) < 0) {
		snprintf(m->error, sizeof(m->error), "no free name vhmt0..vhmt%u", AUTO_NAMES - 1);
		return -EEXIST;
	}
	p.ifname = name;
	ifindex = make_link(sk, &p, a->queues, m, fds);
	helper_drop_dac();
	if (ifindex < 0)
		return ifindex;
	snprintf(m->ifname, sizeof(m->ifname), "%s", name);
	m->ifindex = (uint32_t)ifindex;
	r = a->vnet_hdr ? helper_vnet_hdr(fds[0], m) : 0;
	if (r == 0) {
		r = mvlink_set_up(sk, ifindex);
		if (r < 0)
			snprintf(m->error, sizeof(m->error), "cannot set macvtap %s up: %s", name,
				 strerror(-r));
	}
	if (r < 0)
		mvlink_delete(sk, ifindex, name);
	return r;
}

/*
 * Blocks until sock has something to say: EOF (vhostd closed its end or died), an error, or
 * bytes, which are no part of the protocol and end the wait as well; or until a stop signal.
 * Each turn sleeps in ppoll: no spinning, whatever the socket's O_NONBLOCK.
 */
static void wait_for_peer(int sock)
{
	char junk[64];

	while (!stop_signal) {
		struct pollfd p = { .fd = sock, .events = POLLIN };
		ssize_t n;

		/* SIGTERM/SIGINT are blocked but here: none is lost between the test and the wait.
		 */
		if (ppoll(&p, 1, NULL, &wait_mask) < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		n = recv(sock, junk, sizeof(junk), MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		return;
	}
}

int helper_stay(int sock, const struct helper_msg *m)
{
	_cleanup_mvlink_ struct nl_sock *sk = NULL;
	int r;

	/* Hold no directory (a mount) busy while the link lives. */
	if (chdir("/") < 0) {
		/* Nothing depends on it. */
	}
	if (sock >= 0)
		wait_for_peer(sock);
	if (stop_signal)
		fprintf(stderr, "vhostd-net-helper: signal %d: deleting macvtap %s\n",
			(int)stop_signal, m->ifname);
	r = mvlink_open(&sk);
	if (r == 0)
		r = mvlink_delete(sk, (int)m->ifindex, m->ifname);
	if (r < 0) {
		fprintf(stderr, "vhostd-net-helper: cannot delete macvtap %s: %s\n", m->ifname,
			strerror(-r));
		return EXIT_CLEANUP;
	}
	return EXIT_OK;
}
