#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""vhostd as a service: systemd's notification protocol, the watchdog, the journal's log
priorities, and the Prometheus metrics (the --metrics listener and vhostctl's
--format=prometheus), parsed by the reference parser (python3-prometheus-client).

No systemd runs here, so the test plays its part: it binds the datagram socket systemd would
pass in NOTIFY_SOCKET, sets WATCHDOG_USEC, and points JOURNAL_STREAM at vhostd's stderr.
Every wait is on an event (a datagram, a reply, the process exit) with a deadline."""

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

VHOSTD = os.environ.get("VHOSTD") or os.path.join(os.environ["VHOSTD_BUILDDIR"], "vhostd")
VHOSTCTL = os.environ.get("VHOSTCTL") or os.path.join(os.path.dirname(VHOSTD), "vhostctl")
DEADLINE = 10.0
FAILURES = []


def check(cond, what):
    print(("ok - " if cond else "not ok - ") + what, flush=True)
    if not cond:
        FAILURES.append(what)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Notify:
    """The NOTIFY_SOCKET end: collects vhostd's datagrams."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.seen = []

    def wait_for(self, line, timeout=DEADLINE):
        """Waits for a datagram that has `line` among its lines; returns the time it took."""
        start = time.monotonic()
        end = start + timeout
        while time.monotonic() < end:
            self.sock.settimeout(max(0.01, end - time.monotonic()))
            try:
                msg = self.sock.recv(4096).decode()
            except socket.timeout:
                break
            self.seen.append(msg)
            if line in msg.split("\n"):
                return time.monotonic() - start
        return None


def http(port, method="GET", path="/metrics", raw=None):
    """One request; returns (status, headers, body)."""
    if raw is not None:
        data = b""
        with socket.create_connection(("127.0.0.1", port), timeout=DEADLINE) as s:
            try:
                s.sendall(raw)
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    data += chunk
            except ConnectionError:
                pass  # refused before we finished sending: the answer may be lost with it
        head, _, body = data.partition(b"\r\n\r\n")
        return (int(head.split()[1]) if head else None), head.decode(), body
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method)
    try:
        with urllib.request.urlopen(req, timeout=DEADLINE) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def families(text):
    return {f.name: f for f in text_string_to_metric_families(text)}


