/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vhostctl's side of the control protocol (doc/control-api.md): one connection, one JSON request
 * line at a time, one reply line back, every wait bounded. */
#pragma once

#include <stdbool.h>
#include <json-c/json.h>

#include "util/cleanup.h"

/* A reply line longer than this is refused (it would be a daemon bug or not the daemon). */
#define CLIENT_REPLY_MAX (16u << 20)

struct client;

/* One reply, parsed and checked: ok with a result object, or an error with a code and a message.
 * result, code and message point into root, which the reply owns. */
struct reply {
	json_object *root;
	bool ok;
	json_object *result;
	const char *code;
	const char *message;
};

/* Connects to the control socket at path within timeout_ms. Returns 0 and the client in *ret, or
 * a negative errno (-ENAMETOOLONG, or connect()'s: -ENOENT, -ECONNREFUSED, -EACCES, -EAGAIN when
 * the daemon's backlog stayed full for timeout_ms); *ret is untouched on failure. */
int client_open(const char *path, int timeout_ms, struct client **ret);

/* Closes the connection and frees c (NULL is fine). Returns NULL. */
struct client *client_close(struct client *c);

/* Sends {"id": N, "op": op, "args": args} (args may be NULL; it is not consumed) and waits at most
 * timeout_ms for the reply to it. Returns 0 with *ret filled (ok or not: a daemon error is a
 * reply), or a negative errno, with the reason in client_error():
 *   -ETIMEDOUT     no complete reply in time
 *   -ECONNRESET    the daemon closed the connection before sending a byte of the reply
 *   -EPIPE         the daemon closed the connection before the request was sent
 *   -EBADMSG       the reply is cut short, not JSON, or not shaped as the protocol says
 *   -EPROTO        the reply's id is not the request's
 *   -EMSGSIZE      the reply line is longer than CLIENT_REPLY_MAX
 *   -ENOMEM, or another I/O errno.
 * An error reply whose id is null is taken as the answer (the daemon's refusal of a client it will
 * not serve, sent before it read the request). *ret is untouched on failure. */
int client_call(struct client *c, const char *op, json_object *args, int timeout_ms,
		struct reply *ret);

/* Why the last client_call() failed, in words (empty before any failure). */
const char *client_error(const struct client *c);

/* Releases what a reply holds and zeroes it (a zeroed reply is fine). */
void reply_clear(struct reply *r);

/* Cleanup hook for a json_object pointer variable: drops the reference, if any. */
static inline void json_putp(json_object **p)
{
	if (*p)
		json_object_put(*p);
}

/* Cleanup hook for a struct client pointer variable. */
static inline void client_closep(struct client **c)
{
	*c = client_close(*c);
}

#define _cleanup_json_	 _cleanup_(json_putp)
#define _cleanup_client_ _cleanup_(client_closep)
#define _cleanup_reply_	 _cleanup_(reply_clear)
