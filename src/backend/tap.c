/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Tap back-end: /dev/net/tun in IFF_TAP|IFF_NO_PI|IFF_VNET_HDR mode, one fd per queue. Moving
 * frames is tapq.c's; this file makes, attaches to and removes the tap.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backend/backend.h"
#include "backend/tapq.h"
#include "util/cleanup.h"
#include "util/log.h"

struct tap {
	struct tapq q; /* first: the shared queue handling sees a struct tapq */
	bool ours;     /* vhostd created it (in this run or an earlier one): see TAP_ALIAS */
};

/* The interface alias that marks a persistent tap as vhostd's own creation. */
#define TAP_ALIAS "vhostd"

/* Returns the tap behind a backend pointer. */
static struct tap *to_tap(struct backend *be)
{
	return (struct tap *)be;
}

/* The link's carrier (1 while some process has a queue of the tap attached), or -1 when it
 * cannot be read (the link is down). */
static int tap_carrier(const char *ifname)
{
	char path[64], c = 0;
	int fd, n;

	snprintf(path, sizeof(path), "/sys/class/net/%s/carrier", ifname);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = (int)read(fd, &c, 1);
	close(fd);
	return n == 1 && (c == '0' || c == '1') ? c - '0' : -1;
}

/* Brings ifname administratively up. */
static int link_up(const char *ifname)
{
	_cleanup_close_ int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct ifreq ifr = { 0 };

	if (s < 0)
		return -errno;
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", ifname);
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		return -errno;
	if (ifr.ifr_flags & IFF_UP)
		return 0;
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
		return -errno;
	return 0;
}

/* Path of ifname's alias in sysfs (of our network namespace). */
static void alias_path(const char *ifname, char *buf, size_t len)
{
	snprintf(buf, len, "/sys/class/net/%s/ifalias", ifname);
}

/* Marks a tap we created, so that a later run knows it may remove it. Best effort. */
static void mark_ours(const char *ifname)
{
	char path[64];
	int fd;

	alias_path(ifname, path, sizeof(path));
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	if (write(fd, TAP_ALIAS, strlen(TAP_ALIAS)) < 0)
		log_debug("tap %s: no alias: %s", ifname, strerror(errno));
	close(fd);
}

/* True when ifname carries our alias. */
static bool marked_ours(const char *ifname)
{
	char path[64], alias[32] = "";
	ssize_t n;
	int fd;

	alias_path(ifname, path, sizeof(path));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, alias, sizeof(alias) - 1);
	close(fd);
	if (n <= 0)
		return false;
	alias[n] = '\0';
	alias[strcspn(alias, "\n")] = '\0';
	return strcmp(alias, TAP_ALIAS) == 0;
}

/*
 * backend_ops.release: the port is deleted for good. A tap vhostd created stops being
 * persistent, so it goes with the last fd; one an administrator made stays.
 */
static void tap_release(struct backend *be)
{
	struct tap *t = to_tap(be);

	if (!t->ours || !t->q.nq)
		return;
	if (ioctl(t->q.fds[0], TUNSETPERSIST, 0) < 0)
		log_warn("tap %s: cannot remove it: %s", t->q.ifname, strerror(errno));
	else
		log_info("tap %s: removed with its port", t->q.ifname);
}

/* backend_ops.destroy: closes every queue fd (a non-persistent tap disappears). */
static void tap_destroy(struct backend *be)
{
	struct tap *t = to_tap(be);

	tapq_close(&t->q);
	free(t);
}

static const struct backend_ops tap_ops = {
	.name = "tap",
	.offloads = true,
	.send_reads_data = true,
	.configure = tapq_configure,
	.queue_fd = tapq_queue_fd,
	.send = tapq_send,
	.recv = tapq_recv,
	.send_burst = tapq_send_burst,
	.recv_burst = tapq_recv_burst,
	.discard = tapq_discard,
	.max_frame = tapq_max_frame,
	.set_mtu = tapq_set_mtu,
	.release = tap_release,
	.destroy = tap_destroy,
};

/* Opens one queue of the tap; with multiqueue every queue is one open of /dev/net/tun. */
static int tap_open_queue(const char *ifname, bool multi, char *ret_name)
{
	_cleanup_close_ int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	struct ifreq ifr = { 0 };

	if (fd < 0)
		return -errno;
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | (multi ? IFF_MULTI_QUEUE : 0);
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", ifname);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0)
		return -errno;
	memcpy(ret_name, ifr.ifr_name, IFNAMSIZ);
	return TAKE_FD(fd);
}

/* Makes ifname a port of bridge br (a no-op when it is one already). 0 or -errno. */
static int join_bridge(const char *ifname, const char *br)
{
	_cleanup_close_ int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct ifreq ifr = { 0 };

	if (s < 0)
		return -errno;
	ifr.ifr_ifindex = (int)if_nametoindex(ifname);
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", br);
	if (ioctl(s, SIOCBRADDIF, &ifr) < 0 && errno != EBUSY)
		return -errno;
	return 0;
}

