/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The libFuzzer entry point every harness defines; replay.c calls it without libFuzzer. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "util/log.h"

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