def main():
    work = tempfile.mkdtemp(prefix="vhostd-service.")
    conf = os.path.join(work, "vhostd.conf")
    with open(conf, "w") as f:
        f.write(f"[port a]\nsocket = {work}/a.sock\nbackend = null\nqueues = 2\n")
    notify = Notify(os.path.join(work, "notify"))
    mport = free_port()
    errpath = os.path.join(work, "vhostd.log")
    err = open(errpath, "w")
    st = os.fstat(err.fileno())
    env = dict(os.environ)
    env.update(NOTIFY_SOCKET=os.path.join(work, "notify"), WATCHDOG_USEC="200000",
               JOURNAL_STREAM=f"{st.st_dev}:{st.st_ino}")
    ctl = os.path.join(work, "ctl")
    proc = subprocess.Popen([VHOSTD, "--config", conf, "--control", ctl, "--metrics",
                             f"127.0.0.1:{mport}", "--port",
                             f"name=b,socket={work}/b.sock,backend=null"],
                            stderr=err, env=env)
    try:
        check(notify.wait_for("READY=1") is not None, "READY=1 once the ports are up")
        check(any("STATUS=2 port(s)" in m for m in notify.seen), "STATUS names the ports")
        t = notify.wait_for("WATCHDOG=1", timeout=2.0)
        check(t is not None, "WATCHDOG=1 pings (WATCHDOG_USEC=200000)")
        t2 = notify.wait_for("WATCHDOG=1", timeout=2.0)
        check(t2 is not None and t2 < 0.2, f"the next ping within the interval ({t2})")

        status, headers, body = http(mport)
        check(status == 200, "GET /metrics: 200")
        ctype = headers.get("Content-Type", "")
        check(ctype.startswith("text/plain; version=0.0.4"), f"content type {ctype}")
        fam = families(body.decode())
        tx = fam.get("vhostd_port_tx_packets")
        check(tx is not None and tx.type == "counter", "vhostd_port_tx_packets_total: a counter")
        labels = sorted((s.labels["port"], s.labels["queue"]) for s in (tx.samples if tx else [])
                        if s.name == "vhostd_port_tx_packets_total")
        check(labels == [("a", "0"), ("a", "1"), ("b", "0")], f"one sample per queue: {labels}")
        for name in ("vhostd_ports", "vhostd_port_connected", "vhostd_port_broken"):
            check(name in fam and fam[name].type == "gauge", f"{name}: a gauge")
        check(all(f.documentation for f in fam.values()), "every metric has HELP")
        ports = fam["vhostd_ports"].samples[0].value if "vhostd_ports" in fam else None
        check(ports == 2, f"vhostd_ports {ports}")

        out = subprocess.run([VHOSTCTL, "--control", ctl, "stats", "--format=prometheus"],
                             capture_output=True, text=True, timeout=DEADLINE)
        check(out.returncode == 0, "vhostctl stats --format=prometheus")
        fam2 = families(out.stdout)
        check(set(fam2) == set(fam), "vhostctl's families are the listener's")

        status, headers, body = http(mport, method="HEAD")
        check(status == 200 and body == b"", "HEAD /metrics: 200 without a body")
        check(http(mport, path="/nope")[0] == 404, "an unknown path: 404")
        check(http(mport, raw=b"POST /metrics HTTP/1.1\r\n\r\n")[0] == 405, "POST: 405")
        check(http(mport, raw=b"GARBAGE\r\n\r\n")[0] == 400, "garbage: 400")
        check(http(mport, raw=b"GET /metrics HTTP/1.1\r\n" + b"X: y\r\n" * 2000 + b"\r\n")[0]
              in (400, None), "a head over 8 KiB: 400 (or a reset while it was still sending)")
        check(http(mport)[0] == 200, "and the next scrape is served")
        # Sixteen scrapers that send nothing hold every slot; a seventeenth is closed at once,
        # and once they are gone a scrape works again.
        idle = [socket.create_connection(("127.0.0.1", mport)) for _ in range(16)]
        extra = socket.create_connection(("127.0.0.1", mport), timeout=DEADLINE)
        try:
            closed = extra.recv(1) == b""
        except OSError:
            closed = True
        check(closed, "a 17th connection is closed")
        extra.close()
        for s in idle:
            s.close()
        ok = False
        end = time.monotonic() + DEADLINE
        while not ok and time.monotonic() < end:
            try:
                ok = http(mport)[0] == 200
            except OSError:
                time.sleep(0.05)  # the daemon sees the closes on its own schedule
        check(ok, "scrapes work again after the idle connections closed")

        proc.send_signal(signal.SIGHUP)
        check(notify.wait_for("RELOADING=1") is not None, "SIGHUP: RELOADING=1")
        check(notify.wait_for("READY=1") is not None, "then READY=1 again")

        proc.send_signal(signal.SIGTERM)
        check(notify.wait_for("STOPPING=1") is not None, "SIGTERM: STOPPING=1")
        check(proc.wait(timeout=DEADLINE) == 0, "exit status 0")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        err.close()
    with open(errpath) as f:
        log = f.read()
    lines = [ln for ln in log.splitlines() if ln]
    check(lines and all(ln[:3] in ("<7>", "<6>", "<4>", "<3>") for ln in lines),
          "under the journal every line carries its priority")
    check(any(ln.startswith("<6>info: vhostd") for ln in lines), "info lines are <6>")
    if FAILURES:
        print("vhostd log:\n" + log, file=sys.stderr)
        return 1
    subprocess.run(["rm", "-rf", work])
    return 0


if __name__ == "__main__":
    sys.exit(main())
