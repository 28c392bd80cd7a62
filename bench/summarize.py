#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Turns bench/results/{results,idle}.csv into summary.md and chart.dat (for chart.gp).

usage: summarize.py RESULTS_DIR [MAX_OTHER]

MAX_OTHER: a run during whose window more than this % of a core went to other processes
(cpu.csv) is marked as noisy (default 20).
"""
import csv
import math
import os
import statistics
import sys

SCENARIOS = [
    # key, description, target ratio vhostd/DPDK, max syscalls per packet (None: no target)
    ("null_tx", "guest TX -> null", 1.0, None),
    ("null_rx", "null -> guest RX", 1.0, None),
    ("vm2vm", "VM-to-VM (both directions)", 1.5, None),
    ("tap_tx", "guest TX -> tap", 1.5, 0.1),
    ("tap_rx", "tap -> guest RX", 1.5, 0.1),
    # Packed virtqueues: at least as far ahead of DPDK as the split paths.
    ("null_tx_packed", "packed: guest TX -> null", 1.5, None),
    ("null_rx_packed", "packed: null -> guest RX", 1.5, None),
    ("vm2vm_packed", "packed: VM-to-VM (both directions)", 1.5, None),
    # The VM switch against Open vSwitch with DPDK (two dpdkvhostuser ports, one bridge).
    ("switch_vm2vm", "switch: VM-to-VM through a learning switch (reference: OVS-DPDK)", 1.5,
     None, "ovs"),
    # Host-device back-ends on a veth, against DPDK's PMD for the same socket type.
    ("packet_tx", "guest TX -> AF_PACKET (veth)", 1.2, None),
    ("packet_rx", "AF_PACKET (veth) -> guest RX", 1.2, None),
    ("xdp_tx", "guest TX -> AF_XDP (veth)", 1.2, None),
    ("xdp_rx", "AF_XDP (veth) -> guest RX", 1.2, None),
]


def ref_of(sc):
    """The reference back-end of a SCENARIOS entry: DPDK's net_vhost unless it names one."""
    return sc[4] if len(sc) > 4 else "dpdk"
IDLE_TARGET_PCT = 1.0
SENDER_BOUND_PCT = 50  # tap_rx: below this median % of sender calls finding the queue full


def num(s):
    try:
        v = float(s)
    except ValueError:
        return None
    return None if math.isnan(v) else v


def stats(vals):
    """(median, min, max) of the numbers in vals, or None."""
    vals = [v for v in vals if v is not None]
    if not vals:
        return None
    return statistics.median(vals), min(vals), max(vals)


def fmt_mpps(s):
    if s is None:
        return "n/a"
    med, lo, hi = s
    return f"{med:.3f} [{lo:.3f}-{hi:.3f}]"


