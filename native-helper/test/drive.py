#!/usr/bin/env python3
"""Drive bin/berth-init by hand, the way the TS library does (see ../PROTOCOL.md).

A developer tool, run as root:  python3 native-helper/test/drive.py [-k NAME] [-v]

It builds a busybox bundle in a temp dir, then for each scenario: makes a socketpair, spawns
`berth-init init` with the socket at fd 3, writes a plan, reads `pid` (the driver is a child
subreaper, so the container process is re-parented to it), sends `go`, waits for `ready`, opens
the exec fifo (`start`) and checks what berth-probe reports from inside. Everything it creates
is removed at the end; leftover mounts under the temp dir fail the run.
"""
import argparse
import ctypes
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
INIT = os.path.join(REPO, "bin", "berth-init")
PROBE = os.path.join(REPO, "bin", "berth-probe")

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC = 32, 4096, 16384
MS_PRIVATE, MS_SLAVE, MS_SHARED = 1 << 18, 1 << 19, 1 << 20
MS_RELATIME, MS_STRICTATIME = 1 << 21, 1 << 24

CAP_CHOWN, CAP_KILL, CAP_NET_BIND_SERVICE, CAP_SYS_ADMIN = 0, 5, 10, 21

VERBOSE = False


def log(*a):
    if VERBOSE:
        print("   ", *a, file=sys.stderr)


# ---------------------------------------------------------------- line encoding

def enc(field):
    if isinstance(field, int):
        field = str(field)
    b = field.encode() if isinstance(field, str) else field
    if not b:
        return "%"
    out = []
    for c in b:
        if c == 0x25 or c == 0x20 or c < 0x21 or c == 0x7F:
            out.append("%%%02X" % c)
        else:
            out.append(chr(c))
    return "".join(out)


def dec(field):
    if field == "%":
        return ""
    b = bytearray()
    i = 0
    while i < len(field):
        if field[i] == "%":
            b.append(int(field[i + 1:i + 3], 16))
            i += 3
        else:
            b += field[i].encode()
            i += 1
    return b.decode()


def line(*fields):
    return " ".join(enc(f) for f in fields) + "\n"


# ---------------------------------------------------------------- plans

