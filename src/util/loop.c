/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "util/loop.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "util/cleanup.h"

#define LOOP_MAX_EVENTS 64

struct loop {
	int epfd;
	int wake_fd;
	struct ev wake_ev;
	struct ev *deferred;
	pthread_mutex_t *lock;
	enum loop_poll (*poll)(void *opaque);
	void *poll_opaque;
	enum loop_poll polled;
	unsigned fd_skips;   /* turns since epoll_wait while pollers keep finding work */
	unsigned waiters;    /* other threads waiting for the lock */
	unsigned long turns; /* completed loop_run_once() calls (see loop_quiesce()) */
};

/* While pollers run, epoll_wait (a system call) runs once every this many turns. */
#define LOOP_FD_CHECK_EVERY 64

/* Drains the wake eventfd; waking was the whole point. */
static void on_wake(struct ev *ev, uint32_t events)
{
	uint64_t v;

	if (read(ev->fd, &v, sizeof(v)) < 0) {
		/* EAGAIN: another wake already drained it. */
	}
}

int loop_new(struct loop **ret)
{
	struct loop *l = calloc(1, sizeof(*l));
	int r;

	if (!l)
		return -ENOMEM;
	l->wake_fd = -1;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0)
		goto fail_errno;
	l->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (l->wake_fd < 0)
		goto fail_errno;
	ev_init(&l->wake_ev, on_wake);
	r = loop_add(l, &l->wake_ev, l->wake_fd, EPOLLIN);
	if (r < 0)
		goto fail;
	*ret = l;
	return 0;
fail_errno:
	r = -errno;
fail:
	loop_free(l);
	return r;
}

void loop_free(struct loop *l)
{
	if (!l)
		return;
	safe_close(l->wake_fd);
	safe_close(l->epfd);
	free(l);
}

void ev_init(struct ev *ev, ev_fn fn)
{
	ev->fd = -1;
	ev->events = 0;
	ev->fn = fn;
	ev->deferred = false;
	ev->next_deferred = NULL;
}

int loop_add(struct loop *l, struct ev *ev, int fd, uint32_t events)
{
	struct epoll_event e = { .events = events, .data.ptr = ev };

	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &e) < 0)
		return -errno;
	ev->fd = fd;
	ev->events = events;
	return 0;
}

int loop_mod(struct loop *l, struct ev *ev, uint32_t events)
{
	struct epoll_event e = { .events = events, .data.ptr = ev };

	if (ev->fd < 0)
		return -EBADF;
	if (ev->events == events)
		return 0;
	if (epoll_ctl(l->epfd, EPOLL_CTL_MOD, ev->fd, &e) < 0)
		return -errno;
	ev->events = events;
	return 0;
}

void loop_del(struct loop *l, struct ev *ev)
{
	if (ev->fd >= 0)
		epoll_ctl(l->epfd, EPOLL_CTL_DEL, ev->fd, NULL);
	ev->fd = -1;
	ev->events = 0;
}

void loop_defer(struct loop *l, struct ev *ev)
{
	if (ev->deferred)
		return;
	ev->deferred = true;
	ev->next_deferred = l->deferred;
	l->deferred = ev;
}

void loop_undefer(struct loop *l, struct ev *ev)
{
	for (struct ev **p = &l->deferred; *p; p = &(*p)->next_deferred) {
		if (*p == ev) {
			*p = ev->next_deferred;
			break;
		}
	}
	ev->deferred = false;
	ev->next_deferred = NULL;
}

void loop_set_lock(struct loop *l, pthread_mutex_t *lock)
{
	l->lock = lock;
}

void loop_lock(struct loop *l)
{
	__atomic_add_fetch(&l->waiters, 1, __ATOMIC_ACQ_REL);
	pthread_mutex_lock(l->lock);
	__atomic_sub_fetch(&l->waiters, 1, __ATOMIC_ACQ_REL);
}

void loop_unlock(struct loop *l)
{
	pthread_mutex_unlock(l->lock);
}

void loop_set_poll(struct loop *l, enum loop_poll (*poll)(void *opaque), void *opaque)
{
	l->poll = poll;
	l->poll_opaque = opaque;
}

void loop_wake(struct loop *l)
{
	uint64_t one = 1;

	if (write(l->wake_fd, &one, sizeof(one)) < 0) {
		/* EAGAIN: the counter is full, so a wake-up is pending anyway. */
	}
}

/* Runs callbacks for n ready events, the deferred work and the poll hook. */
static void dispatch(struct loop *l, const struct epoll_event *events, int n)
{
	struct ev *work;

	for (int i = 0; i < n; i++) {
		struct ev *ev = events[i].data.ptr;

		/* An earlier callback in this batch may have unregistered it. */
		if (ev->fd < 0)
			continue;
		ev->fn(ev, events[i].events);
	}
	/* Run what was deferred before this round; work deferred now waits for the next one. */
	work = l->deferred;
	l->deferred = NULL;
	while (work) {
		struct ev *next = work->next_deferred;

		work->deferred = false;
		work->next_deferred = NULL;
		work->fn(work, EV_DEFERRED);
		work = next;
	}
	l->polled = l->poll ? l->poll(l->poll_opaque) : LOOP_POLL_NONE;
}

int loop_run_once(struct loop *l)
{
	struct epoll_event events[LOOP_MAX_EVENTS];
	int n, timeout;

	if (l->polled != LOOP_POLL_NONE && ++l->fd_skips < LOOP_FD_CHECK_EVERY) {
		n = 0; /* pollers run: spare the system call on most turns */
	} else {
		/* The deferred list is read unlocked only as a hint: a wake-up covers the race. */
		timeout = (__atomic_load_n(&l->deferred, __ATOMIC_RELAXED) ||
			   l->polled != LOOP_POLL_NONE)
				  ? 0
				  : -1;
		l->fd_skips = 0;
		n = epoll_wait(l->epfd, events, LOOP_MAX_EVENTS, timeout);
		if (n < 0) {
			if (errno != EINTR)
				return -errno;
			n = 0;
		}
	}
	if (l->lock)
		pthread_mutex_lock(l->lock);
	dispatch(l, events, n);
	__atomic_store_n(&l->turns, l->turns + 1, __ATOMIC_RELEASE);
	if (l->lock) {
		pthread_mutex_unlock(l->lock);
		/* Mutexes are not fair: step aside until a waiting thread got its turn. */
		while (__atomic_load_n(&l->waiters, __ATOMIC_ACQUIRE))
			sched_yield();
	}
	return 0;
}

void loop_quiesce(struct loop *l)
{
	unsigned long t = __atomic_load_n(&l->turns, __ATOMIC_ACQUIRE);

	/* The turn in progress (it may hold events fetched before they were removed) ends; a
	 * woken loop always ends its turn. Bounded by the loop's own progress. */
	loop_wake(l);
	while (__atomic_load_n(&l->turns, __ATOMIC_ACQUIRE) == t)
		sched_yield();
}
