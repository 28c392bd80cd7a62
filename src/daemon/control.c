/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "daemon/control.h"

#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "daemon/limits.h"
#include "util/cleanup.h"
#include "util/log.h"
#include "util/loop.h"
#include "util/unix.h"

#ifndef SO_PEERGROUPS
#define SO_PEERGROUPS 59
#endif

struct client {
	struct control *ctl;
	struct ev ev;
	char *in; /* CONTROL_LINE_MAX bytes */
	size_t in_len;
	char *out; /* replies not sent yet: out[out_off..out_len) */
	size_t out_len, out_off, out_cap;
	uint64_t active_ms;   /* when it last completed a request (or connected) */
	uint64_t progress_ms; /* when its pending replies last got out (or began to wait) */
	bool closing;	      /* close once the replies are out */
	uid_t uid;
};

struct control {
	struct loop *loop;
	char path[108];
	int fd, timer_fd;
	gid_t gid;
	struct ev ev, timer_ev;
	struct api_ctx *api;
	struct client *clients[CONTROL_MAX_CLIENTS];
	struct ratelimit rl;
};

/* Unregisters, closes and frees one client. */
static void client_close(struct client *cl)
{
	struct control *c = cl->ctl;
	int fd = cl->ev.fd;

	loop_del(c->loop, &cl->ev);
	safe_close(fd);
	for (unsigned i = 0; i < CONTROL_MAX_CLIENTS; i++)
		if (c->clients[i] == cl)
			c->clients[i] = NULL;
	free(cl->in);
	free(cl->out);
	free(cl);
}

/*
 * Queues reply and a newline for the client (taking reply). A client that lets more than
 * CONTROL_PENDING_MAX bytes pile up is not reading: it is marked for closing and false returned.
 */
static bool client_queue(struct client *cl, char *reply)
{
	_cleanup_free_ char *r = reply;
	size_t n = r ? strlen(r) : 0;

	if (!r)
		return false;
	if (cl->out_len - cl->out_off + n + 1 > CONTROL_PENDING_MAX) {
		limit_refused(LIMIT_CONTROL_PENDING);
		log_rl(&cl->ctl->rl, LOG_LVL_WARN,
		       "control: client (uid %u) does not read its replies: dropped",
		       (unsigned)cl->uid);
		return false;
	}
	if (cl->out_off == cl->out_len) {
		cl->out_off = cl->out_len = 0;
		cl->progress_ms = now_ms();
	}
	if (cl->out_len + n + 1 > cl->out_cap) {
		size_t cap = cl->out_len + n + 1 + 4096;
		char *nb = realloc(cl->out, cap);

		if (!nb)
			return false;
		cl->out = nb;
		cl->out_cap = cap;
	}
	memcpy(cl->out + cl->out_len, r, n);
	cl->out[cl->out_len + n] = '\n';
	cl->out_len += n + 1;
	return true;
}

/*
 * Sends what is queued without blocking and watches for writability while something is left.
 * Returns false when the client is gone (closed here).
 */
static bool client_flush(struct client *cl)
{
	while (cl->out_off < cl->out_len) {
		ssize_t n = send(cl->ev.fd, cl->out + cl->out_off, cl->out_len - cl->out_off,
				 MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0) {
			client_close(cl);
			return false;
		}
		cl->out_off += (size_t)n;
		cl->progress_ms = now_ms();
	}
	if (cl->out_off == cl->out_len && cl->closing) {
		client_close(cl);
		return false;
	}
	/* While replies wait, stop reading requests: the client must read first. */
	loop_mod(cl->ctl->loop, &cl->ev, cl->out_off < cl->out_len ? EPOLLOUT : EPOLLIN);
	return true;
}

/* Answers every complete line in the input buffer. False when the client must go. */
static bool client_lines(struct client *cl)
{
	size_t start = 0;
	char *nl;

	while ((nl = memchr(cl->in + start, '\n', cl->in_len - start))) {
		size_t len = (size_t)(nl - (cl->in + start));

		cl->active_ms = now_ms();
		if (!client_queue(cl, api_handle(cl->ctl->api, cl->in + start, len)))
			return false;
		start += len + 1;
	}
	memmove(cl->in, cl->in + start, cl->in_len - start);
	cl->in_len -= start;
	if (cl->in_len == CONTROL_LINE_MAX) {
		limit_refused(LIMIT_CONTROL_LINE);
		/* A line this long is no request of ours: say so and hang up. */
		cl->closing = true;
		return client_queue(
			cl, api_error_reply("too-large", "request line longer than 65536 bytes"));
	}
	return true;
}

/* Client readable or writable. */
static void on_client(struct ev *ev, uint32_t events)
{
	struct client *cl = container_of(ev, struct client, ev);
	ssize_t n;

	if (events & EPOLLOUT) {
		client_flush(cl);
		return;
	}
	n = recv(ev->fd, cl->in + cl->in_len, CONTROL_LINE_MAX - cl->in_len, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		client_close(cl);
		return;
	}
	cl->in_len += (size_t)n;
	if (!client_lines(cl)) {
		client_close(cl);
		return;
	}
	client_flush(cl);
}

/* True when the peer may use the control API: root, our own user, or a member of c->gid. */
static bool peer_allowed(const struct control *c, int fd, uid_t *ret_uid)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	gid_t groups[256];

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return false;
	*ret_uid = cred.uid;
	if (cred.uid == 0 || cred.uid == geteuid())
		return true;
	if (c->gid == (gid_t)-1)
		return false;
	if (cred.gid == c->gid)
		return true;
	len = sizeof(groups);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) < 0)
		return false;
	for (size_t i = 0; i < len / sizeof(groups[0]); i++)
		if (groups[i] == c->gid)
			return true;
	return false;
}

