/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fuzzes the metrics listener's request parser (http_parse_head) with the input as the bytes a
 * scraper sent. Checked: it answers 0, -EAGAIN or -EINVAL; on 0 the path is a terminated string
 * of printable characters starting with '/', without a query, that fits the buffer; the answer
 * is the same with one byte more buffer space.
 */
#include <errno.h>
#include <string.h>

#include "daemon/http.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum http_method m, m2;
	char path[64], path2[65];
	int r = http_parse_head((const char *)data, size, &m, path, sizeof(path));
	int r2 = http_parse_head((const char *)data, size, &m2, path2, sizeof(path2));

	FUZZ_CHECK(r == 0 || r == -EAGAIN || r == -EINVAL);
	if (r != 0)
		return 0;
	FUZZ_CHECK(r2 == 0 && m == m2 && strcmp(path, path2) == 0);
	FUZZ_CHECK(path[0] == '/' && strlen(path) < sizeof(path) && !strchr(path, '?'));
	for (const char *p = path; *p; p++)
		FUZZ_CHECK(*p > ' ' && *p < 0x7f);
	return 0;
}
