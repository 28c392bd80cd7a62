/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The daemon's ports: where each came from, which workers run it, and the changes the command
 * line, the configuration file (reload) and the control API make to the set while the others
 * keep running. Control thread only.
 */
#pragma once

#include <stdbool.h>

#include "daemon/cli.h"
#include "daemon/config.h"
#include "daemon/port.h"
#include "daemon/portcfg.h"

struct loop;
struct daemon;

enum port_source { PORT_SRC_CLI, PORT_SRC_CONFIG, PORT_SRC_API };

#define DAEMON_MAX_PORTS CLI_MAX_PORTS

/* Creates an empty set of ports whose sockets and timers live on the control loop l. */
int daemon_new(struct loop *l, struct daemon **ret);

/* Removes every port and frees d. NULL is fine. */
void daemon_free(struct daemon *d);

/*
 * Creates a port. Refuses, with err set and nothing changed: a name, socket or tap another port
 * has (-EEXIST), a peer= port that exists and does not name this one back with as many queues
 * (-EINVAL), more than DAEMON_MAX_PORTS ports (-ENOSPC); a back-end or socket that cannot be
 * created gives its errno. A backend=port port whose peer does not exist yet waits unlinked
 * (what it sends is dropped) until the peer comes.
 */
int daemon_port_add(struct daemon *d, const struct port_config *cfg, enum port_source src,
		    struct cfg_err *err);

/* Deletes the port called name (its front-end is disconnected). 0 or -ENOENT. */
int daemon_port_del(struct daemon *d, const char *name);

/* Number of ports, and port i (0 <= i < daemon_nports()) with where it came from. */
unsigned daemon_nports(const struct daemon *d);
struct port *daemon_port(const struct daemon *d, unsigned i, enum port_source *src);

/* Port called name, or NULL; *src (if not NULL) where it came from. */
struct port *daemon_find(const struct daemon *d, const char *name, enum port_source *src);

/* Names of ports, for a reload report. */
struct name_list {
	unsigned n;
	char name[DAEMON_MAX_PORTS][PORT_NAME_MAX];
};

struct reload_report {
	struct name_list added, removed, changed, unchanged;
};

/*
 * Makes the configuration file's ports those of cfg: ports the file no longer has go, changed
 * ones are re-created, new ones are added, unchanged ones are not touched (their counters and
 * front-ends stay). Ports from the command line and the API are never touched. Before anything
 * changes, the new set is checked whole (conflicts with the other ports, peers): on a conflict it
 * returns -EEXIST/-EINVAL with err set and nothing changed. A port that then fails to be
 * created is logged and reported in err (-EIO); the rest of the reload still happens.
 */
int daemon_apply_config(struct daemon *d, const struct config *cfg, struct reload_report *rep,
			struct cfg_err *err);

/* Name of a port source ("cli", "config", "api"). */
const char *port_source_name(enum port_source s);
