/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The libFuzzer entry point every harness defines; replay.c calls it without libFuzzer. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "util/log.h"
#include "virtq/virtq.h"

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
