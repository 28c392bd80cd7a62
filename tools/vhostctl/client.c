/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The control protocol's client side. What comes back is not trusted to be a well-formed reply:
 * the line is bounded, must parse as one JSON object, must carry our id and the members the
 * protocol names with the types it names; anything else is a protocol error, never a crash. */
#include "client.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

/* The first receive buffer; it doubles up to CLIENT_REPLY_MAX + 1 as long replies need. */
#define CLIENT_BUF_INITIAL (64u << 10)

struct client {
	int fd;
	int64_t next_id;
	char *buf; /* bytes received, not yet consumed: the start of the next reply */
	size_t len, cap;
	char err[200];
};

/* Records why a call failed for client_error() and returns r, so `return fail(c, -E, ...)`. */
__attribute__((format(printf, 3, 4))) static int fail(struct client *c, int r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->err, sizeof(c->err), fmt, ap);
	va_end(ap);
	return r;
}

/* CLOCK_MONOTONIC in milliseconds. */
static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits until fd has one of events or the monotonic deadline (ms) passes. Returns 0 when ready,
 * -ETIMEDOUT, or poll()'s negative errno. A signal that interrupts the wait does not end it. */
static int wait_fd(int fd, short events, int64_t deadline)
{
	for (;;) {
		struct pollfd p = { .fd = fd, .events = events };
		int64_t left = deadline - now_ms();
		int n;

		if (left <= 0)
			return -ETIMEDOUT;
		n = poll(&p, 1, left > INT32_MAX ? INT32_MAX : (int)left);
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return -errno;
	}
}

int client_open(const char *path, int timeout_ms, struct client **ret)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000 };
	_cleanup_close_ int fd = -1;
	struct client *c;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* A blocking connect() to a unix socket waits only while the listener's backlog is full;
	 * the send timeout bounds that wait (it then fails with EAGAIN). */
	if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return errno == EAGAIN || errno == EINTR ? -ETIMEDOUT : -errno;
	if (fcntl(fd, F_SETFL, O_NONBLOCK) < 0)
		return -errno;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->fd = TAKE_FD(fd);
	c->next_id = 1;
	*ret = c;
	return 0;
}

struct client *client_close(struct client *c)
{
	if (!c)
		return NULL;
	safe_close(c->fd);
	free(c->buf);
	free(c);
	return NULL;
}

const char *client_error(const struct client *c)
{
	return c->err;
}

void reply_clear(struct reply *r)
{
	if (r->root)
		json_object_put(r->root);
	*r = (struct reply){ 0 };
}

/* Writes all of data[0..len) before the deadline. Returns 0 or a negative errno (-EPIPE when the
 * daemon has closed the connection). */
