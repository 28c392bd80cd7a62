/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A port: one vhost-user socket, the device behind it, and its back-end. */
#pragma once

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/un.h>

#include "dataplane/qp.h"

struct loop;
struct port;

enum port_backend { PORT_BACKEND_TAP, PORT_BACKEND_NULL, PORT_BACKEND_PORT };

#define PORT_NAME_MAX 32

struct port_config {
	char name[PORT_NAME_MAX];
	char socket[sizeof(((struct sockaddr_un *)0)->sun_path)];
	bool client; /* connect to a listening front-end instead of listening */
	unsigned queues;
	enum port_backend backend;
	char ifname[IFNAMSIZ];	  /* tap */
	unsigned gen;		  /* null: frame size to generate, 0 for none */
	char peer[PORT_NAME_MAX]; /* port: the peer port's name */
	enum poll_mode poll;
	unsigned mtu;	       /* tap: MTU set at port set-up, 0 to leave it */
	uint64_t features_off; /* virtio features never offered on this port (features=) */
	unsigned worker_base;  /* queue pair q runs on worker (worker_base + q) % workers */
};

/*
 * Creates the back-end, then listens on (or starts connecting to) the socket. Returns 0 with
 * *ret set, or a negative errno after logging why.
 */
int port_new(struct loop *l, const struct port_config *cfg, struct port **ret);

/* Disconnects, removes the socket we created, destroys the back-end. NULL is fine. */
void port_free(struct port *p);

/* Writes the port's one-line status and counters (with '\n') into buf; returns its length. */
size_t port_format_stats(struct port *p, char *buf, size_t len);

/* Cross-connects two ports whose back-end is `port`. Returns 0 or -EINVAL. */
int port_link_peers(struct port *a, struct port *b);

/* The port's configuration. */
const struct port_config *port_config(const struct port *p);

/* The port's name. */
const char *port_name(const struct port *p);
