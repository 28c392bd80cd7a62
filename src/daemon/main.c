/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vhostd: parse the command line, create the ports, run the loop until told to stop. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "daemon/cli.h"
#include "daemon/control.h"
#include "util/loop.h"
#include "daemon/port.h"
#include "dataplane/worker.h"
#include "net/vnet.h"
#include "util/cleanup.h"
#include "util/log.h"

#ifndef VHOSTD_VERSION
#define VHOSTD_VERSION "unknown"
#endif

struct daemon {
	struct loop *loop;
	struct port *ports[CLI_MAX_PORTS];
	unsigned nports;
	struct control *control;
	int sig_fd;
	struct ev sig_ev;
	bool workers;
	bool quit;
};

/*
 * Spreads queue pairs over workers round-robin; a cross-connected port shares its peer's
 * workers so a transmit and the peer's receive ring are handled by one thread.
 */
static void assign_workers(struct cli *cli)
{
	unsigned next = 0;

	for (unsigned i = 0; i < cli->nports; i++) {
		struct port_config *c = &cli->ports[i];
		bool placed = false;

		for (unsigned j = 0; j < i && c->backend == PORT_BACKEND_PORT; j++) {
			if (strcmp(cli->ports[j].name, c->peer) == 0) {
				c->worker_base = cli->ports[j].worker_base;
				placed = true;
			}
		}
		if (!placed) {
			c->worker_base = next;
			next += c->queues;
		}
	}
}

/* Logs every port's counters, one line each. */
static void log_stats(struct daemon *d)
{
	char line[512];

	for (unsigned i = 0; i < d->nports; i++) {
		size_t n = port_format_stats(d->ports[i], line, sizeof(line));
		if (n > 0 && line[n - 1] == '\n')
			line[n - 1] = '\0';
		log_info("%s", line);
	}
}

/* SIGUSR1 logs the counters; SIGTERM and SIGINT end the loop. */
static void on_signal(struct ev *ev, uint32_t events)
{
	struct daemon *d = container_of(ev, struct daemon, sig_ev);
	struct signalfd_siginfo si;

	while (read(d->sig_fd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGUSR1) {
			log_stats(d);
		} else {
			log_info("signal %u: shutting down", si.ssi_signo);
			d->quit = true;
		}
	}
}

/* Tells whoever started us that every port is set up. */
static void notify_ready(int fd)
{
	static const char msg[] = "READY=1\n";

	if (fd < 0)
		return;
	if (write(fd, msg, sizeof(msg) - 1) < 0)
		log_warn("--ready-fd %d: %s", fd, strerror(errno));
	close(fd);
}

/* Releases everything the daemon set up; safe on a partly built daemon. */
static void daemon_free(struct daemon *d)
{
	control_free(d->control);
	for (unsigned i = 0; i < d->nports; i++)
		port_free(d->ports[i]);
	if (d->workers)
		workers_stop();
	if (d->sig_fd >= 0 && d->loop)
		loop_del(d->loop, &d->sig_ev);
	safe_close(d->sig_fd);
	loop_free(d->loop);
	vnet_thread_fini();
}

int main(int argc, char **argv)
{
	struct daemon d = { .sig_fd = -1 };
	struct cli cli;
	sigset_t mask;
	int r;

	if (cli_parse(argc, argv, &cli) < 0)
		return 2;
	if (cli.help) {
		cli_usage();
		return 0;
	}
	if (cli.version) {
		printf("vhostd %s\n", VHOSTD_VERSION);
		return 0;
	}
	log_set_level(cli.level);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGUSR1);
	sigprocmask(SIG_BLOCK, &mask, NULL);

	r = loop_new(&d.loop);
	if (r < 0)
		goto fail;
	d.sig_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (d.sig_fd < 0) {
		r = -errno;
		goto fail;
	}
	ev_init(&d.sig_ev, on_signal);
	r = loop_add(d.loop, &d.sig_ev, d.sig_fd, EPOLLIN);
	if (r < 0)
		goto fail;
	r = workers_start(cli.workers, cli.cpus, cli.ncpus);
	if (r < 0) {
		log_error("cannot start %u workers: %s", cli.workers, strerror(-r));
		goto fail;
	}
	d.workers = true;
	/* The control thread sends frames too (the RARP after a migration): it needs scratch. */
	r = vnet_thread_init();
	if (r < 0)
		goto fail;
	assign_workers(&cli);
	for (unsigned i = 0; i < cli.nports; i++) {
		r = port_new(d.loop, &cli.ports[i], &d.ports[i]);
		if (r < 0) {
			log_error("port %s: %s", cli.ports[i].name, strerror(-r));
			goto fail;
		}
		d.nports++;
	}
	for (unsigned i = 0; i < d.nports; i++) {
		const struct port_config *c = port_config(d.ports[i]);

		for (unsigned j = i + 1; j < d.nports && c->backend == PORT_BACKEND_PORT; j++)
			if (strcmp(c->peer, port_name(d.ports[j])) == 0)
				port_link_peers(d.ports[i], d.ports[j]);
	}
	if (cli.control) {
		r = control_new(d.loop, cli.control, d.ports, d.nports, &d.control);
		if (r < 0) {
			log_error("control socket %s: %s", cli.control, strerror(-r));
			goto fail;
		}
	}
	log_info("vhostd %s ready with %u port(s)", VHOSTD_VERSION, d.nports);
	notify_ready(cli.ready_fd);

	while (!d.quit) {
		r = loop_run_once(d.loop);
		if (r < 0) {
			log_error("event loop: %s", strerror(-r));
			goto fail;
		}
	}
	log_stats(&d);
	daemon_free(&d);
	return 0;
fail:
	daemon_free(&d);
	return 1;
}
