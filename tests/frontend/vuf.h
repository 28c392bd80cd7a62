/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vuf: a small vhost-user front-end for tests.
 *
 * It plays the part QEMU plays: it owns guest memory (a memfd, cut into regions), lays out split
 * virtqueues in it and talks vhost-user to a back-end. Nothing here trusts or protects the
 * back-end, and nothing stops a test from writing any descriptor or sending any message: the
 * raw ring structures and the raw message sender are public on purpose.
 *
 * Conventions: functions return 0 (or a count/index) on success and a negative errno on failure;
 * ret_* output parameters are only written on success. All wire formats are native-endian
 * (x86-64 here, so little-endian, as virtio 1.x requires).
 */
#ifndef VUF_H
#define VUF_H

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- vhost-user wire format ---- */

enum vuf_request {
	VUF_GET_FEATURES = 1,
	VUF_SET_FEATURES = 2,
	VUF_SET_OWNER = 3,
	VUF_RESET_OWNER = 4,
	VUF_SET_MEM_TABLE = 5,
	VUF_SET_LOG_BASE = 6,
	VUF_SET_LOG_FD = 7,
	VUF_SET_VRING_NUM = 8,
	VUF_SET_VRING_ADDR = 9,
	VUF_SET_VRING_BASE = 10,
	VUF_GET_VRING_BASE = 11,
	VUF_SET_VRING_KICK = 12,
	VUF_SET_VRING_CALL = 13,
	VUF_SET_VRING_ERR = 14,
	VUF_GET_PROTOCOL_FEATURES = 15,
	VUF_SET_PROTOCOL_FEATURES = 16,
	VUF_GET_QUEUE_NUM = 17,
	VUF_SET_VRING_ENABLE = 18,
	VUF_SEND_RARP = 19,
	VUF_NET_SET_MTU = 20,
	VUF_GET_MAX_MEM_SLOTS = 36,
	VUF_ADD_MEM_REG = 37,
	VUF_REM_MEM_REG = 38,
	VUF_SET_STATUS = 39,
	VUF_GET_STATUS = 40,
};

#define VUF_VERSION	    0x1u
#define VUF_FLAG_REPLY	    (1u << 2)
#define VUF_FLAG_NEED_REPLY (1u << 3)
#define VUF_VRING_NOFD	    (1ull << 8) /* in the u64 of SET_VRING_KICK/CALL/ERR */

/* Virtio and vhost-user feature bits (bit numbers). */
enum {
	VUF_F_CSUM = 0,
	VUF_F_GUEST_CSUM = 1,
	VUF_F_MAC = 5,
	VUF_F_GUEST_TSO4 = 7,
	VUF_F_GUEST_TSO6 = 8,
	VUF_F_GUEST_ECN = 9,
	VUF_F_GUEST_UFO = 10,
	VUF_F_HOST_TSO4 = 11,
	VUF_F_HOST_TSO6 = 12,
	VUF_F_HOST_ECN = 13,
	VUF_F_HOST_UFO = 14,
	VUF_F_MRG_RXBUF = 15,
	VUF_F_STATUS = 16,
	VUF_F_CTRL_VQ = 17,
	VUF_F_MQ = 22,
	VUF_F_LOG_ALL = 26,
	VUF_F_ANY_LAYOUT = 27,
	VUF_F_INDIRECT_DESC = 28,
	VUF_F_EVENT_IDX = 29,
	VUF_F_PROTOCOL_FEATURES = 30,
	VUF_F_VERSION_1 = 32,
	VUF_F_ACCESS_PLATFORM = 33,
	VUF_F_RING_PACKED = 34,
};

/* vhost-user protocol feature bits (bit numbers). */
enum {
	VUF_PF_MQ = 0,
	VUF_PF_LOG_SHMFD = 1,
	VUF_PF_RARP = 2,
	VUF_PF_REPLY_ACK = 3,
	VUF_PF_MTU = 4,
	VUF_PF_SLAVE_REQ = 5,
	VUF_PF_CONFIG = 9,
	VUF_PF_INBAND_NOTIFICATIONS = 14,
	VUF_PF_CONFIGURE_MEM_SLOTS = 15,
	VUF_PF_STATUS = 16,
};

