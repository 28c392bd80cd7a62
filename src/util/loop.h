/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The event loop: epoll plus a list of deferred work. Event sources are `struct ev` embedded in
 * long-lived objects; the loop never owns fds. Work that used up its budget defers itself and runs
 * again after the next (non-blocking) poll, so pending fds are never starved.
 */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct loop;
struct ev;

/* Callback; events is an epoll mask, or EV_DEFERRED for deferred work. */
typedef void (*ev_fn)(struct ev *ev, uint32_t events);

#define EV_DEFERRED (1u << 31)

struct ev {
	int fd;		 /* registered fd, or -1 */
	uint32_t events; /* registered epoll mask */
	ev_fn fn;
	bool deferred;
	struct ev *next_deferred;
};

/* Creates a loop. Returns 0 or a negative errno. */
int loop_new(struct loop **ret);
/* Frees the loop; registered fds are not closed. NULL is fine. */
void loop_free(struct loop *l);

/* Initialises ev with a callback and no fd (for deferred-only work or later loop_add). */
void ev_init(struct ev *ev, ev_fn fn);

/* Registers fd with events on ev. Returns 0 or a negative errno. */
int loop_add(struct loop *l, struct ev *ev, int fd, uint32_t events);
/* Changes the registered mask. Returns 0 or a negative errno. */
int loop_mod(struct loop *l, struct ev *ev, uint32_t events);
/* Unregisters ev's fd (which must still be open) and sets ev->fd to -1. */
void loop_del(struct loop *l, struct ev *ev);
/* Runs ev->fn(ev, EV_DEFERRED) after the next poll. Idempotent until it runs. */
void loop_defer(struct loop *l, struct ev *ev);

/*
 * Takes ev off the deferred list if it is on it (before the memory holding ev is freed). Needs
 * the loop's lock when the loop has one.
 */
void loop_undefer(struct loop *l, struct ev *ev);

/*
 * Waits until the loop's thread finished the turn it is in (waking it first). A turn fetches
 * its events before it takes the loop's lock, so an ev removed under that lock can still be
 * dispatched once more from the turn in progress: call this, without the lock, after removing
 * evs and before freeing their memory. The loop's thread must be running.
 */
void loop_quiesce(struct loop *l);

/*
 * Waits for events (not at all when work is deferred or the poll hook asked to run again), then,
 * holding the loop's lock if it has one, runs the callbacks, the deferred work and the poll hook.
 * Returns 0 or a negative errno.
 */
int loop_run_once(struct loop *l);

/* Makes loop_run_once() hold `lock` while it runs callbacks (for loops of worker threads). */
void loop_set_lock(struct loop *l, pthread_mutex_t *lock);

/*
 * Takes the loop's lock from another thread. The loop yields to such a waiter between turns, so
 * a busy-polling loop cannot starve it.
 */
void loop_lock(struct loop *l);
void loop_unlock(struct loop *l);

/* What a poll hook reports about its turn. */
enum loop_poll {
	LOOP_POLL_NONE, /* nothing to poll: the loop may sleep in epoll_wait */
	LOOP_POLL_IDLE, /* polling, nothing found this turn */
	LOOP_POLL_WORK, /* polling and finding work (fds are looked at every few turns either way)
			 */
};

/* Installs a hook run once per iteration after the callbacks (busy polling). */
void loop_set_poll(struct loop *l, enum loop_poll (*poll)(void *opaque), void *opaque);

/* Makes a loop blocked in another thread return from epoll_wait. Thread-safe. */
void loop_wake(struct loop *l);
