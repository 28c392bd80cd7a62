/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The control API (doc/control-api.md): one JSON request in, one JSON reply out. The request is
 * untrusted: it is parsed with a depth limit, checked against the operation's table entry
 * (fields, types) before anything runs, and refused with an error object otherwise.
 */
#pragma once

#include <stddef.h>

#include "daemon/daemon.h"

#define API_VERSION 1

/* What the API acts on, and the daemon's own operations it calls back into. */
struct api_ctx {
	struct daemon *d;
	/* Re-reads the configuration file and applies it (daemon_apply_config()). */
	int (*reload)(void *opaque, struct reload_report *rep, struct cfg_err *err);
	void *opaque;
};

/*
 * Answers one request line (len bytes, no newline). Returns the reply as a malloc'ed,
 * NUL-terminated JSON text without newline, or NULL when out of memory.
 */
char *api_handle(struct api_ctx *ctx, const char *line, size_t len);

/* An error reply for a request that never reached the parser (code as in the API doc). */
char *api_error_reply(const char *code, const char *message);
