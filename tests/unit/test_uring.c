/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The data path's io_uring takes vectored reads and writes and nothing else: a worker's seccomp
 * filter cannot see what a ring does, so the ring itself must refuse an open or a connect.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cmocka.h>

#include "backend/uring.h"

/* Submits one prepared sqe and returns its completion's result. */
static int run_one(struct io_uring *r)
{
	struct io_uring_cqe *cqe;
	int res;

	assert_int_equal(io_uring_submit_and_wait(r, 1), 1);
	assert_int_equal(io_uring_peek_cqe(r, &cqe), 0);
	res = cqe->res;
	io_uring_cqe_seen(r, cqe);
	return res;
}

/* readv and writev work; openat, socket-like and plain read/write operations are refused. */
static void test_restricted(void **state)
{
	struct io_uring *r = uring_thread();
	char out[] = "abc", in[8] = { 0 };
	struct iovec wv = { out, 3 }, rv = { in, sizeof(in) };
	int p[2];

	(void)state;
	if (!r)
		skip(); /* io_uring disabled on this host: the daemon uses readv/writev then */
	assert_int_equal(pipe(p), 0);
	io_uring_prep_writev(io_uring_get_sqe(r), p[1], &wv, 1, 0);
	assert_int_equal(run_one(r), 3);
	io_uring_prep_readv(io_uring_get_sqe(r), p[0], &rv, 1, 0);
	assert_int_equal(run_one(r), 3);
	assert_memory_equal(in, "abc", 3);
	io_uring_prep_openat(io_uring_get_sqe(r), AT_FDCWD, "/etc/passwd", O_RDONLY, 0);
	assert_int_equal(run_one(r), -EACCES);
	io_uring_prep_write(io_uring_get_sqe(r), p[1], out, 3, 0);
	assert_int_equal(run_one(r), -EACCES);
	io_uring_prep_connect(io_uring_get_sqe(r), p[0], NULL, 0);
	assert_int_equal(run_one(r), -EACCES);
	/* No registration after the start either (files, buffers, more restrictions). */
	assert_true(io_uring_register_files(r, p, 2) < 0);
	uring_thread_fini();
	close(p[0]);
	close(p[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = { cmocka_unit_test(test_restricted) };

	return cmocka_run_group_tests_name("unit-uring", tests, NULL, NULL);
}
