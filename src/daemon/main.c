/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vhostd: reads the command line and the configuration file, creates the ports, serves the
 * control API and the metrics, and runs the loop until told to stop; SIGHUP reloads the file.
 */
#include <errno.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "daemon/api.h"
#include "daemon/cli.h"
#include "daemon/config.h"
#include "daemon/control.h"
#include "daemon/daemon.h"
#include "daemon/http.h"
#include "daemon/metrics.h"
#include "dataplane/worker.h"
#include "backend/nethelper.h"
#include "net/vnet.h"
#include "util/cleanup.h"
#include "util/log.h"
#include "util/launcher.h"
#include "util/loop.h"
#include "util/memguard.h"
#include "util/sandbox.h"

#ifndef VHOSTD_VERSION
#define VHOSTD_VERSION "unknown"
#endif

struct vhostd {
	struct cli cli;
	const char *config_path; /* NULL: no configuration file */
	struct loop *loop;
	struct daemon *d;
	struct api_ctx api;
	struct control *control;
	struct http *http;
	int sig_fd, wd_fd;
	struct ev sig_ev, wd_ev, mem_ev;
	bool workers;
	bool quit;
};

/* Logs every port's counters, one line each. */
static void log_stats(struct vhostd *v)
{
	_cleanup_free_ char *text = metrics_kv(v->d, NULL);
	char *save = NULL;

	for (char *l = text ? strtok_r(text, "\n", &save) : NULL; l;
	     l = strtok_r(NULL, "\n", &save))
		log_info("%s", l);
}

/* Takes the file's global settings the command line did not set. */
static void merge_settings(struct cli *cli, const struct config *cfg)
{
	if (!cli->level_set && cfg->level_set)
		cli->level = cfg->level;
	if (!cli->control_set && cfg->control_set)
		cli->control = cfg->control;
	if (!cli->control_group && cfg->control_group[0])
		cli->control_group = cfg->control_group;
	if (!cli->metrics && cfg->metrics[0])
		cli->metrics = cfg->metrics;
	if (!cli->helper && cfg->helper[0])
		cli->helper = cfg->helper;
	if (!cli->workers_set && cfg->workers_set)
		cli->workers = cfg->workers;
	if (!cli->seccomp_set && cfg->seccomp_set)
		cli->seccomp = cfg->seccomp;
	if (!cli->ncpus && cfg->ncpus) {
		memcpy(cli->cpus, cfg->cpus, sizeof(cfg->cpus));
		cli->ncpus = cfg->ncpus;
	}
}

/*
 * api_ctx.reload: re-reads the configuration file and applies its ports. Settings that only
 * take effect at start (workers, cpus, control, metrics) are logged as such when they change.
 */
static int reload(void *opaque, struct reload_report *rep, struct cfg_err *err)
{
	struct vhostd *v = opaque;
	struct config config, *cfg = &config;
	int r;

	if (!v->config_path) {
		snprintf(err->msg, sizeof(err->msg),
			 "no configuration file (vhostd was started with --port and no --config)");
		return -ENOENT;
	}
	sd_notify(0, "RELOADING=1");
	r = config_load(v->config_path, cfg, err);
	if (r < 0) {
		log_error("reload refused, nothing changed: %s", err->msg);
		sd_notify(0, "READY=1");
		return r;
	}
	if (!v->cli.level_set && cfg->level_set)
		log_set_level(cfg->level);
	if ((!v->cli.workers_set && cfg->workers_set && cfg->workers != workers_count()) ||
	    (!v->cli.control_set && cfg->control_set &&
	     strcmp(cfg->control, v->cli.control ? v->cli.control : "") != 0))
		log_warn("reload: workers= and control= take effect at the next start");
	r = daemon_apply_config(v->d, cfg, rep, err);
	if (r < 0 && r != -EIO)
		log_error("reload refused, nothing changed: %s", err->msg);
	else
		log_info("reload: %u added, %u removed, %u changed, %u unchanged%s", rep->added.n,
			 rep->removed.n, rep->changed.n, rep->unchanged.n,
			 r == -EIO ? " (some ports failed, see above)" : "");
	sd_notify(0, "READY=1");
	return r;
}

