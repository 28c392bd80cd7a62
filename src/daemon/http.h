/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The metrics listener (--metrics ADDR:PORT): just enough HTTP/1.x to serve GET /metrics in the
 * Prometheus text format to a scraper. Requests are untrusted and bounded (head size, clients,
 * time); each connection gets one response and is closed.
 */
#pragma once

#include <stddef.h>

struct loop;
struct daemon;
struct http;

#define HTTP_MAX_CLIENTS 16
#define HTTP_HEAD_MAX	 8192
#define HTTP_TIMEOUT_MS	 10000

/*
 * Listens on addr ("127.0.0.1:9417", "[::1]:9417", ":9417" for every address). Returns 0 or a
 * negative errno (-EINVAL for an address it cannot read).
 */
int http_new(struct loop *l, const char *addr, struct daemon *d, struct http **ret);

/* Closes the listener and every connection. NULL is fine. */
void http_free(struct http *h);

enum http_method { HTTP_GET, HTTP_HEAD, HTTP_OTHER };

/*
 * Reads the request line of a complete request head (buf[0..len), ending with an empty line):
 * method, and the path without its query into path[size]. Returns 0, -EAGAIN when the head is
 * not complete yet, or -EINVAL when it is not HTTP/1.x.
 */
int http_parse_head(const char *buf, size_t len, enum http_method *method, char *path, size_t size);
