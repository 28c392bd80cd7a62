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
#include "daemon/loop.h"
#include "net/vnet.h"
#include "util/cleanup.h"
#include "util/log.h"
#include "vhost/dev.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000

struct qp {
	struct port *port;
	unsigned q;
	struct ev rx_kick, tx_kick, be_ev, work;
	bool rx_wait_guest; /* guest has no receive buffers: back-end reads paused */
	bool tx_wait_be;    /* back-end full: guest transmit paused */
};

struct port {
	struct port_config cfg;
	struct loop *loop;
	struct vu_dev dev;
	struct backend *be;
	struct vnet *net;
	int listen_fd;
	int timer_fd;
	struct ev listen_ev, conn_ev, timer_ev;
	unsigned backoff_ms;
	bool connected;
	struct port *peer; /* the cross-connected port, for back-end `port` */
	struct qp qp[VU_MAX_QUEUE_PAIRS];
};

const struct port_config *port_config(const struct port *p)
{
	return &p->cfg;
}

int port_link_peers(struct port *a, struct port *b)
{
	if (a->cfg.backend != PORT_BACKEND_PORT || b->cfg.backend != PORT_BACKEND_PORT)
		return -EINVAL;
	backend_peer_set(a->be, b->net);
	backend_peer_set(b->be, a->net);
	a->peer = b;
	b->peer = a;
	return 0;
}

const char *port_name(const struct port *p)
{
	return p->cfg.name;
}

/* Points ev at fd (registering EPOLLIN), moving it off whatever it watched before. */
static void sync_kick(struct port *p, struct ev *ev, int fd)
{
	int r;

	if (ev->fd == fd)
		return;
	loop_del(p->loop, ev);
	if (fd < 0)
		return;
	r = loop_add(p->loop, ev, fd, EPOLLIN);
	if (r < 0)
		log_error("%s: cannot watch kick fd: %s", p->cfg.name, strerror(-r));
}

/* Arms the back-end queue fd for exactly what the queue pair is waiting for. */
static void sync_backend(struct qp *qp)
{
	struct port *p = qp->port;
	uint32_t want = 0;

	if (p->be->ops->recv && vu_ring_live(&p->dev, 2 * qp->q) && !qp->rx_wait_guest)
		want |= EPOLLIN;
	if (qp->tx_wait_be)
		want |= EPOLLOUT;
	loop_mod(p->loop, &qp->be_ev, want);
}

/* True when ring idx is started without a kick fd: the front-end asked us to poll it. */
static bool ring_polled(const struct port *p, unsigned idx)
{
	const struct vu_ring *r = &p->dev.ring[idx];

	return r->started && r->kick_fd < 0;
}

/* Runs guest transmit for qp and arms whatever it ends up waiting for. */
static void run_tx(struct qp *qp)
{
	struct port *p = qp->port;

	if (qp->tx_wait_be)
		return;
	switch (vnet_tx(p->net, qp->q)) {
	case VNET_MORE:
		loop_defer(p->loop, &qp->work);
		break;
	case VNET_WAIT_BACKEND:
		qp->tx_wait_be = true;
		sync_backend(qp);
		break;
	default:
		break;
	}
}

/* Runs guest receive for qp and arms whatever it ends up waiting for. */
static void run_rx(struct qp *qp)
{
	struct port *p = qp->port;

	switch (vnet_rx(p->net, qp->q)) {
	case VNET_MORE:
		loop_defer(p->loop, &qp->work);
		break;
	case VNET_WAIT_GUEST:
		qp->rx_wait_guest = true;
		break;
	default:
		break;
	}
	sync_backend(qp);
}

/* Reads an eventfd to zero; the count does not matter. */
static void drain_eventfd(int fd)
{
	uint64_t v;

	if (read(fd, &v, sizeof(v)) < 0) {
		/* EAGAIN: already drained. */
	}
}

static void on_rx_kick(struct ev *ev, uint32_t events)
{
	struct qp *qp = container_of(ev, struct qp, rx_kick);

	drain_eventfd(ev->fd);
	qp->rx_wait_guest = false;
	run_rx(qp);
}

static void on_tx_kick(struct ev *ev, uint32_t events)
{
	struct qp *qp = container_of(ev, struct qp, tx_kick);

	drain_eventfd(ev->fd);
	run_tx(qp);
}

static void on_backend(struct ev *ev, uint32_t events)
{
	struct qp *qp = container_of(ev, struct qp, be_ev);

	if (events & EPOLLOUT) {
		qp->tx_wait_be = false;
		sync_backend(qp);
		run_tx(qp);
	}
	if (events & (EPOLLIN | EPOLLERR))
		run_rx(qp);
}

