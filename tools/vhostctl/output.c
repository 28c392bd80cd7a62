/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Human-readable output helpers: see output.h. */
#include "output.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define LINE_WIDTH 80

struct table {
	unsigned ncols;
	const char *const *heads;
	const char *align;
	char **cells; /* nrows * ncols, row-major */
	size_t nrows, cap;
};

struct table *table_new(unsigned ncols, const char *const *heads, const char *align)
{
	struct table *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->ncols = ncols;
	t->heads = heads;
	t->align = align;
	return t;
}

int table_add(struct table *t, const char *const *cells)
{
	if (t->nrows == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		char **c = reallocarray(t->cells, cap * t->ncols, sizeof(*c));

		if (!c)
			return -ENOMEM;
		t->cells = c;
		t->cap = cap;
	}
	for (unsigned i = 0; i < t->ncols; i++) {
		char *s = strdup(cells[i] ? cells[i] : "-");

		if (!s) {
			for (unsigned j = 0; j < i; j++)
				free(t->cells[t->nrows * t->ncols + j]);
			return -ENOMEM;
		}
		t->cells[t->nrows * t->ncols + i] = s;
	}
	t->nrows++;
	return 0;
}

/* Prints one row of cells with the widths w; the last column is not padded on the right. */
static void table_row(const struct table *t, FILE *f, const char *const *cells, const size_t *w)
{
	for (unsigned i = 0; i < t->ncols; i++) {
		bool last = i + 1 == t->ncols;

		if (t->align[i] == 'r')
			fprintf(f, "%*s", (int)w[i], cells[i]);
		else
			fprintf(f, "%-*s", last ? 0 : (int)w[i], cells[i]);
		fputs(last ? "\n" : "  ", f);
	}
}

void table_print(const struct table *t, FILE *f)
{
	_cleanup_free_ size_t *w = calloc(t->ncols, sizeof(*w));

	if (!w)
		return;
	for (unsigned i = 0; i < t->ncols; i++) {
		w[i] = strlen(t->heads[i]);
		for (size_t r = 0; r < t->nrows; r++)
			w[i] = MAX(w[i], strlen(t->cells[r * t->ncols + i]));
	}
	table_row(t, f, t->heads, w);
	for (size_t r = 0; r < t->nrows; r++)
		table_row(t, f, (const char *const *)&t->cells[r * t->ncols], w);
}

struct table *table_free(struct table *t)
{
	if (!t)
		return NULL;
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t);
	return NULL;
}

/* Prints x (at least step) divided by step until below 999.5 (or out of prefixes) with three
 * significant digits, sep and the prefix reached. */
static const char *scaled(char buf[static HUMAN_MAX], double x, double step,
			  const char *const *prefixes, const char *sep)
{
	unsigned p = 0;

	do {
		x /= step;
		p++;
	} while (x >= 999.5 && prefixes[p + 1]);
	if (x < 9.995)
		snprintf(buf, HUMAN_MAX, "%.2f%s%s", x, sep, prefixes[p]);
	else if (x < 99.95)
		snprintf(buf, HUMAN_MAX, "%.1f%s%s", x, sep, prefixes[p]);
	else
		snprintf(buf, HUMAN_MAX, "%.0f%s%s", x, sep, prefixes[p]);
	return buf;
}

static const char *const si[] = { "", "k", "M", "G", "T", "P", "E", NULL };
static const char *const iec[] = { "", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", NULL };

const char *human_count(char buf[static HUMAN_MAX], uint64_t v)
{
	if (v < 100000) {
		snprintf(buf, HUMAN_MAX, "%" PRIu64, v);
		return buf;
	}
	return scaled(buf, (double)v, 1000, si, "");
}

const char *human_rate(char buf[static HUMAN_MAX], double v)
{
	if (v < 999.5) {
		snprintf(buf, HUMAN_MAX, "%.0f", v < 0 ? 0 : v);
		return buf;
	}
	return scaled(buf, v, 1000, si, "");
}

const char *human_bytes(char buf[static HUMAN_MAX], uint64_t v)
{
	if (v < 1024) {
		snprintf(buf, HUMAN_MAX, "%" PRIu64 " B", v);
		return buf;
	}
	return scaled(buf, (double)v, 1024, iec, " ");
}

json_object *json_member(json_object *o, const char *key, json_type type)
{
	json_object *v;

	if (!o || !json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, type))
		return NULL;
	return v;
}

const char *json_str(json_object *o, const char *key)
{
	json_object *v;

	if (!o || !json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, key, &v) || !v)
		return NULL;
	switch (json_object_get_type(v)) {
	case json_type_string:
	case json_type_int:
	case json_type_double:
	case json_type_boolean:
		return json_object_get_string(v);
	default:
		return NULL;
	}
}

const char *json_text(json_object *o, const char *key, char *buf, size_t len)
{
	json_object *a = json_member(o, key, json_type_array);
	size_t off = 0;

	if (!a)
		return json_str(o, key);
	buf[0] = '\0';
	for (size_t i = 0; i < json_object_array_length(a) && off < len; i++) {
		const char *s = json_object_get_string(json_object_array_get_idx(a, i));
		int n = snprintf(buf + off, len - off, "%s%s", i ? "," : "", s ? s : "null");

		if (n < 0)
			break;
		off += (size_t)n;
	}
	return buf;
}

bool json_u64(json_object *o, const char *key, uint64_t *ret)
{
	json_object *v = json_member(o, key, json_type_int);

	if (!v || json_object_get_int64(v) < 0)
		return false;
	*ret = json_object_get_uint64(v);
	return true;
}

/* Prints "key:" and the spaces that bring the next character to column FIELD_WIDTH (at least one).
 * Returns that column. */
static size_t field_key(const char *key)
{
	size_t len = strlen(key) + 1, pad = len + 1 < FIELD_WIDTH ? FIELD_WIDTH - len : 1;

	printf("%s:%*s", key, (int)pad, "");
	return len + pad;
}

void print_field(const char *key, const char *value)
{
	field_key(key);
	printf("%s\n", value ? value : "-");
}

void print_field_words(const char *key, json_object *array)
{
	size_t n = array && json_object_is_type(array, json_type_array)
			   ? json_object_array_length(array)
			   : 0;
	size_t col = 0, start = 0;

	if (n == 0) {
		print_field(key, NULL);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		const char *w = json_object_get_string(json_object_array_get_idx(array, i));
		size_t len = strlen(w ? w : "");

		if (i == 0) {
			col = start = field_key(key);
		} else if (col + 1 + len > LINE_WIDTH) {
			printf("\n%*s", (int)start, "");
			col = start;
		} else {
			putchar(' ');
			col++;
		}
		fputs(w ? w : "", stdout);
		col += len;
	}
	putchar('\n');
}
