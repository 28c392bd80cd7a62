/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Queue-pair scheduling.
 *
 * Event mode: kicks and back-end readiness wake the worker; a pass that uses up its budget defers
 * itself; a drained ring re-enables guest notifications (EVENT_IDX aware, re-checked after the
 * barrier in virtq_enable_notify so no kick is lost).
 * Busy mode: guest notifications stay off and the worker polls the rings and the back-end on
 * every loop turn while the pair runs.
 * Adaptive mode: any event switches the pair to polling; after ADAPTIVE_IDLE_NS without work it
 * makes one last pass in event style, which re-enables notifications (and keeps polling if work
 * raced in), then sleeps until the next kick.
 */
#include "dataplane/qp.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "backend/backend.h"
#include "net/vnet.h"
#include "util/cleanup.h"
#include "util/log.h"
#include "vhost/dev.h"

#define ADAPTIVE_IDLE_NS (200 * 1000ull)

int poll_mode_parse(const char *s, enum poll_mode *ret)
{
	if (strcmp(s, "event") == 0)
		*ret = POLL_EVENT;
	else if (strcmp(s, "busy") == 0)
		*ret = POLL_BUSY;
	else if (strcmp(s, "adaptive") == 0)
		*ret = POLL_ADAPTIVE;
	else
		return -EINVAL;
	return 0;
}

/* Nanoseconds of CLOCK_MONOTONIC (vDSO, no system call). */
static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* True when ring idx is started without a kick fd: the front-end asked us to poll it. */
static bool ring_kickless(const struct qp *qp, unsigned idx)
{
	const struct vu_ring *r = &qp->dev->ring[idx];

	return r->started && r->kick_fd < 0;
}

/* Points ev at fd (registering EPOLLIN), moving it off whatever it watched before. */
static void sync_kick(struct qp *qp, struct ev *ev, int fd)
{
	int r;

	if (ev->fd == fd)
		return;
	loop_del(worker_loop(qp->w), ev);
	if (fd < 0)
		return;
	r = loop_add(worker_loop(qp->w), ev, fd, EPOLLIN);
	if (r < 0)
		log_error("%s: cannot watch kick fd: %s", qp->dev->name, strerror(-r));
}

/*
 * Arms the back-end queue fd for exactly what the pair waits for. Pollers keep EPOLLIN too: the
 * worker's non-blocking epoll_wait on each turn tells them whether a read would find anything,
 * so an idle back-end costs no read attempts.
 */
static void sync_backend(struct qp *qp)
{
	uint32_t want = 0;

	if (qp->be_ev.fd < 0)
		return;
	if (qp->be->ops->recv && vu_ring_live(qp->dev, 2 * qp->q) && !qp->rx_wait_guest)
		want |= EPOLLIN;
	if (qp->tx_wait_be)
		want |= EPOLLOUT;
	loop_mod(worker_loop(qp->w), &qp->be_ev, want);
}

/* One transmit pass; returns frames moved. */
static unsigned run_tx(struct qp *qp, bool poll)
{
	unsigned done = 0;

	if (qp->tx_wait_be)
		return 0;
	switch (vnet_tx(qp->net, qp->q, poll, &done)) {
	case VNET_MORE:
		if (!poll)
			loop_defer(worker_loop(qp->w), &qp->work);
		break;
	case VNET_WAIT_BACKEND:
		qp->tx_wait_be = true;
		sync_backend(qp);
		break;
	default:
		break;
	}
	return done;
}

/*
 * One receive pass; returns frames moved, and in *ret_more (if not NULL) whether the pass stopped
 * on its budget rather than on an empty device.
 */
static unsigned run_rx(struct qp *qp, bool poll, bool *ret_more)
{
	enum vnet_result res;
	unsigned done = 0;

	res = vnet_rx(qp->net, qp->q, poll, &done);
	if (ret_more)
		*ret_more = res == VNET_MORE;
	switch (res) {
	case VNET_MORE:
		if (!poll)
			loop_defer(worker_loop(qp->w), &qp->work);
		break;
	case VNET_WAIT_GUEST:
		qp->rx_wait_guest = !poll;
		break;
	default:
		break;
	}
	sync_backend(qp);
	return done;
}

/* Switches the pair to polling: notifications off, back-end read by the poller. */
static void start_polling(struct qp *qp)
{
	if (qp->poller.active || qp->mode == POLL_EVENT || !qp->running)
		return;
	qp->poller.active = true;
	qp->last_work_ns = now_ns();
	qp->rx_wait_guest = false;
	virtq_disable_notify(&qp->dev->ring[2 * qp->q].vq);
	virtq_disable_notify(&qp->dev->ring[2 * qp->q + 1].vq);
	sync_backend(qp);
}

/* Runs both directions once, in the pair's current style. */
static void run_pair(struct qp *qp)
{
	if (!qp->running)
		return;
	if (qp->mode != POLL_EVENT) {
		start_polling(qp);
		return; /* the poller runs it on this loop turn */
	}
	run_tx(qp, false);
	run_rx(qp, false, NULL);
	if (ring_kickless(qp, 2 * qp->q) || ring_kickless(qp, 2 * qp->q + 1))
		loop_defer(worker_loop(qp->w), &qp->work);
}

