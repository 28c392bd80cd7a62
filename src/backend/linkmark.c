/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "backend/linkmark.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "util/cleanup.h"

#define MARK_PREFIX "vhostd pid="

/* Reads the start time (field 22 of /proc/PID/stat) of pid, and its state (field 3: 'Z' for a
 * zombie) into *ret_state when not NULL. Returns 0 or a negative errno. */
static int proc_start(pid_t pid, unsigned long long *ret, char *ret_state)
{
	char path[32], buf[1024];
	_cleanup_close_ int fd = -1;
	const char *p;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n <= 0)
		return n < 0 ? -errno : -EIO;
	buf[n] = '\0';
	/* The command name (field 2) may hold spaces and ')': the fields resume after the last
	 * ')'. From there, the state is field 3 and the start time field 22. */
	p = strrchr(buf, ')');
	if (!p)
		return -EIO;
	p++;
	for (int field = 3; field <= 22; field++) {
		while (*p == ' ')
			p++;
		if (!*p)
			return -EIO;
		if (field == 3 && ret_state)
			*ret_state = *p;
		if (field == 22)
			return sscanf(p, "%llu", ret) == 1 ? 0 : -EIO;
		p += strcspn(p, " ");
	}
	return -EIO;
}

int linkmark_self(struct linkmark *ret)
{
	struct linkmark m = { .pid = getpid() };
	int r = proc_start(m.pid, &m.start, NULL);

	if (r < 0)
		return r;
	*ret = m;
	return 0;
}

size_t linkmark_format(const struct linkmark *m, char *buf, size_t len)
{
	int n = snprintf(buf, len, MARK_PREFIX "%d start=%llu", (int)m->pid, m->start);

	return n < 0 ? 0 : (size_t)n;
}

/* Parses a decimal number of at most 20 digits without sign or leading zeros at p, up to and
 * excluding end, into *ret; returns the first byte after it, or NULL. */
static const char *parse_dec(const char *p, const char *end, unsigned long long *ret)
{
	unsigned long long v = 0;
	const char *s = p;

	while (p < end && *p >= '0' && *p <= '9') {
		unsigned d = (unsigned)(*p - '0');

		if (v > (ULLONG_MAX - d) / 10)
			return NULL;
		v = v * 10 + d;
		p++;
	}
	if (p == s || (p - s > 1 && *s == '0'))
		return NULL;
	*ret = v;
	return p;
}

int linkmark_parse(const char *alias, size_t len, struct linkmark *ret)
{
	const char *p = alias, *end = alias + len;
	unsigned long long pid, start;

	/* The netlink attribute may carry its terminating NUL. */
	if (len && alias[len - 1] == '\0')
		end--;
	if ((size_t)(end - p) < strlen(MARK_PREFIX) || memcmp(p, MARK_PREFIX, strlen(MARK_PREFIX)))
		return -EINVAL;
	p = parse_dec(p + strlen(MARK_PREFIX), end, &pid);
	if (!p || pid == 0 || pid > INT_MAX)
		return -EINVAL;
	if ((size_t)(end - p) < strlen(" start=") || memcmp(p, " start=", strlen(" start=")))
		return -EINVAL;
	p = parse_dec(p + strlen(" start="), end, &start);
	if (!p || p != end)
		return -EINVAL;
	ret->pid = (pid_t)pid;
	ret->start = start;
	return 0;
}

bool linkmark_alive(const struct linkmark *m)
{
	unsigned long long start;
	char state = 0;

	if (proc_start(m->pid, &start, &state) < 0)
		return false;
	return start == m->start && state != 'Z' && state != 'X';
}
