/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Data-plane workers: threads, each with its own event loop, that own queue pairs. The control
 * thread changes a queue pair's state only while holding its worker's lock; a worker holds its
 * lock while it runs callbacks and pollers, and never while it sleeps in epoll_wait.
 */
#pragma once

#include <stdbool.h>

struct loop;
struct worker;

/* Something a worker runs on every loop turn while `active`; returns true if it found work. */
struct poller {
	bool (*fn)(struct poller *p);
	bool active;
	struct poller *next;
};

/*
 * Starts n workers (1..WORKERS_MAX), worker i pinned to cpus[i % ncpus] when ncpus > 0.
 * Returns 0 or a negative errno (logged); on failure no worker is left running.
 */
int workers_start(unsigned n, const unsigned *cpus, unsigned ncpus);

/* Stops and joins every worker. Their loops must have no registered fds left in use. */
void workers_stop(void);

#define WORKERS_MAX 64

/* Number of running workers. */
unsigned workers_count(void);

/* Worker i (0 <= i < workers_count()). */
struct worker *worker_get(unsigned i);

/* The worker's event loop: register fds and defer work only while holding its lock. */
struct loop *worker_loop(struct worker *w);

void worker_lock(struct worker *w);
void worker_unlock(struct worker *w);

/* Makes the worker look at its loop again (after deferring work to it from outside). */
void worker_wake(struct worker *w);

/* Adds or removes a poller; call with the worker's lock held. */
void worker_add_poller(struct worker *w, struct poller *p);
void worker_remove_poller(struct worker *w, struct poller *p);

/* Index of the worker (for logs and lock ordering). */
unsigned worker_index(const struct worker *w);