#define VUF_BIT(n) (1ull << (n))

enum {
	VUF_HDR_SIZE = 12,
	VUF_MAX_FDS = 16,	   /* most fds one message of ours carries */
	VUF_MEM_TABLE_MAX = 8,	   /* regions in one SET_MEM_TABLE */
	VUF_MAX_REGIONS = 512,	   /* regions a vuf_mem can describe (ADD_MEM_REG) */
	VUF_MSG_MAX_PAYLOAD = 4096 /* largest payload vuf_recv() accepts */
};

struct vuf_hdr {
	uint32_t request;
	uint32_t flags;
	uint32_t size;
};
static_assert(sizeof(struct vuf_hdr) == VUF_HDR_SIZE, "vhost-user header is 12 bytes");

struct vuf_state {
	uint32_t index;
	uint32_t num;
};
static_assert(sizeof(struct vuf_state) == 8, "vring state is 8 bytes");

struct vuf_addr {
	uint32_t index;
	uint32_t flags;
	uint64_t desc;
	uint64_t used;
	uint64_t avail;
	uint64_t log;
};
static_assert(sizeof(struct vuf_addr) == 40, "vring address is 40 bytes");

struct vuf_region_desc {
	uint64_t gpa;
	uint64_t size;
	uint64_t uaddr;
	uint64_t mmap_offset;
};
static_assert(sizeof(struct vuf_region_desc) == 32, "memory region is 32 bytes");

struct vuf_mem_table {
	uint32_t nregions;
	uint32_t padding;
	struct vuf_region_desc regions[VUF_MEM_TABLE_MAX];
};
static_assert(sizeof(struct vuf_mem_table) == 264, "memory table is 264 bytes");

struct vuf_mem_reg {
	uint64_t padding;
	struct vuf_region_desc region;
};
static_assert(sizeof(struct vuf_mem_reg) == 40, "single memory region is 40 bytes");

/* A received message: header, payload, and the fds that came with it (owned by the holder). */
struct vuf_msg {
	struct vuf_hdr hdr;
	union {
		uint64_t u64;
		struct vuf_state state;
		struct vuf_addr addr;
		struct vuf_mem_table mem;
		struct vuf_mem_reg memreg;
		uint8_t raw[VUF_MSG_MAX_PAYLOAD];
	};
	int fds[VUF_MAX_FDS];
	unsigned nfds;
};

/* ---- connection ---- */

struct vuf_conn {
	int fd;
	uint64_t features;	    /* what vuf_negotiate() acked with SET_FEATURES */
	uint64_t protocol_features; /* what it acked with SET_PROTOCOL_FEATURES */
	int timeout_ms;		    /* how long a reply may take */
};

/* Connects to a back-end listening on path, retrying until timeout_ms passes (the back-end may
 * not be listening yet, or be busy with a previous front-end). */
int vuf_connect(struct vuf_conn *ret, const char *path, int timeout_ms);

/* Creates a listening unix socket at path (unlinking a stale one) for back-ends in client mode. */
int vuf_listen(const char *path, int *ret_fd);

/* Accepts one back-end connection on a vuf_listen() socket within timeout_ms. */
int vuf_accept(struct vuf_conn *ret, int listen_fd, int timeout_ms);

/* Closes the connection; safe on a closed or zeroed-then-fd=-1 connection. */
void vuf_close(struct vuf_conn *c);

/* Sends len raw bytes in one sendmsg with nfds fds attached: anything, malformed included. */
int vuf_send_raw(struct vuf_conn *c, const void *buf, size_t len, const int *fds, unsigned nfds);

