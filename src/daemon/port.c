/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Port: connection management (server or client with backoff) and the event wiring of the data
 * path. Each queue pair has a kick event per ring, an event on its back-end queue fd, and one
 * deferred-work event; which of them are armed follows the ring state the vhost-user layer
 * reports through ring_changed().
 */
#include "daemon/port.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "backend/backend.h"
#include "backend/nethelper.h"
#include "backend/switch.h"
#include "daemon/portcfg.h"
#include "dataplane/qp.h"
#include "dataplane/worker.h"
#include "net/features.h"
#include "net/virtio_net.h"
#include "net/vnet.h"
#include "util/cleanup.h"
#include "util/log.h"
#include "util/loop.h"
#include "util/unix.h"
#include "vhost/dev.h"
#include "vhost/ringstate.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000

struct port {
	struct port_config cfg;
	struct loop *loop; /* the control loop: sockets and timers */
	struct vu_dev dev;
	struct ringstate *state; /* <socket>.state, NULL when the port runs without */
	struct backend *be;
	struct vnet *net;
	int listen_fd;
	int timer_fd;
	struct ev listen_ev, conn_ev, timer_ev;
	unsigned backoff_ms;
	bool connected;
	struct port *peer; /* the cross-connected port, for back-end `port` */
	struct worker *workers[VU_MAX_QUEUE_PAIRS]; /* distinct workers, ascending, for locking */
	unsigned nworkers;
	struct qp qp[VU_MAX_QUEUE_PAIRS];
	bool rx_started[VU_MAX_QUEUE_PAIRS]; /* as on_ring_changed() last saw the receive rings */
	/* The back-end's MTU before the connected front-end set one (NET_SET_MTU), restored
	 * when it leaves; 0 when there is nothing to restore. */
	unsigned mtu_restore;
	/* Port-level refusals and faults; they outlive front-ends (port_info says what each is). */
	uint64_t mem_faults, conn_refused;
};

const struct port_config *port_config(const struct port *p)
{
	return &p->cfg;
}

const char *port_name(const struct port *p)
{
	return p->cfg.name;
}

/* Takes the locks of every worker running one of p's queue pairs, in index order. */
static void port_lock(struct port *p)
{
	for (unsigned i = 0; i < p->nworkers; i++)
		worker_lock(p->workers[i]);
}

/* Releases what port_lock() took and wakes the workers to look at deferred work. */
static void port_unlock(struct port *p)
{
	for (unsigned i = p->nworkers; i-- > 0;) {
		worker_unlock(p->workers[i]);
		worker_wake(p->workers[i]);
	}
}

int port_link_peers(struct port *a, struct port *b)
{
	if (a->cfg.backend != PORT_BACKEND_PORT || b->cfg.backend != PORT_BACKEND_PORT)
		return -EINVAL;
	/* Same workers for both (cli makes queue counts equal and main the worker bases). */
	port_lock(a);
	backend_peer_set(a->be, b->net);
	backend_peer_set(b->be, a->net);
	a->peer = b;
	b->peer = a;
	port_unlock(a);
	return 0;
}

/* vhost-user hook (control thread, port locked): ring idx changed state. */
static void on_ring_changed(void *opaque, unsigned idx)
{
	struct port *p = opaque;
	bool started = p->dev.ring[idx].started;

	/* A receive ring starting: what the back-end queued meanwhile is no one's. */
	if (idx % 2 == 0 && started && !p->rx_started[idx / 2])
		vnet_rx_discard(p->net, idx / 2);
	if (idx % 2 == 0)
		p->rx_started[idx / 2] = started;
	qp_sync(&p->qp[idx / 2]);
}

/* vhost-user hook (control thread, port locked): features negotiated; configure the back-end. */
static int on_features_changed(void *opaque, uint64_t features)
{
	struct port *p = opaque;

	return vnet_set_features(p->net, features);
}

/* vhost-user hook (control thread, port locked): SEND_RARP after a migration. */
static int on_announce(void *opaque, const uint8_t mac[6])
{
	struct port *p = opaque;

	return vnet_announce(p->net, mac);
}

