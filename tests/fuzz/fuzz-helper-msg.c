/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fuzzes the decoder of vhostd-net-helper's record (helper_msg_decode), as vhostd reads it: the
 * first input byte is the number of fds that came with it (0..20), the rest the record. Checked:
 * 0 or -EPROTO; an accepted success has 1..HELPER_MAX_QUEUES fds, exactly as many as came, a
 * terminated non-empty name and a known header size; an accepted failure came without fds;
 * encoding an accepted record gives the same bytes back.
 */
#include <errno.h>
#include <string.h>

#include "fuzz.h"
#include "helper/msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t again[HELPER_MSG_LEN];
	struct helper_msg m;
	unsigned nfds;
	int r;

	if (size < 1)
		return 0;
	nfds = data[0] % 21;
	r = helper_msg_decode(data + 1, size - 1, nfds, &m);
	FUZZ_CHECK(r == 0 || r == -EPROTO);
	if (r < 0)
		return 0;
	FUZZ_CHECK(memchr(m.ifname, '\0', sizeof(m.ifname)) &&
		   memchr(m.error, '\0', sizeof(m.error)));
	if (m.status) {
		FUZZ_CHECK(nfds == 0 && m.nfds == 0);
	} else {
		FUZZ_CHECK(m.nfds == nfds && nfds >= 1 && nfds <= HELPER_MAX_QUEUES && m.ifname[0]);
		FUZZ_CHECK(m.vnet_hdr_size == 0 || m.vnet_hdr_size == 10 || m.vnet_hdr_size == 12);
	}
	/* Encoded again and decoded, it is the same record (padding after the texts is dropped
	 * by the decoder). */
	helper_msg_encode(&m, again);
	{
		struct helper_msg back;

		FUZZ_CHECK(helper_msg_decode(again, sizeof(again), nfds, &back) == 0);
		FUZZ_CHECK(memcmp(&back, &m, sizeof(m)) == 0);
	}
	return 0;
}
