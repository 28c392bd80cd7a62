/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The libFuzzer entry point every harness defines; replay.c calls it without libFuzzer. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/log.h"
#include "virtq/virtq.h"
#include "virtq/vmem.h"

/* Runs one input through the harness. Returns 0; a bug shows up as a crash or abort(). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * Silences the daemon's log (faults and refusals are what fuzzing produces) unless
 * FUZZ_VERBOSE is set in the environment, which shows every message at debug level.
 */
static inline void fuzz_quiet_logs(void)
{
	log_set_level(getenv("FUZZ_VERBOSE") ? LOG_LVL_DEBUG : (enum log_level)(LOG_LVL_ERROR + 1));
}

/* A property the code under test promised does not hold: crash so the fuzzer keeps the input. */
#define FUZZ_CHECK(cond)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);   \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/* The front-end's address of guest-physical 0 in the packed-ring harnesses. */
#define FUZZ_UVA 0x7f0000000000ull

/*
 * Sets vq up (not mapped) as a packed ring of num entries at guest-physical 0 of mem: the
 * descriptors, then the driver area, then the device area; RING_PACKED and VERSION_1 besides
 * `features`, and call_fd (-1: none).
 */
static inline void fuzz_packed_vq(struct virtq *vq, struct vmem *mem, uint32_t num,
				  uint64_t features, int call_fd)
{
	virtq_init(vq, "fuzz");
	vq->num = num;
	vq->desc_uva = FUZZ_UVA;
	vq->avail_uva = FUZZ_UVA + 16 * num;
	vq->used_uva = FUZZ_UVA + 16 * num + 4;
	vq->mem = mem;
	vq->features = 1ull << VIRTIO_F_RING_PACKED | 1ull << VIRTIO_F_VERSION_1 | features;
	vq->call_fd = call_fd;
}

/* Guest memory of the walker harnesses: copies of the input, each registered as one region. */
struct fuzz_guest {
	struct vmem mem;
	uint8_t *blocks[VMEM_MAX_REGIONS];
	unsigned n;
};

/* Registers a copy of src[0..len) as region [gpa, gpa+len), front-end address gpa + FUZZ_UVA. */
static inline void fuzz_guest_add(struct fuzz_guest *g, uint64_t gpa, const uint8_t *src,
				  size_t len)
{
	uint8_t *b = malloc(len);

	FUZZ_CHECK(b && g->n < VMEM_MAX_REGIONS);
	memcpy(b, src, len);
	FUZZ_CHECK(vmem_add_raw(&g->mem, gpa, len, gpa + FUZZ_UVA, b) == 0);
	g->blocks[g->n++] = b;
}

/*
 * Builds guest memory from image[0..len): [0, ring_end) as one region (the rings), the rest cut
 * into regions of `slice` bytes (0: one region) while region slots last, every other one left
 * unmapped when `holes`, so translations cross region edges and stray reads hit nothing.
 */
static inline void fuzz_guest_build(struct fuzz_guest *g, const uint8_t *image, size_t len,
				    size_t ring_end, uint64_t slice, bool holes)
{
	vmem_init(&g->mem);
	g->n = 0;
	fuzz_guest_add(g, 0, image, ring_end);
	for (uint64_t off = ring_end, i = 0; off < len; i++) {
		uint64_t l = len - off;

		if (slice && l > slice && g->n < VMEM_MAX_REGIONS - 1)
			l = slice;
		if (!holes || i % 2 == 0)
			fuzz_guest_add(g, off, image + off, l);
		off += l;
	}
}

/* Frees the blocks and empties the table. */
static inline void fuzz_guest_free(struct fuzz_guest *g)
{
	for (unsigned i = 0; i < g->n; i++)
		free(g->blocks[i]);
	g->n = 0;
	vmem_init(&g->mem);
}

/* Reads the readable bytes of ch (buffers at bufs) and writes the writable ones, up to *budget
 * bytes in all: ASan sees any iovec that strays outside guest memory. */
static inline void fuzz_touch(const struct virtq_chain *ch, const struct iovec *bufs,
			      size_t *budget)
{
	volatile uint8_t sink = 0;

	for (unsigned i = 0; i < ch->out_iov + ch->in_iov; i++) {
		uint8_t *p = bufs[i].iov_base;
		size_t n = bufs[i].iov_len < *budget ? bufs[i].iov_len : *budget;

		if (i < ch->out_iov) {
			for (size_t k = 0; k < n; k++)
				sink ^= p[k];
		} else {
			memset(p, 0xa5, n);
		}
		*budget -= n;
	}
	(void)sink;
}

/* Empties an eventfd the harness may have had signalled (fd < 0: none). */
static inline void fuzz_drain(int fd)
{
	uint64_t v;

	if (fd >= 0 && read(fd, &v, sizeof(v)) < 0) {
		/* Not signalled: nothing to drain. */
	}
}