/*
 * vhost-user hook (control thread, port locked): NET_SET_MTU. The front-end's MTU wins over
 * the port's mtu= while it is connected; the MTU from before comes back when it leaves.
 */
static int on_set_mtu(void *opaque, uint64_t mtu)
{
	struct port *p = opaque;
	unsigned old = 0;
	int r = vnet_set_mtu(p->net, mtu, &old);

	if (r < 0)
		return r;
	if (!p->mtu_restore && old != mtu)
		p->mtu_restore = old;
	if (p->cfg.mtu && mtu != p->cfg.mtu)
		log_info("%s: front-end set MTU %" PRIu64 ", overriding mtu=%u while connected",
			 p->cfg.name, mtu, p->cfg.mtu);
	else
		log_info("%s: front-end set MTU %" PRIu64, p->cfg.name, mtu);
	return 0;
}

static const struct vu_dev_ops port_dev_ops = {
	.ring_changed = on_ring_changed,
	.features_changed = on_features_changed,
	.announce = on_announce,
	.set_mtu = on_set_mtu,
};

/* Reads a timerfd to zero. */
static void drain_timer(int fd)
{
	uint64_t v;

	if (read(fd, &v, sizeof(v)) < 0) {
		/* EAGAIN: spurious wake-up. */
	}
}

/* Arms the reconnect timer for client mode, doubling the delay up to a cap. */
static void schedule_connect(struct port *p)
{
	struct itimerspec its = { 0 };

	its.it_value.tv_sec = p->backoff_ms / 1000;
	its.it_value.tv_nsec = (long)(p->backoff_ms % 1000) * 1000000L;
	timerfd_settime(p->timer_fd, 0, &its, NULL);
	p->backoff_ms = MIN(p->backoff_ms * 2, BACKOFF_MAX_MS);
}

/*
 * Counts and logs a fault of the front-end's memory or dirty log (util/memguard.h); called as
 * the front-end is dropped, which forgets the fault with the memory. Returns true on a fault.
 */
static bool port_mem_check(struct port *p)
{
	const struct memguard_owner *g = NULL;
	const char *what = "guest memory region at gpa";

	if (p->dev.mem && memguard_faulted(&p->dev.mem->guard))
		g = &p->dev.mem->guard;
	else if (p->dev.log && memguard_faulted(&p->dev.log->guard)) {
		g = &p->dev.log->guard;
		what = "dirty log at offset";
	}
	if (!g)
		return false;
	p->mem_faults++;
	log_error("%s: %s 0x%" PRIx64 " vanished under us at +0x%" PRIx64
		  " (the front-end shrank or revoked its file): dropping the front-end",
		  p->cfg.name, what, g->fault_tag, g->fault_offset);
	return true;
}

/* Drops the front-end: rings stop, memory unmapped; the port waits for the next one. */
static void port_disconnect(struct port *p, const char *why)
{
	if (!p->connected)
		return;
	port_mem_check(p); /* a fault not yet seen by port_check_memory() still counts */
	log_info("%s: front-end disconnected (%s)", p->cfg.name, why);
	loop_del(p->loop, &p->conn_ev);
	port_lock(p);
	vu_dev_detach(&p->dev); /* stops every ring: qp_sync() disarms each pair */
	if (p->mtu_restore) {
		if (vnet_set_mtu(p->net, p->mtu_restore, NULL) == 0)
			log_info("%s: MTU back to %u", p->cfg.name, p->mtu_restore);
		p->mtu_restore = 0;
	}
	port_unlock(p);
	p->connected = false;
	if (p->cfg.client) {
		p->backoff_ms = BACKOFF_MIN_MS;
		schedule_connect(p);
	}
}

void port_check_memory(struct port *p)
{
	bool mem = p->dev.mem && memguard_faulted(&p->dev.mem->guard);
	bool log = p->dev.log && memguard_faulted(&p->dev.log->guard);

	if (mem || log)
		port_disconnect(p, "guest memory fault"); /* counts and logs it */
}

/* Front-end readable: handles its messages with the port locked; drops it on error. */
static void on_conn(struct ev *ev, uint32_t events)
{
	struct port *p = container_of(ev, struct port, conn_ev);
	int r;

	port_lock(p);
	r = vu_dev_on_readable(&p->dev);
	port_unlock(p);
	if (r < 0)
		port_disconnect(p, r == -EPIPE ? "closed by peer" : strerror(-r));
}

