/* SPDX-License-Identifier: GPL-2.0-or-later */
/* One io_uring per data-path thread, so a burst of back-end I/O costs one system call. */
#pragma once

#include <liburing.h>

/* The calling thread's ring, created on first use; NULL if io_uring is unavailable. */
struct io_uring *uring_thread(void);

/* Tears down the calling thread's ring, if any. */
void uring_thread_fini(void);