/* Poller body: one polling pass; adaptive pairs fall back to events after an idle spell. */
static bool qp_poll(struct poller *p)
{
	struct qp *qp = container_of(p, struct qp, poller);
	unsigned done;
	uint64_t now;

	if (!qp->running) {
		p->active = false;
		return false;
	}
	done = run_tx(qp, true);
	if (qp->be_readable) {
		bool more;
		unsigned got = run_rx(qp, true, &more);

		/* A pass that stopped on its budget left more: keep reading without epoll. */
		qp->be_readable = more;
		done += got;
	}
	if (qp->mode != POLL_ADAPTIVE || ring_kickless(qp, 2 * qp->q) ||
	    ring_kickless(qp, 2 * qp->q + 1))
		return done > 0;
	now = now_ns();
	if (done) {
		qp->last_work_ns = now;
		return true;
	}
	if (now - qp->last_work_ns < ADAPTIVE_IDLE_NS)
		return false;
	/* Idle: one event-style pass re-enables notifications and re-checks the rings. */
	p->active = false;
	done = run_tx(qp, false) + run_rx(qp, false, NULL);
	if (done)
		start_polling(qp); /* work raced in while we were re-enabling notifications */
	sync_backend(qp);
	return done > 0;
}

/* Reads an eventfd to zero; the count does not matter. */
static void drain_eventfd(int fd)
{
	uint64_t v;

	if (read(fd, &v, sizeof(v)) < 0) {
		/* EAGAIN: already drained. */
	}
}

/* Guest posted receive buffers: reads can resume. */
static void on_rx_kick(struct ev *ev, uint32_t events)
{
	struct qp *qp = container_of(ev, struct qp, rx_kick);

	drain_eventfd(ev->fd);
	qp->dev->ring[2 * qp->q].vq.kicks++;
	qp->rx_wait_guest = false;
	qp->be_readable = true; /* buffers arrived: try the back-end again */
	sync_backend(qp);
	run_pair(qp);
}

/* Guest transmitted: run the pair. */
static void on_tx_kick(struct ev *ev, uint32_t events)
{
	struct qp *qp = container_of(ev, struct qp, tx_kick);

	drain_eventfd(ev->fd);
	qp->dev->ring[2 * qp->q + 1].vq.kicks++;
	run_pair(qp);
}

/* Back-end readable or writable again: run the pair. */
static void on_backend(struct ev *ev, uint32_t events)
{
	struct qp *qp = container_of(ev, struct qp, be_ev);

	if (events & EPOLLOUT) {
		qp->tx_wait_be = false;
		sync_backend(qp);
	}
	if (events & (EPOLLIN | EPOLLERR))
		qp->be_readable = true;
	run_pair(qp);
}

/* Deferred work: a pass that used its budget, or a ring just started. */
static void on_work(struct ev *ev, uint32_t events)
{
	run_pair(container_of(ev, struct qp, work));
}

int qp_init(struct qp *qp, struct vu_dev *dev, struct vnet *net, struct backend *be, unsigned q,
	    struct worker *w, enum poll_mode mode)
{
	memset(qp, 0, sizeof(*qp));
	qp->dev = dev;
	qp->net = net;
	qp->be = be;
	qp->q = q;
	qp->w = w;
	qp->mode = mode;
	ev_init(&qp->rx_kick, on_rx_kick);
	ev_init(&qp->tx_kick, on_tx_kick);
	ev_init(&qp->be_ev, on_backend);
	ev_init(&qp->work, on_work);
	qp->poller.fn = qp_poll;
	worker_add_poller(w, &qp->poller);
	return loop_add(worker_loop(w), &qp->be_ev, be->ops->queue_fd(be, q), 0);
}

void qp_fini(struct qp *qp)
{
	if (!qp->w)
		return;
	loop_del(worker_loop(qp->w), &qp->rx_kick);
	loop_del(worker_loop(qp->w), &qp->tx_kick);
	loop_del(worker_loop(qp->w), &qp->be_ev);
	worker_remove_poller(qp->w, &qp->poller);
	qp->poller.active = false;
	qp->running = false;
	/* The pair's memory goes with its port: it must not stay on the worker's deferred list
	 * (a port freed under traffic left it there, and the worker then ran freed memory). */
	loop_undefer(worker_loop(qp->w), &qp->work);
}

void qp_set_mode(struct qp *qp, enum poll_mode mode)
{
	qp->mode = mode;
	/* A poller left running would keep polling in any mode: the pair's next pass decides
	 * again (event mode re-enables the guest's notifications on it). */
	if (mode != POLL_BUSY)
		qp->poller.active = false;
	qp_sync(qp);
}

void qp_sync(struct qp *qp)
{
	const struct vu_ring *rx = &qp->dev->ring[2 * qp->q];
	const struct vu_ring *tx = &qp->dev->ring[2 * qp->q + 1];

	sync_kick(qp, &qp->rx_kick, rx->started ? rx->kick_fd : -1);
	sync_kick(qp, &qp->tx_kick, tx->started ? tx->kick_fd : -1);
	qp->running = rx->started || tx->started;
	if (!vu_ring_live(qp->dev, 2 * qp->q))
		qp->rx_wait_guest = false;
	if (!tx->started)
		qp->tx_wait_be = false;
	if (!qp->running)
		qp->poller.active = false;
	else if (qp->mode == POLL_BUSY)
		start_polling(qp);
	sync_backend(qp);
	/* Buffers may have been posted before the ring started: look once. */
	if (qp->running)
		loop_defer(worker_loop(qp->w), &qp->work);
}
