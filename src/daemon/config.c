/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "daemon/config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dataplane/worker.h"
#include "util/cleanup.h"
#include "util/parse.h"

/* Where the parser is: for messages. */
struct cursor {
	const char *fname;
	unsigned line;
	struct cfg_err *err;
};

/* Prefixes err with "FNAME:LINE: " (the message's end gives way when both do not fit). */
static int at_line(const struct cursor *cur)
{
	char *msg = cur->err->msg, prefix[sizeof(cur->err->msg) / 2];
	int n = snprintf(prefix, sizeof(prefix), "%s:%u: ", cur->fname, cur->line);
	size_t pl = n < 0 ? 0 : MIN((size_t)n, sizeof(prefix) - 1), ml = strlen(msg);

	ml = MIN(ml, sizeof(cur->err->msg) - 1 - pl);
	memmove(msg + pl, msg, ml);
	memcpy(msg, prefix, pl);
	msg[pl + ml] = '\0';
	return -EINVAL;
}

/* Trims spaces and tabs at both ends, in place. */
static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

/* Copies val into dst[size] if it fits and is not empty. */
static int set_str(char *dst, size_t size, const char *val)
{
	if (!*val || strlen(val) >= size)
		return -EINVAL;
	strcpy(dst, val);
	return 0;
}

/* One global setting (before the first section). */
static int set_global(struct config *c, const char *key, const char *val, struct cfg_err *err)
{
	if (strcmp(key, "log-level") == 0) {
		if (log_parse_level(val, &c->level) < 0)
			return cfg_fail(err, "log-level: debug, info, warn or error");
		c->level_set = true;
	} else if (strcmp(key, "control") == 0) {
		if (set_str(c->control, sizeof(c->control), val) < 0)
			return cfg_fail(err, "control: path empty or too long");
		c->control_set = true;
	} else if (strcmp(key, "control-group") == 0) {
		if (set_str(c->control_group, sizeof(c->control_group), val) < 0)
			return cfg_fail(err, "control-group: a group name or number");
	} else if (strcmp(key, "metrics") == 0) {
		if (set_str(c->metrics, sizeof(c->metrics), val) < 0 || !strchr(val, ':'))
			return cfg_fail(err, "metrics: ADDR:PORT, e.g. 127.0.0.1:9417");
	} else if (strcmp(key, "helper") == 0) {
		if (val[0] != '/' || set_str(c->helper, sizeof(c->helper), val) < 0)
			return cfg_fail(err, "helper: an absolute path");
	} else if (strcmp(key, "workers") == 0) {
		if (parse_uint(val, 1, WORKERS_MAX, &c->workers) < 0)
			return cfg_fail(err, "workers: 1..%d", WORKERS_MAX);
		c->workers_set = true;
	} else if (strcmp(key, "seccomp") == 0) {
		if (strcmp(val, "yes") != 0 && strcmp(val, "no") != 0)
			return cfg_fail(err, "seccomp: yes or no");
		c->seccomp = strcmp(val, "yes") == 0;
		c->seccomp_set = true;
	} else if (strcmp(key, "cpus") == 0) {
		int n = cli_parse_cpus(val, c->cpus, CLI_MAX_CPUS);

		if (n < 0)
			return cfg_fail(err, "cpus: a list like 1,3-5 of CPU numbers");
		c->ncpus = (unsigned)n;
	} else {
		return cfg_fail(err, "unknown setting '%s'", key);
	}
	return 0;
}

/* "[port NAME]": starts a port section. */
static int open_section(struct config *c, char *line, struct portcfg_builder *b,
			const struct cursor *cur)
{
	char *end = strchr(line, ']'), *name;

	if (!end || *trim(end + 1))
		return cfg_fail(cur->err, "a section header is [port NAME]");
	*end = '\0';
	name = trim(line + 1);
	if (strncmp(name, "port", 4) != 0 || (name[4] != ' ' && name[4] != '\t'))
		return cfg_fail(cur->err, "unknown section '[%s]' (only [port NAME])", name);
	if (c->nports == CLI_MAX_PORTS)
		return cfg_fail(cur->err, "more than %d ports", CLI_MAX_PORTS);
	portcfg_begin(b);
	return portcfg_set(b, "name", trim(name + 4), cur->err);
}

