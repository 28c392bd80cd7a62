/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vhostctl: asks a running vhostd for information over its control socket. */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* Prints usage. */
static void usage(void)
{
	printf("Usage: vhostctl --control PATH stats\n"
	       "Prints one line per port: state and counters (tx: sent by the guest,\n"
	       "rx: received by the guest).\n");
}

/* Sends cmd to the control socket at path and copies the answer to stdout. Returns exit code. */
static int run(const char *path, const char *cmd)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char buf[4096];
	int fd, rc = 0;
	ssize_t n;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "vhostctl: control path too long\n");
		return 2;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "vhostctl: %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return 1;
	}
	dprintf(fd, "%s\n", cmd);
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };

		if (poll(&p, 1, 5000) <= 0) {
			fprintf(stderr, "vhostctl: no answer from %s\n", path);
			rc = 1;
			break;
		}
		n = read(fd, buf, sizeof(buf));
		if (n <= 0)
			break;
		fwrite(buf, 1, (size_t)n, stdout);
		if (n >= 6 && strncmp(buf, "error:", 6) == 0)
			rc = 1;
	}
	close(fd);
	return rc;
}

/* Parses the command line and runs one command. */
int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "control", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *path = "/run/vhostd/control.sock";
	int o;

	while ((o = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (o) {
		case 'c':
			path = optarg;
			break;
		case 'h':
			usage();
			return 0;
		default:
			usage();
			return 2;
		}
	}
	if (optind != argc - 1 || strcmp(argv[optind], "stats") != 0) {
		usage();
		return 2;
	}
	return run(path, argv[optind]);
}