int backend_tap_create(const char *ifname, unsigned queues, const char *bridge,
		       struct backend **ret)
{
	struct tap *t;
	bool created, multi;
	int r;

	if (queues == 0 || queues > TAPQ_MAX_QUEUES || strlen(ifname) >= IFNAMSIZ)
		return -EINVAL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	tapq_init(&t->q, &tap_ops);
	/*
	 * A tap we create is always multi-queue, so that a restart with another queue count can
	 * attach to it again. An existing tap is attached as it was made: if the guess from the
	 * queue count is refused, the other kind is tried.
	 */
	created = if_nametoindex(ifname) == 0;
	/* Multi-queue taps let anyone attach more queues: one that has some (carrier on) belongs
	 * to another process, and sharing it would split the traffic between the two. */
	if (!created && tap_carrier(ifname) == 1) {
		log_error("tap %s: in use by another process (its carrier is on)", ifname);
		r = -EBUSY;
		goto fail;
	}
	multi = created || queues > 1;
	for (unsigned q = 0; q < queues; q++) {
		r = tap_open_queue(ifname, multi, t->q.ifname);
		if (r == -EINVAL && q == 0 && !created && queues == 1) {
			multi = !multi;
			r = tap_open_queue(ifname, multi, t->q.ifname);
		}
		if (r < 0) {
			log_error("tap %s: cannot attach queue %u: %s%s", ifname, q, strerror(-r),
				  r == -EINVAL ? " (an existing tap with other flags?)" : "");
			goto fail;
		}
		t->q.fds[q] = r;
		t->q.nq = q + 1;
	}
	/*
	 * A tap we create outlives us: a vhostd that crashed or was restarted for an upgrade
	 * attaches to the same link again, with its addresses, bridge port and namespace intact,
	 * instead of leaving a hole that some other tool has to fill. `ip link del` removes it.
	 */
	if (created) {
		if (ioctl(t->q.fds[0], TUNSETPERSIST, 1) < 0) {
			r = -errno;
			log_error("tap %s: cannot make it persistent: %s", t->q.ifname,
				  strerror(-r));
			goto fail;
		}
		mark_ours(t->q.ifname);
		t->ours = true;
		log_info("tap %s: created (persistent: kept across vhostd restarts)", t->q.ifname);
	} else {
		t->ours = marked_ours(t->q.ifname);
		log_info("tap %s: attached to the existing link%s", t->q.ifname,
			 t->ours ? " (one vhostd created)" : "");
	}
	if (bridge && bridge[0]) {
		r = join_bridge(t->q.ifname, bridge);
		if (r < 0) {
			log_error("tap %s: cannot join bridge %s: %s", t->q.ifname, bridge,
				  strerror(-r));
			goto fail;
		}
		log_info("tap %s: a port of bridge %s", t->q.ifname, bridge);
	}
	r = link_up(t->q.ifname);
	if (r < 0) {
		log_error("tap %s: cannot set up: %s", t->q.ifname, strerror(-r));
		goto fail;
	}
	/* USO is offered to guests only when this kernel takes it (6.2 and later). */
	tapq_probe_uso(&t->q);
	r = tapq_configure(&t->q.be, 0, 10);
	if (r < 0)
		goto fail;
	*ret = &t->q.be;
	return 0;
fail:
	/* A tap we made persistent and cannot use is not left behind for nobody. */
	if (created && t->q.nq > 0 && ioctl(t->q.fds[0], TUNSETPERSIST, 0) < 0)
		log_warn("tap %s: cannot remove it: %s", t->q.ifname, strerror(errno));
	tap_destroy(&t->q.be);
	return r;
}

int backend_tap_adopt(const char *ifname, int *fds, unsigned n, struct backend **ret)
{
	struct tap *t;
	int r;

	if (n == 0 || n > TAPQ_MAX_QUEUES || strlen(ifname) >= IFNAMSIZ)
		return -EINVAL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	tapq_init(&t->q, &tap_ops);
	snprintf(t->q.ifname, sizeof(t->q.ifname), "%s", ifname);
	for (unsigned q = 0; q < n; q++) {
		t->q.fds[q] = fds[q];
		fds[q] = -1;
		t->q.nq = q + 1;
		/* The data path never blocks on a queue. */
		if (fcntl(t->q.fds[q], F_SETFL, fcntl(t->q.fds[q], F_GETFL) | O_NONBLOCK) < 0) {
			r = -errno;
			goto fail;
		}
	}
	/* Not ours to keep or remove: it goes when its last queue closes. */
	t->ours = false;
	tapq_probe_uso(&t->q);
	r = tapq_configure(&t->q.be, 0, 10);
	if (r < 0)
		goto fail;
	log_info("tap %s: %u queue(s) from the network helper", t->q.ifname, n);
	*ret = &t->q.be;
	return 0;
fail:
	tap_destroy(&t->q.be);
	return r;
}
