/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The network helper's access list (vhostd-net-helper(8)): which bridges and devices an
 * unprivileged caller may have the helper attach to. Lines: `allow NAME`, `deny NAME`,
 * `allow all`, `deny all`, `include FILE`, `#` comments. Deny by default; a deny wins over an
 * allow, wherever the lines are. The files are root's and trusted to exist, not to be sane:
 * they are bounded and parsed strictly.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define ACL_MAX_BYTES	 (64u * 1024)
#define ACL_MAX_LINE	 512
#define ACL_MAX_INCLUDES 16 /* files read in all, the first one included */

struct acl_err {
	char msg[512];
};

/* What the lines read so far say about one name. */
struct acl_verdict {
	bool allowed; /* an allow line matched */
	bool denied;  /* a deny line matched */
};

/* True when name is an interface name the helper will consider (1..15 of [A-Za-z0-9_.-]). */
bool acl_name_ok(const char *name);

/*
 * Applies the text of one ACL file (len bytes, called fname in messages) for name to *v. Include
 * lines are read through read_file (path -> malloc'ed text) so that the parser can be tested and
 * fuzzed without files; depth counts the files read so far. Returns 0, or -EINVAL with err set
 * to "FILE:LINE: what is wrong".
 */
int acl_apply(const char *text, size_t len, const char *fname, const char *name,
	      struct acl_verdict *v, unsigned *nfiles,
	      int (*read_file)(const char *path, char **text, size_t *len, struct acl_err *err),
	      struct acl_err *err);

/* Reads a file for acl_apply(): a regular file of at most ACL_MAX_BYTES. 0 or -errno (err set). */
int acl_read_file(const char *path, char **text, size_t *len, struct acl_err *err);

/*
 * Decides whether name may be used, reading the ACL at path (and its includes). Returns 1
 * (allowed), 0 (denied: no allow line, or a deny line, matched), or a negative errno with err set
 * (a file that cannot be read or parsed: treat as denied).
 */
int acl_check(const char *path, const char *name, struct acl_err *err);
