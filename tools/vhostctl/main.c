/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vhostctl: the operator's client of vhostd's control socket. This file holds the table of
 * subcommands, the command line, help and the call to the daemon; each subcommand lives in its
 * own file and only sees a parsed struct invocation. */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "client.h"
#include "util/cleanup.h"
#include "vhostctl.h"

#ifndef VHOSTD_VERSION
#define VHOSTD_VERSION "unknown"
#endif

#define DEFAULT_CONTROL	  "/run/vhostd/control.sock"
#define DEFAULT_TIMEOUT_S 5
#define MAX_TIMEOUT_S	  3600

/* What option parsing returns after printing help or the version: stop, exit 0. */
#define DONE (-1)

static int cmd_help(struct invocation *inv);

/* Every subcommand. Names of two words form groups ("port", "set"): the first word alone lists
 * the group. help is one line; details, when there, is printed by `vhostctl CMD --help`. */
static const struct command commands[] = {
	{
		.name = "port add",
		.synopsis = "SPEC",
		.help = "add a port; SPEC is what vhostd --port takes",
		.details =
			"SPEC is a comma-separated KEY=VALUE list with exactly the keys of\n"
			"vhostd --port: name, socket, backend, ifname, mode, queues, poll, mtu,\n"
			"gen, peer and features (features=-NAME,-NAME... takes every following\n"
			"token that starts with '-'), e.g.\n"
			"  name=vm0,socket=/run/vm0.sock,backend=tap,ifname=tap0,features=-packed\n"
			"Prints the new port as `port show` does.",
		.run = cmd_port_add,
		.min_args = 1,
		.max_args = 1,
	},
	{
		.name = "port del",
		.synopsis = "NAME",
		.help = "remove a port (its front-end is disconnected)",
		.run = cmd_port_del,
		.min_args = 1,
		.max_args = 1,
	},
	{
		.name = "port list",
		.synopsis = "",
		.help = "list the ports, one line each",
		.run = cmd_port_list,
	},
	{
		.name = "port show",
		.synopsis = "NAME",
		.help = "a port's settings, features and rings",
		.run = cmd_port_show,
		.min_args = 1,
		.max_args = 1,
	},
	{
		.name = "stats",
		.synopsis = "[PORT] [--format=FMT]",
		.help = "counters of every port, or of PORT",
		.details =
			"table: per port, a row per queue pair and the total (human units; exact\n"
			"values with -j or --format=kv); json: the daemon's result; kv: one line\n"
			"per port, port=NAME state=STATE key=value ... (totals), as the daemon\n"
			"writes it; prometheus: the text exposition format, as the daemon writes "
			"it.",
		.run = cmd_stats,
		.max_args = 1,
		.opts = { { "format", "FMT", "table (default), json, kv or prometheus" } },
	},
	{
		.name = "set log-level",
		.synopsis = "LEVEL",
		.help = "the daemon's log level: debug, info, warn or error",
		.run = cmd_set_log_level,
		.min_args = 1,
		.max_args = 1,
	},
	{
		.name = "set poll",
		.synopsis = "PORT MODE",
		.help = "a port's poll mode: event, busy or adaptive",
		.run = cmd_set_poll,
		.min_args = 2,
		.max_args = 2,
	},
	{
		.name = "reload",
		.synopsis = "",
		.help = "re-read the configuration file; print what changed",
		.run = cmd_reload,
	},
	{
		.name = "version",
		.synopsis = "",
		.help = "vhostctl's version and the daemon's (and its API)",
		.run = cmd_version,
	},
	{
		.name = "top",
		.synopsis = "[--interval=SECONDS] [--count=N]",
		.help = "live per-port packet and bit rates",
		.details =
			"One row per port: state, receive and transmit rates in packets and bits\n"
			"per second, and the frames dropped and rings faulted during the interval\n"
			"(rx: what the guest received, tx: what it sent). Rates need two samples:\n"
			"the first frame shows '-', as does a port that appeared (or was\n"
			"re-created) since the last one. One connection is kept open. On a\n"
			"terminal the screen is redrawn and q or Ctrl-C quits; otherwise frames\n"
			"follow one another, separated by a blank line. With -j each refresh is\n"
			"one line of JSON.",
		.run = cmd_top,
		.opts = { { "interval", "SECONDS",
			    "time between refreshes (default 1; 0.1 to 3600)" },
			  { "count", "N", "stop after N refreshes (default: until q or Ctrl-C)" } },
	},
	{
		.name = "help",
		.synopsis = "[COMMAND]",
		.help = "help on vhostctl, or on one command",
		.run = cmd_help,
		.max_args = 2,
	},
};

