/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Command line of vhostd. Every argument is validated here before anything is created. */
#pragma once

#include <stdbool.h>

#include "daemon/port.h"
#include "util/log.h"

#define CLI_MAX_PORTS 64
#define CLI_MAX_CPUS  256

#define CLI_DEFAULT_CONTROL "/run/vhostd/control.sock"
#define CLI_DEFAULT_CONFIG  "/etc/vhostd/vhostd.conf"

/*
 * What the command line says. Global settings also have a `_set` flag: the configuration file
 * may set those the command line leaves alone (the command line wins).
 */
struct cli {
	struct port_config ports[CLI_MAX_PORTS];
	unsigned nports;
	enum log_level level;
	bool level_set;
	const char *control; /* control socket path; NULL: none (--no-control) */
	bool control_set;
	const char *control_group; /* group allowed on the control socket, or NULL */
	const char *metrics;	   /* ADDR:PORT of the Prometheus listener, or NULL */
	const char *config;	   /* configuration file, or NULL */
	const char *helper;	   /* vhostd-net-helper for tap ports when not root, or NULL */
	int ready_fd;		   /* -1: none */
	unsigned workers;	   /* data-path threads */
	bool workers_set;
	unsigned cpus[CLI_MAX_CPUS];
	unsigned ncpus; /* 0: workers not pinned */
	bool seccomp;	/* seccomp filters on the threads (default); --no-seccomp: none */
	bool seccomp_set;
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

/* Parses a CPU list such as "1,3-5" into cpus[0..max). Returns the count, or -EINVAL. */
int cli_parse_cpus(const char *s, unsigned *cpus, unsigned max);

/* Prints usage to stdout. */
void cli_usage(void);