/* Takes a connected socket as the port's front-end. */
static void port_attach(struct port *p, int fd)
{
	int r;

	port_lock(p);
	vu_dev_attach(&p->dev, fd);
	port_unlock(p);
	r = loop_add(p->loop, &p->conn_ev, fd, EPOLLIN);
	if (r < 0) {
		log_error("%s: cannot watch connection: %s", p->cfg.name, strerror(-r));
		port_lock(p);
		vu_dev_detach(&p->dev);
		port_unlock(p);
		return;
	}
	p->connected = true;
	log_info("%s: front-end connected", p->cfg.name);
}

/* Accepts a front-end; a second one while one is connected is refused. */
static void on_listen(struct ev *ev, uint32_t events)
{
	struct port *p = container_of(ev, struct port, listen_ev);
	int fd = accept4(p->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (fd < 0)
		return;
	if (p->connected) {
		p->conn_refused++;
		log_rl(&p->dev.rl, LOG_LVL_WARN,
		       "%s: refusing a second front-end while one is connected (%" PRIu64
		       " refused)",
		       p->cfg.name, p->conn_refused);
		close(fd);
		return;
	}
	port_attach(p, fd);
}

/* Client mode: one connection attempt; on failure the next is scheduled with backoff. */
static void on_timer(struct ev *ev, uint32_t events)
{
	struct port *p = container_of(ev, struct port, timer_ev);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	_cleanup_close_ int fd = -1;

	drain_timer(p->timer_fd);
	if (p->connected)
		return;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		schedule_connect(p);
		return;
	}
	memcpy(sa.sun_path, p->cfg.socket, sizeof(p->cfg.socket));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		log_debug("%s: connect %s: %s (retry in %u ms)", p->cfg.name, p->cfg.socket,
			  strerror(errno), p->backoff_ms);
		schedule_connect(p);
		return;
	}
	p->backoff_ms = BACKOFF_MIN_MS;
	port_attach(p, TAKE_FD(fd));
}

/* Creates the listening socket, replacing a stale socket file but never another kind of file. */
static int port_listen(struct port *p)
{
	int fd = unix_listen(p->cfg.socket, 4, false);

	if (fd == -EEXIST)
		log_error("%s: %s exists and is not a socket", p->cfg.name, p->cfg.socket);
	else if (fd < 0)
		log_error("%s: cannot listen on %s: %s", p->cfg.name, p->cfg.socket, strerror(-fd));
	if (fd < 0)
		return fd;
	p->listen_fd = fd;
	return 0;
}

/*
 * Opens the port's ring state file, "<socket>.state": next to the socket, a restarted vhostd
 * finds it under the same name, and no two running ports share a socket path. A port that
 * cannot have it (a directory that takes no file of ours, another vhostd on it) runs without,
 * logged once: its packed rings then restart at the front-end's base after a crash. A port that
 * does not offer packed rings (features=-packed) needs none.
 */
static void port_open_state(struct port *p)
{
	char path[sizeof(p->cfg.socket) + sizeof(".state")];
	int r;

	if (!(p->dev.offered & (1ull << VIRTIO_F_RING_PACKED)))
		return;
	snprintf(path, sizeof(path), "%s.state", p->cfg.socket);
	r = ringstate_open(path, 2 * p->cfg.queues, &p->state);
	if (r < 0) {
		log_warn("%s: no ring state file %s (%s): after a crash, packed rings restart at "
			 "the base the front-end sends",
			 p->cfg.name, path,
			 r == -EPERM   ? "not a plain file of ours"
			 : r == -EBUSY ? "another process has it"
				       : strerror(-r));
		return;
	}
	log_info("%s: ring state file %s%s", p->cfg.name, path,
		 ringstate_kept(p->state) ? " (records of an earlier run kept)" : "");
	p->dev.state = p->state;
}

