/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The ring state file (src/vhost/ringstate.c): created with the right size and header, kept
 * across opens, its records found only for the very ring they name, still there after the
 * process that wrote them was killed, locked against a second process, and never used, followed
 * or overwritten when it is not a plain file of ours or not laid out as this build lays it out.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "vhost/proto.h"
#include "vhost/ringstate.h"
#include "virtq/virtq.h"

static char dir[64], path[128];

/* A ring as the front-end set it up; `at` is its used position (slot | wrap << 15). */
static void vq_as(struct virtq *vq, uint64_t desc, uint32_t num, uint16_t at)
{
	virtq_init(vq, "test/rx0");
	vq->desc_uva = desc;
	vq->avail_uva = desc + 16 * (uint64_t)num;
	vq->used_uva = desc + 16 * (uint64_t)num + 64;
	vq->num = num;
	vq->used_idx = at & 0x7fff;
	vq->used_wrap = at >> 15;
}

/* A fresh directory for each test. */
static int setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/vhostd-ringstate.XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof(path), "%s/p0.sock.state", dir);
	return 0;
}

/* Removes the directory and whatever a test left in it. */
static int teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* The size of the file at p, -1 when it cannot be read. */
static long long file_size(const char *p)
{
	struct stat st;

	return stat(p, &st) < 0 ? -1 : (long long)st.st_size;
}

/* Opens path for nrings rings and expects it to work. */
static struct ringstate *open_ok(unsigned nrings)
{
	struct ringstate *rs = NULL;

	assert_int_equal(ringstate_open(path, nrings, &rs), 0);
	assert_non_null(rs);
	return rs;
}

/* A new file: mode 0600, the size for its rings, this build's header, nothing kept; kept on the
 * next open. */
static void test_create(void **state)
{
	struct ringstate *rs = open_ok(4);
	uint8_t hdr[64];
	struct stat st;
	int fd;

	assert_false(ringstate_kept(rs));
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(file_size(path), (long long)ringstate_file_size(4));
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, hdr, sizeof(hdr), 0), sizeof(hdr));
	close(fd);
	assert_int_equal(ringstate_check_header(hdr, sizeof(hdr), 4), 0);
	ringstate_close(rs);
	rs = open_ok(4);
	assert_true(ringstate_kept(rs));
	ringstate_close(rs);
	ringstate_close(NULL);
}

/*
 * A claimed ring's record holds its position and is found for the same addresses and size
 * only; forgetting it, or other addresses, void it. Records live in the file.
 */
static void test_claim_find(void **state)
{
	struct ringstate *rs = open_ok(2);
	struct virtq vq, other;
	const uint64_t *log = NULL;
	uint64_t st = 0;

	vq_as(&vq, 0x7f0000100000ull, 256, 0x8005);
	assert_false(ringstate_find(rs, 1, &vq, &st, &log));
	ringstate_claim(rs, 1, &vq);
	assert_true(ringstate_find(rs, 1, &vq, &st, &log));
	assert_int_equal(st, virtq_used_state(0x8005, 0x8005, 0));
	assert_non_null(log);
	assert_ptr_equal(log, vq.pk_log); /* the engine records there */
	assert_non_null(vq.pk_state);
	assert_false(ringstate_find(rs, 0, &vq, &st, &log)); /* another ring's record */
	assert_false(ringstate_find(rs, 2, &vq, &st, &log)); /* beyond the port's rings */
	other = vq;
	other.desc_uva += 0x1000;
	assert_false(ringstate_find(rs, 1, &other, &st, &log));
	other = vq;
	other.avail_uva += 4;
	assert_false(ringstate_find(rs, 1, &other, &st, &log));
	other = vq;
	other.used_uva += 4;
	assert_false(ringstate_find(rs, 1, &other, &st, &log));
	other = vq;
	other.num = 128;
	assert_false(ringstate_find(rs, 1, &other, &st, &log));

	/* The same addresses again (a front-end reconnecting) keep it; others void it. */
	ringstate_forget_other(rs, 1, vq.desc_uva, vq.avail_uva, vq.used_uva);
	assert_true(ringstate_find(rs, 1, &vq, &st, &log));
	ringstate_close(rs);
	rs = open_ok(2);
	assert_true(ringstate_kept(rs));
	assert_true(ringstate_find(rs, 1, &vq, &st, &log));
	assert_int_equal(st, virtq_used_state(0x8005, 0x8005, 0));
	ringstate_forget_other(rs, 1, vq.desc_uva, vq.avail_uva + 8, vq.used_uva);
	assert_false(ringstate_find(rs, 1, &vq, &st, &log));

	/* Forgetting voids it and the engine stops recording there. */
	ringstate_claim(rs, 0, &vq);
	assert_true(ringstate_find(rs, 0, &vq, &st, &log));
	ringstate_forget(rs, 0, &vq);
	assert_false(ringstate_find(rs, 0, &vq, &st, &log));
	assert_null(vq.pk_state);
	ringstate_forget(rs, 7, NULL); /* out of range: nothing */
	ringstate_forget(NULL, 0, NULL);
	ringstate_close(rs);
}

