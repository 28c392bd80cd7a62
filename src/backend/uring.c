/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "backend/uring.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "util/log.h"

#define URING_ENTRIES 256

#define TLS_IE __attribute__((tls_model("initial-exec")))

static __thread struct io_uring ring TLS_IE;
static __thread bool ring_ok TLS_IE;
static __thread bool ring_failed TLS_IE;

struct io_uring *uring_thread(void)
{
	int r;

	if (ring_ok)
		return &ring;
	if (ring_failed)
		return NULL;
	/*
	 * Only this thread submits, and it always waits for what it submitted: completion work
	 * can run in that wait instead of being queued as task work (kernel 6.1+; older kernels
	 * refuse the flags and get a plain ring).
	 */
	r = io_uring_queue_init(URING_ENTRIES, &ring,
				IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN);
	if (r == -EINVAL)
		r = io_uring_queue_init(URING_ENTRIES, &ring, 0);
	if (r < 0) {
		/* Seccomp, old kernels, sysctl kernel.io_uring_disabled: fall back to readv/writev.
		 */
		log_warn("io_uring unavailable (%s): one system call per frame", strerror(-r));
		ring_failed = true;
		return NULL;
	}
	ring_ok = true;
	return &ring;
}

void uring_thread_fini(void)
{
	if (ring_ok)
		io_uring_queue_exit(&ring);
	ring_ok = false;
}