def main():
    out = sys.argv[1]
    max_other = float(sys.argv[2]) if len(sys.argv) > 2 else 20.0
    rows = {}
    sizes = []
    with open(os.path.join(out, "results.csv"), newline="") as f:
        for r in csv.DictReader(f):
            size = int(r["size"])
            if size not in sizes:
                sizes.append(size)
            key = (r["scenario"], size, r["backend"])
            rows.setdefault(key, {"mpps": [], "spp": []})
            rows[key]["mpps"].append(num(r["mpps"]))
            rows[key]["spp"].append(num(r["syscalls_per_pkt"]))

    meta = []
    meta_path = os.path.join(out, "meta.txt")
    if os.path.exists(meta_path):
        with open(meta_path) as f:
            meta = [line.rstrip("\n") for line in f if line.strip()]

    cpu_path = os.path.join(out, "cpu.csv")
    cpu = {}
    if os.path.exists(cpu_path):
        with open(cpu_path, newline="") as f:
            for r in csv.DictReader(f):
                key = (r["scenario"], int(r["size"]), r["backend"])
                cpu.setdefault(key, []).append(r)

    sender = {}
    sender_path = os.path.join(out, "sender.csv")
    if os.path.exists(sender_path):
        with open(sender_path, newline="") as f:
            for r in csv.DictReader(f):
                key = (r["scenario"], int(r["size"]), r["backend"])
                sender.setdefault(key, []).append(num(r["queue_full_pct"]))

    def sender_bound(key):
        """True when tapflood rarely found the tap's queue full: it, not the back-end, set
        the pace, so the rate is a lower bound of what the back-end can do."""
        vals = [v for v in sender.get(key, []) if v is not None]
        return bool(vals) and statistics.median(vals) < SENDER_BOUND_PCT

    def noisy(key):
        """Number of runs of key whose window saw more than max_other % go elsewhere."""
        return sum(1 for r in cpu.get(key, []) if (num(r["other_cpu_pct"]) or 0) > max_other)

    md = ["# vhostd vs DPDK vhost-user back-end", ""]
    for line in meta:
        md.append(f"- {line}")
    md += [
        "",
        "Mpps: median [min-max] over the runs. Ratio: vhostd median / DPDK median. "
        "\"In DPDK spread\": the vhostd median lies inside DPDK's own min-max, i.e. the "
        "difference is not distinguishable from noise. syscalls/pkt: vhostd's system calls "
        "(whole process, perf raw_syscalls:sys_enter) over the window divided by the packets "
        "counted in it (median; DPDK's in parentheses).",
        "",
        "| scenario | size | vhostd Mpps | DPDK Mpps | ratio | in DPDK spread | "
        "syscalls/pkt | target | verdict |",
        "|---|---:|---|---|---:|:---:|---:|---|---|",
    ]
    chart = {s: [] for s in sizes}
    for sc in SCENARIOS:
        key, desc, target, max_spp = sc[:4]
        ref = ref_of(sc)
        for size in sizes:
            dp = rows.get((key, size, ref))
            variants = [("vhostd", "")]
            if (key, size, "vhostd-adaptive") in rows:
                variants.append(("vhostd-adaptive", " (adaptive)"))
            d = stats(dp["mpps"]) if dp else None
            d_spp = stats(dp["spp"]) if dp else None
            for be, suffix in variants:
                vr = rows.get((key, size, be))
                if vr is None and d is None:
                    continue
                v = stats(vr["mpps"]) if vr else None
                v_spp = stats(vr["spp"]) if vr else None
                ratio = v[0] / d[0] if v and d and d[0] > 0 else None
                inside = v is not None and d is not None and d[1] <= v[0] <= d[2]
                spp_txt = "n/a" if v_spp is None else f"{v_spp[0]:.3f}"
                if d_spp is not None:
                    spp_txt += f" ({d_spp[0]:.3f})"
                tgt = f">= {target:.1f}x"
                if max_spp is not None:
                    tgt += f", <= {max_spp} sys/pkt"
                if ratio is None:
                    verdict = "no data"
                else:
                    ok = ratio >= target
                    why = []
                    if not ok:
                        why.append(f"ratio {ratio:.2f}x < {target:.1f}x")
                    if max_spp is not None:
                        if v_spp is None or v_spp[0] > max_spp:
                            ok = False
                            why.append("syscalls/pkt over target")
                    verdict = "**meets**" if ok else "MISSES (" + "; ".join(why) + ")"
                    if not ok and inside and target <= 1.0:
                        verdict += ", but inside DPDK's spread"
                for who, k in (("vhostd", (key, size, be)), ("DPDK", (key, size, ref))):
                    if sender_bound(k):
                        verdict += (f" (SENDER-BOUND: tapflood, not {who}, set the pace; "
                                    f"{who}'s rate is a lower bound)")
                bad = noisy((key, size, be)) + noisy((key, size, ref))
                if bad:
                    verdict += f" (NOISY: {bad} run(s) shared the CPUs, see below)"
                md.append(
                    f"| {desc}{suffix} | {size} | {fmt_mpps(v)} | {fmt_mpps(d)} | "
                    f"{'n/a' if ratio is None else f'{ratio:.2f}x'} | "
                    f"{'yes' if inside else 'no'} | {spp_txt} | {tgt} | {verdict} |"
                )
            busy = rows.get((key, size, "vhostd"))
            adaptive = rows.get((key, size, "vhostd-adaptive"))
            chart_row = (
                key,
                stats(busy["mpps"]) if busy else None,
                d,
                stats(adaptive["mpps"]) if adaptive else None,
            )
            if any(chart_row[1:]):
                chart[size].append(chart_row)

    idle_path = os.path.join(out, "idle.csv")
    idle = []
    if os.path.exists(idle_path):
        with open(idle_path, newline="") as f:
            idle = list(csv.DictReader(f))
    if idle:
        md += [
            "",
            "Idle cost: vhostd with all ports connected by one testpmd (16 virtio-user "
            "ports, forwarding not started), CPU time (utime+stime from /proc/PID/stat) "
            "over the window, as % of one core.",
            "",
            "| poll mode | ports | vhostd CPU % of a core | syscalls/s | target | verdict |",
            "|---|---:|---:|---:|---|---|",
        ]
        for r in idle:
            pct = num(r["cpu_pct"])
            if r["poll"] == "adaptive":
                tgt = f"< {IDLE_TARGET_PCT:.0f}%"
                verdict = "n/a" if pct is None else (
                    "**meets**" if pct < IDLE_TARGET_PCT else "MISSES")
            else:
                tgt, verdict = "(contrast)", "-"
            md.append(
                f"| {r['poll']} | {r['ports']} | {r['cpu_pct']} | {r['syscalls_per_s']} | "
                f"{tgt} | {verdict} |"
            )
    if cpu:
        md += [
            "",
            "CPU during the windows, % of one core (from /proc): back-end and front-end "
            "processes (median), tapflood (median), and the maximum over the runs of "
            "everything else (other processes, interrupts, softirq work not charged to a "
            "process) and of steal. A polling back-end or front-end well under 100%, or much "
            "\"other\"/steal, means something else shared the cores: treat that run's rate "
            "with suspicion.",
            "",
            "| scenario | size | back-end | back-end CPU | front-end CPU | sender CPU | "
            "other (max) | steal (max) |",
            "|---|---:|---|---:|---:|---:|---:|---:|",
        ]
        for sc in SCENARIOS:
            key = sc[0]
            for size in sizes:
                for be in ("vhostd", ref_of(sc), "vhostd-adaptive"):
                    runs = cpu.get((key, size, be))
                    if not runs:
                        continue

                    def col(name, agg):
                        vals = [num(r[name]) for r in runs]
                        vals = [v for v in vals if v is not None]
                        return f"{agg(vals):.0f}" if vals else "n/a"

                    sender = col("sender_cpu_pct", statistics.median) if key in ("tap_rx", "packet_rx", "xdp_rx") else "-"
                    md.append(
                        f"| {key} | {size} | {be} | {col('be_cpu_pct', statistics.median)} | "
                        f"{col('fe_cpu_pct', statistics.median)} | {sender} | "
                        f"{col('other_cpu_pct', max)} | {col('steal_pct', max)} |"
                    )
    md.append("")
    with open(os.path.join(out, "summary.md"), "w") as f:
        f.write("\n".join(md))

    # chart.dat: one gnuplot index per size; columns: label, then median/min/max of vhostd,
    # DPDK and vhostd-adaptive ("NaN" where there is none).
    def cols(s):
        return "NaN NaN NaN" if s is None else f"{s[0]:.4f} {s[1]:.4f} {s[2]:.4f}"

    with open(os.path.join(out, "chart.dat"), "w") as f:
        for i, size in enumerate(sizes):
            if i:
                f.write("\n\n")
            f.write(f"# size {size}\n")
            for label, v, d, a in chart[size]:
                f.write(f"{label} {cols(v)} {cols(d)} {cols(a)}\n")
    # chart.vars: gnuplot settings for chart.gp: the sizes, and per size which of the three
    # series has at least one bar (gnuplot refuses to plot a series with no valid point).
    has = []
    for size in sizes:
        has.append("".join("1" if any(r[k] for r in chart[size]) else "0" for k in (1, 2, 3)))
    with open(os.path.join(out, "chart.vars"), "w") as f:
        f.write(f'sizes = "{" ".join(str(s) for s in sizes)}"\n')
        f.write(f'has = "{" ".join(has)}"\n')

if __name__ == "__main__":
    main()
