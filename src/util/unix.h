/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unix stream sockets that vhostd listens on. */
#pragma once

#include <stdbool.h>

/*
 * Listens on path (non-blocking, close-on-exec). A socket file already there is replaced, unless
 * keep_live and a process still accepts on it (-EADDRINUSE); any other kind of file is never
 * replaced (-EEXIST). Returns the fd or a negative errno.
 */
int unix_listen(const char *path, int backlog, bool keep_live);
