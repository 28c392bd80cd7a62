/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Control API requests that never reach a port: whatever the line holds, the reply is one JSON
 * object with the request's id and either a result or an error with the documented code.
 */
#include <errno.h>
#include <json-c/json.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "daemon/api.h"
#include "daemon/http.h"
#include "util/loop.h"

static struct api_ctx ctx;
static struct loop *loop;

static int setup(void **state)
{
	assert_int_equal(loop_new(&loop), 0);
	assert_int_equal(daemon_new(loop, &ctx.d), 0);
	return 0;
}

static int teardown(void **state)
{
	daemon_free(ctx.d);
	loop_free(loop);
	return 0;
}

/* Sends line; returns the parsed reply (checked to be an object with a boolean "ok"). */
static struct json_object *ask(const char *line, size_t len)
{
	char *out = api_handle(&ctx, line, len);
	struct json_object *reply, *ok;

	assert_non_null(out);
	assert_null(strchr(out, '\n'));
	reply = json_tokener_parse(out);
	if (!reply)
		fail_msg("reply is no JSON: %s", out);
	free(out);
	assert_true(json_object_object_get_ex(reply, "ok", &ok));
	assert_true(json_object_is_type(ok, json_type_boolean));
	return reply;
}

/* Asserts that line gets error code (and the id echoed as id_json, "null" for none). */
static void error_is(const char *line, const char *code, const char *id_json)
{
	struct json_object *r = ask(line, strlen(line)), *e, *c, *m, *id;

	if (!json_object_object_get_ex(r, "error", &e) ||
	    !json_object_object_get_ex(e, "code", &c) ||
	    !json_object_object_get_ex(e, "message", &m))
		fail_msg("no error for %s: %s", line, json_object_to_json_string(r));
	if (strcmp(json_object_get_string(c), code) != 0)
		fail_msg("%s: code %s, not %s (%s)", line, json_object_get_string(c), code,
			 json_object_get_string(m));
	assert_true(strlen(json_object_get_string(m)) > 0);
	assert_true(json_object_object_get_ex(r, "id", &id));
	assert_string_equal(json_object_to_json_string(id), id_json);
	json_object_put(r);
}

/* The result object of a successful request; *reply is the whole reply, for the caller to put. */
static struct json_object *result_of(const char *line, struct json_object **reply)
{
	struct json_object *res;

	*reply = ask(line, strlen(line));
	if (!json_object_object_get_ex(*reply, "result", &res))
		fail_msg("no result for %s: %s", line, json_object_to_json_string(*reply));
	return res;
}

static void test_good_requests(void **state)
{
	struct json_object *reply, *res = result_of("{\"id\":1,\"op\":\"version\"}", &reply), *v;

	assert_true(json_object_object_get_ex(res, "api", &v));
	assert_int_equal(json_object_get_int(v), API_VERSION);
	json_object_put(reply);
	res = result_of(" {\"op\":\"port-list\",\"args\":{},\"id\":\"x\"}  ", &reply);
	assert_true(json_object_object_get_ex(res, "ports", &v));
	assert_int_equal(json_object_array_length(v), 0);
	assert_true(json_object_object_get_ex(reply, "id", &v));
	assert_string_equal(json_object_get_string(v), "x");
	json_object_put(reply);
	res = result_of("{\"op\":\"stats\",\"args\":null}", &reply);
	assert_true(json_object_object_get_ex(res, "ports", &v));
	json_object_put(reply);
	res = result_of("{\"op\":\"stats\",\"args\":{\"format\":\"prometheus\"}}", &reply);
	assert_true(json_object_object_get_ex(res, "text", &v));
	assert_non_null(strstr(json_object_get_string(v), "# TYPE vhostd_ports gauge"));
	json_object_put(reply);
	res = result_of("{\"op\":\"set\",\"args\":{\"log_level\":\"warn\"}}", &reply);
	json_object_put(reply);
	res = result_of("{\"op\":\"set\",\"args\":{\"log_level\":\"info\"}}", &reply);
	json_object_put(reply);
}