/* SIGUSR1 logs the counters; SIGHUP reloads; SIGCHLD reaps network helpers; SIGTERM and SIGINT
 * end the loop. */
static void on_signal(struct ev *ev, uint32_t events)
{
	struct vhostd *v = container_of(ev, struct vhostd, sig_ev);
	struct signalfd_siginfo si;

	while (read(v->sig_fd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGUSR1) {
			log_stats(v);
		} else if (si.ssi_signo == SIGCHLD) {
			nethelper_reap();
		} else if (si.ssi_signo == SIGHUP) {
			_cleanup_free_ struct reload_report *rep = calloc(1, sizeof(*rep));
			struct cfg_err err;

			log_info("SIGHUP: reloading %s",
				 v->config_path ? v->config_path : "(none)");
			if (rep)
				reload(v, rep, &err);
		} else {
			log_info("signal %u: shutting down", si.ssi_signo);
			v->quit = true;
		}
	}
}

/* memguard's eventfd: a front-end's memory vanished; drop every port whose memory faulted. */
static void on_memfault(struct ev *ev, uint32_t events)
{
	struct vhostd *v = container_of(ev, struct vhostd, mem_ev);

	memguard_drain();
	for (unsigned i = 0; v->d && i < daemon_nports(v->d); i++)
		port_check_memory(daemon_port(v->d, i, NULL));
}

/* The systemd watchdog's timer: proves the main loop still turns. */
static void on_watchdog(struct ev *ev, uint32_t events)
{
	struct vhostd *v = container_of(ev, struct vhostd, wd_ev);
	uint64_t n;

	if (read(v->wd_fd, &n, sizeof(n)) < 0) {
		/* EAGAIN: a spurious wake-up. */
	}
	sd_notify(0, "WATCHDOG=1");
}

/* Pings systemd's watchdog at half its interval when the unit has WatchdogSec=. */
static int start_watchdog(struct vhostd *v)
{
	uint64_t usec = 0;
	struct itimerspec its = { 0 };

	if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0)
		return 0;
	usec /= 2;
	its.it_interval.tv_sec = (time_t)(usec / 1000000);
	its.it_interval.tv_nsec = (long)(usec % 1000000) * 1000;
	its.it_value = its.it_interval;
	v->wd_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (v->wd_fd < 0 || timerfd_settime(v->wd_fd, 0, &its, NULL) < 0)
		return -errno;
	ev_init(&v->wd_ev, on_watchdog);
	log_info("systemd watchdog: a ping every %llu ms", (unsigned long long)usec / 1000);
	return loop_add(v->loop, &v->wd_ev, v->wd_fd, EPOLLIN);
}

/* Tells whoever started us that every port is set up: --ready-fd and systemd. */
static void notify_ready(int fd, unsigned nports)
{
	static const char msg[] = "READY=1\n";

	sd_notifyf(0, "READY=1\nSTATUS=%u port(s)", nports);
	if (fd < 0)
		return;
	if (write(fd, msg, sizeof(msg) - 1) < 0)
		log_warn("--ready-fd %d: %s", fd, strerror(errno));
	close(fd);
}

/* The gid of a group name or number, or (gid_t)-1 after logging why not. */
static gid_t group_id(const char *name)
{
	struct group *g = getgrnam(name);
	char *end;
	unsigned long n;

	if (g)
		return g->gr_gid;
	errno = 0;
	n = strtoul(name, &end, 10);
	if (!errno && *end == '\0' && end != name && n < (gid_t)-1)
		return (gid_t)n;
	log_error("control group '%s': no such group", name);
	return (gid_t)-1;
}