/* Ends the open port section, if any: checks it and stores it. */
static int close_section(struct config *c, struct portcfg_builder *b, bool *open, unsigned start,
			 const struct cursor *cur)
{
	struct cursor at = *cur;
	int r;

	if (!*open)
		return 0;
	*open = false;
	at.line = start;
	r = portcfg_finish(b, &c->ports[c->nports], cur->err);
	if (r < 0)
		return at_line(&at);
	for (unsigned i = 0; i < c->nports; i++)
		if (portcfg_conflict(&c->ports[c->nports], &c->ports[i], cur->err) < 0)
			return at_line(&at);
	c->port_line[c->nports++] = start;
	return 0;
}

/* One "key = value" line, global or in a port section. */
static int key_value(struct config *c, char *line, struct portcfg_builder *b, bool in_port,
		     const struct cursor *cur)
{
	char *eq = strchr(line, '='), *key, *val;

	if (!eq)
		return cfg_fail(cur->err, "expected key = value, [port NAME] or a # comment");
	*eq = '\0';
	key = trim(line);
	val = trim(eq + 1);
	if (!*key)
		return cfg_fail(cur->err, "a key is missing before '='");
	if (!in_port)
		return set_global(c, key, val, cur->err);
	if (strcmp(key, "name") == 0)
		return cfg_fail(cur->err, "the port's name is in its [port NAME] header");
	if (strcmp(key, "features") == 0) {
		/* "-a, -b": the list may have spaces after its commas. */
		char list[CONFIG_MAX_LINE];
		size_t n = 0;

		for (const char *p = val; *p; p++)
			if (*p != ' ' && *p != '\t')
				list[n++] = *p;
		list[n] = '\0';
		return portcfg_set(b, key, list, cur->err);
	}
	return portcfg_set(b, key, val, cur->err);
}

int config_parse(const char *text, size_t len, const char *fname, struct config *ret,
		 struct cfg_err *err)
{
	struct cursor cur = { .fname = fname, .err = err };
	struct portcfg_builder b;
	char line[CONFIG_MAX_LINE + 1];
	unsigned start = 0;
	bool in_port = false;
	size_t pos = 0;

	memset(ret, 0, sizeof(*ret));
	ret->level = LOG_LVL_INFO;
	ret->workers = 1;
	if (len > CONFIG_MAX_BYTES) {
		cfg_fail(err, "larger than %u bytes", CONFIG_MAX_BYTES);
		return at_line(&cur);
	}
	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;
		char *s;
		int r;

		cur.line++;
		if (n > CONFIG_MAX_LINE) {
			cfg_fail(err, "line longer than %u bytes", CONFIG_MAX_LINE);
			return at_line(&cur);
		}
		memcpy(line, text + pos, n);
		line[n] = '\0';
		pos += n + 1;
		if (strlen(line) != n) {
			cfg_fail(err, "NUL byte in the file");
			return at_line(&cur);
		}
		s = trim(line);
		if (!*s || *s == '#' || *s == ';')
			continue;
		if (*s == '[') {
			r = close_section(ret, &b, &in_port, start, &cur);
			if (r < 0)
				return r;
			r = open_section(ret, s, &b, &cur);
			in_port = r == 0;
			start = cur.line;
		} else {
			r = key_value(ret, s, &b, in_port, &cur);
		}
		if (r == -ENOMEM)
			return r;
		if (r < 0)
			return at_line(&cur);
	}
	return close_section(ret, &b, &in_port, start, &cur);
}

int config_load(const char *path, struct config *ret, struct cfg_err *err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	_cleanup_free_ char *buf = NULL;
	struct stat st;
	size_t got = 0;

	if (fd < 0) {
		int r = -errno;

		snprintf(err->msg, sizeof(err->msg), "%s: %s", path, strerror(-r));
		return r;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(err->msg, sizeof(err->msg), "%s: not a regular file", path);
		return -EINVAL;
	}
	buf = malloc(CONFIG_MAX_BYTES + 1);
	if (!buf)
		return -ENOMEM;
	/* Read one byte more than allowed, so that a file that grew is caught too. */
	for (;;) {
		ssize_t n = read(fd, buf + got, CONFIG_MAX_BYTES + 1 - got);

		if (n < 0) {
			snprintf(err->msg, sizeof(err->msg), "%s: %s", path, strerror(errno));
			return -EIO;
		}
		if (n == 0 || (got += (size_t)n) > CONFIG_MAX_BYTES)
			break;
	}
	return config_parse(buf, got, path, ret, err);
}