/* Records w among the port's workers, keeping the list sorted and without duplicates. */
static void port_add_worker(struct port *p, struct worker *w)
{
	unsigned i = 0;

	while (i < p->nworkers && worker_index(p->workers[i]) < worker_index(w))
		i++;
	if (i < p->nworkers && p->workers[i] == w)
		return;
	memmove(&p->workers[i + 1], &p->workers[i], (p->nworkers - i) * sizeof(p->workers[0]));
	p->workers[i] = w;
	p->nworkers++;
}

/* The helper of ports without helper= (--helper), or empty. */
static char default_helper[sizeof(((struct port_config *)0)->helper)];

void port_set_default_helper(const char *path)
{
	snprintf(default_helper, sizeof(default_helper), "%s", path ? path : "");
}

/* The network helper a port uses when vhostd is not root (helper=, or --helper), or NULL. */
static const char *port_helper(const struct port_config *c)
{
	const char *helper = c->helper[0] ? c->helper : default_helper;

	return geteuid() == 0 || !helper[0] ? NULL : helper;
}

/* What port c asks the helper for: a tap on its bridge, or its macvtap. */
static struct nethelper_req port_helper_req(const struct port_config *c, const char *helper)
{
	bool mv = c->backend == PORT_BACKEND_MACVTAP;

	return (struct nethelper_req){
		.helper = helper,
		.bridge = mv ? NULL : c->bridge,
		.dev = mv ? c->dev : NULL,
		.mode = mv ? port_macvtap_mode_name(c->macvtap_mode) : NULL,
		.ifname = c->ifname,
		.queues = c->queues,
		.mac = c->mac_set ? c->mac : NULL,
	};
}

/*
 * The port's tap: made by vhostd itself when it is root, else by vhostd-net-helper (helper=, or
 * --helper), which needs bridge=. Returns 0 or a negative errno (logged).
 */
static int port_make_tap(struct port *p)
{
	const struct port_config *c = &p->cfg;
	const char *helper = port_helper(c);
	struct nethelper_req req = port_helper_req(c, helper);
	int fds[HELPER_MAX_QUEUES];
	struct helper_msg m;
	int r;

	if (!helper)
		return backend_tap_create(c->ifname, c->queues, c->bridge, &p->be);
	if (!c->bridge[0]) {
		log_error("%s: vhostd is not root: its network helper makes taps on a bridge, "
			  "and the port names none (bridge=)",
			  c->name);
		return -EPERM;
	}
	r = nethelper_make_tap(&req, &m, fds);
	if (r < 0) {
		log_error("%s: network helper %s: %s", c->name, helper, m.error);
		return r;
	}
	log_info("%s: tap %s (ifindex %u) on bridge %s from %s, offloads 0x%x", c->name, m.ifname,
		 m.ifindex, c->bridge, helper, m.offloads);
	return backend_tap_adopt(m.ifname, fds, m.nfds, &p->be);
}

/*
 * The port's macvtap: made by vhostd itself when it is root, else by vhostd-net-helper, which
 * stays to delete the link when the back-end lets it go. Returns 0 or a negative errno (logged).
 */
static int port_make_macvtap(struct port *p)
{
	const struct port_config *c = &p->cfg;
	const char *helper = port_helper(c);
	struct nethelper_req req = port_helper_req(c, helper);
	struct nethelper_child *child = NULL;
	int fds[HELPER_MAX_QUEUES];
	struct helper_msg m;
	int r;

	if (!helper)
		return backend_macvtap_create(&(struct macvtap_params){ .ifname = c->ifname,
									.dev = c->dev,
									.mode = c->macvtap_mode,
									.mac = req.mac,
									.queues = c->queues },
					      &p->be);
	r = nethelper_make_macvtap(&req, &m, fds, &child);
	if (r < 0) {
		log_error("%s: network helper %s: %s", c->name, helper, m.error);
		return r;
	}
	log_info("%s: macvtap %s (ifindex %u) over %s from %s, offloads 0x%x", c->name, m.ifname,
		 m.ifindex, c->dev, helper, m.offloads);
	return backend_macvtap_adopt(m.ifname, c->dev, fds, m.nfds, child, &p->be);
}

