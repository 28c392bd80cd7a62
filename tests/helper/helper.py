#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""vhostd-net-helper as vhostd drives it: a socketpair, the helper's record and fds.

In a network namespace the test creates (with bridge br0): the access list's allow, deny, all,
include and deny-wins rules; bad names, files and include loops; running without
CAP_NET_ADMIN; and a tap really created on the bridge whose queue fds arrive, with the header
size and offloads the record announces.

macvtap mode (over veths nic0 and nic1): allowed and denied by the list, the record and its two
queue fds, the link alive while the helper's socketpair is open and gone once the peer closes it,
dies (SIGKILL) or the helper is told to stop (SIGTERM); a killed helper's leftover replaced; a
second link on a passthrough device refused; a /dev/tapN that is another namespace's link's
never used; installed with file capabilities or setuid."""

import array
import fcntl
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile

HELPER = os.environ["NET_HELPER"]
ACL = os.environ["NET_HELPER_ACL"]
NS = f"vhh-{os.getpid()}"
NS2 = f"vhh2-{os.getpid()}"
FAILURES = []
MSG = struct.Struct("<4sHHIIIII16s128s")
TUNGETIFF = 0x800454D2
IFF_VNET_HDR = 0x4000
IFF_MULTI_QUEUE = 0x0100


def check(cond, what):
    print(("ok - " if cond else "not ok - ") + what, flush=True)
    if not cond:
        FAILURES.append(what)


def sh(*cmd):
    subprocess.run(cmd, check=True)


def acl(text, path=ACL):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def command(args, user, helper):
    """The helper's command line in the namespace (as user, when given); a socketpair's ends."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    cmd = ["ip", "netns", "exec", NS]
    if user:
        cmd += ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups"]
    cmd += [helper or HELPER, f"--socketpair={theirs.fileno()}", *args]
    return cmd, ours, theirs


def receive(ours, timeout):
    """The record (a tuple, or ("short", data)) and the fds that came on ours."""
    ours.settimeout(timeout)
    fds = array.array("i")
    rec = None
    try:
        data, anc, _, _ = ours.recvmsg(4096, socket.CMSG_SPACE(16 * fds.itemsize))
        for level, kind, payload in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.frombytes(payload[:len(payload) - len(payload) % fds.itemsize])
        if data:
            rec = MSG.unpack(data) if len(data) == MSG.size else ("short", data)
    except socket.timeout:
        pass
    return rec, list(fds)


def run(*args, user=None):
    """Runs the helper in the namespace on a socketpair; returns (status, record, fds, stderr)."""
    cmd, ours, theirs = command(args, user, None)
    p = subprocess.run(cmd, pass_fds=(theirs.fileno(),), capture_output=True, text=True,
                       timeout=30)
    theirs.close()
    rec, fds = receive(ours, 5)
    ours.close()
    return p.returncode, rec, fds, p.stderr.strip()


def start(*args, user=None, helper=None):
    """Starts the helper in macvtap mode (it stays); returns (process, record, fds, our end)."""
    cmd, ours, theirs = command(args, user, helper)
    p = subprocess.Popen(cmd, pass_fds=(theirs.fileno(),), stderr=subprocess.PIPE, text=True)
    theirs.close()
    rec, fds = receive(ours, 10)
    return p, rec, fds, ours


def finish(p):
    """Waits for the helper to exit; returns (status, stderr)."""
    try:
        _, err = p.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        p.kill()
        _, err = p.communicate()
        return None, err.strip()
    return p.returncode, err.strip()


def link(name):
    """`ip -d link show` of name in the namespace, or None when there is no such link."""
    r = subprocess.run(["ip", "-n", NS, "-d", "link", "show", name], capture_output=True,
                       text=True)
    return r.stdout if r.returncode == 0 else None


def closeall(fds):
    for fd in fds:
        os.close(fd)


