/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "dataplane/worker.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/uring.h"
#include "net/vnet.h"
#include "util/log.h"
#include "util/loop.h"
#include "util/sandbox.h"

struct worker {
	unsigned index;
	int cpu; /* -1: not pinned */
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t setup_cond;
	struct loop *loop;
	struct poller *pollers;
	bool stop;
	bool started;
	int setup; /* 1 while the thread sets up, then 0 or its negative errno */
};

static struct worker *workers;
static unsigned nworkers;

unsigned workers_count(void)
{
	return nworkers;
}

struct worker *worker_get(unsigned i)
{
	return &workers[i % nworkers];
}

struct loop *worker_loop(struct worker *w)
{
	return w->loop;
}

unsigned worker_index(const struct worker *w)
{
	return w->index;
}

void worker_lock(struct worker *w)
{
	loop_lock(w->loop);
}

void worker_unlock(struct worker *w)
{
	loop_unlock(w->loop);
}

void worker_wake(struct worker *w)
{
	loop_wake(w->loop);
}

void worker_add_poller(struct worker *w, struct poller *p)
{
	p->next = w->pollers;
	w->pollers = p;
}

void worker_remove_poller(struct worker *w, struct poller *p)
{
	for (struct poller **pp = &w->pollers; *pp; pp = &(*pp)->next) {
		if (*pp == p) {
			*pp = p->next;
			p->next = NULL;
			return;
		}
	}
}

/* Loop hook: runs every active poller and tells the loop whether any found work. */
static enum loop_poll worker_poll(void *opaque)
{
	struct worker *w = opaque;
	bool active = false, work = false;

	for (struct poller *p = w->pollers; p; p = p->next) {
		if (!p->active)
			continue;
		work = p->fn(p) || work;
		active = active || p->active;
	}
	if (work)
		return LOOP_POLL_WORK;
	return active ? LOOP_POLL_IDLE : LOOP_POLL_NONE;
}

/* Publishes the thread's set-up result to workers_start(), which waits for it. */
static void setup_done(struct worker *w, int r)
{
	pthread_mutex_lock(&w->lock);
	w->setup = r;
	pthread_cond_signal(&w->setup_cond);
	pthread_mutex_unlock(&w->lock);
}

/*
 * Per-thread set-up before the loop: scratch buffers, the io_uring (made here because the
 * worker's filter does not allow io_uring_setup), then the worker's seccomp filter.
 */
static int worker_setup(struct worker *w)
{
	int r = vnet_thread_init();

	if (r < 0) {
		log_error("worker %u: out of memory", w->index);
		return r;
	}
	uring_thread();
	r = sandbox_apply(SANDBOX_WORKER);
	if (r < 0)
		log_error("worker %u: cannot install its seccomp filter: %s", w->index,
			  strerror(-r));
	return r;
}

/* Thread body: scratch, io_uring, seccomp filter, then the loop until told to stop. */
static void *worker_main(void *arg)
{
	struct worker *w = arg;
	char name[16];
	int r;

	snprintf(name, sizeof(name), "vhostd-w%u", w->index);
	pthread_setname_np(pthread_self(), name);
	r = worker_setup(w);
	setup_done(w, r);
	if (r < 0) {
		vnet_thread_fini();
		uring_thread_fini();
		return NULL;
	}
	while (!__atomic_load_n(&w->stop, __ATOMIC_ACQUIRE)) {
		r = loop_run_once(w->loop);
		if (r < 0) {
			log_error("worker %u: event loop: %s", w->index, strerror(-r));
			break;
		}
	}
	vnet_thread_fini();
	uring_thread_fini();
	return NULL;
}

int workers_start(unsigned n, const unsigned *cpus, unsigned ncpus)
{
	int r;

	if (n == 0 || n > WORKERS_MAX)
		return -EINVAL;
	workers = calloc(n, sizeof(*workers));
	if (!workers)
		return -ENOMEM;
	for (unsigned i = 0; i < n; i++) {
		struct worker *w = &workers[i];

		w->index = i;
		w->cpu = ncpus ? (int)cpus[i % ncpus] : -1;
		pthread_mutex_init(&w->lock, NULL);
		pthread_cond_init(&w->setup_cond, NULL);
		w->setup = 1;
		r = loop_new(&w->loop);
		if (r < 0)
			goto fail;
		loop_set_lock(w->loop, &w->lock);
		loop_set_poll(w->loop, worker_poll, w);
		nworkers = i + 1;
		r = -pthread_create(&w->thread, NULL, worker_main, w);
		if (r < 0)
			goto fail;
		w->started = true;
		pthread_mutex_lock(&w->lock);
		while (w->setup == 1)
			pthread_cond_wait(&w->setup_cond, &w->lock);
		r = w->setup;
		pthread_mutex_unlock(&w->lock);
		if (r < 0)
			goto fail;
		if (w->cpu >= 0) {
			cpu_set_t set;

			CPU_ZERO(&set);
			CPU_SET(w->cpu, &set);
			r = -pthread_setaffinity_np(w->thread, sizeof(set), &set);
			if (r < 0) {
				log_error("worker %u: cannot pin to CPU %d: %s", i, w->cpu,
					  strerror(-r));
				goto fail;
			}
		}
		if (w->cpu >= 0)
			log_info("worker %u started on CPU %d", i, w->cpu);
		else
			log_info("worker %u started", i);
	}
	return 0;
fail:
	workers_stop();
	return r;
}

void workers_stop(void)
{
	for (unsigned i = 0; i < nworkers; i++) {
		struct worker *w = &workers[i];

		if (w->started) {
			__atomic_store_n(&w->stop, true, __ATOMIC_RELEASE);
			loop_wake(w->loop);
			pthread_join(w->thread, NULL);
		}
		loop_free(w->loop);
		pthread_mutex_destroy(&w->lock);
		pthread_cond_destroy(&w->setup_cond);
	}
	free(workers);
	workers = NULL;
	nworkers = 0;
}
