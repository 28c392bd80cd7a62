/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * macvtap back-end: a macvtap link over a host device, its character device /dev/tapN (N: the
 * link's ifindex) opened once per queue pair. Frames move exactly as on a tap (tapq.c): the
 * character device speaks tun's interface, virtio-net header and offloads included.
 *
 * As root vhostd makes the link itself (mvlink.c) and deletes it when the port goes. Without
 * root, vhostd-net-helper makes it and hands over the queues (backend_macvtap_adopt): the
 * helper stays with the link and deletes it when vhostd closes its end of their socketpair,
 * which this back-end keeps until it is destroyed (or vhostd dies).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "backend/mvlink.h"
#include "backend/nethelper.h"
#include "backend/tapq.h"
#include "util/cleanup.h"
#include "util/netif.h"
#include "util/log.h"

struct macvtap {
	struct tapq q;	    /* first: the shared queue handling sees a struct tapq */
	char dev[IFNAMSIZ]; /* the lower device */
	int ifindex;
	unsigned lower_mtu;
	bool created;		       /* the link is ours to delete */
	struct nethelper_child *child; /* or the helper that deletes it when told */
};

/* Returns the macvtap behind a backend pointer. */
static struct macvtap *to_macvtap(struct backend *be)
{
	return (struct macvtap *)be;
}

/* backend_ops.configure: as for a tap; the lower device's MTU is read again too. */
static int macvtap_configure(struct backend *be, uint64_t features, unsigned hdr_len)
{
	struct macvtap *m = to_macvtap(be);

	m->lower_mtu = netif_mtu(m->dev);
	return tapq_configure(be, features, hdr_len);
}

/*
 * backend_ops.max_frame: 64 KiB with GSO; otherwise the larger of the link's and the lower
 * device's MTU, since macvlan hands up what the lower device took without checking the link's.
 */
static unsigned macvtap_max_frame(struct backend *be)
{
	struct macvtap *m = to_macvtap(be);

	if (m->q.gso)
		return 65535 + 14 + 4;
	return MAX(m->q.mtu, m->lower_mtu) + 14 + 4;
}

/* backend_ops.set_mtu: the link follows the guest up to the lower device's MTU. */
static int macvtap_set_mtu(struct backend *be, unsigned mtu, unsigned *ret_old)
{
	struct macvtap *m = to_macvtap(be);

	m->lower_mtu = netif_mtu(m->dev);
	if (mtu > m->lower_mtu) {
		log_warn("macvtap %s: MTU %u refused: above the MTU of %s (%u)", m->q.ifname, mtu,
			 m->dev, m->lower_mtu);
		return -EINVAL;
	}
	return tapq_set_mtu(be, mtu, ret_old);
}

/*
 * backend_ops.destroy: closes every queue, then deletes the link if vhostd made it, or tells
 * the helper that made it to delete it (and waits for that, bounded).
 */
static void macvtap_destroy(struct backend *be)
{
	struct macvtap *m = to_macvtap(be);
	_cleanup_mvlink_ struct nl_sock *sk = NULL;
	int r;

	tapq_close(&m->q);
	if (m->created) {
		r = mvlink_open(&sk);
		if (r == 0)
			r = mvlink_delete(sk, m->ifindex, m->q.ifname);
		if (r < 0)
			log_warn("macvtap %s: cannot delete the link: %s", m->q.ifname,
				 strerror(-r));
		else
			log_info("macvtap %s: link deleted", m->q.ifname);
	}
	nethelper_child_end(m->child);
	free(m);
}

static const struct backend_ops macvtap_ops = {
	.name = "macvtap",
	.offloads = true,
	.send_reads_data = true,
	.configure = macvtap_configure,
	.queue_fd = tapq_queue_fd,
	.send = tapq_send,
	.recv = tapq_recv,
	.send_burst = tapq_send_burst,
	.recv_burst = tapq_recv_burst,
	.discard = tapq_discard,
	.max_frame = macvtap_max_frame,
	.set_mtu = macvtap_set_mtu,
	.destroy = macvtap_destroy,
};

int backend_macvtap_create(const struct macvtap_params *p, struct backend **ret)
{
	_cleanup_mvlink_ struct nl_sock *sk = NULL;
	struct mvlink_params lp = {
		.ifname = p->ifname, .dev = p->dev, .mode = p->mode, .mac = p->mac
	};
	struct macvtap *m;
	int r;

	if (p->queues == 0 || p->queues > TAPQ_MAX_QUEUES || !mvlink_mode_name(p->mode) ||
	    !*p->ifname || strlen(p->ifname) >= IFNAMSIZ || !*p->dev || strlen(p->dev) >= IFNAMSIZ)
		return -EINVAL;
	r = mvlink_open(&sk);
	if (r < 0) {
		log_error("macvtap %s: no route netlink socket: %s", p->ifname, strerror(-r));
		return r;
	}
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	tapq_init(&m->q, &macvtap_ops);
	snprintf(m->q.ifname, sizeof(m->q.ifname), "%s", p->ifname);
	snprintf(m->dev, sizeof(m->dev), "%s", p->dev);
	r = mvlink_create(sk, &lp, &m->ifindex, &m->lower_mtu);
	if (r < 0)
		goto fail;
	m->created = true;
	r = mvlink_open_queues(m->q.ifname, m->ifindex, p->queues, true, m->q.fds);
	m->q.nq = p->queues;
	if (r < 0)
		goto fail;
	r = mvlink_set_up(sk, m->ifindex);
	if (r < 0) {
		log_error("macvtap %s: cannot set it up: %s", m->q.ifname, strerror(-r));
		goto fail;
	}
	/* USO is offered to guests only when this kernel's macvtap takes it. */
	tapq_probe_uso(&m->q);
	r = macvtap_configure(&m->q.be, 0, 10);
	if (r < 0)
		goto fail;
	if (p->mode == MACVLAN_MODE_PASSTHRU)
		log_info("macvtap %s: created over %s (passthrough: the device whole), ifindex %d, "
			 "%u queue(s)",
			 m->q.ifname, m->dev, m->ifindex, p->queues);
	else
		log_info("macvtap %s: created over %s (mode %s), ifindex %d, %u queue(s)",
			 m->q.ifname, m->dev, mvlink_mode_name(p->mode), m->ifindex, p->queues);
	*ret = &m->q.be;
	return 0;
fail:
	macvtap_destroy(&m->q.be); /* deletes the link if it was made */
	return r;
}

int backend_macvtap_adopt(const char *ifname, const char *dev, int *fds, unsigned n,
			  struct nethelper_child *child, struct backend **ret)
{
	struct macvtap *m;
	int r;

	if (n == 0 || n > TAPQ_MAX_QUEUES || !*ifname || strlen(ifname) >= IFNAMSIZ || !*dev ||
	    strlen(dev) >= IFNAMSIZ) {
		close_fds(fds, n);
		nethelper_child_end(child);
		return -EINVAL;
	}
	m = calloc(1, sizeof(*m));
	if (!m) {
		close_fds(fds, n);
		nethelper_child_end(child);
		return -ENOMEM;
	}
	tapq_init(&m->q, &macvtap_ops);
	m->child = child;
	snprintf(m->q.ifname, sizeof(m->q.ifname), "%s", ifname);
	snprintf(m->dev, sizeof(m->dev), "%s", dev);
	for (unsigned q = 0; q < n; q++) {
		m->q.fds[q] = fds[q];
		fds[q] = -1;
		m->q.nq = q + 1;
	}
	for (unsigned q = 0; q < n; q++) {
		/* The data path never blocks on a queue. */
		if (fcntl(m->q.fds[q], F_SETFL, fcntl(m->q.fds[q], F_GETFL) | O_NONBLOCK) < 0) {
			r = -errno;
			goto fail;
		}
	}
	tapq_probe_uso(&m->q);
	r = macvtap_configure(&m->q.be, 0, 10);
	if (r < 0)
		goto fail;
	log_info("macvtap %s: %u queue(s) over %s from the network helper (it deletes the link "
		 "when the port goes)",
		 m->q.ifname, n, m->dev);
	*ret = &m->q.be;
	return 0;
fail:
	macvtap_destroy(&m->q.be); /* the helper deletes the link */
	return r;
}
