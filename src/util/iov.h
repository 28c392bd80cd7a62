/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Scatter-gather helpers: every access to a packet held in iovecs goes through these. */
#pragma once

#include <stddef.h>
#include <sys/uio.h>

/* Total bytes in iov[0..n). */
size_t iov_size(const struct iovec *iov, unsigned n);
/* Copies up to len bytes starting at byte `off` of iov into dst; returns bytes copied. */
size_t iov_to_buf(const struct iovec *iov, unsigned n, size_t off, void *dst, size_t len);
/* Copies up to len bytes from src into iov starting at byte `off`; returns bytes copied. */
size_t iov_from_buf(const struct iovec *iov, unsigned n, size_t off, const void *src, size_t len);
/* Copies up to len bytes from byte soff of src to byte doff of dst; returns bytes copied. */
size_t iov_copy(const struct iovec *dst, unsigned dn, size_t doff, const struct iovec *src,
		unsigned sn, size_t soff, size_t len);

/*
 * Fills out[0..max) with the part of iov after its first `skip` bytes. Returns the number of
 * iovecs written, or -1 when they do not fit in max.
 */
int iov_tail(const struct iovec *iov, unsigned n, size_t skip, struct iovec *out, unsigned max);