static void on_work(struct ev *ev, uint32_t events)
{
	struct qp *qp = container_of(ev, struct qp, work);
	struct port *p = qp->port;

	if (!p->connected)
		return;
	run_tx(qp);
	if (qp->rx_wait_guest && ring_polled(p, 2 * qp->q))
		qp->rx_wait_guest = false;
	run_rx(qp);
	/* Rings without a kick fd are polled: come back on every loop turn. */
	if (ring_polled(p, 2 * qp->q) || ring_polled(p, 2 * qp->q + 1))
		loop_defer(p->loop, &qp->work);
}

/* vhost-user hook: ring idx changed state; re-arm its queue pair. */
static void on_ring_changed(void *opaque, unsigned idx)
{
	struct port *p = opaque;
	struct qp *qp = &p->qp[idx / 2];
	const struct vu_ring *rx = &p->dev.ring[2 * qp->q];
	const struct vu_ring *tx = &p->dev.ring[2 * qp->q + 1];

	sync_kick(p, &qp->rx_kick, rx->started ? rx->kick_fd : -1);
	sync_kick(p, &qp->tx_kick, tx->started ? tx->kick_fd : -1);
	if (!vu_ring_live(&p->dev, 2 * qp->q))
		qp->rx_wait_guest = false;
	if (!tx->started)
		qp->tx_wait_be = false;
	sync_backend(qp);
	/* Buffers may have been posted before the ring started: look once. */
	if (rx->started || tx->started)
		loop_defer(p->loop, &qp->work);
}

/* vhost-user hook: features negotiated; configure the back-end to match. */
static int on_features_changed(void *opaque, uint64_t features)
{
	struct port *p = opaque;

	return vnet_set_features(p->net, features);
}

static const struct vu_dev_ops port_dev_ops = {
	.ring_changed = on_ring_changed,
	.features_changed = on_features_changed,
};

/* Arms the reconnect timer for client mode, doubling the delay up to a cap. */
static void schedule_connect(struct port *p)
{
	struct itimerspec its = { 0 };

	its.it_value.tv_sec = p->backoff_ms / 1000;
	its.it_value.tv_nsec = (long)(p->backoff_ms % 1000) * 1000000L;
	timerfd_settime(p->timer_fd, 0, &its, NULL);
	p->backoff_ms = MIN(p->backoff_ms * 2, BACKOFF_MAX_MS);
}

/* Drops the front-end: rings stop, memory unmapped; the port waits for the next one. */
static void port_disconnect(struct port *p, const char *why)
{
	if (!p->connected)
		return;
	log_info("%s: front-end disconnected (%s)", p->cfg.name, why);
	loop_del(p->loop, &p->conn_ev);
	vu_dev_detach(&p->dev);
	p->connected = false;
	for (unsigned q = 0; q < p->cfg.queues; q++) {
		p->qp[q].rx_wait_guest = false;
		p->qp[q].tx_wait_be = false;
		sync_backend(&p->qp[q]);
	}
	if (p->cfg.client) {
		p->backoff_ms = BACKOFF_MIN_MS;
		schedule_connect(p);
	}
}

static void on_conn(struct ev *ev, uint32_t events)
{
	struct port *p = container_of(ev, struct port, conn_ev);
	int r = vu_dev_on_readable(&p->dev);

	if (r < 0)
		port_disconnect(p, r == -EPIPE ? "closed by peer" : strerror(-r));
}

/* Takes a connected socket as the port's front-end. */
static void port_attach(struct port *p, int fd)
{
	int r;

	vu_dev_attach(&p->dev, fd);
	r = loop_add(p->loop, &p->conn_ev, fd, EPOLLIN);
	if (r < 0) {
		log_error("%s: cannot watch connection: %s", p->cfg.name, strerror(-r));
		vu_dev_detach(&p->dev);
		return;
	}
	p->connected = true;
	log_info("%s: front-end connected", p->cfg.name);
}

