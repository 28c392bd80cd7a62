/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fuzzes the control API's request handling (api_handle: JSON parsing with its depth limit,
 * request shape, the operations table, every operation's argument checks) with the input as one
 * request line, on a daemon without ports or workers (so port-add is checked in full and then
 * refused). Checked: every reply is one JSON object on one line with "id" and a boolean "ok";
 * a failure carries an error whose code is one of the documented ones and a message.
 */
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/api.h"
#include "fuzz.h"
#include "util/loop.h"

static const char *const codes[] = { "parse-error",	  "invalid-request", "unknown-op",
				     "invalid-argument",  "not-found",	     "exists",
				     "permission-denied", "too-large",	     "failed" };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct api_ctx ctx;
	static struct loop *loop;
	struct json_object *reply, *ok, *err, *code, *msg;
	char *out;
	bool known = false;

	fuzz_quiet_logs();
	if (!ctx.d && (loop_new(&loop) < 0 || daemon_new(loop, &ctx.d) < 0))
		abort();
	if (size > 65535)
		return 0;
	out = api_handle(&ctx, (const char *)data, size);
	FUZZ_CHECK(out != NULL);
	FUZZ_CHECK(strchr(out, '\n') == NULL);
	reply = json_tokener_parse(out);
	FUZZ_CHECK(reply && json_object_is_type(reply, json_type_object));
	FUZZ_CHECK(json_object_object_get_ex(reply, "id", NULL));
	FUZZ_CHECK(json_object_object_get_ex(reply, "ok", &ok) &&
		   json_object_is_type(ok, json_type_boolean));
	if (!json_object_get_boolean(ok)) {
		FUZZ_CHECK(json_object_object_get_ex(reply, "error", &err));
		FUZZ_CHECK(json_object_object_get_ex(err, "code", &code));
		FUZZ_CHECK(json_object_object_get_ex(err, "message", &msg));
		for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
			known |= strcmp(json_object_get_string(code), codes[i]) == 0;
		FUZZ_CHECK(known);
		FUZZ_CHECK(json_object_get_string_len(msg) > 0);
	} else {
		FUZZ_CHECK(json_object_object_get_ex(reply, "result", NULL));
	}
	json_object_put(reply);
	free(out);
	return 0;
}
