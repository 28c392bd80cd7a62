#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Runs vhostd as a systemd Type=notify service manager would, without systemd.

Usage: service.py WORKDIR VHOSTCTL CONTROL PORT... -- COMMAND...

COMMAND (vhostd, possibly behind unshare/setpriv, which exec it) gets NOTIFY_SOCKET,
WATCHDOG_USEC (200 ms) and, with its standard error on WORKDIR/vhostd.log, JOURNAL_STREAM
naming that file. Checks, printing "ok"/"not ok" each:
  ready     READY=1 with STATUS=<n> port(s), n being the number of PORT names given
  watchdog  WATCHDOG=1 at least twice in the next 0.6 s (a ping every 100 ms)
  vhostctl  `VHOSTCTL --control CONTROL port list` lists every PORT
  reload    after SIGHUP: RELOADING=1, then READY=1
  stop      after SIGTERM: STOPPING=1, and exit status 0
  journal   every log line carries a journal priority ("<6>info: ...")
Exits 1 if a check failed.
"""
import os
import re
import signal
import socket
import subprocess
import sys
import time

failed = 0


def check(ok, what, detail=""):
    global failed
    print(("ok - " if ok else "not ok - ") + what + ("" if ok or not detail else ": " + detail))
    if not ok:
        failed += 1


def wait_for(sock, want, timeout, seen):
    """Reads notifications until one holds the line `want`; returns it, or None on timeout."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        sock.settimeout(max(0.01, end - time.monotonic()))
        try:
            msg = sock.recv(4096).decode()
        except socket.timeout:
            break
        seen.append(msg)
        if want in msg.split("\n"):
            return msg
    return None


def main():
    sep = sys.argv.index("--")
    work, vhostctl, control, *ports = sys.argv[1:sep]
    cmd = sys.argv[sep + 1:]
    path = os.path.join(work, "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    log = open(os.path.join(work, "vhostd.log"), "w")
    st = os.fstat(log.fileno())
    env = dict(os.environ, NOTIFY_SOCKET=path, WATCHDOG_USEC="200000",
               JOURNAL_STREAM="%d:%d" % (st.st_dev, st.st_ino))
    env.pop("WATCHDOG_PID", None)
    proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stderr=log)
    seen = []
    try:
        msg = wait_for(sock, "READY=1", 15, seen)
        want = "STATUS=%d port(s)" % len(ports)
        check(msg is not None and want in msg.split("\n"), "ready: READY=1 with " + want,
              "got %r" % seen)
        if msg is None:
            return
        pings = 0
        end = time.monotonic() + 0.6
        while time.monotonic() < end:
            sock.settimeout(max(0.01, end - time.monotonic()))
            try:
                if sock.recv(4096).decode() == "WATCHDOG=1":
                    pings += 1
            except socket.timeout:
                break
        check(pings >= 2, "watchdog: WATCHDOG=1 pings", "%d in 0.6 s" % pings)

        out = subprocess.run([vhostctl, "--control", control, "port", "list"],
                             capture_output=True, text=True, timeout=10)
        names = [line.split()[0] for line in out.stdout.splitlines()[1:] if line.strip()]
        check(out.returncode == 0 and sorted(names) == sorted(ports),
              "vhostctl: port list shows " + " ".join(ports),
              "rc %d, %r %r" % (out.returncode, out.stdout, out.stderr))

        seen = []
        proc.send_signal(signal.SIGHUP)
        reloading = wait_for(sock, "RELOADING=1", 10, seen)
        ready = wait_for(sock, "READY=1", 10, seen) if reloading else None
        check(reloading is not None and ready is not None,
              "reload: RELOADING=1 then READY=1 after SIGHUP", "got %r" % seen)

        seen = []
        proc.send_signal(signal.SIGTERM)
        stopping = wait_for(sock, "STOPPING=1", 10, seen)
        check(stopping is not None, "stop: STOPPING=1 after SIGTERM", "got %r" % seen)
        try:
            rc = proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            rc = None
        check(rc == 0, "stop: exit status 0", "status %r" % rc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
        lines = open(os.path.join(work, "vhostd.log")).read().splitlines()
        bad = [line for line in lines if not re.match(r"<[3467]>(debug|info|warn|error): ", line)]
        check(lines and not bad, "journal: every log line has its priority",
              "%d lines, e.g. %r" % (len(lines), bad[:3]))


if __name__ == "__main__":
    main()
    sys.exit(1 if failed else 0)
