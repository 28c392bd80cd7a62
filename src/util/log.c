/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "util/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* Read by every thread, written by the control thread (`vhostctl set log-level`). */
static int min_level = LOG_LVL_INFO;
/* stderr is the journal's stream (JOURNAL_STREAM names it): lines carry "<N>" priorities. */
static bool to_journal;

static const char *const level_names[] = {
	[LOG_LVL_DEBUG] = "debug",
	[LOG_LVL_INFO] = "info",
	[LOG_LVL_WARN] = "warn",
	[LOG_LVL_ERROR] = "error",
};

void log_set_level(enum log_level level)
{
	__atomic_store_n(&min_level, (int)level, __ATOMIC_RELAXED);
}

void log_init(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long dev, ino;
	struct stat st;

	/* systemd sets JOURNAL_STREAM=DEV:INODE for the stream it connected stdout/stderr to. */
	to_journal = js && sscanf(js, "%lu:%lu", &dev, &ino) == 2 && fstat(2, &st) == 0 &&
		     st.st_dev == (dev_t)dev && st.st_ino == (ino_t)ino;
}

bool log_to_journal(void)
{
	return to_journal;
}

int log_parse_level(const char *s, enum log_level *ret)
{
	for (unsigned i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*ret = (enum log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int saved = errno;

	static const char prio[] = { [LOG_LVL_DEBUG] = '7',
				     [LOG_LVL_INFO] = '6',
				     [LOG_LVL_WARN] = '4',
				     [LOG_LVL_ERROR] = '3' };

	if ((int)level < __atomic_load_n(&min_level, __ATOMIC_RELAXED))
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* One fprintf per line so lines from a single process never interleave. */
	if (to_journal)
		fprintf(stderr, "<%c>%s: %s\n", prio[level], level_names[level], line);
	else
		fprintf(stderr, "vhostd: %s: %s\n", level_names[level], line);
	errno = saved;
}

bool log_ratelimit_ok(struct ratelimit *rl)
{
	uint64_t now = now_ms();

	if (now - rl->window_start_ms >= rl->interval_ms) {
		if (rl->suppressed)
			log_msg(LOG_LVL_WARN, "%u similar messages suppressed", rl->suppressed);
		rl->window_start_ms = now;
		rl->printed = 0;
		rl->suppressed = 0;
	}
	if (rl->printed < rl->burst) {
		rl->printed++;
		return true;
	}
	rl->suppressed++;
	return false;
}
