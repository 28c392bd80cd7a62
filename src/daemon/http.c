/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "daemon/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "daemon/limits.h"
#include "daemon/metrics.h"
#include "util/cleanup.h"
#include "util/log.h"
#include "util/loop.h"

struct conn {
	struct http *h;
	struct ev ev;
	char head[HTTP_HEAD_MAX];
	size_t head_len;
	char *out; /* the response: out[out_off..out_len) still to send */
	size_t out_len, out_off;
	uint64_t start_ms;
};

struct http {
	struct loop *loop;
	struct daemon *d;
	int fd, timer_fd;
	struct ev ev, timer_ev;
	struct conn *conns[HTTP_MAX_CLIENTS];
	struct ratelimit rl;
};

int http_parse_head(const char *buf, size_t len, enum http_method *method, char *path, size_t size)
{
	const char *end = NULL, *sp1, *sp2, *eol;
	size_t plen;

	/* The head ends with an empty line; bare LFs are accepted as line ends. */
	for (size_t i = 0; i + 1 < len && !end; i++) {
		if (buf[i] == '\n' && buf[i + 1] == '\n')
			end = buf + i;
		else if (i + 3 < len && memcmp(buf + i, "\r\n\r\n", 4) == 0)
			end = buf + i;
	}
	if (!end)
		return -EAGAIN;
	/* The request line ends at the first newline, which the head's end comes after (or is). */
	eol = memchr(buf, '\n', len);
	if (!eol)
		return -EINVAL;
	if (eol > buf && eol[-1] == '\r')
		eol--;
	sp1 = memchr(buf, ' ', (size_t)(eol - buf));
	if (!sp1)
		return -EINVAL;
	sp2 = memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1));
	if (!sp2 || (size_t)(eol - sp2 - 1) != 8 || memcmp(sp2 + 1, "HTTP/1.", 7) != 0 ||
	    (sp2[8] != '0' && sp2[8] != '1'))
		return -EINVAL;
	if (sp1 - buf == 3 && memcmp(buf, "GET", 3) == 0)
		*method = HTTP_GET;
	else if (sp1 - buf == 4 && memcmp(buf, "HEAD", 4) == 0)
		*method = HTTP_HEAD;
	else
		*method = HTTP_OTHER;
	plen = (size_t)(sp2 - sp1 - 1);
	for (size_t i = 0; i < plen; i++) {
		if (sp1[1 + i] == '?') {
			plen = i;
			break;
		}
	}
	if (plen == 0 || sp1[1] != '/' || plen >= size)
		return -EINVAL;
	for (size_t i = 0; i < plen; i++)
		if ((unsigned char)sp1[1 + i] <= ' ' || (unsigned char)sp1[1 + i] >= 0x7f)
			return -EINVAL;
	memcpy(path, sp1 + 1, plen);
	path[plen] = '\0';
	return 0;
}

/* Frees one connection. */
static void conn_close(struct conn *c)
{
	struct http *h = c->h;
	int fd = c->ev.fd;

	loop_del(h->loop, &c->ev);
	safe_close(fd);
	for (unsigned i = 0; i < HTTP_MAX_CLIENTS; i++)
		if (h->conns[i] == c)
			h->conns[i] = NULL;
	free(c->out);
	free(c);
}

/* Builds the response (status, and a body unless method is HEAD) into c->out. */
static void respond(struct conn *c, enum http_method method, const char *status, const char *type,
		    const char *body)
{
	char *out = NULL;
	int n = asprintf(&out,
			 "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
			 "Connection: close\r\n\r\n%s",
			 status, type, strlen(body), method == HTTP_HEAD ? "" : body);

	if (n < 0)
		return;
	c->out = out;
	c->out_len = (size_t)n;
}

/* Answers a request head that http_parse_head() read as r, m and path. */
static void answer(struct conn *c, int r, enum http_method m, const char *path)
{
	if (r < 0) {
		respond(c, HTTP_GET, "400 Bad Request", "text/plain", "bad request\n");
	} else if (m == HTTP_OTHER) {
		respond(c, HTTP_GET, "405 Method Not Allowed", "text/plain", "GET or HEAD only\n");
	} else if (strcmp(path, "/metrics") == 0) {
		_cleanup_free_ char *text = metrics_prometheus(c->h->d, NULL);

		if (text)
			respond(c, m, "200 OK", "text/plain; version=0.0.4; charset=utf-8", text);
		else
			respond(c, m, "500 Internal Server Error", "text/plain", "out of memory\n");
	} else if (strcmp(path, "/") == 0) {
		respond(c, m, "200 OK", "text/plain", "vhostd: metrics at /metrics\n");
	} else {
		respond(c, m, "404 Not Found", "text/plain", "not found; try /metrics\n");
	}
}

/* Sends what is left of the response; closes the connection once it is out. */
static void send_out(struct conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->ev.fd, c->out + c->out_off, c->out_len - c->out_off,
				 MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0 && errno == EAGAIN) {
			loop_mod(c->h->loop, &c->ev, EPOLLOUT);
			return;
		}
		if (n <= 0)
			break;
		c->out_off += (size_t)n;
	}
	conn_close(c);
}

