/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Control socket. A client is untrusted: lines are bounded, clients are capped, I/O never blocks.
 */
#include "daemon/control.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "util/loop.h"
#include "daemon/port.h"
#include "util/cleanup.h"
#include "util/log.h"

#define CONTROL_MAX_CLIENTS 16
#define CONTROL_LINE_MAX    256
#define CONTROL_REPLY_MAX   (64 * 1024)

struct client {
	struct control *ctl;
	struct ev ev;
	char line[CONTROL_LINE_MAX];
	size_t len;
};

struct control {
	struct loop *loop;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int fd;
	struct ev ev;
	struct port *const *ports;
	unsigned nports;
	struct client *clients[CONTROL_MAX_CLIENTS];
};

size_t control_format_stats(struct port *const *ports, unsigned n, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	for (unsigned i = 0; i < n && off + 1 < len; i++)
		off += port_format_stats(ports[i], buf + off, len - off);
	return off;
}

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
	free(cl);
}

/* Answers one complete command line. */
static void client_answer(struct client *cl, int fd)
{
	struct control *c = cl->ctl;
	_cleanup_free_ char *out = malloc(CONTROL_REPLY_MAX);
	size_t n;

	if (!out)
		return;
	if (strcmp(cl->line, "stats") == 0)
		n = control_format_stats(c->ports, c->nports, out, CONTROL_REPLY_MAX);
	else
		n = (size_t)snprintf(out, CONTROL_REPLY_MAX, "error: unknown command\n");
	/* Non-blocking: a client that does not read gets a short answer, never a stalled daemon. */
	if (send(fd, out, n, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		log_debug("control: reply not sent: %s", strerror(errno));
}

/* Reads a client's command line (bounded); answers once it is complete. */
static void on_client(struct ev *ev, uint32_t events)
{
	struct client *cl = container_of(ev, struct client, ev);
	ssize_t n = recv(ev->fd, cl->line + cl->len, sizeof(cl->line) - 1 - cl->len, MSG_DONTWAIT);
	char *nl;

	if (n < 0 && errno == EAGAIN)
		return;
	if (n <= 0) {
		client_close(cl);
		return;
	}
	cl->len += (size_t)n;
	cl->line[cl->len] = '\0';
	nl = strchr(cl->line, '\n');
	if (!nl && cl->len < sizeof(cl->line) - 1)
		return;
	if (nl)
		*nl = '\0';
	if (nl && nl > cl->line && nl[-1] == '\r')
		nl[-1] = '\0';
	client_answer(cl, ev->fd);
	client_close(cl);
}

/* Accepts a control client, up to CONTROL_MAX_CLIENTS at once. */
static void on_accept(struct ev *ev, uint32_t events)
{
	struct control *c = container_of(ev, struct control, ev);
	_cleanup_close_ int fd = accept4(c->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	struct client *cl;
	unsigned slot;

	if (fd < 0)
		return;
	for (slot = 0; slot < CONTROL_MAX_CLIENTS && c->clients[slot]; slot++)
		;
	if (slot == CONTROL_MAX_CLIENTS) {
		log_warn("control: too many clients, refusing one");
		return;
	}
	cl = calloc(1, sizeof(*cl));
	if (!cl)
		return;
	cl->ctl = c;
	ev_init(&cl->ev, on_client);
	if (loop_add(c->loop, &cl->ev, fd, EPOLLIN) < 0) {
		free(cl);
		return;
	}
	TAKE_FD(fd);
	c->clients[slot] = cl;
}

int control_new(struct loop *l, const char *path, struct port *const *ports, unsigned n,
		struct control **ret)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	_cleanup_close_ int fd = -1;
	struct control *c;
	struct stat st;
	int r;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return -EEXIST;
		unlink(path);
	}
	strcpy(sa.sun_path, path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 8) < 0)
		return -errno;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->loop = l;
	strcpy(c->path, path);
	c->ports = ports;
	c->nports = n;
	ev_init(&c->ev, on_accept);
	r = loop_add(l, &c->ev, fd, EPOLLIN);
	if (r < 0) {
		unlink(path);
		free(c);
		return r;
	}
	c->fd = TAKE_FD(fd);
	*ret = c;
	return 0;
}

void control_free(struct control *c)
{
	if (!c)
		return;
	for (unsigned i = 0; i < CONTROL_MAX_CLIENTS; i++)
		if (c->clients[i])
			client_close(c->clients[i]);
	loop_del(c->loop, &c->ev);
	safe_close(c->fd);
	unlink(c->path);
	free(c);
}
