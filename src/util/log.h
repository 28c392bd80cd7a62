/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Logging to stderr with levels and per-site rate limiting. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

enum log_level { LOG_LVL_DEBUG, LOG_LVL_INFO, LOG_LVL_WARN, LOG_LVL_ERROR };

/* A token bucket: at most `burst` messages per `interval_ms`. Zero-initialise, then set both. */
struct ratelimit {
	uint32_t interval_ms;
	uint32_t burst;
	uint64_t window_start_ms;
	uint32_t printed;
	uint32_t suppressed;
};

#define RATELIMIT_INIT                                                                             \
	{                                                                                          \
		.interval_ms = 5000, .burst = 5                                                    \
	}

/* Looks whether stderr goes to the journal (then lines carry syslog priorities). */
void log_init(void);
/* True when stderr is the journal stream (lines then start with "<N>"). */
bool log_to_journal(void);
/* Sets the minimum level printed (any thread). */
void log_set_level(enum log_level level);
/* Parses "debug|info|warn|error"; returns 0 and sets *ret, or -EINVAL (ret untouched). */
int log_parse_level(const char *s, enum log_level *ret);
/* Prints one line at `level` if enabled. Never fails. */
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* True when a message guarded by `rl` may be printed now; counts what it suppresses. */
bool log_ratelimit_ok(struct ratelimit *rl);
/* Milliseconds of CLOCK_MONOTONIC. */
uint64_t now_ms(void);

#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)

/* Logs at `level` through the rate limiter `rl` (a struct ratelimit *). */
#define log_rl(rl, level, ...)                                                                     \
	do {                                                                                       \
		if (log_ratelimit_ok(rl))                                                          \
			log_msg(level, __VA_ARGS__);                                               \
	} while (0)