/* Releases everything; safe on a partly built daemon. */
static void vhostd_free(struct vhostd *v)
{
	http_free(v->http);
	control_free(v->control);
	daemon_free(v->d);
	if (v->workers)
		workers_stop();
	if (v->loop) {
		loop_del(v->loop, &v->sig_ev);
		loop_del(v->loop, &v->wd_ev);
		loop_del(v->loop, &v->mem_ev);
	}
	safe_close(v->sig_fd);
	safe_close(v->wd_fd);
	loop_free(v->loop);
	vnet_thread_fini();
}

/*
 * Reads the configuration file into cfg (when there is one) and merges its settings. Returns 0,
 * or -EINVAL after printing why.
 */
static int load_config(struct vhostd *v, struct config *cfg)
{
	struct cfg_err err;
	int r;

	v->config_path = v->cli.config;
	/* Without --port and --config, vhostd runs as a service: the default file, if any. */
	if (!v->config_path && v->cli.nports == 0)
		v->config_path = CLI_DEFAULT_CONFIG;
	if (!v->config_path)
		return 0;
	r = config_load(v->config_path, cfg, &err);
	if (r == -ENOENT && !v->cli.config) {
		log_info("no %s: starting without configured ports", v->config_path);
		return 0;
	}
	if (r < 0) {
		fprintf(stderr, "vhostd: %s\n", err.msg);
		return -EINVAL;
	}
	merge_settings(&v->cli, cfg);
	return 0;
}

/*
 * Under seccomp an unprivileged vhostd gets no_new_privs, which would stop the network
 * helper's capability: the helpers named now (--helper, the file's, the ports') are run by a
 * launcher forked before the filter. A helper named later (the API, a reload) is refused.
 */
static int start_launcher(const struct vhostd *v, const struct config *cfg)
{
	const char *progs[2 + 2 * CLI_MAX_PORTS];
	unsigned n = 0;

	if (!sandbox_enabled() || geteuid() == 0)
		return 0;
	if (v->cli.helper)
		progs[n++] = v->cli.helper;
	if (cfg->helper[0])
		progs[n++] = cfg->helper;
	for (unsigned i = 0; i < v->cli.nports; i++)
		if (v->cli.ports[i].helper[0])
			progs[n++] = v->cli.ports[i].helper;
	for (unsigned i = 0; i < cfg->nports; i++)
		if (cfg->ports[i].helper[0])
			progs[n++] = cfg->ports[i].helper;
	if (n == 0)
		return 0;
	return launcher_start(progs, n);
}

/* Creates the ports of the command line, then those of the file. 0 or a negative errno. */
static int create_ports(struct vhostd *v, const struct config *cfg)
{
	struct cfg_err err;
	int r;

	for (unsigned i = 0; i < v->cli.nports; i++) {
		r = daemon_port_add(v->d, &v->cli.ports[i], PORT_SRC_CLI, &err);
		if (r < 0) {
			log_error("%s", err.msg);
			return r;
		}
	}
	for (unsigned i = 0; i < cfg->nports; i++) {
		r = daemon_port_add(v->d, &cfg->ports[i], PORT_SRC_CONFIG, &err);
		if (r < 0) {
			log_error("%s:%u: %s", v->config_path, cfg->port_line[i], err.msg);
			return r;
		}
	}
	return 0;
}