/* Sends one message: header {request, flags, size} then size bytes of payload. size is only
 * what the header claims; len_sent bytes of payload are really sent (to forge a size). */
int vuf_send_msg(struct vuf_conn *c, uint32_t request, uint32_t flags, uint32_t size,
		 const void *payload, size_t len_sent, const int *fds, unsigned nfds);

/* Sends a well-formed message (version flag set, plus extra_flags). */
int vuf_send(struct vuf_conn *c, uint32_t request, uint32_t extra_flags, const void *payload,
	     uint32_t size, const int *fds, unsigned nfds);

/* Receives one message within timeout_ms. -ECONNRESET when the peer closed, -ETIMEDOUT,
 * -EMSGSIZE when it announces a payload larger than VUF_MSG_MAX_PAYLOAD. Received fds belong to
 * the caller (vuf_msg_close_fds()); on failure *ret is scratch and any fds are already closed. */
int vuf_recv(struct vuf_conn *c, struct vuf_msg *ret, int timeout_ms);

/* Closes every fd a received message carried. */
void vuf_msg_close_fds(struct vuf_msg *m);

/* Sends a request that has a reply body (GET_*) and receives that reply; checks it answers the
 * request and has the REPLY flag, else -EPROTO. */
int vuf_call(struct vuf_conn *c, uint32_t request, const void *payload, uint32_t size,
	     struct vuf_msg *ret);

/* Sends a request with NEED_REPLY and returns the back-end's u64 verdict in *ret_ack
 * (0 = success). -ECONNRESET when the back-end closed the connection instead. */
int vuf_ack(struct vuf_conn *c, uint32_t request, const void *payload, uint32_t size,
	    const int *fds, unsigned nfds, uint64_t *ret_ack);

/* Sends a request that has no reply body. With REPLY_ACK negotiated it asks for an ack and turns
 * a non-zero one into -EPROTO, so set-up mistakes surface at the message that caused them. */
int vuf_set(struct vuf_conn *c, uint32_t request, const void *payload, uint32_t size,
	    const int *fds, unsigned nfds);

/* GET_FEATURES, GET_PROTOCOL_FEATURES, GET_QUEUE_NUM, GET_MAX_MEM_SLOTS, GET_STATUS. */
int vuf_get_u64(struct vuf_conn *c, uint32_t request, uint64_t *ret);

/* Negotiates like QEMU: GET_FEATURES, then (when offered) GET/SET_PROTOCOL_FEATURES, SET_OWNER,
 * SET_FEATURES. Acks offered & want and offered_pf & want_pf; records them in c. */
int vuf_negotiate(struct vuf_conn *c, uint64_t want, uint64_t want_pf);

/* SET_VRING_NUM, SET_VRING_BASE, SET_VRING_ENABLE and friends with a vring state payload. */
int vuf_set_state(struct vuf_conn *c, uint32_t request, uint32_t index, uint32_t num);

/* GET_VRING_BASE: stops ring index and returns its next avail index. */
int vuf_get_vring_base(struct vuf_conn *c, uint32_t index, uint32_t *ret_num);

/* SET_VRING_KICK/CALL/ERR for ring index with fd, or with the no-fd flag when fd < 0. */
int vuf_set_vring_fd(struct vuf_conn *c, uint32_t request, uint32_t index, int fd);

/* ---- guest memory ---- */

struct vuf_region {
	uint64_t gpa;
	uint64_t size;
	uint64_t offset; /* in the memfd, and from vuf_mem.base in our mapping */
};

/* Guest memory: one memfd mapped once here (so it is contiguous for us), announced to the
 * back-end as one or several regions that slice it, contiguous in guest-physical space from
 * gpa_base. The back-end maps each region on its own, so a buffer that crosses a region edge
 * is contiguous in guest-physical space but not in the back-end's address space. */
struct vuf_mem {
	int fd;
	uint8_t *base;
	uint64_t size;
	uint64_t gpa_base;
	unsigned nregions;
	struct vuf_region regions[VUF_MAX_REGIONS];
	uint64_t brk; /* bump allocator, offset from base */
};