#define EXIT_HELP                                                                                  \
	"Exit status: 0 success; 1 the daemon answered with an error; 2 usage error;\n"            \
	"3 cannot reach the daemon (connect failed, no reply in time); 4 protocol error\n"         \
	"(reply not JSON, wrong id, connection closed early). See vhostctl(8).\n"

static const char global_help[] =
	"Options (before or after the command):\n"
	"  --control PATH     the daemon's control socket (default: $VHOSTD_CONTROL,\n"
	"                     else " DEFAULT_CONTROL ")\n"
	"  -j, --json         print the daemon's result as JSON: indented on a terminal,\n"
	"                     one line otherwise\n"
	"  --timeout SECONDS  wait at most SECONDS for the daemon (default 5)\n"
	"  -h, --help         this help; `vhostctl COMMAND --help` for one command\n"
	"  --version          print vhostctl's version\n"
	"\n" EXIT_HELP;

/* Options every command takes; values above 255 are the long-only ones. */
enum { OPT_CONTROL = 256, OPT_TIMEOUT, OPT_VERSION, OPT_CMD };

static const struct option global_opts[] = {
	{ "control", required_argument, NULL, OPT_CONTROL }, { "json", no_argument, NULL, 'j' },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT }, { "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, OPT_VERSION },
};

/* Number of words in a command's name (1 or 2). */
static int name_words(const struct command *c)
{
	return strchr(c->name, ' ') ? 2 : 1;
}

/* True if the first word of c's name is word. */
static bool first_word_is(const struct command *c, const char *word)
{
	size_t n = strcspn(c->name, " ");

	return strlen(word) == n && strncmp(c->name, word, n) == 0;
}

/* The command named by words[0..nwords) (its first one or two), or NULL. */
static const struct command *find_command(char **words, int nwords)
{
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
		const struct command *c = &commands[i];

		if (!first_word_is(c, words[0]))
			continue;
		if (name_words(c) == 1)
			return c;
		if (nwords >= 2 && strcmp(strchr(c->name, ' ') + 1, words[1]) == 0)
			return c;
	}
	return NULL;
}

/* True if word is the first word of a group of two-word commands ("port", "set"). */
static bool is_group(const char *word)
{
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		if (name_words(&commands[i]) == 2 && first_word_is(&commands[i], word))
			return true;
	return false;
}

/* Prints the commands whose first word is group (every command for NULL): name and synopsis,
 * then the help line at column 26 (or on a line of its own below a long synopsis). */
static void list_commands(FILE *f, const char *group)
{
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
		const struct command *c = &commands[i];
		char head[128];

		if (group && !first_word_is(c, group))
			continue;
		snprintf(head, sizeof(head), "%s%s%s", c->name, *c->synopsis ? " " : "",
			 c->synopsis);
		if (strlen(head) <= 22)
			fprintf(f, "  %-22s  %s\n", head, c->help);
		else
			fprintf(f, "  %s\n  %-22s  %s\n", head, "", c->help);
	}
}

/* Prints vhostctl's general help to f. */
static void usage(FILE *f)
{
	fprintf(f, "Usage: vhostctl [OPTIONS] COMMAND [ARGS...]\n"
		   "Controls a running vhostd through its control socket.\n\n"
		   "Commands:\n");
	list_commands(f, NULL);
	fprintf(f, "\n%s", global_help);
}

/* Prints one command's help to f. */
static void command_usage(FILE *f, const struct command *c)
{
	fprintf(f, "Usage: vhostctl [OPTIONS] %s%s%s\n%c%s.\n", c->name, *c->synopsis ? " " : "",
		c->synopsis, toupper((unsigned char)c->help[0]), c->help + 1);
	if (c->details)
		fprintf(f, "\n%s\n", c->details);
	if (c->opts[0].name) {
		fprintf(f, "\nOptions:\n");
		for (const struct cmd_option *o = c->opts; o->name; o++) {
			char head[64];

			snprintf(head, sizeof(head), "--%s=%s", o->name, o->metavar);
			fprintf(f, "  %-20s %s\n", head, o->help);
		}
	}
	fprintf(f, "\nGlobal options: --control PATH, -j/--json, --timeout SECONDS (vhostctl "
		   "--help).\n"
		   "\n" EXIT_HELP);
}

/* Prints a group's commands (`vhostctl port`). */
static void group_usage(FILE *f, const char *group)
{
	fprintf(f, "Usage: vhostctl [OPTIONS] %s COMMAND [ARGS...]\nCommands:\n", group);
	list_commands(f, group);
	fprintf(f, "\nSee `vhostctl --help` for the options.\n");
}