static void test_bad_requests(void **state)
{
	error_is("", "parse-error", "null");
	error_is("{", "parse-error", "null");
	error_is("{\"op\":\"version\"} x", "parse-error", "null");
	error_is("{\"op\":\"version\"}{}", "parse-error", "null");
	error_is("nul\x01", "parse-error", "null");
	error_is("[1,2]", "invalid-request", "null");
	error_is("\"version\"", "invalid-request", "null");
	error_is("{\"id\":3}", "invalid-request", "3");
	error_is("{\"id\":3,\"op\":7}", "invalid-request", "3");
	error_is("{\"id\":[1],\"op\":\"version\",\"x\":1}", "invalid-request", "null");
	error_is("{\"id\":4,\"op\":\"version\",\"args\":[]}", "invalid-request", "4");
	error_is("{\"id\":5,\"op\":\"reboot\"}", "unknown-op", "5");
	error_is("{\"id\":6,\"op\":\"version\",\"args\":{\"x\":1}}", "invalid-argument", "6");
	error_is("{\"op\":\"port-show\"}", "invalid-argument", "null");
	error_is("{\"op\":\"port-show\",\"args\":{\"name\":7}}", "invalid-argument", "null");
	error_is("{\"op\":\"port-show\",\"args\":{\"name\":\"a\\u0000b\"}}", "invalid-argument",
		 "null");
	error_is("{\"op\":\"port-show\",\"args\":{\"name\":\"vm9\"}}", "not-found", "null");
	error_is("{\"op\":\"port-del\",\"args\":{\"name\":\"vm9\"}}", "not-found", "null");
	error_is("{\"op\":\"stats\",\"args\":{\"name\":\"vm9\"}}", "not-found", "null");
	error_is("{\"op\":\"stats\",\"args\":{\"format\":\"xml\"}}", "invalid-argument", "null");
	error_is("{\"op\":\"set\"}", "invalid-argument", "null");
	error_is("{\"op\":\"set\",\"args\":{\"log_level\":\"loud\"}}", "invalid-argument", "null");
	error_is("{\"op\":\"set\",\"args\":{\"poll\":\"busy\"}}", "invalid-argument", "null");
	error_is("{\"op\":\"set\",\"args\":{\"port\":\"a\",\"poll\":\"spin\"}}", "invalid-argument",
		 "null");
	error_is("{\"op\":\"set\",\"args\":{\"port\":\"a\",\"poll\":\"busy\"}}", "not-found",
		 "null");
	error_is("{\"op\":\"reload\"}", "failed", "null");
	/* port-add: validation happens before anything is created. */
	error_is("{\"op\":\"port-add\"}", "invalid-argument", "null");
	error_is("{\"op\":\"port-add\",\"args\":{\"spec\":\"name=a\"}}", "invalid-argument",
		 "null");
	error_is("{\"op\":\"port-add\",\"args\":{\"spec\":\"name=a,socket=/s,backend=null\","
		 "\"queues\":2}}",
		 "invalid-argument", "null");
	error_is("{\"op\":\"port-add\",\"args\":{\"name\":\"a\",\"socket\":\"/s\",\"backend\":"
		 "\"null\",\"queues\":true}}",
		 "invalid-argument", "null");
	error_is("{\"op\":\"port-add\",\"args\":{\"name\":\"a\",\"socket\":\"/s\",\"backend\":"
		 "\"null\",\"queues\":-1}}",
		 "invalid-argument", "null");
	error_is("{\"op\":\"port-add\",\"args\":{\"name\":\"a\",\"socket\":\"/s\",\"backend\":"
		 "\"null\",\"colour\":\"red\"}}",
		 "invalid-argument", "null");
	/* A valid port, but this daemon has no worker to run it: refused, nothing created. */
	error_is("{\"op\":\"port-add\",\"args\":{\"name\":\"a\",\"socket\":\"/nonexistent/s\","
		 "\"backend\":\"null\"}}",
		 "failed", "null");
}

/* Nesting beyond the parser's depth limit is a parse error, not a crash or a deep recursion. */
static void test_depth(void **state)
{
	char line[4096];
	size_t n = 0;

	n += (size_t)sprintf(line, "{\"op\":\"version\",\"id\":1,\"args\":");
	for (int i = 0; i < 1000; i++)
		line[n++] = '[';
	line[n] = '\0';
	error_is(line, "parse-error", "null");
}

/* The metrics listener's request line: methods, paths, queries, incomplete and bad heads. */
static void test_http_head(void **state)
{
	static const struct {
		const char *head;
		int r;
		enum http_method m;
		const char *path;
	} cases[] = {
		{ "GET /metrics HTTP/1.1\r\n\r\n", 0, HTTP_GET, "/metrics" },
		{ "GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n", 0, HTTP_GET, "/metrics" },
		{ "HEAD /metrics?a=b HTTP/1.1\n\n", 0, HTTP_HEAD, "/metrics" },
		{ "POST /metrics HTTP/1.1\r\n\r\n", 0, HTTP_OTHER, "/metrics" },
		{ "GET / HTTP/1.1\r\n\r\n", 0, HTTP_GET, "/" },
		{ "GET /metrics HTTP/1.1\r\nHost: x\r\n", -EAGAIN, 0, NULL },
		{ "GET /metrics HTTP/1.1", -EAGAIN, 0, NULL },
		{ "GET /metrics HTTP/2.0\r\n\r\n", -EINVAL, 0, NULL },
		{ "GET metrics HTTP/1.1\r\n\r\n", -EINVAL, 0, NULL },
		{ "GET  HTTP/1.1\r\n\r\n", -EINVAL, 0, NULL },
		{ "GET /a b HTTP/1.1\r\n\r\n", -EINVAL, 0, NULL },
		{ "GET /\x7f HTTP/1.1\r\n\r\n", -EINVAL, 0, NULL },
		{ "GARBAGE\r\n\r\n", -EINVAL, 0, NULL },
	};
	char path[32];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum http_method m = HTTP_OTHER;
		int r = http_parse_head(cases[i].head, strlen(cases[i].head), &m, path,
					sizeof(path));

		if (r != cases[i].r)
			fail_msg("'%s': %d, want %d", cases[i].head, r, cases[i].r);
		if (r == 0) {
			assert_int_equal(m, cases[i].m);
			assert_string_equal(path, cases[i].path);
		}
	}
	/* A path longer than the caller's buffer is refused, not cut. */
	{
		static const char lng[] =
			"GET /0123456789012345678901234567890123 HTTP/1.1\r\n\r\n";
		enum http_method m;

		assert_int_equal(http_parse_head(lng, strlen(lng), &m, path, sizeof(path)),
				 -EINVAL);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_http_head),
		cmocka_unit_test(test_good_requests),
		cmocka_unit_test(test_bad_requests),
		cmocka_unit_test(test_depth),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