static int send_all(struct client *c, const char *data, size_t len, int64_t deadline)
{
	while (len > 0) {
		ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		int r;

		if (n < 0) {
			if (errno == EPIPE || errno == ECONNRESET)
				return fail(c, -EPIPE, "the daemon closed the connection");
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				return fail(c, -errno, "send: %s", strerror(errno));
			r = wait_fd(c->fd, POLLOUT, deadline);
			if (r == -ETIMEDOUT)
				return fail(c, r, "the daemon does not read its socket");
			if (r < 0)
				return fail(c, r, "poll: %s", strerror(-r));
			continue;
		}
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Receives until c->buf holds a whole line. Returns 0 with the line's length (without the newline)
 * in *ret_len, or a negative errno. The line stays in c->buf until the caller consumes it. */
static int recv_line(struct client *c, int64_t deadline, size_t *ret_len)
{
	size_t scanned = 0;

	for (;;) {
		char *nl =
			c->len > scanned ? memchr(c->buf + scanned, '\n', c->len - scanned) : NULL;
		ssize_t n;
		int r;

		if (nl) {
			*ret_len = (size_t)(nl - c->buf);
			return 0;
		}
		scanned = c->len;
		if (c->len > CLIENT_REPLY_MAX)
			return fail(c, -EMSGSIZE, "reply longer than %u MiB",
				    CLIENT_REPLY_MAX >> 20);
		if (c->len == c->cap) {
			size_t cap = c->cap ? MIN(c->cap * 2, (size_t)CLIENT_REPLY_MAX + 1)
					    : CLIENT_BUF_INITIAL;
			char *b = realloc(c->buf, cap);

			if (!b)
				return fail(c, -ENOMEM, "out of memory");
			c->buf = b;
			c->cap = cap;
		}
		n = recv(c->fd, c->buf + c->len, c->cap - c->len, MSG_DONTWAIT);
		if (n > 0) {
			c->len += (size_t)n;
			continue;
		}
		if (n == 0 && c->len == 0)
			return fail(c, -ECONNRESET,
				    "the daemon closed the connection without a reply");
		if (n == 0)
			return fail(c, -EBADMSG, "the daemon closed the connection in mid-reply");
		if (errno == ECONNRESET)
			return fail(c, c->len ? -EBADMSG : -ECONNRESET,
				    "the connection was reset by the daemon");
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return fail(c, -errno, "recv: %s", strerror(errno));
		r = wait_fd(c->fd, POLLIN, deadline);
		if (r == -ETIMEDOUT)
			return fail(c, r, "no reply in time");
		if (r < 0)
			return fail(c, r, "poll: %s", strerror(-r));
	}
}

/* Parses line[0..len) as one JSON object and nothing after it but white space. Returns the object
 * (a new reference) or NULL. */
static json_object *parse_object(const char *line, size_t len)
{
	json_tokener *tok;
	json_object *o;
	size_t end;

	if (len > INT32_MAX)
		return NULL;
	tok = json_tokener_new();
	if (!tok)
		return NULL;
	o = json_tokener_parse_ex(tok, line, (int)len);
	end = json_tokener_get_parse_end(tok);
	if (o && (json_tokener_get_error(tok) != json_tokener_success ||
		  !json_object_is_type(o, json_type_object))) {
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	for (; o && end < len; end++) {
		if (!strchr(" \t\r", line[end])) {
			json_object_put(o);
			o = NULL;
		}
	}
	return o;
}

/* Checks a parsed reply against the protocol and request id; fills *ret (taking root) and returns
 * 0, or returns a negative errno with root dropped. */
static int check_reply(struct client *c, json_object *root, int64_t id, struct reply *ret)
{
	_cleanup_json_ json_object *o = root;
	json_object *jid = NULL, *jok, *v, *err;
	struct reply r = { 0 };
	bool refused;

	if (!json_object_object_get_ex(o, "ok", &jok) ||
	    !json_object_is_type(jok, json_type_boolean))
		return fail(c, -EBADMSG, "reply without a boolean \"ok\"");
	r.ok = json_object_get_boolean(jok);
	json_object_object_get_ex(o, "id", &jid); /* a null id leaves jid NULL */
	/* An error with a null id is the daemon refusing us before it read the request. */
	refused = !jid && !r.ok;
	if (!refused &&
	    (!jid || !json_object_is_type(jid, json_type_int) || json_object_get_int64(jid) != id))
		return fail(c, -EPROTO, "reply id %s, request id %" PRId64,
			    jid ? json_object_to_json_string(jid) : "null", id);
	if (r.ok) {
		if (!json_object_object_get_ex(o, "result", &v) ||
		    !json_object_is_type(v, json_type_object))
			return fail(c, -EBADMSG, "reply without a \"result\" object");
		r.result = v;
	} else {
		if (!json_object_object_get_ex(o, "error", &err) ||
		    !json_object_is_type(err, json_type_object) ||
		    !json_object_object_get_ex(err, "code", &v) ||
		    !json_object_is_type(v, json_type_string))
			return fail(c, -EBADMSG, "error reply without an \"error\" code");
		r.code = json_object_get_string(v);
		r.message = "";
		if (json_object_object_get_ex(err, "message", &v) &&
		    json_object_is_type(v, json_type_string))
			r.message = json_object_get_string(v);
	}
	r.root = TAKE_PTR(o);
	*ret = r;
	return 0;
}

int client_call(struct client *c, const char *op, json_object *args, int timeout_ms,
		struct reply *ret)
{
	int64_t deadline = now_ms() + timeout_ms, id = c->next_id++;
	_cleanup_json_ json_object *req = json_object_new_object();
	_cleanup_free_ char *line = NULL;
	json_object *root;
	const char *s;
	size_t len;
	int r, sent;

	c->err[0] = '\0';
	if (!req || json_object_object_add(req, "id", json_object_new_int64(id)) < 0 ||
	    json_object_object_add(req, "op", json_object_new_string(op)) < 0 ||
	    (args && json_object_object_add(req, "args", json_object_get(args)) < 0))
		return fail(c, -ENOMEM, "out of memory");
	s = json_object_to_json_string_ext(req,
					   JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	if (!s || asprintf(&line, "%s\n", s) < 0)
		return fail(c, -ENOMEM, "out of memory");
	sent = send_all(c, line, strlen(line), deadline);
	if (sent < 0 && sent != -EPIPE)
		return sent;
	/* A daemon that hung up may have said why before it did (a refusal): read that either way.
	 */
	r = recv_line(c, deadline, &len);
	if (r < 0)
		return sent < 0 ? fail(c, sent, "the daemon closed the connection") : r;
	root = parse_object(c->buf, len);
	/* The line is consumed whatever it held; what follows it belongs to the next reply. */
	c->len -= len + 1;
	memmove(c->buf, c->buf + len + 1, c->len);
	if (!root)
		return fail(c, -EBADMSG, "reply is not a JSON object");
	return check_reply(c, root, id, ret);
}
