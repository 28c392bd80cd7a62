/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The configuration file (vhostd.conf(5)): global settings, then one [port NAME] section per
 * port whose keys are those of --port. The file is untrusted text: it is bounded, checked whole,
 * and either accepted entirely or refused with its name and the line at fault.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "daemon/cli.h"
#include "daemon/portcfg.h"

#define CONFIG_MAX_BYTES (1u << 20)
#define CONFIG_MAX_LINE	 4096

struct config {
	enum log_level level;
	bool level_set;
	char control[sizeof(((struct port_config *)0)->socket)];
	bool control_set;
	char control_group[65];
	char metrics[65];
	char helper[sizeof(((struct port_config *)0)->helper)];
	unsigned workers;
	bool workers_set;
	unsigned cpus[CLI_MAX_CPUS];
	unsigned ncpus;
	bool seccomp; /* `seccomp = yes|no`, meaningful when seccomp_set */
	bool seccomp_set;
	struct port_config ports[CLI_MAX_PORTS];
	unsigned port_line[CLI_MAX_PORTS]; /* where each [port] section starts */
	unsigned nports;
};

/*
 * Parses the len bytes of text (a file called fname, for messages) into *ret. Returns 0, or
 * -EINVAL with err set to "FNAME:LINE: what is wrong" (*ret then undefined), or -ENOMEM.
 */
int config_parse(const char *text, size_t len, const char *fname, struct config *ret,
		 struct cfg_err *err);

/*
 * Reads and parses the file at path (a regular file of at most CONFIG_MAX_BYTES). Returns 0,
 * -ENOENT when it does not exist, or another negative errno with err set.
 */
int config_load(const char *path, struct config *ret, struct cfg_err *err);