static void on_listen(struct ev *ev, uint32_t events)
{
	struct port *p = container_of(ev, struct port, listen_ev);
	int fd = accept4(p->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (fd < 0)
		return;
	if (p->connected) {
		log_warn("%s: refusing a second front-end while one is connected", p->cfg.name);
		close(fd);
		return;
	}
	port_attach(p, fd);
}

static void on_timer(struct ev *ev, uint32_t events)
{
	struct port *p = container_of(ev, struct port, timer_ev);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	_cleanup_close_ int fd = -1;

	drain_eventfd(p->timer_fd);
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
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	struct stat st;

	if (fd < 0)
		return -errno;
	if (lstat(p->cfg.socket, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			log_error("%s: %s exists and is not a socket", p->cfg.name, p->cfg.socket);
			return -EEXIST;
		}
		unlink(p->cfg.socket);
	}
	memcpy(sa.sun_path, p->cfg.socket, sizeof(p->cfg.socket));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 4) < 0) {
		int r = -errno;
		log_error("%s: cannot listen on %s: %s", p->cfg.name, p->cfg.socket, strerror(-r));
		return r;
	}
	p->listen_fd = TAKE_FD(fd);
	return 0;
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
	for (unsigned q = 0; q < VU_MAX_QUEUE_PAIRS; q++) {
		struct qp *qp = &p->qp[q];

		qp->port = p;
		qp->q = q;
		ev_init(&qp->rx_kick, on_rx_kick);
		ev_init(&qp->tx_kick, on_tx_kick);
		ev_init(&qp->be_ev, on_backend);
		ev_init(&qp->work, on_work);
	}
	switch (cfg->backend) {
	case PORT_BACKEND_TAP:
		r = backend_tap_create(cfg->ifname, cfg->queues, &p->be);
		break;
	case PORT_BACKEND_NULL:
		r = backend_null_create(cfg->queues, cfg->gen, &p->be);
		break;
	case PORT_BACKEND_PORT:
		r = backend_peer_create(cfg->queues, &p->be);
		break;
	default:
		r = -EINVAL;
	}
	if (r < 0)
		goto fail;
	r = vu_dev_init(&p->dev, p->cfg.name, cfg->queues,
			vnet_offered_features(cfg->queues, p->be->ops->offloads), &port_dev_ops, p);
	if (r < 0)
		goto fail;
	p->net = vnet_new(&p->dev, p->be);
	if (!p->net) {
		r = -ENOMEM;
		goto fail;
	}
	for (unsigned q = 0; q < cfg->queues; q++) {
		r = loop_add(l, &p->qp[q].be_ev, p->be->ops->queue_fd(p->be, q), 0);
		if (r < 0)
			goto fail;
	}
	if (cfg->client) {
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
	log_info("%s: %s %s, back-end %s%s%s, %u queue pair(s)", p->cfg.name,
		 cfg->client ? "connecting to" : "listening on", cfg->socket, p->be->ops->name,
		 cfg->backend == PORT_BACKEND_TAP ? " " : "",
		 cfg->backend == PORT_BACKEND_TAP ? cfg->ifname : "", cfg->queues);
	*ret = p;
	return 0;
fail:
	port_free(p);
	return r;
}

void port_free(struct port *p)
{
	if (!p)
		return;
	port_disconnect(p, "shutting down");
	if (p->peer) {
		/* The peer must not deliver into a device model that is going away. */
		backend_peer_set(p->peer->be, NULL);
		p->peer->peer = NULL;
	}
	for (unsigned q = 0; q < p->cfg.queues; q++)
		loop_del(p->loop, &p->qp[q].be_ev);
	loop_del(p->loop, &p->listen_ev);
	loop_del(p->loop, &p->timer_ev);
	if (p->listen_fd >= 0) {
		p->listen_fd = safe_close(p->listen_fd);
		unlink(p->cfg.socket);
	}
	safe_close(p->timer_fd);
	vu_dev_free(&p->dev);
	vnet_free(p->net);
	backend_destroy(p->be);
	free(p);
}

size_t port_format_stats(const struct port *p, char *buf, size_t len)
{
	const struct vnet_stats *s = p->net ? vnet_stats(p->net) : NULL;
	static const struct vnet_stats zero;
	const char *state = p->connected ? "connected" : "waiting";
	uint64_t faults = 0;
	int n;

	if (!s)
		s = &zero;
	for (unsigned i = 0; i < p->dev.nvrings; i++) {
		faults += p->dev.ring[i].vq.faults;
		if (p->connected && p->dev.ring[i].vq.broken)
			state = "broken";
	}
	n = snprintf(buf, len,
		     "port=%s state=%s tx_packets=%" PRIu64 " tx_bytes=%" PRIu64
		     " tx_dropped=%" PRIu64 " tx_errors=%" PRIu64 " rx_packets=%" PRIu64
		     " rx_bytes=%" PRIu64 " rx_dropped=%" PRIu64 " ring_faults=%" PRIu64 "\n",
		     p->cfg.name, state, s->tx_packets, s->tx_bytes, s->tx_dropped, s->tx_errors,
		     s->rx_packets, s->rx_bytes, s->rx_dropped, faults);
	if (n < 0)
		return 0;
	return (size_t)n < len ? (size_t)n : len - 1;
}
