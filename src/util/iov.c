/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "util/iov.h"

#include <stdbool.h>
#include <string.h>

#include "util/cleanup.h"

size_t iov_size(const struct iovec *iov, unsigned n)
{
	size_t total = 0;

	for (unsigned i = 0; i < n; i++)
		total += iov[i].iov_len;
	return total;
}

/* Copies up to len bytes between buf and iov starting at byte `off` of iov, either way. */
static size_t iov_xfer(const struct iovec *iov, unsigned n, size_t off, char *buf, size_t len,
		       bool into_iov)
{
	size_t done = 0;

	for (unsigned i = 0; i < n && done < len; i++) {
		if (off >= iov[i].iov_len) {
			off -= iov[i].iov_len;
			continue;
		}
		size_t chunk = MIN(iov[i].iov_len - off, len - done);
		char *p = (char *)iov[i].iov_base + off;

		if (into_iov)
			memcpy(p, buf + done, chunk);
		else
			memcpy(buf + done, p, chunk);
		done += chunk;
		off = 0;
	}
	return done;
}

size_t iov_to_buf(const struct iovec *iov, unsigned n, size_t off, void *dst, size_t len)
{
	return iov_xfer(iov, n, off, dst, len, false);
}

size_t iov_from_buf(const struct iovec *iov, unsigned n, size_t off, const void *src, size_t len)
{
	/* iov_xfer only reads buf when copying into the iovecs. */
	return iov_xfer(iov, n, off, (char *)src, len, true);
}

int iov_tail(const struct iovec *iov, unsigned n, size_t skip, struct iovec *out, unsigned max)
{
	unsigned k = 0;

	for (unsigned i = 0; i < n; i++) {
		if (skip >= iov[i].iov_len) {
			skip -= iov[i].iov_len;
			continue;
		}
		if (k >= max)
			return -1;
		out[k].iov_base = (char *)iov[i].iov_base + skip;
		out[k].iov_len = iov[i].iov_len - skip;
		skip = 0;
		k++;
	}
	return (int)k;
}

/* Finds the segment holding byte *off of iov; leaves *off relative to it. Returns its index. */
static unsigned iov_seek(const struct iovec *iov, unsigned n, size_t *off)
{
	unsigned i = 0;

	while (i < n && *off >= iov[i].iov_len)
		*off -= iov[i++].iov_len;
	return i;
}

size_t iov_copy(const struct iovec *dst, unsigned dn, size_t doff, const struct iovec *src,
		unsigned sn, size_t soff, size_t len)
{
	unsigned di = iov_seek(dst, dn, &doff), si = iov_seek(src, sn, &soff);
	size_t done = 0;

	while (done < len && di < dn && si < sn) {
		size_t chunk = MIN(dst[di].iov_len - doff, src[si].iov_len - soff);

		chunk = MIN(chunk, len - done);
		memmove((char *)dst[di].iov_base + doff, (char *)src[si].iov_base + soff, chunk);
		done += chunk;
		doff += chunk;
		soff += chunk;
		if (doff == dst[di].iov_len) {
			di++;
			doff = 0;
		}
		if (soff == src[si].iov_len) {
			si++;
			soff = 0;
		}
	}
	return done;
}
