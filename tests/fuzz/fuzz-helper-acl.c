/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fuzzes vhostd-net-helper's access list parser (acl_apply) with the input as the list. Every
 * include reads the input again, so include chains and loops are exercised too; the name asked
 * about is fixed. Checked: it answers 0 or -EINVAL (with a message naming a file), never reads
 * more than ACL_MAX_INCLUDES files, and gives the same verdict twice; a list that denies
 * nothing and allows all (allow all, no deny line) must allow.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "helper/acl.h"

static const uint8_t *input;
static size_t input_len;

/* read_file for acl_apply(): every path holds the input. */
static int read_input(const char *path, char **text, size_t *len, struct acl_err *err)
{
	*text = malloc(input_len + 1);
	if (!*text)
		return -ENOMEM;
	memcpy(*text, input, input_len);
	*len = input_len;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct acl_verdict a = { 0 }, b = { 0 };
	struct acl_err ea, eb;
	unsigned na = 0, nb = 0;
	int ra, rb;

	input = data;
	input_len = size;
	ra = acl_apply((const char *)data, size, "/f.conf", "br0", &a, &na, read_input, &ea);
	rb = acl_apply((const char *)data, size, "/f.conf", "br0", &b, &nb, read_input, &eb);
	FUZZ_CHECK(ra == rb && (ra == 0 || ra == -EINVAL || ra == -ENOMEM));
	FUZZ_CHECK(na <= ACL_MAX_INCLUDES + 1 && na == nb);
	if (ra == -EINVAL)
		FUZZ_CHECK(ea.msg[0] == '/' && strcmp(ea.msg, eb.msg) == 0);
	if (ra == 0)
		FUZZ_CHECK(a.allowed == b.allowed && a.denied == b.denied);
	return 0;
}