/*
 * What a process wrote is there after it was killed: the record and the log it wrote through
 * the engine's pointers, and the lock is free again.
 */
static void test_survives_sigkill(void **state)
{
	struct virtq vq;
	const uint64_t *log = NULL;
	uint64_t st = 0;
	struct ringstate *rs;
	int status = 0;
	pid_t pid;

	vq_as(&vq, 0x7f0000200000ull, 512, 0x0011);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct ringstate *crs = NULL;

		if (ringstate_open(path, 2, &crs) < 0)
			_exit(1);
		ringstate_claim(crs, 0, &vq);
		vq.pk_log[0] = htole64(virtq_used_entry(0x0011, 7, 1500));
		vq.pk_log[1] = htole64(virtq_used_entry(0x0012, 8, 60));
		*vq.pk_state = htole64(virtq_used_state(0x0011, 0x0013, 2));
		raise(SIGKILL);
		_exit(2);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	rs = open_ok(2);
	assert_true(ringstate_kept(rs));
	assert_true(ringstate_find(rs, 0, &vq, &st, &log));
	assert_int_equal(st, virtq_used_state(0x0011, 0x0013, 2));
	assert_int_equal(le64toh(log[0]), virtq_used_entry(0x0011, 7, 1500));
	assert_int_equal(le64toh(log[1]), virtq_used_entry(0x0012, 8, 60));
	ringstate_close(rs);
}

/* One process at a time: a second open fails while the first holds the file. */
static void test_locked(void **state)
{
	struct ringstate *a = open_ok(2), *b = NULL;

	assert_int_equal(ringstate_open(path, 2, &b), -EBUSY);
	assert_null(b);
	ringstate_close(a);
	b = open_ok(2);
	ringstate_close(b);
}

/* Writes len bytes of buf as the whole file at p. */
static void write_file(const char *p, const void *buf, size_t len, off_t size)
{
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	if (size > (off_t)len)
		assert_int_equal(ftruncate(fd, size), 0);
	close(fd);
}

/*
 * Not a plain file of ours with one name: refused, and whatever is there is left as it was
 * (a link never gets its target truncated).
 */
static void test_not_ours(void **state)
{
	char target[160];
	struct ringstate *rs = NULL;
	const char text[] = "somebody else's file";
	char back[sizeof(text)] = { 0 };
	int fd;

	snprintf(target, sizeof(target), "%s/target", dir);
	write_file(target, text, sizeof(text), 0);
	assert_int_equal(symlink(target, path), 0);
	assert_int_equal(ringstate_open(path, 2, &rs), -EPERM);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(link(target, path), 0);
	assert_int_equal(ringstate_open(path, 2, &rs), -EPERM);
	assert_int_equal(unlink(path), 0);
	fd = open(target, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, back, sizeof(back)), sizeof(back));
	close(fd);
	assert_memory_equal(back, text, sizeof(text));

	assert_int_equal(mkfifo(path, 0600), 0);
	assert_int_equal(ringstate_open(path, 2, &rs), -EPERM);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_true(ringstate_open(path, 2, &rs) < 0);
	assert_int_equal(rmdir(path), 0);
	if (geteuid() == 0) { /* someone else's file (only root can make one here) */
		write_file(path, text, sizeof(text), 0);
		assert_int_equal(chown(path, 65534, 65534), 0);
		assert_int_equal(ringstate_open(path, 2, &rs), -EPERM);
		assert_int_equal(unlink(path), 0);
	}

	snprintf(target, sizeof(target), "%s/no/such/dir.state", dir);
	assert_int_equal(ringstate_open(target, 2, &rs), -ENOENT);
	assert_int_equal(ringstate_open(path, 0, &rs), -EINVAL);
	assert_int_equal(ringstate_open(path, VU_MAX_VRINGS + 1, &rs), -EINVAL);
	assert_null(rs);
}

