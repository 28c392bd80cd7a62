/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Port configuration: the one parser of port keys (name=, socket=, backend=, ...) for the
 * command line (--port), the configuration file and the control API, its checks across keys and
 * across ports, and the canonical spelling of a configuration. Nothing is opened or created.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "daemon/port.h"

/* A message for the operator that names the key or value at fault. */
struct cfg_err {
	char msg[512];
};

/* Sets err's message (printf format). Returns -EINVAL, for `return cfg_fail(...)`. */
int cfg_fail(struct cfg_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A port configuration being put together key by key. */
struct portcfg_builder {
	struct port_config c;
	bool have_backend;
	bool have_xdp_queue; /* queue= was given */
	bool in_features;    /* the last key was features=: a "-NAME" token continues it */
};

/* True when back-end b sits on a host device named by dev= (macvtap, packet, xdp). */
bool portcfg_backend_has_dev(enum port_backend b);

/* True when key is a port key (name, socket, backend, ...). */
bool portcfg_is_key(const char *key);

/* Starts a builder with every default set. */
void portcfg_begin(struct portcfg_builder *b);

/*
 * Applies one key: val is its value as text. A repeated key replaces the earlier value, except
 * features=, whose switches add up. Returns 0 or -EINVAL with err set.
 */
int portcfg_set(struct portcfg_builder *b, const char *key, const char *val, struct cfg_err *err);

/* Checks the keys that need each other (name, socket and backend; ifname with tap ...) and
 * stores the result in *ret. Returns 0 or -EINVAL with err set (*ret untouched). */
int portcfg_finish(const struct portcfg_builder *b, struct port_config *ret, struct cfg_err *err);

/*
 * Parses a whole spec ("name=vm0,socket=/run/vm0.sock,backend=tap,ifname=t0,...") into *ret.
 * Returns 0, -EINVAL with err set (*ret untouched), or -ENOMEM.
 */
int portcfg_parse(const char *spec, struct port_config *ret, struct cfg_err *err);

/*
 * Refuses two ports that would share a name, a socket or a tap. Returns 0 or -EEXIST with err
 * set.
 */
int portcfg_conflict(const struct port_config *a, const struct port_config *b, struct cfg_err *err);

/*
 * Checks that a backend=port port and the port it names (NULL when none exists yet) can be
 * cross-connected: peer names a back, with as many queues. Returns 0 or -EINVAL with err set.
 */
int portcfg_check_peer(const struct port_config *a, const struct port_config *peer,
		       struct cfg_err *err);

/* Room for any canonical spec. */
#define PORTCFG_SPEC_MAX 1024

/*
 * Writes the canonical spec of c (every key with its value, in one order; parses back to c)
 * into buf, always terminated. Returns the length it needed (as snprintf).
 */
size_t portcfg_format(const struct port_config *c, char *buf, size_t len);

/* True when a and b configure the same port (worker placement aside). */
bool portcfg_equal(const struct port_config *a, const struct port_config *b);

/* Name of a poll mode / back-end, as the keys spell them. */
const char *poll_mode_name(enum poll_mode m);
const char *port_backend_name(enum port_backend b);

/* The name macvtap_mode= takes for a MACVLAN_MODE_* value ("?" for others). */
const char *port_macvtap_mode_name(uint32_t mode);