int port_new(struct loop *l, const struct port_config *cfg, struct port **ret)
{
	struct port *p = calloc(1, sizeof(*p));
	int r;

	if (!p)
		return -ENOMEM;
	p->cfg = *cfg;
	p->loop = l;
	p->listen_fd = -1;
	p->timer_fd = -1;
	ev_init(&p->listen_ev, on_listen);
	ev_init(&p->conn_ev, on_conn);
	ev_init(&p->timer_ev, on_timer);
	switch (cfg->backend) {
	case PORT_BACKEND_TAP:
		r = port_make_tap(p);
		break;
	case PORT_BACKEND_NULL:
		r = backend_null_create(cfg->queues, cfg->gen, &p->be);
		break;
	case PORT_BACKEND_PORT:
		r = backend_peer_create(cfg->queues, &p->be);
		break;
	case PORT_BACKEND_MACVTAP:
		r = port_make_macvtap(p);
		break;
	case PORT_BACKEND_SWITCH:
		r = backend_switch_create(cfg->sw, cfg->vlan, cfg->sw_ageing,
					  cfg->mac_set ? cfg->mac : NULL, &p->be);
		break;
	case PORT_BACKEND_PACKET:
		r = backend_packet_create(cfg->dev, cfg->queues, &p->be);
		break;
	case PORT_BACKEND_XDP:
		r = backend_xdp_create(cfg->dev, cfg->queues, cfg->xdp_queue, &p->be);
		break;
	default:
		r = -EINVAL;
	}
	/* uplink=1: the device becomes the switch's uplink; the port has no guest. */
	if (r >= 0 && cfg->uplink)
		r = backend_switch_uplink(&p->be, cfg->sw, cfg->sw_ageing);
	if (r < 0)
		goto fail;
	r = vu_dev_init(&p->dev, p->cfg.name, cfg->queues,
			vnet_offered_features(cfg->queues, p->be), &port_dev_ops, p);
	if (r < 0)
		goto fail;
	vu_dev_set_mem_max(&p->dev, cfg->mem_max);
	if (cfg->features_off) {
		char names[512];

		/* Without VIRTIO_NET_F_MTU no guest has an MTU for us to follow. */
		vu_dev_withdraw(&p->dev, cfg->features_off,
				cfg->features_off & VNET_BIT(VIRTIO_NET_F_MTU)
					? 1ull << VU_PROTOCOL_F_NET_MTU
					: 0);
		log_info("%s: features switched off: %s", p->cfg.name,
			 vnet_features_format(cfg->features_off, names, sizeof(names)));
	}
	if (!cfg->uplink)
		port_open_state(p);
	p->net = vnet_new(&p->dev, p->be);
	if (!p->net) {
		r = -ENOMEM;
		goto fail;
	}
	if (cfg->mtu) {
		r = vnet_set_mtu(p->net, cfg->mtu, NULL);
		if (r < 0)
			goto fail;
		log_info("%s: MTU %u", p->cfg.name, cfg->mtu);
	}
	for (unsigned q = 0; q < cfg->queues; q++)
		port_add_worker(p, worker_get(cfg->worker_base + q));
	port_lock(p);
	for (unsigned q = 0; q < cfg->queues && r >= 0 && !cfg->uplink; q++)
		r = qp_init(&p->qp[q], &p->dev, p->net, p->be, q, worker_get(cfg->worker_base + q),
			    cfg->poll);
	/* Every port of a switch is on one worker (daemon.c's place()): this one's lock. */
	if (r >= 0 && cfg->sw[0]) {
		struct worker *w = worker_get(cfg->worker_base);

		r = backend_switch_join(p->be, p->net, worker_loop(w), worker_index(w));
		if (r < 0)
			log_error("%s: cannot join switch %s: %s", p->cfg.name, cfg->sw,
				  r == -EEXIST	? "it has an uplink already"
				  : r == -EXDEV ? "its ports run on another worker"
						: strerror(-r));
	}
	port_unlock(p);
	if (r < 0)
		goto fail;
	if (cfg->uplink) {
		/* No socket: the device is read by the switch. */
	} else if (cfg->client) {
		p->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
		if (p->timer_fd < 0) {
			r = -errno;
			goto fail;
		}
		r = loop_add(l, &p->timer_ev, p->timer_fd, EPOLLIN);
		if (r < 0)
			goto fail;
		p->backoff_ms = 1; /* first attempt right away */
		schedule_connect(p);
		p->backoff_ms = BACKOFF_MIN_MS;
	} else {
		r = port_listen(p);
		if (r < 0)
			goto fail;
		r = loop_add(l, &p->listen_ev, p->listen_fd, EPOLLIN);
		if (r < 0)
			goto fail;
	}
	log_info("%s: %s %s, back-end %s%s%s, %u queue pair(s), poll=%s, worker %u", p->cfg.name,
		 cfg->uplink   ? "uplink of switch"
		 : cfg->client ? "connecting to"
			       : "listening on",
		 cfg->uplink ? cfg->sw : cfg->socket, p->be->ops->name, cfg->ifname[0] ? " " : "",
		 cfg->ifname, cfg->queues, poll_mode_name(cfg->poll),
		 worker_index(worker_get(cfg->worker_base)));
	*ret = p;
	return 0;
fail:
	port_free(p);
	return r;
}