def default_mounts():
    return [
        ("proc", "/proc", "proc", MS_NOSUID | MS_NOEXEC | MS_NODEV, 0, ""),
        ("tmpfs", "/dev", "tmpfs", MS_NOSUID | MS_STRICTATIME, 0, "mode=755,size=65536k"),
        ("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, 0,
         "newinstance,ptmxmode=0666,mode=0620,gid=5"),
        ("shm", "/dev/shm", "tmpfs", MS_NOSUID | MS_NOEXEC | MS_NODEV, 0, "mode=1777,size=65536k"),
        ("mqueue", "/dev/mqueue", "mqueue", MS_NOSUID | MS_NOEXEC | MS_NODEV, 0, ""),
        ("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NOEXEC | MS_NODEV | MS_RDONLY, 0, ""),
        ("tmpfs", "/sys/fs/cgroup", "tmpfs", MS_NOSUID | MS_NOEXEC | MS_NODEV, 0, "mode=755"),
        ("cgroup", "/sys/fs/cgroup/memory", "cgroup", MS_NOSUID | MS_NOEXEC | MS_NODEV | MS_RDONLY,
         0, "memory"),
        ("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, 0, "mode=1777"),
    ]


DEVICES = [("/dev/null", "c", 1, 3), ("/dev/zero", "c", 1, 5), ("/dev/full", "c", 1, 7),
           ("/dev/random", "c", 1, 8), ("/dev/urandom", "c", 1, 9), ("/dev/tty", "c", 5, 0)]

SYMLINKS = [("/proc/self/fd", "/dev/fd"), ("/proc/self/fd/0", "/dev/stdin"),
            ("/proc/self/fd/1", "/dev/stdout"), ("/proc/self/fd/2", "/dev/stderr"),
            ("pts/ptmx", "/dev/ptmx"), ("/proc/kcore", "/dev/core")]

MASKED = ["/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
          "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware"]
READONLY = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]


def base_plan(t, args, **kw):
    """A runc-default-like plan as a list of records (tuples)."""
    recs = [("version", 1)]
    if kw.get("wait"):
        recs.append(("wait",))
    for ns in kw.get("namespaces", ["pid", "mnt", "uts", "ipc", "net"]):
        recs.append(("ns", ns, ""))
    recs.append(("rootfs", kw.get("rootfs", t.rootfs)))
    for m in kw.get("mounts", default_mounts()) + kw.get("extra_mounts", []):
        recs.append(("mount",) + tuple(m))
    if kw.get("bind_devices"):
        recs.append(("bind-devices",))
    for d in DEVICES:
        recs.append(("device", d[0], d[1], d[2], d[3], 0o666, 0, 0))
    for s in SYMLINKS:
        recs.append(("symlink",) + s)
    for m in kw.get("masked", MASKED):
        recs.append(("masked", m))
    for r in kw.get("readonly", READONLY):
        recs.append(("readonly", r))
    recs.append(("hostname", kw.get("hostname", "berthbox")))
    env = kw.get("env", ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root", "TERM=xterm"])
    for e in env:
        recs.append(("env", e))
    for a in args:
        recs.append(("arg", a))
    recs.append(("cwd", kw.get("cwd", "/")))
    if kw.get("fifo", True):
        recs.append(("exec-fifo", t.fifo()))
    recs += kw.get("extra", [])
    return recs


# ---------------------------------------------------------------- running

class Result:
    def __init__(self):
        self.pid = None
        self.error = None       # (errno, message) when berth-init sent `error`
        self.ready = False
        self.stdout = b""
        self.status = None      # stage0's exit status
        self.container_status = None

    def json(self):
        return json.loads(self.stdout.decode().strip().splitlines()[-1])


class Tester:
    def __init__(self, base):
        self.base = base
        self.rootfs = os.path.join(base, "rootfs")
        self.n = 0

    def fifo(self):
        self.n += 1
        # berth-init (stage0) creates it, as the protocol says.
        return os.path.join(self.base, "fifo%d" % self.n)

    def run(self, recs, *, state="%", on_pid=None, after_ready=None, extra_fds=(),
            stdin=subprocess.DEVNULL, wait_container=True, timeout=20, start=True):
        res = Result()
        lib, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        out_r, out_w = os.pipe()
        fds = [child.fileno()] + list(extra_fds)

        def setup():
            # fd 3 = sync socket, 4.. = preserved fds: park them high first, then move down.
            high = [os.dup2(fd, 200 + i) for i, fd in enumerate(fds)]
            for i, fd in enumerate(high):
                os.dup2(fd, 3 + i)
            os.closerange(3 + len(fds), 4096)

        proc = subprocess.Popen([INIT, "init"], stdin=stdin, stdout=out_w, stderr=out_w,
                                close_fds=False, preexec_fn=setup)
        child.close()
        os.close(out_w)
        fifo = None
        for r in recs:
            if r[0] == "exec-fifo":
                fifo = r[1]
        f = lib.makefile("rwb", buffering=0)
        try:
            for r in recs:
                f.write(line(*r).encode())
            f.write(b"end\n")
            msg = f.readline().decode().split()
            log("got", msg)
            if msg and msg[0] == "error":
                res.error = (int(msg[1]), dec(msg[2]))
                res.status = proc.wait(timeout)
                return res
            assert msg and msg[0] == "pid", "expected pid, got %r" % msg
            res.pid = int(msg[1])
            if on_pid:
                on_pid(res.pid)
            f.write(line("go", state).encode())
            msg = f.readline().decode().split()
            log("got", msg)
            if not msg:
                res.error = None
            elif msg[0] == "error":
                res.error = (int(msg[1]), dec(msg[2]))
            elif msg[0] == "ready":
                res.ready = True
            if res.ready and after_ready:
                after_ready(res)
            if res.ready and fifo and start:
                fd = os.open(fifo, os.O_RDONLY)
                data = os.read(fd, 1)
                os.close(fd)
                assert data == b"0", "exec fifo gave %r" % data
                msg = f.readline().decode().split()
                log("after start got", msg)
                if msg and msg[0] == "error":
                    res.error = (int(msg[1]), dec(msg[2]))
            # The rest of the output, until every writer (the container) is gone.
            if wait_container or res.error:
                res.stdout = read_all(out_r, timeout)
                res.status = proc.wait(timeout)
                if res.pid:
                    res.container_status = reap(res.pid, timeout)
            else:
                res.out_fd = out_r
                out_r = None
                res.status = proc.wait(timeout)
            return res
        finally:
            f.close()
            lib.close()
            if out_r is not None:
                os.close(out_r)
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def read_all(fd, timeout):
    data = b""
    deadline = time.time() + timeout
    while True:
        r, _, _ = select.select([fd], [], [], max(0, deadline - time.time()))
        if not r:
            raise AssertionError("timeout reading container output: %r" % data)
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # a pty master reports EIO once the slave side is gone
            break
        if not chunk:
            break
        data += chunk
    return data


def reap(pid, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            p, st = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return None
        if p == pid:
            return os.waitstatus_to_exitcode(st)
        time.sleep(0.02)
    os.kill(pid, signal.SIGKILL)
    raise AssertionError("container %d did not exit" % pid)


# ---------------------------------------------------------------- bundle

def make_rootfs(base):
    root = os.path.join(base, "rootfs")
    for d in ["bin", "proc", "dev", "sys", "tmp", "etc", "root", "home/user", "shared", "usr/bin"]:
        os.makedirs(os.path.join(root, d), exist_ok=True)
    shutil.copy("/bin/busybox", os.path.join(root, "bin/busybox"))
    for app in ["sh", "echo", "cat", "ls", "sleep", "id", "mount", "touch", "kill", "true", "false",
                "hostname", "env", "pwd", "stat", "readlink", "test", "uname", "grep", "wc", "stty"]:
        os.symlink("busybox", os.path.join(root, "bin", app))
    shutil.copy(PROBE, os.path.join(root, "bin/berth-probe"))
    with open(os.path.join(root, "etc/passwd"), "w") as f:
        f.write("root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000::/home/user:/bin/sh\n")
    os.chown(os.path.join(root, "home/user"), 1000, 1000)
    # A symlink that points out of the rootfs: mounts through it must stay inside.
    os.symlink("/../../../../../../" + base.strip("/") + "/escape", os.path.join(root, "evil"))
    os.makedirs(os.path.join(base, "escape"))
    os.makedirs(os.path.join(base, "shared"))
    with open(os.path.join(base, "shared", "hello"), "w") as f:
        f.write("from the host\n")


# ---------------------------------------------------------------- scenarios

def mount_of(probe, mp):
    ms = [m for m in probe["mounts"] if m["mountpoint"] == mp]
    assert ms, "no mount at %s: %s" % (mp, [m["mountpoint"] for m in probe["mounts"]])
    return ms[-1]


def opts(m):
    return set(m["options"].split(","))


def t_basic(t):
    """Default runc-like container: namespaces, mounts, devices, symlinks, masked/readonly, ..."""
    recs = base_plan(t, ["berth-probe", "hello world"], hostname="berthbox", cwd="/tmp",
                     extra=[("domainname", "example.org"), ("umask", 0o027),
                            ("rlimit", 7, 1024, 2048), ("oom-score-adj", 123),
                            ("sysctl", "net/ipv4/ip_forward", "1")])
    r = t.run(recs)
    assert r.error is None and r.ready, r.error
    assert r.status == 0 and r.container_status == 0, (r.status, r.container_status, r.stdout)
    p = r.json()
    assert p["pid"] == 1 and p["ppid"] == 0, (p["pid"], p["ppid"])
    assert p["sid"] == 1 and p["pgid"] == 1
    assert p["hostname"] == "berthbox" and p["domainname"] == "example.org"
    assert p["cwd"] == "/tmp" and p["umask"] == "0027"
    assert p["args"] == ["berth-probe", "hello world"], p["args"]
    assert p["env"] == ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root", "TERM=xterm"]
    assert p["rlimits"]["nofile"] == {"soft": 1024, "hard": 2048}, p["rlimits"]["nofile"]
    assert p["oom_score_adj"] == 123
    assert p["fds"] == [0, 1, 2], p["fds"]
    assert p["uid"] == 0 and p["caps"]["effective"] != "0000000000000000"
    m = mount_of(p, "/proc")
    assert m["fstype"] == "proc" and {"nosuid", "nodev", "noexec"} <= opts(m), m
    m = mount_of(p, "/sys")
    assert m["fstype"] == "sysfs" and "ro" in opts(m), m
    assert "ro" in opts(mount_of(p, "/sys/fs/cgroup/memory"))
    assert mount_of(p, "/dev/pts")["fstype"] == "devpts"
    assert mount_of(p, "/dev/mqueue")["fstype"] == "mqueue"
    assert mount_of(p, "/dev/shm")["fstype"] == "tmpfs"
    assert "ro" in opts(mount_of(p, "/proc/sys")), "readonly /proc/sys"
    assert mount_of(p, "/proc/acpi")["fstype"] == "tmpfs" and "ro" in opts(mount_of(p, "/proc/acpi"))
    assert mount_of(p, "/proc/keys")["fstype"] == "tmpfs"  # /dev/null of the /dev tmpfs
    assert not [m for m in p["mounts"] if m["mountpoint"] == "/proc/kcore"] or \
        os.path.exists("/proc/kcore")  # missing masked paths are skipped
    assert mount_of(p, "/")["mountpoint"] == "/"
    assert not any(m["mountpoint"].startswith(t.base) for m in p["mounts"]), "host paths visible"

    out = t.run(base_plan(t, ["sh", "-c",
                              "ls -l /dev/null /dev/ptmx /dev/fd; cat /proc/kcore | wc -c; "
                              "berth-probe --sysctl net.ipv4.ip_forward; "
                              "echo x > /proc/sys/kernel/hostname 2>&1 || echo rofail"],
                          extra=[("sysctl", "net/ipv4/ip_forward", "1")]))
    s = out.stdout.decode()
    log(s)
    assert out.container_status == 0, s
    assert "crw-rw-rw-" in s and "1,   3" in s, s
    assert "/dev/ptmx -> pts/ptmx" in s and "/dev/fd -> /proc/self/fd" in s, s
    assert '{"sysctl":"1"}' in s, s
    assert "rofail" in s, s


def t_caps_user(t):
    """user 1000:1000 + groups, capability sets, no-new-privileges, cwd as that user."""
    keep = (1 << CAP_CHOWN) | (1 << CAP_KILL) | (1 << CAP_NET_BIND_SERVICE)
    caps = [("caps", s, CAP_CHOWN, CAP_KILL, CAP_NET_BIND_SERVICE)
            for s in ["bounding", "permitted", "inheritable", "effective"]]
    caps.append(("caps", "ambient", CAP_NET_BIND_SERVICE))
    # A non-root execve keeps only the ambient caps in permitted/effective (capabilities(7)).
    recs = base_plan(t, ["berth-probe"], cwd="/home/user",
                     extra=caps + [("user", 1000, 1000), ("groups", 10, 20), ("no-new-privileges",)])
    r = t.run(recs)
    assert r.error is None and r.container_status == 0, (r.error, r.stdout)
    p = r.json()
    assert (p["uid"], p["gid"], p["euid"], p["egid"]) == (1000, 1000, 1000, 1000), p
    assert sorted(p["groups"]) == [10, 20], p["groups"]
    want, amb = "%016x" % keep, "%016x" % (1 << CAP_NET_BIND_SERVICE)
    assert p["caps"] == {"bounding": want, "inheritable": want, "permitted": amb, "effective": amb,
                         "ambient": amb}, p["caps"]
    assert p["no_new_privs"] is True
    assert p["cwd"] == "/home/user"
    # All kept caps ambient: they survive the exec as user 1000.
    caps[-1] = ("caps", "ambient", CAP_CHOWN, CAP_KILL, CAP_NET_BIND_SERVICE)
    r = t.run(base_plan(t, ["berth-probe"], extra=caps + [("user", 1000, 1000)]))
    p = r.json()
    assert set(p["caps"].values()) == {want}, p["caps"]
    # Root keeps the plan's sets as they are.
    caps = [("caps", s, CAP_CHOWN, CAP_SYS_ADMIN) for s in ["bounding", "permitted", "effective"]]
    r = t.run(base_plan(t, ["berth-probe"], extra=caps))
    p = r.json()
    two = "%016x" % ((1 << CAP_CHOWN) | (1 << CAP_SYS_ADMIN))
    assert p["caps"] == {"bounding": two, "inheritable": "0" * 16, "permitted": two, "effective": two,
                         "ambient": "0" * 16}, p["caps"]

    # No caps records, root: untouched (full set); user switch alone drops them.
    r = t.run(base_plan(t, ["berth-probe"], extra=[("user", 1000, 1000)]))
    p = r.json()
    assert p["caps"]["effective"] == "0000000000000000" and p["groups"] == [], p
    assert p["no_new_privs"] is False


def t_terminal(t):
    """terminal + console socket: the master comes over SCM_RIGHTS, the slave is fd 0-2."""
    sock_path = os.path.join(t.base, "console.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(sock_path)
    srv.listen(1)
    got = {}

    def on_pid(pid):
        conn, _ = srv.accept()
        got["conn"] = conn

    def after_ready(res):
        msg, fds, _, _ = socket.recv_fds(got["conn"], 1024, 1)
        got["name"], got["master"] = msg.decode(), fds[0]

    try:
        recs = base_plan(t, ["berth-probe"], extra=[("terminal",), ("console-socket", sock_path),
                                                    ("console-size", 40, 120)])
        r = t.run(recs, on_pid=on_pid, after_ready=after_ready, wait_container=False)
        assert r.error is None and r.ready, r.error
        os.close(r.out_fd)
        out = read_all(got["master"], 10)
        reap(r.pid, 10)
        os.close(got["master"])
        got["conn"].close()
        p = json.loads(out.decode().strip().splitlines()[-1])
        assert got["name"] == "/dev/pts/0", got["name"]
        assert p["ttyname"] == "/dev/pts/0", p["ttyname"]
        assert p["fds"] == [0, 1, 2], p["fds"]
        out2 = t.run(base_plan(t, ["sh", "-c", "stty size < /dev/tty 2>&1 || busybox stty size"],
                               extra=[("terminal",), ("console-socket", sock_path),
                                      ("console-size", 40, 120)]),
                     on_pid=on_pid, after_ready=after_ready, wait_container=False)
        os.close(out2.out_fd)
        s = read_all(got["master"], 10).decode()
        reap(out2.pid, 10)
        os.close(got["master"])
        got["conn"].close()
        assert "40 120" in s, s
    finally:
        srv.close()
        os.unlink(sock_path)


def t_hooks(t):
    """createContainer (host path, sees the state on stdin) and startContainer (in the container)."""
    out = os.path.join(t.base, "shared")
    hook = os.path.join(t.base, "hook.sh")
    with open(hook, "w") as f:
        f.write("#!/bin/sh\ncat > %s/create-state\necho \"$1 $HOOKENV\" > %s/create-args\n" % (out, out))
    os.chmod(hook, 0o755)
    state = json.dumps({"ociVersion": "1.0.2", "id": "c1", "status": "creating", "pid": 1})
    recs = base_plan(t, ["true"], extra_mounts=[(out, "/shared", "", MS_BIND | MS_REC, 0, "")],
                     extra=[("hook", "createContainer", 5, hook, 2, "hook.sh", "arg one", "HOOKENV=yes"),
                            ("hook", "startContainer", 5, "/bin/sh", 3, "sh", "-c",
                             "cat > /shared/start-state; hostname > /shared/start-host")])
    r = t.run(recs, state=state)
    assert r.error is None and r.container_status == 0, r.error
    assert open(os.path.join(out, "create-state")).read() == state
    assert open(os.path.join(out, "create-args")).read() == "arg one yes\n"
    assert open(os.path.join(out, "start-state")).read() == state
    assert open(os.path.join(out, "start-host")).read() == "berthbox\n"

    # A failing hook and a hook past its timeout.
    r = t.run(base_plan(t, ["true"], extra=[("hook", "createContainer", 0, "/bin/false", 0)]))
    assert r.error and "createContainer hook \"/bin/false\": exited with status 1" in r.error[1], r.error
    assert r.status == 0 and r.container_status == 1
    t0 = time.time()
    r = t.run(base_plan(t, ["true"], extra=[("hook", "createContainer", 1, "/bin/sleep", 2, "sleep", "30")]))
    assert r.error and "timed out after 1 s" in r.error[1], r.error
    assert time.time() - t0 < 5
    r = t.run(base_plan(t, ["true"], extra=[("hook", "startContainer", 0, "/nonexistent", 0)]))
    assert r.error and "startContainer hook \"/nonexistent\": exec: No such file" in r.error[1], r.error
    log(r.error)


def t_errors(t):
    """error lines: bad mount, missing binary, plan errors, bad namespace path."""
    r = t.run(base_plan(t, ["true"], extra_mounts=[("none", "/bad", "nosuchfs", 0, 0, "")]))
    assert r.error and r.error[1] == 'mount "none" on "/bad" (type nosuchfs): No such device', r.error
    assert r.error[0] == 19 and r.container_status == 1
    r = t.run(base_plan(t, ["no-such-binary"]))
    assert r.error and r.error[1] == 'exec: "no-such-binary": executable file not found in $PATH', r.error
    assert not r.ready
    r = t.run(base_plan(t, ["/bin/nope"]))
    assert r.error == (2, 'exec: "/bin/nope": No such file or directory'), r.error
    r = t.run(base_plan(t, ["true"], extra=[("frobnicate", "x")]))
    assert r.error and r.error[1].startswith('unknown plan record "frobnicate"') and r.status == 1, r.error
    assert r.pid is None
    r = t.run([("version", 1), ("ns", "net", "/nonexistent/ns"), ("arg", "true")])
    assert r.error and r.error[1] == 'open net namespace "/nonexistent/ns": No such file or directory', r.error
    r = t.run([("version", 2)])
    assert r.error and "version 1" in r.error[1], r.error
    # No PATH in env: the default PATH is searched.
    r = t.run(base_plan(t, ["berth-probe"], env=["A=b"]))
    assert r.container_status == 0 and r.json()["env"] == ["A=b"], r.stdout


def t_wait(t):
    """`wait`: stage0 exits with the container's code, 128+signal, and forwards signals."""
    r = t.run(base_plan(t, ["berth-probe", "--exit", "3"], wait=True, fifo=False))
    assert r.error is None and r.status == 3, (r.status, r.error)
    killed = {}

    def after_ready(res):
        time.sleep(0.3)
        os.kill(res.pid, signal.SIGKILL)
        killed["y"] = 1

    r = t.run(base_plan(t, ["sleep", "30"], wait=True, fifo=False), after_ready=after_ready)
    assert killed and r.status == 137, r.status

    procs = {}

    def term_stage0(res):
        time.sleep(0.5)
        procs["sent"] = 1
        # stage0 is our direct child; find it by the parent of the container pid.
        ppid = int(open("/proc/%d/stat" % res.pid).read().rsplit(")", 1)[1].split()[1])
        os.kill(ppid, signal.SIGTERM)

    r = t.run(base_plan(t, ["sh", "-c", "trap 'exit 7' TERM; sleep 30 & wait"], wait=True, fifo=False),
              after_ready=term_stage0)
    assert procs and r.status == 7, r.status


def t_fds(t):
    """Only 0-2 and the preserved fds reach the container; preserved fds 4.. become 3.."""
    a_r, a_w = os.pipe()
    b_r, b_w = os.pipe()
    os.write(a_w, b"pipe-a\n")
    os.close(a_w)
    recs = base_plan(t, ["sh", "-c", "berth-probe; cat <&3; echo to-b >&4"],
                     extra=[("preserve-fds", 2)])
    r = t.run(recs, extra_fds=[a_r, b_w])
    os.close(a_r)
    os.close(b_w)
    s = r.stdout.decode().splitlines()
    p = json.loads(s[0])
    assert p["fds"] == [0, 1, 2, 3, 4], p["fds"]
    assert s[1] == "pipe-a", s
    assert os.read(b_r, 100) == b"to-b\n"
    os.close(b_r)
    r = t.run(base_plan(t, ["berth-probe"], extra=[("preserve-fds", 1)]))
    assert r.error and r.error[1] == "preserve-fds: fd 4: Bad file descriptor", r.error


def t_readonly_binds(t):
    """readonly-rootfs, bind mounts with ro, a mount through a symlink pointing out of the rootfs."""
    shared = os.path.join(t.base, "shared")
    recs = base_plan(t, ["sh", "-c", "berth-probe --write /x --write /tmp/x --write /shared/x "
                         "--cat /shared/hello --write /rw/x --cat /evil/inside/.keep; "
                         "berth-probe"],
                     extra_mounts=[(shared, "/shared", "", MS_BIND | MS_REC | MS_RDONLY | MS_NOSUID, 0, ""),
                                   (shared, "/rw", "", MS_BIND, MS_PRIVATE, ""),
                                   (os.path.join(shared, "hello"), "/etc/hello", "", MS_BIND | MS_RDONLY, 0, ""),
                                   ("tmpfs", "/evil/inside", "tmpfs", 0, 0, "")],
                     extra=[("readonly-rootfs",)])
    r = t.run(recs)
    assert r.error is None, r.error
    lines = [json.loads(x) for x in r.stdout.decode().splitlines()]
    assert lines[0] == {"write": "Read-only file system"}, lines[0]
    assert lines[1] == {"write": "ok"}
    assert lines[2] == {"write": "Read-only file system"}
    assert lines[3] == {"cat": "from the host\n"}
    assert lines[4] == {"write": "ok"}
    p = lines[6]
    assert {"ro", "nosuid"} <= opts(mount_of(p, "/shared"))
    assert "ro" in opts(mount_of(p, "/etc/hello")) and "ro" in opts(mount_of(p, "/"))
    # /evil points out of the rootfs; its target was made inside (in the container's /tmp).
    assert mount_of(p, t.base + "/escape/inside")["fstype"] == "tmpfs"
    assert lines[5] == {"cat": None, "error": "No such file or directory"}, lines[5]
    os.unlink(os.path.join(shared, "x"))
    assert os.listdir(os.path.join(t.base, "escape")) == []


def t_no_pivot(t):
    r = t.run(base_plan(t, ["berth-probe"], extra=[("no-pivot",)]))
    assert r.error is None and r.container_status == 0, r.error
    assert r.json()["pid"] == 1


def t_propagation(t):
    """rshared rootfs-propagation: the rootfs's parent mount is made private for pivot_root."""
    r = t.run(base_plan(t, ["berth-probe"], extra=[("rootfs-propagation", MS_SHARED | MS_REC)]))
    assert r.error is None and r.container_status == 0, r.error


def t_userns(t):
    """New user namespace: maps written after `pid`, devices bound from the host."""
    def on_pid(pid):
        for f in ["uid_map", "gid_map"]:
            with open("/proc/%d/%s" % (pid, f), "w") as fh:
                fh.write("0 100000 65536\n")

    recs = base_plan(t, ["sh", "-c", "berth-probe; cat /dev/null; echo ok > /dev/null && echo devok"],
                     namespaces=["user", "pid", "mnt", "uts", "ipc", "net", "cgroup"],
                     bind_devices=True,
                     mounts=[m for m in default_mounts() if m[2] != "cgroup"],
                     extra=[("user", 1000, 1000)])
    r = t.run(recs, on_pid=on_pid)
    assert r.error is None and r.container_status == 0, (r.error, r.stdout)
    lines = r.stdout.decode().splitlines()
    p = json.loads(lines[0])
    assert p["uid"] == 1000 and p["ppid"] == 1 and p["sid"] == 1, p
    assert lines[1] == "devok", lines
    assert "ro" in opts(mount_of(p, "/sys"))

    # Exec into a user-namespaced container: user first, then the rest, mnt last.
    first = t.run(base_plan(t, ["sleep", "30"], namespaces=["user", "pid", "mnt", "uts", "ipc", "net"],
                            bind_devices=True, mounts=[m for m in default_mounts() if m[2] != "cgroup"]),
                  on_pid=on_pid, wait_container=False)
    assert first.error is None, first.error
    try:
        recs = [("version", 1), ("wait",)]
        for ns in ["user", "ipc", "uts", "net", "pid", "mnt"]:
            recs.append(("ns", ns, "/proc/%d/ns/%s" % (first.pid, ns)))
        recs += [("arg", "berth-probe"), ("user", 1000, 1000), ("groups", 1000), ("oom-score-adj", 500),
                 ("caps", "bounding", CAP_KILL), ("caps", "ambient", CAP_KILL),
                 ("caps", "permitted", CAP_KILL), ("caps", "inheritable", CAP_KILL)]
        r = t.run(recs)
        assert r.error is None and r.status == 0, (r.error, r.stdout)
        p = r.json()
        assert p["uid"] == 1000 and p["groups"] == [1000] and p["oom_score_adj"] == 500, p
        assert p["caps"]["effective"] == "%016x" % (1 << CAP_KILL), p["caps"]
        assert p["hostname"] == "berthbox" and p["fds"] == [0, 1, 2]
    finally:
        os.kill(first.pid, signal.SIGKILL)
        os.close(first.out_fd)
        reap(first.pid, 10)


def t_timens(t):
    r = t.run(base_plan(t, ["cat", "/proc/uptime"], namespaces=["pid", "mnt", "uts", "ipc", "net", "time"],
                        extra=[("timens-offset", "boottime", 86400 * 365, 0)]))
    assert r.error is None, r.error
    up = float(r.stdout.split()[0])
    assert up > 86400 * 365, up


def t_join(t):
    """Exec into a running container: join its namespaces, no rootfs."""
    first = t.run(base_plan(t, ["sleep", "30"], hostname="joined"), wait_container=False)
    assert first.error is None
    try:
        recs = [("version", 1), ("wait",)]
        for ns in ["ipc", "uts", "net", "pid", "mnt"]:
            recs.append(("ns", ns, "/proc/%d/ns/%s" % (first.pid, ns)))
        recs += [("arg", "berth-probe"), ("env", "PATH=/bin"), ("cwd", "/tmp"), ("user", 1000, 1000)]
        r = t.run(recs)
        assert r.error is None and r.status == 0, (r.error, r.stdout)
        p = r.json()
        assert p["hostname"] == "joined" and p["pid"] != 1 and p["uid"] == 1000, p
        assert p["cwd"] == "/tmp" and p["fds"] == [0, 1, 2], p
        assert not any(m["mountpoint"].startswith(t.base) for m in p["mounts"])
    finally:
        os.kill(first.pid, signal.SIGKILL)
        os.close(first.out_fd)
        reap(first.pid, 10)


def t_create_start_split(t):
    """Nothing runs before the fifo is opened; EOF on the socket at execve."""
    marker = os.path.join(t.base, "shared", "ran")
    seen = {}

    def after_ready(res):
        time.sleep(0.3)
        seen["before"] = os.path.exists(marker)

    recs = base_plan(t, ["touch", "/shared/ran"],
                     extra_mounts=[(os.path.join(t.base, "shared"), "/shared", "", MS_BIND, 0, "")])
    r = t.run(recs, after_ready=after_ready)
    assert r.error is None and seen["before"] is False and os.path.exists(marker)
    os.unlink(marker)


def t_cgroup_v1_shape(t):
    """The TS library's `cgroup` mount on v1: tmpfs, one bind per hierarchy, then a ro remount."""
    base = MS_NOSUID | MS_NODEV | MS_NOEXEC
    mounts = [m for m in default_mounts() if m[1] not in ("/sys/fs/cgroup", "/sys/fs/cgroup/memory")]
    mounts.append(("tmpfs", "/sys/fs/cgroup", "tmpfs", base, 0, "mode=755"))
    for h in ["cpu", "memory", "pids", "systemd"]:
        mounts.append(("/sys/fs/cgroup/" + h, "/sys/fs/cgroup/" + h, "bind", MS_BIND | base | MS_RDONLY, 0, ""))
    mounts.append(("tmpfs", "/sys/fs/cgroup", "tmpfs", MS_REMOUNT | MS_RDONLY | base, 0, "mode=755"))
    r = t.run(base_plan(t, ["berth-probe"], mounts=mounts,
                        extra=[("rootfs-propagation", MS_PRIVATE | MS_REC)]))
    assert r.error is None and r.container_status == 0, (r.error, r.stdout)
    p = r.json()
    assert {"ro", "nosuid", "nodev", "noexec"} <= opts(mount_of(p, "/sys/fs/cgroup")), mount_of(p, "/sys/fs/cgroup")
    for h in ["cpu", "memory", "pids", "systemd"]:
        m = mount_of(p, "/sys/fs/cgroup/" + h)
        assert m["fstype"] == "cgroup" and {"ro", "nosuid"} <= opts(m), m


TESTS = [t_basic, t_caps_user, t_terminal, t_hooks, t_errors, t_wait, t_fds, t_readonly_binds,
         t_no_pivot, t_propagation, t_userns, t_timens, t_join, t_create_start_split,
         t_cgroup_v1_shape]


def main():
    global VERBOSE
    ap = argparse.ArgumentParser()
    ap.add_argument("-k", help="run tests whose name contains this")
    ap.add_argument("-v", action="store_true")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir")
    a = ap.parse_args()
    VERBOSE = a.v
    if os.geteuid() != 0:
        sys.exit("run as root")
    for b in (INIT, PROBE):
        if not os.path.exists(b):
            sys.exit("build first: make -C native-helper (%s missing)" % b)
    # Child subreaper: containers whose stage0 exited are re-parented to us, so we can reap them.
    ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)
    base = tempfile.mkdtemp(prefix="berth-init-test.")
    os.chmod(base, 0o755)  # the root of a user namespace must reach the rootfs
    failed = 0
    try:
        make_rootfs(base)
        t = Tester(base)
        for test in TESTS:
            if a.k and a.k not in test.__name__:
                continue
            try:
                test(t)
                print("PASS", test.__name__)
            except Exception:
                failed += 1
                print("FAIL", test.__name__)
                traceback.print_exc()
    finally:
        with open("/proc/self/mounts") as f:
            leaked = [l for l in f if base in l]
        if leaked:
            failed += 1
            print("FAIL leaked mounts:", *leaked, sep="\n  ")
        if not a.keep:
            shutil.rmtree(base, ignore_errors=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