/* What backs guest memory: a memfd (QEMU's memory-backend-memfd, unsealed), a memfd of 2 MiB
 * huge pages (hugetlbfs), or an unlinked file on tmpfs (memory-backend-file in /dev/shm). */
enum vuf_mem_kind { VUF_MEM_MEMFD, VUF_MEM_HUGETLB, VUF_MEM_TMPFILE };

/* Creates size bytes (page multiple) of zeroed guest memory at gpa_base, as a single region. */
int vuf_mem_init(struct vuf_mem *mem, uint64_t size, uint64_t gpa_base);

/* The same backed by kind (size a multiple of 2 MiB for VUF_MEM_HUGETLB). */
int vuf_mem_init_kind(struct vuf_mem *mem, uint64_t size, uint64_t gpa_base,
		      enum vuf_mem_kind kind);

/* Re-cuts the memory into n regions: sizes[i] bytes each (page multiples, summing to the
 * memory size), or n equal parts when sizes is NULL. */
int vuf_mem_split(struct vuf_mem *mem, unsigned n, const uint64_t *sizes);

/* Unmaps and closes; safe on a zeroed or already freed vuf_mem. */
void vuf_mem_free(struct vuf_mem *mem);

/* Guest-physical address of a pointer into the mapping (the pointer must be inside). */
uint64_t vuf_mem_gpa(const struct vuf_mem *mem, const void *p);

/* Our pointer for [gpa, gpa+len), or NULL when any of it is outside guest memory. */
void *vuf_mem_host(const struct vuf_mem *mem, uint64_t gpa, uint64_t len);

/* gpa of the first region edge strictly after gpa, or 0 when none is left. */
uint64_t vuf_mem_next_edge(const struct vuf_mem *mem, uint64_t gpa);

/* Allocates len bytes aligned to align from the bump allocator; NULL when full. */
void *vuf_mem_alloc(struct vuf_mem *mem, uint64_t len, uint64_t align);

/* Region i as the wire describes it. */
struct vuf_region_desc vuf_mem_region_desc(const struct vuf_mem *mem, unsigned i);

/* SET_MEM_TABLE with every region (at most 8), the memfd attached once per region. */
int vuf_set_mem_table(struct vuf_conn *c, const struct vuf_mem *mem);

/* ADD_MEM_REG / REM_MEM_REG for region i (REM sends no fd). */
int vuf_add_mem_reg(struct vuf_conn *c, const struct vuf_mem *mem, unsigned i);
int vuf_rem_mem_reg(struct vuf_conn *c, const struct vuf_mem *mem, unsigned i);

/* ---- split virtqueues ---- */

enum {
	VUF_DESC_F_NEXT = 1,
	VUF_DESC_F_WRITE = 2,
	VUF_DESC_F_INDIRECT = 4,
	VUF_AVAIL_F_NO_INTERRUPT = 1,
	VUF_USED_F_NO_NOTIFY = 1,
};

struct vuf_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};
static_assert(sizeof(struct vuf_desc) == 16, "descriptor is 16 bytes");

struct vuf_avail {
	uint16_t flags;
	uint16_t idx;
	uint16_t ring[]; /* num entries, then used_event */
};

struct vuf_used_elem {
	uint32_t id;
	uint32_t len;
};
static_assert(sizeof(struct vuf_used_elem) == 8, "used element is 8 bytes");

struct vuf_used {
	uint16_t flags;
	uint16_t idx;
	struct vuf_used_elem ring[]; /* num entries, then avail_event */
};

/* One buffer segment: guest-physical address, length, VUF_DESC_F_WRITE or 0. */
struct vuf_seg {
	uint64_t gpa;
	uint32_t len;
	uint16_t flags;
};