/* Points to the help of inv's command (or the general help). Returns EXIT_USAGE. */
static int try_help(const struct invocation *inv)
{
	if (inv && inv->cmd)
		fprintf(stderr, "Try 'vhostctl %s --help'.\n", inv->cmd->name);
	else
		fputs("Try 'vhostctl --help'.\n", stderr);
	return EXIT_USAGE;
}

int usage_error(const struct invocation *inv, const char *fmt, ...)
{
	va_list ap;

	fputs("vhostctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return try_help(inv);
}

int protocol_error(const char *fmt, ...)
{
	va_list ap;

	fputs("vhostctl: protocol error: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return EXIT_PROTOCOL;
}

int out_of_memory(void)
{
	fputs("vhostctl: out of memory\n", stderr);
	return EXIT_PROTOCOL;
}

json_object *make_args(const char *k1, const char *v1, const char *k2, const char *v2)
{
	json_object *o = json_object_new_object();

	if (o && (json_object_object_add(o, k1, json_object_new_string(v1)) < 0 ||
		  (k2 && json_object_object_add(o, k2, json_object_new_string(v2)) < 0))) {
		json_object_put(o);
		o = NULL;
	}
	return o;
}

/* `vhostctl help [COMMAND]`: the general help, a group's or one command's. */
static int cmd_help(struct invocation *inv)
{
	const struct command *c;

	if (inv->nargs == 0) {
		usage(stdout);
		return EXIT_OK;
	}
	c = find_command(inv->args, inv->nargs);
	if (c && name_words(c) == inv->nargs) {
		command_usage(stdout, c);
		return EXIT_OK;
	}
	if (inv->nargs == 1 && is_group(inv->args[0])) {
		group_usage(stdout, inv->args[0]);
		return EXIT_OK;
	}
	return usage_error(inv, "no command '%s%s%s'", inv->args[0], inv->nargs > 1 ? " " : "",
			   inv->nargs > 1 ? inv->args[1] : "");
}

void print_json(const struct invocation *inv, json_object *o)
{
	int flags = JSON_C_TO_STRING_NOSLASHESCAPE;

	flags |= inv->pretty ? JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED
			     : JSON_C_TO_STRING_PLAIN;
	puts(json_object_to_json_string_ext(o, flags));
}

int ctl_call(struct invocation *inv, const char *op, json_object *args, json_object **ret_result)
{
	_cleanup_reply_ struct reply rep = { 0 };
	int r;

	for (int attempt = 0;; attempt++) {
		if (!inv->client) {
			r = client_open(inv->control, inv->timeout_ms, &inv->client);
			if (r < 0) {
				fprintf(stderr, "vhostctl: cannot connect to %s: %s\n",
					inv->control, strerror(-r));
				return EXIT_UNREACHABLE;
			}
		}
		r = client_call(inv->client, op, args, inv->timeout_ms, &rep);
		if (!inv->reconnect || attempt > 0 || (r != -ECONNRESET && r != -EPIPE))
			break;
		inv->client = client_close(inv->client);
	}
	if (r == -ETIMEDOUT) {
		fprintf(stderr, "vhostctl: %s: %s (--timeout %g s)\n", inv->control,
			client_error(inv->client), inv->timeout_ms / 1000.0);
		return EXIT_UNREACHABLE;
	}
	if (r < 0) {
		fprintf(stderr, "vhostctl: %s: protocol error: %s\n", inv->control,
			client_error(inv->client));
		return EXIT_PROTOCOL;
	}
	if (!rep.ok) {
		fprintf(stderr, "vhostctl: %s: %s\n", rep.code, rep.message);
		return EXIT_DAEMON;
	}
	*ret_result = json_object_get(rep.result);
	return EXIT_OK;
}

int ctl_call_print_json(struct invocation *inv, const char *op, json_object *args)
{
	_cleanup_json_ json_object *res = NULL;
	int r = ctl_call(inv, op, args, &res);

	if (r == EXIT_OK)
		print_json(inv, res);
	return r;
}

/* Parses --timeout's SECONDS (0 < s <= MAX_TIMEOUT_S, fractions allowed) into *ret_ms. Returns 0 or
 * -EINVAL. */
static int parse_timeout(const char *s, int *ret_ms)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v > 0) || v > MAX_TIMEOUT_S)
		return -EINVAL;
	*ret_ms = (int)ceil(v * 1000);
	return 0;
}

/* Applies one global option (getopt's value o, argument arg) to inv. Returns EXIT_OK to go on,
 * DONE after printing help (inv->cmd's when set) or the version, or EXIT_USAGE. */
