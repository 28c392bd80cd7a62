/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "daemon/daemon.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/limits.h"
#include "dataplane/worker.h"
#include "util/log.h"

struct entry {
	struct port *port;
	enum port_source src;
};

struct daemon {
	struct loop *loop;
	struct entry ports[DAEMON_MAX_PORTS];
	unsigned nports;
	unsigned load[WORKERS_MAX]; /* queue pairs each worker runs */
};

const char *port_source_name(enum port_source s)
{
	return s == PORT_SRC_CLI ? "cli" : s == PORT_SRC_CONFIG ? "config" : "api";
}

int daemon_new(struct loop *l, struct daemon **ret)
{
	struct daemon *d = calloc(1, sizeof(*d));

	if (!d)
		return -ENOMEM;
	d->loop = l;
	*ret = d;
	return 0;
}

unsigned daemon_nports(const struct daemon *d)
{
	return d->nports;
}

struct port *daemon_port(const struct daemon *d, unsigned i, enum port_source *src)
{
	if (src)
		*src = d->ports[i].src;
	return d->ports[i].port;
}

/* Index of the port called name, or -1. */
static int find(const struct daemon *d, const char *name)
{
	for (unsigned i = 0; i < d->nports; i++)
		if (strcmp(port_name(d->ports[i].port), name) == 0)
			return (int)i;
	return -1;
}

struct port *daemon_find(const struct daemon *d, const char *name, enum port_source *src)
{
	int i = find(d, name);

	if (i < 0)
		return NULL;
	if (src)
		*src = d->ports[i].src;
	return d->ports[i].port;
}

/* Adds (+1) or takes back (-1) the queue pairs of a port placed at cfg->worker_base. */
static void count_load(struct daemon *d, const struct port_config *cfg, int sign)
{
	unsigned n = workers_count();

	for (unsigned q = 0; q < cfg->queues; q++)
		d->load[(cfg->worker_base + q) % n] += (unsigned)sign;
}

/*
 * Places a new port's queue pairs: with its peer's (a transmit and the peer's receive ring are
 * then handled by one thread), with the other ports of its switch (one worker forwards for the
 * whole switch, without locks), or starting at the least loaded worker.
 */
static unsigned place(const struct daemon *d, const struct port_config *cfg)
{
	unsigned n = workers_count(), best = 0;
	struct port *peer;

	if (cfg->backend == PORT_BACKEND_PORT && (peer = daemon_find(d, cfg->peer, NULL)))
		return port_config(peer)->worker_base;
	for (unsigned i = 0; cfg->sw[0] && i < d->nports; i++)
		if (strcmp(port_config(d->ports[i].port)->sw, cfg->sw) == 0)
			return port_config(d->ports[i].port)->worker_base;
	for (unsigned w = 1; w < n; w++)
		if (d->load[w] < d->load[best])
			best = w;
	return best;
}

/* Checks cfg against every port but the one at index skip (-1: none). */
static int check_against(const struct daemon *d, const struct port_config *cfg, int skip,
			 struct cfg_err *err)
{
	struct port *peer = NULL;
	int r;

	for (unsigned i = 0; i < d->nports; i++) {
		if ((int)i == skip)
			continue;
		r = portcfg_conflict(cfg, port_config(d->ports[i].port), err);
		if (r < 0)
			return r;
	}
	if (cfg->backend == PORT_BACKEND_PORT)
		peer = daemon_find(d, cfg->peer, NULL);
	return portcfg_check_peer(cfg, peer ? port_config(peer) : NULL, err);
}

int daemon_port_add(struct daemon *d, const struct port_config *cfg, enum port_source src,
		    struct cfg_err *err)
{
	struct port_config c = *cfg;
	struct port *p, *peer = NULL;
	int r;

	if (d->nports == DAEMON_MAX_PORTS) {
		limit_refused(LIMIT_PORTS);
		cfg_fail(err, "at most %d ports", DAEMON_MAX_PORTS);
		return -ENOSPC;
	}
	r = check_against(d, cfg, -1, err);
	if (r < 0)
		return r;
	if (!workers_count()) {
		cfg_fail(err, "port %s: no data-path worker runs", c.name);
		return -ENODEV;
	}
	c.worker_base = place(d, &c);
	r = port_new(d->loop, &c, &p);
	if (r < 0) {
		snprintf(err->msg, sizeof(err->msg), "port %s: %s", c.name, strerror(-r));
		return r;
	}
	if (c.backend == PORT_BACKEND_PORT)
		peer = daemon_find(d, c.peer, NULL);
	if (peer)
		port_link_peers(peer, p);
	d->ports[d->nports++] = (struct entry){ .port = p, .src = src };
	count_load(d, &c, 1);
	return 0;
}