def main():
    sh("ip", "netns", "add", NS)
    sh("ip", "netns", "add", NS2)
    try:
        sh("ip", "-n", NS, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", NS, "link", "add", "br1", "type", "bridge")
        for i in (0, 1):
            sh("ip", "-n", NS, "link", "add", f"nic{i}", "type", "veth", "peer", f"far{i}")
            sh("ip", "-n", NS, "link", "set", f"nic{i}", "up")
        tests()
        macvtap_tests()
    finally:
        subprocess.run(["ip", "netns", "del", NS])
        subprocess.run(["ip", "netns", "del", NS2])
    return 1 if FAILURES else 0


def tests():
    work = tempfile.mkdtemp(prefix="vhostd-helper.")
    inc = os.path.join(work, "inc.conf")

    # A tap on an allowed bridge: the record and the fds.
    acl("# test access list\nallow br0\n")
    rc, rec, fds, err = run("--bridge=br0", "--queues=2", "--vnet-hdr",
                            "--mac=52:54:00:12:34:56")
    check(rc == 0 and rec and rec[0] == b"VHNH" and rec[1] == 1 and rec[2] == MSG.size,
          f"allow br0: a version-1 record ({rc}, {err})")
    if rc == 0 and rec:
        _, _, _, status, ifindex, hdr, offloads, nfds, name, _ = rec
        name = name.rstrip(b"\0").decode()
        check(status == 0 and nfds == 2 and len(fds) == 2, f"two queue fds ({nfds}, {fds})")
        check(hdr == 12 and offloads & 1, f"header 12, checksum offload ({hdr}, {offloads:#x})")
        for fd in fds:
            ifr = bytearray(40)
            fcntl.ioctl(fd, TUNGETIFF, ifr)
            flags = struct.unpack_from("H", ifr, 16)[0]
            check(ifr[:16].rstrip(b"\0").decode() == name and flags & IFF_VNET_HDR and
                  flags & IFF_MULTI_QUEUE, f"fd {fd} is a queue of tap {name}")
        master = subprocess.run(["ip", "netns", "exec", NS, "readlink",
                                 f"/sys/class/net/{name}/master"],
                                capture_output=True, text=True).stdout.strip()
        check(master.endswith("/br0"), f"{name} is a port of br0 ({master})")
        idx = subprocess.run(["ip", "netns", "exec", NS, "cat",
                              f"/sys/class/net/{name}/ifindex"],
                             capture_output=True, text=True).stdout.strip()
        check(idx == str(ifindex), f"the record's ifindex {ifindex} is the tap's ({idx})")
        addr = subprocess.run(["ip", "netns", "exec", NS, "cat",
                               f"/sys/class/net/{name}/address"],
                              capture_output=True, text=True).stdout.strip()
        check(addr == "fe:54:00:12:34:56", f"the tap's own address is fe:... ({addr})")
        closeall(fds)
        gone = subprocess.run(["ip", "-n", NS, "link", "show", name],
                              capture_output=True).returncode != 0
        check(gone, "the tap goes with its last fd (it is not persistent)")

    # Denied: not listed, denied by name, deny wins over allow all, deny all.
    for text, what in (("allow br1\n", "not listed"), ("allow all\ndeny br0\n", "deny wins"),
                       ("deny br0\nallow br0\n", "deny before allow"),
                       ("allow br0\ndeny all\n", "deny all"), ("", "empty list")):
        acl(text)
        rc, rec, fds, err = run("--bridge=br0")
        check(rc == 2 and not fds and rec and rec[3] == 1 and
              b"access denied by ACL: br0" in rec[9] and
              "access denied by ACL: br0" in err, f"{what}: denied, exit 2 ({rc}, {err})")
    acl("allow all\n")
    rc, _, fds, _ = run("--bridge=br1")
    check(rc == 0 and len(fds) == 1, "allow all")
    closeall(fds)

    # include: an allow in an included file; includes that are missing, relative or loop.
    acl("allow br0\n", inc)
    acl(f"include {inc}\n")
    rc, _, fds, _ = run("--bridge=br0")
    check(rc == 0, "allow through include")
    closeall(fds)
    acl(f"include {inc}\ndeny br0\n")
    check(run("--bridge=br0")[0] == 2, "a deny after an include wins")
    for text, what in ((f"include {work}/missing.conf\n", "missing include"),
                       ("include inc.conf\n", "relative include"),
                       (f"include {ACL}\n", "include loop"),
                       ("allow br0 br1\n", "too many words"), ("permit br0\n", "unknown word"),
                       ("allow ../x\n", "bad name in the list"), ("allow\n", "no argument")):
        acl(text)
        rc, rec, fds, err = run("--bridge=br0")
        check(rc == 3 and not fds and "access list" in err, f"{what}: exit 3 ({rc}, {err})")
    os.unlink(ACL)
    rc, _, _, err = run("--bridge=br0")
    check(rc == 3 and "No such file" in err, f"no access list: exit 3 ({err})")

    # Bad arguments.
    acl("allow all\n")
    for args, what in ((["--bridge=../etc"], "a path as bridge"),
                       (["--bridge=abcdefghijklmnop"], "a name over 15"),
                       (["--bridge=br0", "--dev=eth0"], "bridge and dev"),
                       (["--dev=eth0"], "dev without mode"),
                       (["--dev=eth0", "--macvtap-mode=loud"], "bad mode"),
                       (["--bridge=br0", "--queues=17"], "17 queues"),
                       (["--bridge=br0", "--mac=zz"], "bad mac"), ([], "nothing")):
        rc, _, fds, _ = run(*args)
        check(rc == 1 and not fds, f"{what}: exit 1 ({rc})")
    rc, _, fds, err = run("--bridge=nosuchbr")
    check(rc == 5 and not fds and "nosuchbr" in err, f"a bridge that does not exist: exit 5 ({err})")

    # Without CAP_NET_ADMIN (as nobody, no file capabilities): refused before anything else.
    rc, rec, fds, err = run("--bridge=br0", user="65534")
    check(rc == 4 and not fds and "CAP_NET_ADMIN" in err, f"no capability: exit 4 ({err})")

    # Installed as it would be: with file capabilities, or setuid root; run by nobody.
    global HELPER
    plain = HELPER
    os.chmod(work, 0o755)
    for how in ("caps", "setuid"):
        copy = os.path.join(work, f"helper-{how}")
        subprocess.run(["cp", plain, copy], check=True)
        if how == "caps":
            sh("setcap", "cap_net_admin+ep", copy)
        else:
            os.chmod(copy, 0o4755)
        HELPER = copy
        rc, rec, fds, err = run("--bridge=br0", user="65534")
        check(rc == 0 and len(fds) == 1, f"installed with {how}, run by nobody: a tap ({rc}, {err})")
        closeall(fds)
    HELPER = plain
    subprocess.run(["rm", "-rf", work])


def macvtap_tests():
    work = tempfile.mkdtemp(prefix="vhostd-helper-mv.")
    os.chmod(work, 0o755)

    # Allowed: the record, two queues of the link, which lives until the peer closes.
    acl("allow nic0\n")
    p, rec, fds, ours = start("--dev=nic0", "--macvtap-mode=bridge", "--queues=2", "--vnet-hdr",
                              "--mac=52:54:00:ab:cd:01", "--ifname=mvh0")
    check(rec is not None and rec[0] == b"VHNH" and rec[3] == 0, f"macvtap: a record ({rec})")
    if rec and rec[3] == 0:
        _, _, _, status, ifindex, hdr, offloads, nfds, name, _ = rec
        name = name.rstrip(b"\0").decode()
        check(name == "mvh0" and nfds == 2 and len(fds) == 2,
              f"macvtap: mvh0, two queue fds ({name}, {nfds}, {fds})")
        check(hdr == 12 and offloads & 1, f"macvtap: header 12, checksum ({hdr}, {offloads:#x})")
        for fd in fds:
            ifr = bytearray(40)
            fcntl.ioctl(fd, TUNGETIFF, ifr)
            flags = struct.unpack_from("H", ifr, 16)[0]
            check(flags & IFF_VNET_HDR and flags & IFF_MULTI_QUEUE,
                  f"macvtap: fd {fd} is a multi-queue vnet-hdr queue ({flags:#x})")
        info = link("mvh0") or ""
        check(f"{ifindex}: mvh0@nic0" in info and "macvtap mode bridge" in info and
              "52:54:00:ab:cd:01" in info and "UP" in info.split("\n")[0],
              f"macvtap: the record's ifindex is mvh0, up, bridge mode, the MAC ({info})")
        check(p.poll() is None, "macvtap: the helper stays while the socketpair is open")
    closeall(fds)
    check(link("mvh0") is not None, "macvtap: the link outlives its queue fds")
    ours.close()
    rc, err = finish(p)
    check(rc == 0 and link("mvh0") is None,
          f"macvtap: the peer closes: the link is deleted, exit 0 ({rc}, {err})")

    # No --ifname: the helper's own name; the peer (another process) killed with SIGKILL.
    p, rec, fds, ours = start("--dev=nic0", "--macvtap-mode=vepa", "--vnet-hdr")
    name = rec[8].rstrip(b"\0").decode() if rec else ""
    check(name.startswith("vhmt") and len(fds) == 1 and link(name) is not None,
          f"macvtap: a vhmtN name without --ifname ({name})")
    closeall(fds)
    holder = subprocess.Popen(["sleep", "600"], pass_fds=(ours.fileno(),))
    ours.close()
    holder.kill()
    holder.wait()
    rc, err = finish(p)
    check(rc == 0 and name and link(name) is None,
          f"macvtap: the peer SIGKILLed: the link is deleted ({rc}, {err})")

    # SIGTERM to the helper: it deletes the link too.
    p, rec, fds, ours = start("--dev=nic0", "--macvtap-mode=private", "--ifname=mvh1")
    closeall(fds)
    check(link("mvh1") is not None, "macvtap: private-mode link made")
    p.send_signal(signal.SIGTERM)
    rc, err = finish(p)
    check(rc == 0 and link("mvh1") is None, f"macvtap: SIGTERM deletes the link ({rc}, {err})")
    ours.close()

    # A helper killed outright leaves its marked link; the next request replaces it.
    p, rec, fds, ours = start("--dev=nic0", "--macvtap-mode=bridge", "--ifname=mvh2")
    closeall(fds)
    p.kill()
    finish(p)
    check("alias vhostd pid=" in (link("mvh2") or ""), "macvtap: a killed helper's link stays")
    p2, rec, fds, ours2 = start("--dev=nic0", "--macvtap-mode=bridge", "--ifname=mvh2")
    closeall(fds)
    check(rec is not None and rec[3] == 0 and f"pid={p2.pid} " in (link("mvh2") or ""),
          "macvtap: its leftover is replaced by the next helper's link")
    ours.close()
    ours2.close()
    rc, err = finish(p2)
    check(rc == 0 and link("mvh2") is None, f"macvtap: and deleted in turn ({rc})")

    # /dev/tapN of a link in another namespace with the ifindex ours gets: never opened; the
    # helper makes its link again, with the next ifindex.
    sh("ip", "-n", NS, "link", "add", "probe0", "type", "bridge")
    k = int(subprocess.run(["ip", "netns", "exec", NS, "cat", "/sys/class/net/probe0/ifindex"],
                           capture_output=True, text=True, check=True).stdout)
    sh("ip", "-n", NS, "link", "del", "probe0")
    sh("ip", "-n", NS2, "link", "add", "lower0", "type", "veth", "peer", "peer0")
    sh("ip", "-n", NS2, "link", "add", "link", "lower0", "name", "other0", "index", str(k + 1),
       "type", "macvtap")
    p, rec, fds, ours = start("--dev=nic0", "--macvtap-mode=bridge", "--ifname=mvx0")
    closeall(fds)
    ifindex = rec[4] if rec else 0
    check(rec is not None and rec[3] == 0 and ifindex > k + 1 and
          f"{ifindex}: mvx0@nic0" in (link("mvx0") or ""),
          f"macvtap: /dev/tap{k + 1} is another namespace's: the link made again ({ifindex})")
    ours.close()
    rc, err = finish(p)
    check(rc == 0 and link("mvx0") is None and "is not its device" in err,
          f"macvtap: and deleted ({rc}, {err})")

    # Passthrough takes the device whole: a second link on it is refused, clearly.
    acl("allow nic0\nallow nic1\n")
    p, rec, fds, ours = start("--dev=nic1", "--macvtap-mode=passthrough", "--ifname=mvp0")
    closeall(fds)
    check(rec is not None and rec[3] == 0, "macvtap: passthrough on nic1")
    for mode in ("passthrough", "bridge"):
        p2, rec2, fds2, ours2 = start("--dev=nic1", f"--macvtap-mode={mode}", "--ifname=mvp1")
        ours2.close()
        rc, err = finish(p2)
        text = rec2[9].rstrip(b"\0").decode() if rec2 else ""
        check(rc == 5 and not fds2 and rec2 and rec2[3] != 0 and "passthrough" in text and
              link("mvp1") is None,
              f"macvtap: {mode} on a passthrough device refused, exit 5 ({rc}, {text})")
    ours.close()
    rc, _ = finish(p)
    check(rc == 0 and link("mvp0") is None, "macvtap: passthrough link deleted")

    # Denied and bad names.
    for text, what in (("allow all\ndeny nic0\n", "deny wins"), ("allow nic1\n", "not listed"),
                       ("deny all\nallow nic0\n", "deny all")):
        acl(text)
        rc, rec, fds, err = run("--dev=nic0", "--macvtap-mode=bridge")
        check(rc == 2 and not fds and "access denied by ACL: nic0" in err,
              f"macvtap, {what}: denied, exit 2 ({rc}, {err})")
    acl("allow all\n")
    for dev in ("../nic0", "abcdefghijklmnop", "nic0/x", ""):
        rc, rec, fds, err = run(f"--dev={dev}", "--macvtap-mode=bridge")
        check(rc == 1 and not fds, f"macvtap: bad device name '{dev}': exit 1 ({rc})")
    rc, rec, fds, err = run("--dev=nic9", "--macvtap-mode=bridge")
    check(rc == 5 and not fds and "nic9" in err, f"macvtap: no such device: exit 5 ({err})")

    # Installed with file capabilities (CAP_DAC_OVERRIDE too, for /dev/tapN) or setuid root,
    # run by nobody; with CAP_NET_ADMIN alone the device node cannot be opened.
    for how, caps in (("caps", "cap_net_admin,cap_dac_override+ep"), ("setuid", None),
                      ("net_admin only", "cap_net_admin+ep")):
        copy = os.path.join(work, "helper-" + how.replace(" ", "-"))
        subprocess.run(["cp", HELPER, copy], check=True)
        if caps:
            sh("setcap", caps, copy)
        else:
            os.chmod(copy, 0o4755)
        p, rec, fds, ours = start("--dev=nic0", "--macvtap-mode=bridge", "--ifname=mvn0",
                                  "--vnet-hdr", user="65534", helper=copy)
        ok = rec is not None and rec[3] == 0 and len(fds) == 1
        closeall(fds)
        ours.close()
        rc, err = finish(p)
        if caps == "cap_net_admin+ep":
            check(not ok and rc == 5 and "cap_dac_override" in err and link("mvn0") is None,
                  f"macvtap with CAP_NET_ADMIN alone: refused, no link left ({rc}, {err})")
        else:
            check(ok and rc == 0 and link("mvn0") is None,
                  f"macvtap installed with {how}, run by nobody: made and deleted ({rc}, {err})")
    subprocess.run(["rm", "-rf", work])


if __name__ == "__main__":
    sys.exit(main())