static int global_option(struct invocation *inv, int o, const char *arg)
{
	switch (o) {
	case OPT_CONTROL:
		if (!*arg || strlen(arg) >= sizeof(((struct sockaddr_un *)0)->sun_path))
			return usage_error(inv, "--control: '%s' is empty or too long for a socket",
					   arg);
		inv->control = arg;
		return EXIT_OK;
	case 'j':
		inv->json = true;
		return EXIT_OK;
	case OPT_TIMEOUT:
		if (parse_timeout(arg, &inv->timeout_ms) < 0)
			return usage_error(inv,
					   "--timeout: '%s' is not a number of seconds in "
					   "(0, %d]",
					   arg, MAX_TIMEOUT_S);
		return EXIT_OK;
	case 'h':
		if (inv->cmd)
			command_usage(stdout, inv->cmd);
		else
			usage(stdout);
		return DONE;
	case OPT_VERSION:
		printf("vhostctl %s\n", VHOSTD_VERSION);
		return DONE;
	default: /* '?': getopt_long() has said what is wrong */
		return try_help(inv);
	}
}

/* Parses the command's own arguments, argv[0] being its last name word: global options, the
 * command's options and positional arguments, in any order ("--" ends options). Returns EXIT_OK
 * with inv filled, DONE when help was printed, or EXIT_USAGE. */
static int parse_command_line(struct invocation *inv, int argc, char **argv)
{
	struct option opts[ARRAY_SIZE(global_opts) + CMD_OPTS_MAX + 1] = { 0 };
	const struct command *c = inv->cmd;
	size_t n = ARRAY_SIZE(global_opts);
	int o, r;

	memcpy(opts, global_opts, sizeof(global_opts));
	for (unsigned i = 0; c->opts[i].name; i++)
		opts[n++] = (struct option){ c->opts[i].name, required_argument, NULL,
					     OPT_CMD + (int)i };
	optind = 0;
	while ((o = getopt_long(argc, argv, "jh", opts, NULL)) != -1) {
		if (o >= OPT_CMD && o < OPT_CMD + CMD_OPTS_MAX) {
			inv->opt[o - OPT_CMD] = optarg;
			continue;
		}
		r = global_option(inv, o, optarg);
		if (r != EXIT_OK)
			return r;
	}
	inv->args = argv + optind;
	inv->nargs = argc - optind;
	if (inv->nargs < c->min_args)
		return usage_error(inv, "%s: missing argument (%s)", c->name, c->synopsis);
	if (inv->nargs > c->max_args)
		return usage_error(inv, "%s: unexpected argument '%s'", c->name,
				   inv->args[c->max_args]);
	return EXIT_OK;
}

/* Parses the command line, runs the command, returns the exit status. */
int main(int argc, char **argv)
{
	struct invocation inv = { .control = DEFAULT_CONTROL,
				  .timeout_ms = DEFAULT_TIMEOUT_S * 1000 };
	const char *env = getenv("VHOSTD_CONTROL");
	int o, r, first;

	if (env && *env)
		inv.control = env;
	/* The options before the command; getopt stops at the first word ("+"). */
	while ((o = getopt_long(argc, argv, "+jh", global_opts, NULL)) != -1) {
		r = global_option(&inv, o, optarg);
		if (r != EXIT_OK)
			return r == DONE ? EXIT_OK : r;
	}
	if (optind == argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	first = optind;
	inv.cmd = find_command(argv + first, argc - first);
	if (!inv.cmd) {
		if (!is_group(argv[first]))
			return usage_error(NULL, "unknown command '%s'", argv[first]);
		if (first + 1 < argc &&
		    (!strcmp(argv[first + 1], "--help") || !strcmp(argv[first + 1], "-h"))) {
			group_usage(stdout, argv[first]);
			return EXIT_OK;
		}
		group_usage(stderr, argv[first]);
		if (first + 1 < argc)
			fprintf(stderr, "vhostctl: unknown command '%s %s'\n", argv[first],
				argv[first + 1]);
		return EXIT_USAGE;
	}
	/* The command's last name word becomes argv[0] of what follows it: getopt_long() names
	 * itself after argv[0] in its messages. */
	first += name_words(inv.cmd) - 1;
	argv[first] = (char *)"vhostctl";
	r = parse_command_line(&inv, argc - first, argv + first);
	if (r != EXIT_OK)
		return r == DONE ? EXIT_OK : r;
	inv.pretty = isatty(STDOUT_FILENO);
	r = inv.cmd->run(&inv);
	inv.client = client_close(inv.client);
	return r;
}