void port_remove(struct port *p)
{
	char path[sizeof(p->cfg.socket) + sizeof(".state")];

	if (!p)
		return;
	snprintf(path, sizeof(path), "%s.state", p->cfg.socket);
	if (p->be && p->be->ops->release)
		p->be->ops->release(p->be);
	if (p->state) {
		port_free(p);
		unlink(path); /* the port is gone for good: nothing will resume its rings */
		return;
	}
	port_free(p);
}

void port_free(struct port *p)
{
	if (!p)
		return;
	port_disconnect(p, "shutting down");
	port_lock(p);
	if (p->be && p->cfg.sw[0])
		backend_switch_leave(p->be);
	if (p->peer) {
		/* The peer must not deliver into a device model that is going away. */
		backend_peer_set(p->peer->be, NULL);
		p->peer->peer = NULL;
	}
	for (unsigned q = 0; q < p->cfg.queues; q++)
		qp_fini(&p->qp[q]);
	port_unlock(p);
	/* A worker may have fetched events of these pairs before we took its lock: let its turn
	 * end before their memory goes. */
	for (unsigned i = 0; i < p->nworkers; i++)
		loop_quiesce(worker_loop(p->workers[i]));
	loop_del(p->loop, &p->listen_ev);
	loop_del(p->loop, &p->timer_ev);
	if (p->listen_fd >= 0) {
		p->listen_fd = safe_close(p->listen_fd);
		unlink(p->cfg.socket);
	}
	safe_close(p->timer_fd);
	vu_dev_free(&p->dev); /* the rings stop using the state file first */
	ringstate_close(p->state);
	vnet_free(p->net);
	backend_destroy(p->be);
	free(p);
}

size_t port_format_stats(struct port *p, char *buf, size_t len)
{
	const char *state = p->cfg.uplink ? "uplink" : p->connected ? "connected" : "waiting";
	struct vnet_stats s = { 0 };
	uint64_t faults = 0, log_overflows = 0;
	const char *logging = "off";
	int n;

	port_lock(p);
	if (p->net)
		vnet_stats_sum(p->net, &s);
	for (unsigned i = 0; i < p->dev.nvrings; i++) {
		faults += p->dev.ring[i].vq.faults;
		if (p->connected && p->dev.ring[i].vq.broken)
			state = "broken";
		if (p->dev.ring[i].vq.log)
			logging = "on";
	}
	if (p->dev.log)
		log_overflows = p->dev.log->overflows;
	port_unlock(p);
	n = snprintf(buf, len,
		     "port=%s state=%s tx_packets=%" PRIu64 " tx_bytes=%" PRIu64
		     " tx_dropped=%" PRIu64 " tx_errors=%" PRIu64 " rx_packets=%" PRIu64
		     " rx_bytes=%" PRIu64 " rx_dropped=%" PRIu64 " rx_oversize=%" PRIu64
		     " rx_stale=%" PRIu64 " ring_faults=%" PRIu64 " announces=%" PRIu64
		     " dirty_log=%s"
		     " log_overflows=%" PRIu64 " mem_faults=%" PRIu64 " conn_refused=%" PRIu64
		     " msg_refused=%" PRIu64 "\n",
		     p->cfg.name, state, s.tx_packets, s.tx_bytes, s.tx_dropped, s.tx_errors,
		     s.rx_packets, s.rx_bytes, s.rx_dropped, s.rx_oversize, s.rx_stale, faults,
		     s.announces, logging, log_overflows, p->mem_faults, p->conn_refused,
		     p->dev.refused);
	if (n < 0)
		return 0;
	return (size_t)n < len ? (size_t)n : len - 1;
}

