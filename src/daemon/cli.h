/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Command line of vhostd. Every argument is validated here before anything is created. */
#pragma once

#include <stdbool.h>

#include "daemon/port.h"
#include "util/log.h"

#define CLI_MAX_PORTS 64

struct cli {
	struct port_config ports[CLI_MAX_PORTS];
	unsigned nports;
	enum log_level level;
	const char *control; /* control socket path or NULL */
	int ready_fd;	     /* -1: none */
	bool help;
	bool version;
};

/*
 * Parses argv into *ret. Returns 0, or -EINVAL after printing a message that names the bad
 * argument. Nothing is opened or created.
 */
int cli_parse(int argc, char **argv, struct cli *ret);

/* Parses one --port value ("name=...,socket=...,...") into *ret. Returns 0 or -EINVAL (printed). */
int cli_parse_port(const char *spec, struct port_config *ret);

/* Prints usage to stdout. */
void cli_usage(void);
