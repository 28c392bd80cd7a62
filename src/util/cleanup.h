/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Scope-bound cleanup helpers: the one cleanup discipline for new code. */
#pragma once

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))

/* Closes fd if it is valid and returns -1, so `fd = safe_close(fd)` resets it. Keeps errno. */
static inline int safe_close(int fd)
{
	if (fd >= 0) {
		int saved = errno;
		close(fd);
		errno = saved;
	}
	return -1;
}

/* Cleanup hook for an int fd variable; a negative fd (including -1) is left alone. */
static inline void closep(int *fd)
{
	*fd = safe_close(*fd);
}

/* Cleanup hook for any heap pointer variable. */
static inline void freep(void *p)
{
	free(*(void **)p);
}

/* Closes every valid fd in fds[0..n) and marks each -1. */
static inline void close_fds(int *fds, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		fds[i] = safe_close(fds[i]);
}

#define _cleanup_close_ _cleanup_(closep)
#define _cleanup_free_	_cleanup_(freep)

/* Returns the fd and leaves -1 behind, handing ownership out of a _cleanup_close_ variable. */
#define TAKE_FD(fd)                                                                                \
	({                                                                                         \
		int _fd_ = (fd);                                                                   \
		(fd) = -1;                                                                         \
		_fd_;                                                                              \
	})

/* Returns the pointer and leaves NULL behind, handing ownership out of a _cleanup_ variable. */
#define TAKE_PTR(p)                                                                                \
	({                                                                                         \
		typeof(p) _p_ = (p);                                                               \
		(p) = NULL;                                                                        \
		_p_;                                                                               \
	})

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MIN(a, b)     ((a) < (b) ? (a) : (b))
#define MAX(a, b)     ((a) > (b) ? (a) : (b))

/* The struct that embeds `member` at ptr. */
#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))
