/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A process forked before the sandbox that runs programs for the daemon. An unprivileged
 * vhostd under seccomp has no_new_privs (the kernel demands it), which would stop the network
 * helper's file capability or setuid bit: the launcher never has it. It runs only the programs
 * named when it was forked, so a sandboxed process cannot make it run anything else.
 */
#pragma once

#include <stdbool.h>

/*
 * Forks the launcher, which will run only programs[0..n) (absolute paths, copied). Call it
 * before any thread and any filter exists. Returns 0 or a negative errno.
 */
int launcher_start(const char *const *programs, unsigned n);

/* True once launcher_start() succeeded. */
bool launcher_active(void);

/*
 * Has the launcher run argv (argv[0] one of its programs, at most 15 arguments) with fd as its
 * fd 3 and nothing else open beyond stdin, stdout and stderr; it kills the program if it has
 * not exited after timeout_ms. A negative timeout_ms leaves the program running as long as it
 * likes (the launcher reaps it when it ends; launcher_wait() then answers 0 at once). Returns 0
 * once the program runs, or a negative errno (-EPERM: not one of its programs).
 */
int launcher_spawn(char *const *argv, int fd, int timeout_ms);

/* Waits (at most timeout_ms) for the program's end: its exit status, or -1 (signal, killed). */
int launcher_wait(int timeout_ms);
