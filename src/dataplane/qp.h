/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A queue pair's data path on its worker: the kick events of its two rings, the event on its
 * back-end queue, deferred work and the poller, armed according to the ring state and the port's
 * notification mode. Every call here needs the worker's lock (qp_init/qp_fini included).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "dataplane/worker.h"
#include "util/loop.h"

struct vu_dev;
struct vnet;
struct backend;

enum poll_mode {
	POLL_EVENT,    /* sleep until a kick or the back-end wakes us */
	POLL_BUSY,     /* poll rings and back-end continuously while the rings run */
	POLL_ADAPTIVE, /* poll while there is work, fall back to events after an idle spell */
};

struct qp {
	struct vu_dev *dev;
	struct vnet *net;
	struct backend *be;
	struct worker *w;
	unsigned q;
	enum poll_mode mode;
	struct ev rx_kick, tx_kick, be_ev, work;
	struct poller poller;
	bool running;	    /* some ring of the pair is started */
	bool rx_wait_guest; /* event mode: guest has no receive buffers, back-end reads paused */
	bool tx_wait_be;    /* back-end full: guest transmit paused */
	bool be_readable;   /* polling: epoll saw the back-end readable on this loop turn */
	uint64_t last_work_ns;
};

/* Binds queue pair q of dev/net/be to worker w and registers its back-end fd. 0 or -errno. */
int qp_init(struct qp *qp, struct vu_dev *dev, struct vnet *net, struct backend *be, unsigned q,
	    struct worker *w, enum poll_mode mode);

/* Unregisters everything qp registered. Safe on a zeroed or half-initialised qp. */
void qp_fini(struct qp *qp);

/* Re-arms qp after its rings changed state (started, stopped, enabled, new kick fd). */
void qp_sync(struct qp *qp);

/* Switches the pair to another poll mode, rearming it as qp_sync() does. */
void qp_set_mode(struct qp *qp, enum poll_mode mode);

/* Parses "event|busy|adaptive". Returns 0 or -EINVAL. */
int poll_mode_parse(const char *s, enum poll_mode *ret);