/*
 * A file that is not laid out as this build lays it out (another header, another size, another
 * ring count, garbage) is cleared: nothing in it is found, and it gets the right size.
 */
static void test_cleared(void **state)
{
	struct virtq vq;
	const uint64_t *log;
	uint64_t st, size = ringstate_file_size(2);
	uint8_t *good;
	int fd;

	vq_as(&vq, 0x7f0000300000ull, 64, 0x8001);
	{
		struct ringstate *rs = open_ok(2);

		ringstate_claim(rs, 1, &vq);
		ringstate_close(rs);
	}
	good = malloc(size);
	assert_non_null(good);
	fd = open(path, O_RDONLY);
	assert_int_equal(pread(fd, good, size, 0), (ssize_t)size);
	close(fd);

	for (unsigned k = 0; k < 8; k++) {
		uint8_t *bad = malloc(size);
		uint64_t len = size;
		unsigned nrings = 2;
		struct ringstate *rs;

		memcpy(bad, good, size);
		switch (k) {
		case 0: /* magic */
			bad[0] ^= 1;
			break;
		case 1: /* version */
			bad[8]++;
			break;
		case 2: /* where ring 0 starts */
			bad[12]++;
			break;
		case 3: /* bytes per ring */
			bad[16]++;
			break;
		case 4: /* ring count in the header */
			bad[20]++;
			break;
		case 5: /* log size */
			bad[24]++;
			break;
		case 6: /* a file cut short */
			len = size - 4096;
			break;
		case 7: /* a port with another ring count */
			nrings = 4;
			break;
		}
		write_file(path, bad, len, 0);
		free(bad);
		rs = NULL;
		assert_int_equal(ringstate_open(path, nrings, &rs), 0);
		assert_false(ringstate_kept(rs));
		if (ringstate_find(rs, 1, &vq, &st, &log))
			fail_msg("case %u: a record was found in a cleared file", k);
		assert_int_equal(file_size(path), (long long)ringstate_file_size(nrings));
		ringstate_close(rs);
	}
	/* The reserved bytes of the header are not looked at. */
	good[60] ^= 0xff;
	write_file(path, good, size, 0);
	{
		struct ringstate *rs = open_ok(2);

		assert_true(ringstate_kept(rs));
		assert_true(ringstate_find(rs, 1, &vq, &st, &log));
		ringstate_close(rs);
	}
	free(good);
}

/* The header parser alone: exact fields, enough bytes. */
static void test_check_header(void **state)
{
	struct ringstate *rs = open_ok(3);
	uint8_t hdr[64], bad[64];
	int fd = open(path, O_RDONLY);

	assert_int_equal(pread(fd, hdr, sizeof(hdr), 0), sizeof(hdr));
	close(fd);
	ringstate_close(rs);
	assert_int_equal(ringstate_check_header(hdr, 64, 3), 0);
	assert_int_equal(ringstate_check_header(hdr, 63, 3), -EINVAL);
	assert_int_equal(ringstate_check_header(hdr, 64, 2), -EINVAL);
	for (unsigned i = 0; i < 28; i++) {
		memcpy(bad, hdr, sizeof(bad));
		bad[i] ^= 0x40;
		if (ringstate_check_header(bad, sizeof(bad), 3) != -EINVAL)
			fail_msg("header byte %u changed and still accepted", i);
	}
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

/* Runs every test above; the exit status is the number of failures. */
int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_create),	  T(test_claim_find), T(test_survives_sigkill), T(test_locked),
		T(test_not_ours), T(test_cleared),    T(test_check_header),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
