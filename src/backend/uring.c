/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "backend/uring.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "util/log.h"

#define URING_ENTRIES 256

#define TLS_IE __attribute__((tls_model("initial-exec")))

static __thread struct io_uring ring TLS_IE;
static __thread bool ring_ok TLS_IE;
static __thread bool ring_failed TLS_IE;

/*
 * Restricts the ring to what the data path submits, then starts it: vectored reads and writes,
 * no SQE flags, no later registration. A worker's seccomp filter never sees what io_uring does
 * for it, so without this a hijacked worker could open files or sockets through its ring.
 * 0 or -errno.
 */
static int restrict_ring(struct io_uring *r)
{
	struct io_uring_restriction res[2];
	int e;

	memset(res, 0, sizeof(res));
	res[0].opcode = IORING_RESTRICTION_SQE_OP;
	res[0].sqe_op = IORING_OP_READV;
	res[1].opcode = IORING_RESTRICTION_SQE_OP;
	res[1].sqe_op = IORING_OP_WRITEV;
	/* Raw calls: Debian 12's liburing 2.3 declares its wrappers but does not export them. */
	e = (int)syscall(__NR_io_uring_register, r->ring_fd, IORING_REGISTER_RESTRICTIONS, res, 2);
	if (e == 0)
		e = (int)syscall(__NR_io_uring_register, r->ring_fd, IORING_REGISTER_ENABLE_RINGS,
				 NULL, 0);
	return e < 0 ? -errno : 0;
}

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
	 * refuse the flags and get a plain ring). It starts disabled until restricted.
	 */
	r = io_uring_queue_init(URING_ENTRIES, &ring,
				IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
					IORING_SETUP_R_DISABLED);
	if (r == -EINVAL)
		r = io_uring_queue_init(URING_ENTRIES, &ring, IORING_SETUP_R_DISABLED);
	if (r == 0) {
		r = restrict_ring(&ring);
		if (r < 0)
			io_uring_queue_exit(&ring);
	}
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
