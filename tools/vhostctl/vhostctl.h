/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What vhostctl's subcommands share: exit statuses, the command table's entry, an invocation
 * (parsed command line and connection) and the call to the daemon. */
#pragma once

#include <stdbool.h>
#include <json-c/json.h>

/* Exit statuses (documented in --help and vhostctl(8)). */
enum {
	EXIT_OK = 0,	      /* done */
	EXIT_DAEMON = 1,      /* the daemon answered with an error */
	EXIT_USAGE = 2,	      /* bad command line */
	EXIT_UNREACHABLE = 3, /* cannot connect, or no reply in time */
	EXIT_PROTOCOL = 4,    /* the reply broke the protocol, or the daemon hung up */
};

#define CMD_OPTS_MAX 3

/* A subcommand's own long option. */
struct cmd_option {
	const char *name;    /* without "--"; NULL ends the list */
	const char *metavar; /* the value's name in help; every option takes a value */
	const char *help;
};

struct invocation;

/* One entry of the subcommand table. */
struct command {
	const char *name;     /* one or two words: "stats", "port add" */
	const char *synopsis; /* what follows the name in usage: "SPEC", "[PORT]" */
	const char *help;     /* one line */
	const char *details;  /* more text for `vhostctl CMD --help`, or NULL */
	int (*run)(struct invocation *inv);
	int min_args, max_args; /* positional arguments after the name */
	struct cmd_option opts[CMD_OPTS_MAX + 1];
};

/* A parsed command line and what running it holds. */
struct invocation {
	const struct command *cmd;
	char **args; /* cmd's positional arguments */
	int nargs;
	const char *opt[CMD_OPTS_MAX]; /* values of cmd->opts, NULL when not given */
	const char *control;	       /* the control socket's path */
	bool json;		       /* -j: print results as JSON */
	bool pretty;		       /* ... indented (stdout is a terminal) */
	int timeout_ms;
	bool reconnect;	       /* ctl_call() retries once on a new connection if the daemon
				* closed the old one (top: the daemon closes idle clients) */
	struct client *client; /* connected by the first ctl_call() */
};

/* Sends op with args (may be NULL; not consumed) to the daemon, connecting first if need be. On
 * success returns EXIT_OK and a new reference to the result object in *ret_result; otherwise
 * prints why to stderr and returns the exit status that says it (EXIT_DAEMON with
 * "vhostctl: CODE: MESSAGE", EXIT_UNREACHABLE, EXIT_PROTOCOL). */
int ctl_call(struct invocation *inv, const char *op, json_object *args, json_object **ret_result);

/* Prints "vhostctl: " and the message to stderr, then a pointer to the command's --help. Returns
 * EXIT_USAGE. */
__attribute__((format(printf, 2, 3))) int usage_error(const struct invocation *inv, const char *fmt,
						      ...);

/* Prints "vhostctl: protocol error: " and the message to stderr (a result missing what the
 * protocol promises). Returns EXIT_PROTOCOL. */
__attribute__((format(printf, 1, 2))) int protocol_error(const char *fmt, ...);

/* Prints "vhostctl: out of memory" to stderr. Returns EXIT_PROTOCOL (vhostctl's own failure has no
 * status of its own; it is never the daemon's error nor a usage error). */
int out_of_memory(void);

/* Makes the args object {"k1": "v1"} or, when k2 is not NULL, {"k1": "v1", "k2": "v2"}. Returns it
 * (the caller's reference) or NULL when out of memory. */
json_object *make_args(const char *k1, const char *v1, const char *k2, const char *v2);

/* Prints a result as JSON to stdout the way -j asks (indented on a terminal, else one line). */
void print_json(const struct invocation *inv, json_object *o);

/* Runs ctl_call() and, on success, prints the result as JSON. Returns the exit status. */
int ctl_call_print_json(struct invocation *inv, const char *op, json_object *args);

/* The subcommands' handlers; each returns the process's exit status. */
int cmd_port_add(struct invocation *inv);
int cmd_port_del(struct invocation *inv);
int cmd_port_list(struct invocation *inv);
int cmd_port_show(struct invocation *inv);
int cmd_stats(struct invocation *inv);
int cmd_set_log_level(struct invocation *inv);
int cmd_set_poll(struct invocation *inv);
int cmd_reload(struct invocation *inv);
int cmd_version(struct invocation *inv);
int cmd_top(struct invocation *inv);