/* What the front-end remembers about a chain it made available. */
struct vuf_chain {
	bool busy;
	uint16_t ndesc; /* ring descriptors it holds (1 for an indirect chain) */
	uint16_t nsegs;
	struct vuf_seg *segs; /* copy of the segments, for reading RX data back */
	uint16_t *descs;      /* the ring descriptors it holds, head first */
	void *cookie;
};

struct vuf_vq {
	struct vuf_mem *mem;
	unsigned index;
	uint16_t num;
	bool event_idx;
	struct vuf_desc *desc;
	struct vuf_avail *avail;
	struct vuf_used *used;
	uint16_t avail_idx;  /* next avail index we will publish */
	uint16_t kicked_idx; /* avail index at the last notification decision */
	uint16_t used_idx;   /* next used index we will read */
	int kickfd, callfd, errfd;
	uint16_t free_head; /* free descriptors, linked through desc[].next */
	uint16_t nfree;
	struct vuf_chain *chains; /* by head index */
};

/* Lays out a ring of num (power of two) entries in mem, makes kick/call/err eventfds and puts
 * every descriptor on the free list. event_idx: use used_event/avail_event. */
int vuf_vq_init(struct vuf_vq *vq, struct vuf_mem *mem, unsigned index, uint16_t num,
		bool event_idx);

/* Closes the eventfds and frees the shadow state (ring memory stays in mem). */
void vuf_vq_free(struct vuf_vq *vq);

/* Sends SET_VRING_NUM, SET_VRING_BASE(base), SET_VRING_ADDR, SET_VRING_ERR, SET_VRING_CALL,
 * SET_VRING_KICK for this ring; first sets our indices, avail->idx, used->idx and avail_event
 * to base. */
int vuf_vq_setup(struct vuf_conn *c, struct vuf_vq *vq, uint16_t base);

/* Sends the same messages as vuf_vq_setup() but leaves the ring memory and our indices alone:
 * restarts a ring stopped by GET_VRING_BASE at base (which GET_VRING_BASE returned). */
int vuf_vq_restart(struct vuf_conn *c, struct vuf_vq *vq, uint16_t base);

/* SET_VRING_ADDR with this ring's addresses (user addresses in our mapping). */
int vuf_vq_set_addr(struct vuf_conn *c, const struct vuf_vq *vq);

/* Takes one descriptor off the free list; -ENOSPC when none is left. */
int vuf_vq_alloc_desc(struct vuf_vq *vq);

/* Makes a chain of n segments: in ring descriptors, or through the indirect table at table_gpa
 * (n*16 bytes of guest memory) when table_gpa != 0. Records it by head; returns the head or
 * -ENOSPC. The chain is not made available yet (vuf_vq_push()). */
int vuf_vq_add_chain(struct vuf_vq *vq, const struct vuf_seg *segs, unsigned n, uint64_t table_gpa,
		     void *cookie);

/* Writes head into the next avail slot (not yet visible: vuf_vq_publish()). */
void vuf_vq_push(struct vuf_vq *vq, uint16_t head);

/* Makes every pushed slot visible to the device (release store of avail->idx). */
void vuf_vq_publish(struct vuf_vq *vq);

/* Publishes and kicks if the device asked for it (avail_event, or USED_F_NO_NOTIFY). Returns 1
 * when it kicked, 0 when it was suppressed. */
int vuf_vq_notify(struct vuf_vq *vq);

/* Publishes and kicks unconditionally (starts a ring, or pokes a broken one). */
int vuf_vq_kick(struct vuf_vq *vq);

/* Number of used entries published by the device and not read yet. */
uint16_t vuf_vq_pending(const struct vuf_vq *vq);

/* Waits until at least one unread used entry exists, re-arming used_event (or clearing
 * NO_INTERRUPT) so the device calls; 0, or -ETIMEDOUT after timeout_ms, or -EPROTO when used
 * entries appeared but the device never signalled the call eventfd. */
int vuf_vq_wait(struct vuf_vq *vq, int timeout_ms);