/* Removes the port at index i. */
static void remove_at(struct daemon *d, unsigned i)
{
	struct port *p = d->ports[i].port;

	count_load(d, port_config(p), -1);
	memmove(&d->ports[i], &d->ports[i + 1], (d->nports - i - 1) * sizeof(d->ports[0]));
	d->nports--;
	log_info("%s: port removed", port_name(p));
	port_remove(p);
}

int daemon_port_del(struct daemon *d, const char *name)
{
	int i = find(d, name);

	if (i < 0)
		return -ENOENT;
	remove_at(d, (unsigned)i);
	return 0;
}

void daemon_free(struct daemon *d)
{
	if (!d)
		return;
	/* Last first: a cross-connected port unlinks itself from its peer as it goes. */
	while (d->nports) {
		d->nports--;
		port_free(d->ports[d->nports].port);
	}
	free(d);
}

/* Appends name to l. */
static void note(struct name_list *l, const char *name)
{
	if (l->n < DAEMON_MAX_PORTS)
		snprintf(l->name[l->n++], sizeof(l->name[0]), "%s", name);
}

/* Index in cfg of the port called name, or -1. */
static int cfg_find(const struct config *cfg, const char *name)
{
	for (unsigned i = 0; i < cfg->nports; i++)
		if (strcmp(cfg->ports[i].name, name) == 0)
			return (int)i;
	return -1;
}

/*
 * Checks the set the reload would leave: the file's ports against every port that is not the
 * file's, and each backend=port port against its peer in that set.
 */
static int check_reload(const struct daemon *d, const struct config *cfg, struct cfg_err *err)
{
	for (unsigned k = 0; k < cfg->nports; k++) {
		const struct port_config *c = &cfg->ports[k];
		const struct port_config *peer = NULL;
		int r;

		for (unsigned i = 0; i < d->nports; i++) {
			if (d->ports[i].src == PORT_SRC_CONFIG)
				continue;
			r = portcfg_conflict(c, port_config(d->ports[i].port), err);
			if (r < 0)
				return r;
		}
		if (c->backend != PORT_BACKEND_PORT)
			continue;
		if (cfg_find(cfg, c->peer) >= 0) {
			peer = &cfg->ports[cfg_find(cfg, c->peer)];
		} else {
			enum port_source src;
			struct port *p = daemon_find(d, c->peer, &src);

			if (p && src != PORT_SRC_CONFIG)
				peer = port_config(p);
		}
		r = portcfg_check_peer(c, peer, err);
		if (r < 0)
			return r;
	}
	return 0;
}

int daemon_apply_config(struct daemon *d, const struct config *cfg, struct reload_report *rep,
			struct cfg_err *err)
{
	struct name_list todo = { 0 };
	unsigned failed = 0;
	int r;

	memset(rep, 0, sizeof(*rep));
	r = check_reload(d, cfg, err);
	if (r < 0)
		return r;
	/* Removed and changed ports go first: what they free (names, sockets, taps) may be
	 * taken by the ports that come. */
	for (unsigned i = d->nports; i-- > 0;) {
		const struct port_config *cur = port_config(d->ports[i].port);
		int k;

		if (d->ports[i].src != PORT_SRC_CONFIG)
			continue;
		k = cfg_find(cfg, cur->name);
		if (k >= 0 && portcfg_equal(cur, &cfg->ports[k])) {
			note(&rep->unchanged, cur->name);
			continue;
		}
		note(k >= 0 ? &rep->changed : &rep->removed, cur->name);
		remove_at(d, i);
	}
	for (unsigned k = 0; k < cfg->nports; k++)
		if (!daemon_find(d, cfg->ports[k].name, NULL))
			note(&todo, cfg->ports[k].name);
	for (unsigned t = 0; t < todo.n; t++) {
		const struct port_config *c = &cfg->ports[cfg_find(cfg, todo.name[t])];
		struct cfg_err e;
		bool was_changed = false;

		for (unsigned j = 0; j < rep->changed.n; j++)
			was_changed |= strcmp(rep->changed.name[j], c->name) == 0;
		if (!was_changed)
			note(&rep->added, c->name);
		if (daemon_port_add(d, c, PORT_SRC_CONFIG, &e) < 0) {
			log_error("reload: %s", e.msg);
			if (!failed++)
				snprintf(err->msg, sizeof(err->msg), "%s", e.msg);
		}
	}
	return failed ? -EIO : 0;
}
