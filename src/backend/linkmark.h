/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The mark vhostd leaves on a link it created and removes again (a macvtap): the link's alias
 * says which vhostd process made it, "vhostd pid=PID start=TICKS" (TICKS: the process's start
 * time, field 22 of /proc/PID/stat), so that after a crash the next vhostd can tell its
 * predecessor's leftover (that process is gone) from a link a running vhostd uses, and from a
 * link somebody else made (no mark, or a mark that does not parse), which it never touches.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Who made a link: a process, named so that a reused pid is not mistaken for it. */
struct linkmark {
	pid_t pid;
	unsigned long long start;
};

/* The calling process's mark. Returns 0 or a negative errno (/proc unreadable). */
int linkmark_self(struct linkmark *ret);

/* Writes m as an alias into buf (always terminated). Returns the length snprintf needed. */
size_t linkmark_format(const struct linkmark *m, char *buf, size_t len);

/*
 * Parses an alias (len bytes, not necessarily terminated) as a mark. Returns 0 with *ret set,
 * or -EINVAL for anything that is not exactly a mark (*ret untouched).
 */
int linkmark_parse(const char *alias, size_t len, struct linkmark *ret);

/* True while the process m names is running (same pid and same start time). */
bool linkmark_alive(const struct linkmark *m);
