/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * seccomp allow-lists (libseccomp): one for the main (control) thread, a stricter one that
 * each data-path worker adds on top of the one it inherited. A call outside the list fails
 * with EPERM and is logged (its name, and which kind of thread made it); it kills nothing.
 */
#pragma once

#include <stdbool.h>

enum sandbox_thread {
	SANDBOX_MAIN,	/* the control thread, and every thread it creates after it */
	SANDBOX_WORKER, /* a data-path worker */
};

/* --no-seccomp / `seccomp = no`: sandbox_apply() then installs nothing. On by default. */
void sandbox_set_enabled(bool on);
bool sandbox_enabled(void);

/*
 * Installs the calling thread's filter for kind (filters stack: a thread keeps those it
 * inherited). The first call also installs the SIGSYS handler that logs denied calls. Sets
 * no_new_privs only when the kernel demands it (no CAP_SYS_ADMIN). Returns 0 (also when
 * disabled) or a negative errno; on failure nothing was installed.
 */
int sandbox_apply(enum sandbox_thread kind);