/* Reads the next used entry; -EAGAIN when none, -EPROTO when its id is not a head we made
 * available. The chain stays ours until vuf_vq_release(). */
int vuf_vq_get_used(struct vuf_vq *vq, struct vuf_used_elem *ret);

/* Copies the first len bytes of chain head's segments into out; -EPROTO if len is larger than
 * the chain. */
int vuf_vq_copy_from(const struct vuf_vq *vq, uint16_t head, uint32_t len, void *out);

/* Returns chain head's descriptors to the free list. */
void vuf_vq_release(struct vuf_vq *vq, uint16_t head);

/* Reads and releases every used entry; returns how many. */
int vuf_vq_reclaim(struct vuf_vq *vq);

/* Waits for an eventfd to become readable within timeout_ms and returns its counter (> 0), or
 * -ETIMEDOUT. */
int vuf_eventfd_wait(int fd, int timeout_ms, uint64_t *ret_count);

/* ---- virtio-net ---- */

enum {
	VUF_NET_HDR_F_NEEDS_CSUM = 1,
	VUF_NET_HDR_F_DATA_VALID = 2,
	VUF_NET_HDR_GSO_NONE = 0,
};

struct vuf_net_hdr {
	uint8_t flags;
	uint8_t gso_type;
	uint16_t hdr_len;
	uint16_t gso_size;
	uint16_t csum_start;
	uint16_t csum_offset;
	uint16_t num_buffers;
};
static_assert(sizeof(struct vuf_net_hdr) == 12, "virtio_net_hdr_mrg_rxbuf is 12 bytes");

/* How a TX packet (12-byte header + frame) is laid out: copied contiguously at gpa, then cut
 * into descriptors: lens[0..nlens) first, the rest in pieces of at most seg bytes (0 = one
 * piece). table_gpa != 0 puts the chain in an indirect table there. */
struct vuf_tx_layout {
	uint64_t gpa;
	const uint32_t *lens;
	unsigned nlens;
	uint32_t seg;
	uint64_t table_gpa;
};

/* Number of descriptors a layout makes for a packet of total bytes. */
unsigned vuf_tx_layout_count(const struct vuf_tx_layout *l, uint64_t total);

/* Writes hdr (zeroes when NULL) and frame into guest memory as l says and makes the chain
 * available (pushed, not published). Returns the head, -ENOSPC when descriptors run out,
 * -EFAULT when the layout leaves guest memory. */
int vuf_net_tx(struct vuf_vq *vq, const struct vuf_net_hdr *hdr, const void *frame, size_t len,
	       const struct vuf_tx_layout *l, void *cookie);

/* Makes a device-writable RX buffer of len bytes at gpa available (pushed, not published), as
 * one descriptor or, when split is in (0, len), two descriptors of split and len-split bytes.
 * Returns the head or -ENOSPC. */
int vuf_net_rx_post(struct vuf_vq *vq, uint64_t gpa, uint32_t len, uint32_t split, void *cookie);

/* One packet received on an RX ring. */
struct vuf_rx_pkt {
	struct vuf_net_hdr hdr;
	uint32_t len;	   /* frame bytes (header excluded) */
	unsigned nbufs;	   /* used entries it took */
	void *cookies[64]; /* the cookies of those buffers, in order */
	uint32_t lens[64]; /* used len of each buffer */
	bool straggled;	   /* a later buffer was published after the first was seen */
};

/* Receives one packet into frame (cap bytes): waits up to timeout_ms for each used entry,
 * follows num_buffers (mergeable) and releases the chains (their cookies are returned so the
 * caller can post them again). -EPROTO when the device's used entries are inconsistent (len
 * larger than the buffer, num_buffers 0 or > 64, packet shorter than the header). */
int vuf_net_rx(struct vuf_vq *vq, bool mergeable, void *frame, size_t cap, struct vuf_rx_pkt *ret,
	       int timeout_ms);

#endif