/* Connection readable (request bytes) or writable (response). */
static void on_conn(struct ev *ev, uint32_t events)
{
	struct conn *c = container_of(ev, struct conn, ev);
	enum http_method m = HTTP_OTHER;
	char path[256];
	ssize_t n;
	int r;

	if (c->out) {
		send_out(c);
		return;
	}
	n = recv(ev->fd, c->head + c->head_len, sizeof(c->head) - c->head_len, MSG_DONTWAIT);
	if (n < 0 && errno == EAGAIN)
		return;
	if (n <= 0) {
		conn_close(c);
		return;
	}
	c->head_len += (size_t)n;
	r = http_parse_head(c->head, c->head_len, &m, path, sizeof(path));
	if (r == -EAGAIN && c->head_len < sizeof(c->head))
		return;
	answer(c, r, m, path);
	if (!c->out) {
		conn_close(c);
		return;
	}
	send_out(c);
}

/* Accepts a scraper, up to HTTP_MAX_CLIENTS at once. */
static void on_accept(struct ev *ev, uint32_t events)
{
	struct http *h = container_of(ev, struct http, ev);
	_cleanup_close_ int fd = accept4(h->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	struct conn *c;
	unsigned slot;

	if (fd < 0)
		return;
	for (slot = 0; slot < HTTP_MAX_CLIENTS && h->conns[slot]; slot++)
		;
	if (slot == HTTP_MAX_CLIENTS) {
		limit_refused(LIMIT_METRICS_CLIENTS);
		log_rl(&h->rl, LOG_LVL_WARN, "metrics: %d connections already, refusing one",
		       HTTP_MAX_CLIENTS);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return;
	c->h = h;
	c->start_ms = now_ms();
	ev_init(&c->ev, on_conn);
	if (loop_add(h->loop, &c->ev, fd, EPOLLIN) < 0) {
		free(c);
		return;
	}
	TAKE_FD(fd);
	h->conns[slot] = c;
}

/* Once a second: a connection gets HTTP_TIMEOUT_MS for its request and response. */
static void on_timer(struct ev *ev, uint32_t events)
{
	struct http *h = container_of(ev, struct http, timer_ev);
	uint64_t v, now = now_ms();

	if (read(h->timer_fd, &v, sizeof(v)) < 0) {
		/* EAGAIN: a spurious wake-up. */
	}
	for (unsigned i = 0; i < HTTP_MAX_CLIENTS; i++)
		if (h->conns[i] && now - h->conns[i]->start_ms > HTTP_TIMEOUT_MS)
			conn_close(h->conns[i]);
}

/* Parses "ADDR:PORT", "[ADDR6]:PORT" or ":PORT" into *ss. 0 or -EINVAL. */
static int parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[64];
	const char *colon = strrchr(s, ':');
	char *end;
	unsigned long port;
	size_t hl;

	if (!colon)
		return -EINVAL;
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (errno || *end || end == colon + 1 || port == 0 || port > 65535)
		return -EINVAL;
	hl = (size_t)(colon - s);
	if (hl >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, hl);
	host[hl] = '\0';
	memset(ss, 0, sizeof(*ss));
	if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;

		host[hl - 1] = '\0';
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, host + 1, &a6->sin6_addr) != 1)
			return -EINVAL;
		*len = sizeof(*a6);
	} else {
		struct sockaddr_in *a4 = (struct sockaddr_in *)ss;

		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)port);
		if (hl == 0)
			a4->sin_addr.s_addr = htonl(INADDR_ANY);
		else if (inet_pton(AF_INET, host, &a4->sin_addr) != 1)
			return -EINVAL;
		*len = sizeof(*a4);
	}
	return 0;
}

int http_new(struct loop *l, const char *addr, struct daemon *d, struct http **ret)
{
	struct itimerspec its = { .it_interval = { 1, 0 }, .it_value = { 1, 0 } };
	struct sockaddr_storage ss;
	socklen_t sl;
	_cleanup_close_ int fd = -1;
	struct http *h;
	int one = 1, r;

	if (parse_addr(addr, &ss, &sl) < 0)
		return -EINVAL;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, 16) < 0)
		return -errno;
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->loop = l;
	h->d = d;
	h->rl = (struct ratelimit)RATELIMIT_INIT;
	ev_init(&h->ev, on_accept);
	ev_init(&h->timer_ev, on_timer);
	h->fd = -1;
	h->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (h->timer_fd < 0 || timerfd_settime(h->timer_fd, 0, &its, NULL) < 0) {
		r = -errno;
		goto fail;
	}
	r = loop_add(l, &h->timer_ev, h->timer_fd, EPOLLIN);
	if (r < 0)
		goto fail;
	r = loop_add(l, &h->ev, fd, EPOLLIN);
	if (r < 0)
		goto fail;
	h->fd = TAKE_FD(fd);
	*ret = h;
	return 0;
fail:
	http_free(h);
	return r;
}

void http_free(struct http *h)
{
	if (!h)
		return;
	for (unsigned i = 0; i < HTTP_MAX_CLIENTS; i++)
		if (h->conns[i])
			conn_close(h->conns[i]);
	loop_del(h->loop, &h->ev);
	loop_del(h->loop, &h->timer_ev);
	safe_close(h->fd);
	safe_close(h->timer_fd);
	free(h);
}