/* Accepts a client, up to CONTROL_MAX_CLIENTS at once. */
static void on_accept(struct ev *ev, uint32_t events)
{
	struct control *c = container_of(ev, struct control, ev);
	_cleanup_close_ int fd = accept4(c->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	struct client *cl;
	unsigned slot;
	bool allowed;

	if (fd < 0)
		return;
	for (slot = 0; slot < CONTROL_MAX_CLIENTS && c->clients[slot]; slot++)
		;
	if (slot == CONTROL_MAX_CLIENTS) {
		limit_refused(LIMIT_CONTROL_CLIENTS);
		log_rl(&c->rl, LOG_LVL_WARN, "control: %d clients already, refusing one",
		       CONTROL_MAX_CLIENTS);
		return;
	}
	cl = calloc(1, sizeof(*cl));
	if (!cl)
		return;
	cl->in = malloc(CONTROL_LINE_MAX);
	if (!cl->in) {
		free(cl);
		return;
	}
	cl->ctl = c;
	cl->uid = (uid_t)-1;
	cl->active_ms = now_ms();
	ev_init(&cl->ev, on_client);
	allowed = peer_allowed(c, fd, &cl->uid);
	if (loop_add(c->loop, &cl->ev, fd, EPOLLIN) < 0) {
		free(cl->in);
		free(cl);
		return;
	}
	TAKE_FD(fd);
	c->clients[slot] = cl;
	if (!allowed) {
		char msg[128];

		log_rl(&c->rl, LOG_LVL_WARN, "control: uid %u is not allowed: refused",
		       (unsigned)cl->uid);
		snprintf(msg, sizeof(msg), "uid %u may not use this control socket",
			 (unsigned)cl->uid);
		cl->closing = true;
		if (client_queue(cl, api_error_reply("permission-denied", msg)))
			client_flush(cl);
		else
			client_close(cl);
	}
}

/*
 * Once a second: drops clients that sent no complete request for CONTROL_IDLE_MS, and those
 * whose replies have not moved for CONTROL_STALL_MS (they do not read).
 */
static void on_timer(struct ev *ev, uint32_t events)
{
	struct control *c = container_of(ev, struct control, timer_ev);
	uint64_t v, now = now_ms();

	if (read(c->timer_fd, &v, sizeof(v)) < 0) {
		/* EAGAIN: a spurious wake-up. */
	}
	for (unsigned i = 0; i < CONTROL_MAX_CLIENTS; i++) {
		struct client *cl = c->clients[i];

		if (!cl)
			continue;
		if (cl->out_off < cl->out_len && now - cl->progress_ms > CONTROL_STALL_MS) {
			log_rl(&c->rl, LOG_LVL_WARN,
			       "control: client (uid %u) does not read its replies: dropped",
			       (unsigned)cl->uid);
			client_close(cl);
		} else if (now - cl->active_ms > CONTROL_IDLE_MS) {
			log_rl(&c->rl, LOG_LVL_INFO, "control: idle client (uid %u) dropped",
			       (unsigned)cl->uid);
			client_close(cl);
		}
	}
}

/* Creates the socket's directory if it is missing (one level, mode 0755). */
static void make_dir(const char *path)
{
	char copy[sizeof(((struct control *)0)->path)];

	snprintf(copy, sizeof(copy), "%s", path);
	if (mkdir(dirname(copy), 0755) < 0 && errno != EEXIST)
		log_debug("control: mkdir for %s: %s", path, strerror(errno));
}

int control_new(struct loop *l, const char *path, gid_t gid, struct api_ctx *ctx,
		struct control **ret)
{
	struct itimerspec its = { .it_interval = { 1, 0 }, .it_value = { 1, 0 } };
	struct control *c;
	int fd, r;

	if (strlen(path) >= sizeof(c->path))
		return -ENAMETOOLONG;
	make_dir(path);
	fd = unix_listen(path, 16, true);
	if (fd < 0)
		return fd;
	/* Who may connect is decided by credentials at accept; the mode only keeps others off. */
	if (chmod(path, 0660) < 0 || (gid != (gid_t)-1 && chown(path, (uid_t)-1, gid) < 0)) {
		r = -errno;
		goto fail_fd;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		r = -ENOMEM;
		goto fail_fd;
	}
	c->loop = l;
	c->fd = fd;
	c->gid = gid;
	c->api = ctx;
	c->rl = (struct ratelimit)RATELIMIT_INIT;
	strcpy(c->path, path);
	ev_init(&c->ev, on_accept);
	ev_init(&c->timer_ev, on_timer);
	c->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (c->timer_fd < 0 || timerfd_settime(c->timer_fd, 0, &its, NULL) < 0) {
		r = -errno;
		goto fail;
	}
	r = loop_add(l, &c->timer_ev, c->timer_fd, EPOLLIN);
	if (r < 0)
		goto fail;
	r = loop_add(l, &c->ev, fd, EPOLLIN);
	if (r < 0)
		goto fail;
	*ret = c;
	return 0;
fail:
	loop_del(l, &c->timer_ev);
	safe_close(c->timer_fd);
	free(c);
fail_fd:
	close(fd);
	unlink(path);
	return r;
}

void control_free(struct control *c)
{
	if (!c)
		return;
	for (unsigned i = 0; i < CONTROL_MAX_CLIENTS; i++)
		if (c->clients[i])
			client_close(c->clients[i]);
	loop_del(c->loop, &c->ev);
	loop_del(c->loop, &c->timer_ev);
	safe_close(c->fd);
	safe_close(c->timer_fd);
	unlink(c->path);
	free(c);
}