void port_snapshot(struct port *p, struct port_info *ret)
{
	memset(ret, 0, sizeof(*ret));
	port_lock(p);
	ret->connected = p->connected;
	ret->offered = p->dev.offered;
	ret->features = p->dev.features;
	ret->offered_proto = p->dev.offered_proto;
	ret->proto = p->dev.proto;
	ret->nrings = p->dev.nvrings;
	for (unsigned i = 0; i < p->dev.nvrings; i++) {
		const struct vu_ring *r = &p->dev.ring[i];
		struct port_ring_info *ri = &ret->ring[i];
		struct port_queue_stats *qs = &ret->q[i / 2];

		ri->size = r->num_set ? r->vq.num : 0;
		ri->started = r->started;
		ri->enabled = r->enabled;
		ri->packed = r->vq.packed;
		ri->broken = r->vq.broken;
		ri->kick_fd = r->kick_fd >= 0;
		if (p->connected && r->vq.broken)
			ret->broken = true;
		if (r->vq.log)
			ret->dirty_log = true;
		qs->ring_faults += r->vq.faults;
		if (i % 2) {
			qs->tx_kicks = r->vq.kicks;
			qs->tx_calls = r->vq.calls;
		} else {
			qs->rx_kicks = r->vq.kicks;
			qs->rx_calls = r->vq.calls;
		}
	}
	ret->nqueues = p->cfg.queues;
	for (unsigned q = 0; q < p->cfg.queues; q++)
		vnet_stats_queue(p->net, q, &ret->q[q].st);
	ret->announces = vnet_announces(p->net);
	if (p->dev.log)
		ret->log_overflows = p->dev.log->overflows;
	ret->mem_faults = p->mem_faults;
	ret->conn_refused = p->conn_refused;
	ret->msg_refused = p->dev.refused;
	ret->nworkers = p->nworkers;
	for (unsigned i = 0; i < p->nworkers; i++)
		ret->workers[i] = worker_index(p->workers[i]);
	port_unlock(p);
}

bool port_switch_stats(struct port *p, struct switch_port_stats *ret, unsigned *ret_macs)
{
	bool ok;

	port_lock(p);
	ok = backend_switch_stats(p->be, ret);
	*ret_macs = backend_switch_macs(p->be);
	port_unlock(p);
	return ok;
}

void port_set_poll(struct port *p, enum poll_mode m)
{
	port_lock(p);
	p->cfg.poll = m;
	for (unsigned q = 0; q < p->cfg.queues; q++)
		qp_set_mode(&p->qp[q], m);
	port_unlock(p);
	log_info("%s: poll=%s", p->cfg.name, poll_mode_name(m));
}

void port_stats_total(const struct port_info *pi, struct port_queue_stats *ret)
{
	memset(ret, 0, sizeof(*ret));
	for (unsigned q = 0; q < pi->nqueues; q++) {
		const struct port_queue_stats *s = &pi->q[q];

		ret->st.tx_packets += s->st.tx_packets;
		ret->st.tx_bytes += s->st.tx_bytes;
		ret->st.tx_dropped += s->st.tx_dropped;
		ret->st.tx_errors += s->st.tx_errors;
		ret->st.rx_packets += s->st.rx_packets;
		ret->st.rx_bytes += s->st.rx_bytes;
		ret->st.rx_dropped += s->st.rx_dropped;
		ret->st.rx_oversize += s->st.rx_oversize;
		ret->st.rx_stale += s->st.rx_stale;
		ret->tx_kicks += s->tx_kicks;
		ret->rx_kicks += s->rx_kicks;
		ret->tx_calls += s->tx_calls;
		ret->rx_calls += s->rx_calls;
		ret->ring_faults += s->ring_faults;
	}
}
