/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "helper/acl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/parse.h"

bool acl_name_ok(const char *name)
{
	return name_valid(name, 16) && strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
}

/* Splits a line into at most two words; false when it has more, or none. */
static bool two_words(char *line, char **a, char **b)
{
	char *save = NULL;

	*a = strtok_r(line, " \t\r", &save);
	*b = *a ? strtok_r(NULL, " \t\r", &save) : NULL;
	return *a && !strtok_r(NULL, " \t\r", &save);
}

int acl_apply(const char *text, size_t len, const char *fname, const char *name,
	      struct acl_verdict *v, unsigned *nfiles,
	      int (*read_file)(const char *path, char **text, size_t *len, struct acl_err *err),
	      struct acl_err *err)
{
	char line[ACL_MAX_LINE + 1];
	unsigned lineno = 0;
	size_t pos = 0;

	if (++*nfiles > ACL_MAX_INCLUDES) {
		snprintf(err->msg, sizeof(err->msg), "%s: more than %d files (an include loop?)",
			 fname, ACL_MAX_INCLUDES);
		return -EINVAL;
	}
	if (len > ACL_MAX_BYTES) {
		snprintf(err->msg, sizeof(err->msg), "%s: larger than %u bytes", fname,
			 ACL_MAX_BYTES);
		return -EINVAL;
	}
	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;
		char *word, *arg, *hash;

		lineno++;
		if (n > ACL_MAX_LINE || memchr(text + pos, '\0', n)) {
			snprintf(err->msg, sizeof(err->msg),
				 "%s:%u: line too long or with a NUL byte", fname, lineno);
			return -EINVAL;
		}
		memcpy(line, text + pos, n);
		line[n] = '\0';
		pos += n + 1;
		hash = strchr(line, '#');
		if (hash)
			*hash = '\0';
		if (!two_words(line, &word, &arg)) {
			if (!word)
				continue; /* blank or comment */
			snprintf(err->msg, sizeof(err->msg), "%s:%u: too many words", fname,
				 lineno);
			return -EINVAL;
		}
		if (!arg) {
			snprintf(err->msg, sizeof(err->msg), "%s:%u: '%.32s' needs an argument",
				 fname, lineno, word);
			return -EINVAL;
		}
		if (strcmp(word, "include") == 0) {
			_cleanup_free_ char *inc = NULL;
			size_t inc_len = 0;
			int r;

			if (arg[0] != '/') {
				snprintf(err->msg, sizeof(err->msg),
					 "%s:%u: include needs an absolute path", fname, lineno);
				return -EINVAL;
			}
			r = read_file(arg, &inc, &inc_len, err);
			if (r < 0)
				return r;
			r = acl_apply(inc, inc_len, arg, name, v, nfiles, read_file, err);
			if (r < 0)
				return r;
			continue;
		}
		if (strcmp(word, "allow") != 0 && strcmp(word, "deny") != 0) {
			snprintf(err->msg, sizeof(err->msg),
				 "%s:%u: unknown word '%.32s' (allow, deny, include)", fname,
				 lineno, word);
			return -EINVAL;
		}
		if (strcmp(arg, "all") != 0 && !acl_name_ok(arg)) {
			snprintf(err->msg, sizeof(err->msg), "%s:%u: '%.32s' is no interface name",
				 fname, lineno, arg);
			return -EINVAL;
		}
		if (strcmp(arg, "all") == 0 || strcmp(arg, name) == 0) {
			if (word[0] == 'a')
				v->allowed = true;
			else
				v->denied = true;
		}
	}
	return 0;
}

int acl_read_file(const char *path, char **text, size_t *len, struct acl_err *err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	_cleanup_free_ char *buf = NULL;
	struct stat st;
	ssize_t n;

	if (fd < 0) {
		int r = -errno;

		snprintf(err->msg, sizeof(err->msg), "%s: %s", path, strerror(-r));
		return r;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > ACL_MAX_BYTES) {
		snprintf(err->msg, sizeof(err->msg), "%s: not a regular file of at most %u bytes",
			 path, ACL_MAX_BYTES);
		return -EINVAL;
	}
	buf = malloc(ACL_MAX_BYTES + 1);
	if (!buf)
		return -ENOMEM;
	n = read(fd, buf, ACL_MAX_BYTES + 1);
	if (n < 0 || n > ACL_MAX_BYTES) {
		snprintf(err->msg, sizeof(err->msg), "%s: cannot read it whole", path);
		return -EIO;
	}
	*len = (size_t)n;
	*text = TAKE_PTR(buf);
	return 0;
}

int acl_check(const char *path, const char *name, struct acl_err *err)
{
	struct acl_verdict v = { 0 };
	_cleanup_free_ char *text = NULL;
	unsigned nfiles = 0;
	size_t len = 0;
	int r;

	if (!acl_name_ok(name)) {
		snprintf(err->msg, sizeof(err->msg), "'%.32s' is no interface name", name);
		return -EINVAL;
	}
	r = acl_read_file(path, &text, &len, err);
	if (r < 0)
		return r;
	r = acl_apply(text, len, path, name, &v, &nfiles, acl_read_file, err);
	if (r < 0)
		return r;
	return v.allowed && !v.denied;
}
