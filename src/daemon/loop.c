/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "daemon/loop.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "util/cleanup.h"

#define LOOP_MAX_EVENTS 64

struct loop {
	int epfd;
	struct ev *deferred;
};

int loop_new(struct loop **ret)
{
	struct loop *l = calloc(1, sizeof(*l));

	if (!l)
		return -ENOMEM;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0) {
		int r = -errno;
		free(l);
		return r;
	}
	*ret = l;
	return 0;
}

void loop_free(struct loop *l)
{
	if (!l)
		return;
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

int loop_run_once(struct loop *l)
{
	struct epoll_event events[LOOP_MAX_EVENTS];
	struct ev *work;
	int n;

	n = epoll_wait(l->epfd, events, LOOP_MAX_EVENTS, l->deferred ? 0 : -1);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
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
	return 0;
}