/* Opens the control socket and the metrics listener the settings ask for. */
static int open_services(struct vhostd *v)
{
	int r;

	if (v->cli.control) {
		gid_t gid = v->cli.control_group ? group_id(v->cli.control_group) : (gid_t)-1;

		if (v->cli.control_group && gid == (gid_t)-1)
			return -EINVAL;
		r = control_new(v->loop, v->cli.control, gid, &v->api, &v->control);
		/* The default socket busy: another vhostd runs; this one goes on without. */
		if (r == -EADDRINUSE && !v->cli.control_set) {
			log_warn("control socket %s is in use by another process: running without",
				 v->cli.control);
		} else if (r < 0) {
			log_error("control socket %s: %s", v->cli.control, strerror(-r));
			return r;
		} else {
			log_info("control socket %s", v->cli.control);
		}
	}
	if (v->cli.metrics) {
		r = http_new(v->loop, v->cli.metrics, v->d, &v->http);
		if (r < 0) {
			log_error("metrics listener %s: %s", v->cli.metrics, strerror(-r));
			return r;
		}
		log_info("metrics on http://%s/metrics", v->cli.metrics);
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct vhostd v = { .sig_fd = -1, .wd_fd = -1 };
	static struct config cfg_storage; /* the file's settings stay in use until exit */
	struct config *cfg = &cfg_storage;
	sigset_t mask;
	int r;

	ev_init(&v.sig_ev, NULL);
	ev_init(&v.wd_ev, NULL);
	if (cli_parse(argc, argv, &v.cli) < 0)
		return 2;
	if (v.cli.help) {
		cli_usage();
		return 0;
	}
	if (v.cli.version) {
		printf("vhostd %s\n", VHOSTD_VERSION);
		return 0;
	}
	log_init();
	if (load_config(&v, cfg) < 0)
		return 2;
	log_set_level(v.cli.level);
	sandbox_set_enabled(v.cli.seccomp);
	r = start_launcher(&v, cfg);
	if (r < 0) {
		log_error("cannot start the helper launcher: %s", strerror(-r));
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGUSR1);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGCHLD);
	sigprocmask(SIG_BLOCK, &mask, NULL);

	r = loop_new(&v.loop);
	if (r < 0)
		goto fail;
	v.sig_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (v.sig_fd < 0) {
		r = -errno;
		goto fail;
	}
	ev_init(&v.sig_ev, on_signal);
	r = loop_add(v.loop, &v.sig_ev, v.sig_fd, EPOLLIN);
	if (r < 0)
		goto fail;
	/* Before any peer memory is mapped: a front-end that shrinks it must not kill us. */
	r = memguard_init();
	if (r < 0) {
		log_error("cannot guard guest memory: %s", strerror(-r));
		goto fail;
	}
	ev_init(&v.mem_ev, on_memfault);
	r = loop_add(v.loop, &v.mem_ev, r, EPOLLIN);
	if (r < 0)
		goto fail;
	/* Before the workers: they inherit this filter and add their own. */
	r = sandbox_apply(SANDBOX_MAIN);
	if (r < 0) {
		log_error("cannot install the seccomp filter: %s (--no-seccomp runs without)",
			  strerror(-r));
		goto fail;
	}
	log_info(v.cli.seccomp ? "seccomp: filters on the main thread and every worker"
			       : "seccomp: off (--no-seccomp)");
	r = workers_start(v.cli.workers, v.cli.cpus, v.cli.ncpus);
	if (r < 0) {
		log_error("cannot start %u workers: %s", v.cli.workers, strerror(-r));
		goto fail;
	}
	v.workers = true;
	/* The control thread sends frames too (the RARP after a migration): it needs scratch. */
	r = vnet_thread_init();
	if (r < 0)
		goto fail;
	port_set_default_helper(v.cli.helper);
	r = daemon_new(v.loop, &v.d);
	if (r < 0)
		goto fail;
	v.api = (struct api_ctx){ .d = v.d, .reload = reload, .opaque = &v };
	r = create_ports(&v, cfg);
	if (r < 0)
		goto fail;
	r = open_services(&v);
	if (r < 0)
		goto fail;
	r = start_watchdog(&v);
	if (r < 0)
		goto fail;
	log_info("vhostd %s ready with %u port(s)", VHOSTD_VERSION, daemon_nports(v.d));
	notify_ready(v.cli.ready_fd, daemon_nports(v.d));

	while (!v.quit) {
		r = loop_run_once(v.loop);
		if (r < 0) {
			log_error("event loop: %s", strerror(-r));
			goto fail;
		}
	}
	sd_notify(0, "STOPPING=1");
	log_stats(&v);
	vhostd_free(&v);
	return 0;
fail:
	vhostd_free(&v);
	return 1;
}
