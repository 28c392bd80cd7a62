/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "helper/msg.h"

#include <endian.h>
#include <errno.h>
#include <string.h>

/* Stores v little-endian at p. */
static void put32(uint8_t *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, 4);
}

/* The little-endian 32-bit value at p. */
static uint32_t get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return le32toh(v);
}

void helper_msg_encode(const struct helper_msg *m, uint8_t buf[HELPER_MSG_LEN])
{
	uint16_t v = htole16(HELPER_MSG_VERSION), l = htole16(HELPER_MSG_LEN);

	memset(buf, 0, HELPER_MSG_LEN);
	memcpy(buf, "VHNH", 4);
	memcpy(buf + 4, &v, 2);
	memcpy(buf + 6, &l, 2);
	put32(buf + 8, m->status);
	put32(buf + 12, m->ifindex);
	put32(buf + 16, m->vnet_hdr_size);
	put32(buf + 20, m->offloads);
	put32(buf + 24, m->nfds);
	memcpy(buf + 28, m->ifname, strnlen(m->ifname, 15));
	memcpy(buf + 44, m->error, strnlen(m->error, 127));
}

int helper_msg_decode(const uint8_t *buf, size_t len, unsigned nfds, struct helper_msg *m)
{
	uint16_t v, l;

	if (len < 8 || memcmp(buf, "VHNH", 4) != 0)
		return -EPROTO;
	memcpy(&v, buf + 4, 2);
	memcpy(&l, buf + 6, 2);
	if (le16toh(v) != HELPER_MSG_VERSION || le16toh(l) != HELPER_MSG_LEN ||
	    len != HELPER_MSG_LEN)
		return -EPROTO;
	memset(m, 0, sizeof(*m));
	m->status = get32(buf + 8);
	m->ifindex = get32(buf + 12);
	m->vnet_hdr_size = get32(buf + 16);
	m->offloads = get32(buf + 20);
	m->nfds = get32(buf + 24);
	/* Both texts must end inside their fields: no unterminated name reaches the caller. */
	if (!memchr(buf + 28, '\0', 16) || !memchr(buf + 44, '\0', 128))
		return -EPROTO;
	/* Only the text: whatever padding followed its NUL stays behind. */
	memcpy(m->ifname, buf + 28, strnlen((const char *)buf + 28, 16));
	memcpy(m->error, buf + 44, strnlen((const char *)buf + 44, 128));
	if (m->status)
		return nfds == 0 && m->nfds == 0 ? 0 : -EPROTO;
	if (!m->ifindex || !m->ifname[0] || m->nfds == 0 || m->nfds > HELPER_MAX_QUEUES ||
	    m->nfds != nfds)
		return -EPROTO;
	if (m->vnet_hdr_size != 0 && m->vnet_hdr_size != 10 && m->vnet_hdr_size != 12)
		return -EPROTO;
	return 0;
}
