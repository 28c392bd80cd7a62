/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fuzzes what a restarted vhostd reads back from a port's ring state file: the file's header
 * and ring records (src/vhost/ringstate.c), then the flush record and log a record points at,
 * applied to a packed ring in guest memory (virtq_packed_resume()), after which the ring runs
 * with its record in the file.
 *
 * Input:
 *   [0]      ring size - 1 (rings of 1..256)
 *   [1]      bit 0 IN_ORDER, bit 1 a call eventfd, bit 2 the harness writes this ring's
 *            addresses and size into the record (so that it names the ring), bit 3 ring 1's
 *            record instead of ring 0's
 *   [2..3]   the base the front-end sends (slot | wrap << 15, for both halves), little-endian
 *   [4..5]   bytes of log that follow the records, little-endian (at most 8 * 256)
 *   [6..7]   unused
 *   64 bytes the file's header; 2 x 64 bytes the records of rings 0 and 1; then the log bytes
 *   the rest guest memory (gpa 0): the descriptor ring, the driver and device areas after it,
 *            buffers after that; zero-padded to hold the ring
 * The file is a memfd of the port's size; a short input leaves the rest of it zero.
 *
 * Checked: a file of ours always opens; a refused record (-EINVAL, -ESTALE) changes neither the
 * ring's memory nor its position; an accepted one writes at most the entries it lists and
 * leaves a position inside the ring with nothing in flight; once the ring runs with its record,
 * every flush leaves a state word that says where the ring stands with nothing in progress.
 */
#include <endian.h>
#include <errno.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz.h"
#include "util/cleanup.h"
#include "vhost/ringstate.h"
#include "virtq/virtq.h"
#include "virtq/vmem.h"

#define MAX_MEM	 (64 * 1024)
#define HDR	 8
#define NRINGS	 2
#define FILE_HDR 4096u /* where ring 0 starts in the file (the layout of ringstate.c) */
#define REC	 64u   /* a record; its ring's log follows it */

static struct vmem mem;
static struct iovec iov[VIRTQ_MAX_IOV];
static int call_fd = -1;

/* Writes len bytes at off of fd; a memfd of the right size takes them all. */
static void put(int fd, const void *buf, size_t len, uint64_t off)
{
	FUZZ_CHECK(pwrite(fd, buf, len, (off_t)off) == (ssize_t)len);
}

/* Runs one input (format at the top). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint64_t stride = ringstate_file_size(1) - FILE_HDR;
	size_t need = HDR + 64 + REC * NRINGS, loglen, mem_len, ring_end;
	unsigned idx, num;
	uint16_t base;
	struct ringstate *rs = NULL;
	struct virtq vq;
	const uint64_t *log;
	uint64_t state;
	uint8_t *ring, *before = NULL;
	int fd, r;

	if (size < need)
		return 0;
	fuzz_quiet_logs();
	if (call_fd < 0)
		call_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	num = 1u + data[0];
	idx = (data[1] >> 3) & 1;
	base = (uint16_t)(data[2] | data[3] << 8);
	loglen = (size_t)(data[4] | data[5] << 8);
	loglen = MIN(loglen, MIN(8u * 256, size - need));
	ring_end = 16 * (size_t)num + 8;

	/* Guest memory: one region holding the ring and what its descriptors point at. */
	mem_len = MIN(size - need - loglen, (size_t)MAX_MEM);
	mem_len = MAX(mem_len, ring_end);
	ring = calloc(1, mem_len);
	before = malloc(ring_end);
	FUZZ_CHECK(ring && before);
	memcpy(ring, data + need + loglen, MIN(size - need - loglen, mem_len));
	vmem_init(&mem);
	FUZZ_CHECK(vmem_add_raw(&mem, 0, mem_len, FUZZ_UVA, ring) == 0);
	fuzz_packed_vq(&vq, &mem, num, data[1] & 1 ? 1ull << VIRTQ_F_IN_ORDER : 0,
		       data[1] & 2 ? call_fd : -1);

	/* The file as the last run left it. */
	fd = memfd_create("fuzz-ringstate", MFD_CLOEXEC);
	FUZZ_CHECK(fd >= 0);
	FUZZ_CHECK(ftruncate(fd, (off_t)ringstate_file_size(NRINGS)) == 0);
	put(fd, data + HDR, 64, 0);
	for (unsigned i = 0; i < NRINGS; i++) {
		uint8_t rec[REC];

		memcpy(rec, data + HDR + 64 + REC * i, REC);
		if ((data[1] & 4) && i == idx) {
			uint64_t id[3] = { htole64(vq.desc_uva), htole64(vq.avail_uva),
					   htole64(vq.used_uva) };
			uint32_t n = htole32(num);

			memcpy(rec, id, sizeof(id));
			memcpy(rec + sizeof(id), &n, sizeof(n));
		}
		put(fd, rec, REC, FILE_HDR + i * stride);
	}
	put(fd, data + need, loglen, FILE_HDR + idx * stride + REC);
	FUZZ_CHECK(ringstate_open_fd(fd, NRINGS, &rs) == 0); /* a plain file of ours opens */

	r = virtq_map(&vq, base | (uint32_t)base << 16);
	if (r < 0) {
		FUZZ_CHECK(r == -EINVAL && (base & 0x7fff) >= num);
		goto out;
	}
	if (ringstate_find(rs, idx, &vq, &state, &log)) {
		uint32_t pos = virtq_position(&vq);

		memcpy(before, ring, ring_end);
		r = virtq_packed_resume(&vq, state, log);
		FUZZ_CHECK(r >= 0 || r == -EINVAL || r == -ESTALE);
		if (r < 0) {
			FUZZ_CHECK(memcmp(before, ring, ring_end) == 0);
			FUZZ_CHECK(virtq_position(&vq) == pos);
		} else {
			FUZZ_CHECK((uint64_t)r <= ((state >> 32) & 0xffff));
			pos = virtq_position(&vq);
			FUZZ_CHECK((pos & 0x7fff) < num && virtq_base(&vq) == (pos | pos << 16));
		}
	}

	/* The ring runs with its record in the file. */
	ringstate_claim(rs, idx, &vq);
	for (unsigned round = 0; round < 2 * num + 4; round++) {
		struct virtq_chain ch;

		if (virtq_pop(&vq, iov, VIRTQ_MAX_IOV, &ch) != 1)
			break;
		virtq_push(&vq, ch.head, ch.in_len);
		if (round % 3 == 2)
			virtq_flush_notify(&vq);
	}
	virtq_flush_notify(&vq);
	if (virtq_ready(&vq)) {
		uint16_t at = (uint16_t)(virtq_base(&vq) >> 16);

		FUZZ_CHECK(le64toh(*vq.pk_state) == virtq_used_state(at, at, 0));
	}
	ringstate_forget(rs, idx, &vq);
	FUZZ_CHECK(!ringstate_find(rs, idx, &vq, &state, &log));
out:
	virtq_free(&vq);
	ringstate_close(rs);
	vmem_init(&mem);
	free(ring);
	free(before);
	fuzz_drain(call_fd);
	return 0;
}
