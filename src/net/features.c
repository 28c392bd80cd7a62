/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "net/features.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "net/virtio_net.h"
#include "vhost/proto.h"
#include "virtq/virtq.h"

static const struct {
	const char *name;
	uint8_t bit;
} names[] = {
	{ "csum", VIRTIO_NET_F_CSUM },
	{ "guest_csum", VIRTIO_NET_F_GUEST_CSUM },
	{ "mtu", VIRTIO_NET_F_MTU },
	{ "mac", VIRTIO_NET_F_MAC },
	{ "guest_tso4", VIRTIO_NET_F_GUEST_TSO4 },
	{ "guest_tso6", VIRTIO_NET_F_GUEST_TSO6 },
	{ "guest_ecn", VIRTIO_NET_F_GUEST_ECN },
	{ "guest_ufo", VIRTIO_NET_F_GUEST_UFO },
	{ "host_tso4", VIRTIO_NET_F_HOST_TSO4 },
	{ "host_tso6", VIRTIO_NET_F_HOST_TSO6 },
	{ "host_ecn", VIRTIO_NET_F_HOST_ECN },
	{ "host_ufo", VIRTIO_NET_F_HOST_UFO },
	{ "mrg_rxbuf", VIRTIO_NET_F_MRG_RXBUF },
	{ "status", VIRTIO_NET_F_STATUS },
	{ "guest_announce", VIRTIO_NET_F_GUEST_ANNOUNCE },
	{ "mq", VIRTIO_NET_F_MQ },
	{ "log_all", VHOST_F_LOG_ALL },
	{ "any_layout", VIRTIO_NET_F_ANY_LAYOUT },
	{ "indirect_desc", VIRTIO_RING_F_INDIRECT_DESC },
	{ "event_idx", VIRTIO_RING_F_EVENT_IDX },
	{ "version_1", VIRTIO_F_VERSION_1 },
	{ "packed", VIRTIO_F_RING_PACKED },
	{ "in_order", VIRTIO_F_IN_ORDER },
	{ "guest_uso4", VIRTIO_NET_F_GUEST_USO4 },
	{ "guest_uso6", VIRTIO_NET_F_GUEST_USO6 },
	{ "host_uso", VIRTIO_NET_F_HOST_USO },
};

int vnet_feature_bit(const char *name)
{
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(names[i].name, name) == 0)
			return names[i].bit;
	return -ENOENT;
}

const char *vnet_feature_name(unsigned bit)
{
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].bit == bit)
			return names[i].name;
	return NULL;
}

uint64_t vnet_features_required(void)
{
	return VNET_BIT(VIRTIO_F_VERSION_1);
}

char *vnet_features_format(uint64_t mask, char *buf, size_t len)
{
	size_t off = 0;

	if (len == 0)
		return buf;
	snprintf(buf, len, "none");
	for (unsigned b = 0; b < 64; b++) {
		const char *n = vnet_feature_name(b);
		int k;

		if (!(mask & VNET_BIT(b)))
			continue;
		k = n ? snprintf(buf + off, len - off, "%s%s", off ? "," : "", n)
		      : snprintf(buf + off, len - off, "%sbit%u", off ? "," : "", b);
		if (k < 0 || (size_t)k >= len - off)
			break; /* cut short, still terminated */
		off += (size_t)k;
	}
	return buf;
}
