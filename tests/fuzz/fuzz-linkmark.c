/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fuzzes the parser of vhostd's mark on a link (src/backend/linkmark.c): the alias of a link of
 * a macvtap port's name, read from rtnetlink, which anyone with CAP_NET_ADMIN may have set. The
 * input is the alias as the netlink attribute carries it (any bytes, any length). Checked: a
 * mark is accepted only when it prints back to exactly the input (so nothing but
 * "vhostd pid=PID start=TICKS" with canonical numbers is ever taken for vhostd's), with a
 * positive pid; a refusal leaves the output untouched.
 */
#include <errno.h>
#include <string.h>

#include "backend/linkmark.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct linkmark m = { .pid = -7, .start = 7 };
	char back[96];
	size_t len = size;
	int r;

	r = linkmark_parse((const char *)data, size, &m);
	FUZZ_CHECK(r == 0 || r == -EINVAL);
	if (r < 0) {
		FUZZ_CHECK(m.pid == -7 && m.start == 7);
		return 0;
	}
	FUZZ_CHECK(m.pid > 0);
	if (len && data[len - 1] == '\0')
		len--; /* the attribute's terminator */
	FUZZ_CHECK(linkmark_format(&m, back, sizeof(back)) == len);
	FUZZ_CHECK(memcmp(back, data, len) == 0);
	return 0;
}
