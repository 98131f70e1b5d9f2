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
            stdin=subprocess.DEVNULL, stdout=None, wait_container=True, timeout=20, start=True):
        """stdout: an fd for berth-init's stdout and stderr (the tty relay); default a pipe
        whose content ends up in Result.stdout."""
        res = Result()
        lib, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        out_r, out_w = os.pipe()
        if stdout is not None:
            os.close(out_w)
            out_w = os.dup(stdout)
        fds = [child.fileno()] + list(extra_fds)

        def setup():
            # fd 3 = sync socket, 4.. = preserved fds: park them high first, then move down.
            high = [os.dup2(fd, 200 + i) for i, fd in enumerate(fds)]
            for i, fd in enumerate(high):
                os.dup2(fd, 3 + i)
            os.closerange(3 + len(fds), 4096)

        proc = subprocess.Popen([INIT, "init"], stdin=stdin, stdout=out_w, stderr=out_w,
                                close_fds=False, preexec_fn=setup)
        res.proc = proc
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


# What busybox sh and its applets need, plus what berth-init itself calls after a filter loaded
# without no-new-privileges (setgroups ... execve): an allow-list for a default-deny filter.
ALLOW = ["read", "write", "close", "openat", "open", "newfstatat", "fstat", "stat", "lstat", "statx",
         "lseek", "mmap", "munmap", "mprotect", "brk", "rt_sigaction", "rt_sigprocmask",
         "rt_sigreturn", "ioctl", "access", "faccessat", "faccessat2", "dup", "dup2", "dup3",
         "getpid", "getppid", "getuid", "geteuid", "getgid", "getegid", "gettid", "clone", "fork",
         "vfork", "execve", "wait4", "exit", "exit_group", "uname", "fcntl", "chdir", "getcwd",
         "readlink", "getdents64", "prctl", "arch_prctl", "set_tid_address", "set_robust_list",
         "rseq", "prlimit64", "getrandom", "capget", "capset", "setgroups", "setresuid",
         "setresgid", "close_range", "sendto", "sendmsg", "pipe", "pipe2", "kill", "umask"]


def t_seccomp(t):
    """Filters: default-deny allow-list, argument comparisons, errno, when the filter loads."""
    # Default ERRNO(EPERM), no no-new-privileges: loaded before the user switch, which then
    # runs under it. Unknown names and rules equal to the default are skipped.
    recs = base_plan(t, ["sh", "-c", "mkdir /tmp/d; echo rc=$?; cd /tmp && echo cd-ok; "
                         "grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status"],
                     extra=[("seccomp-default", "SCMP_ACT_ERRNO", 1),
                            ("seccomp-arch", "SCMP_ARCH_X86"), ("seccomp-arch", "SCMP_ARCH_X86_64"),
                            ("seccomp-flag", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"),
                            ("seccomp-rule", "SCMP_ACT_ALLOW", 0, "no_such_syscall", 0),
                            ("seccomp-rule", "SCMP_ACT_ERRNO", 1, "mkdir", 0),
                            ("user", 1000, 1000), ("groups", 1000)] +
                     [("seccomp-rule", "SCMP_ACT_ALLOW", 0, n, 0) for n in ALLOW])
    r = t.run(recs)
    out = r.stdout.decode()
    assert r.error is None and r.container_status == 0, (r.error, out)
    assert out == ("mkdir: can't create directory '/tmp/d': Operation not permitted\nrc=1\ncd-ok\n"
                   "NoNewPrivs:\t0\nSeccomp:\t2\n"), out

    # Argument comparisons, errno 38 (ENOSYS) seen from inside. kill(pid, 10): EQ on arg1.
    # MASKED_EQ mask 0x18 == 0x18 on the signal: SIGWINCH (28) matches, SIGCHLD (17) not.
    # Two comparisons on arg0 of personality: split into two rules (libseccomp refuses both
    # in one), either denies: personality(8) from linux32 fails.
    script = ("kill -USR1 $$; echo usr1=$?; kill -0 $$; echo zero=$?; kill -WINCH $$; echo winch=$?; "
              "kill -CHLD $$; echo chld=$?; linux32 true; echo linux32=$?")
    rules = [("seccomp-default", "SCMP_ACT_ALLOW", 0),
             ("seccomp-rule", "SCMP_ACT_ERRNO", 38, "kill", 1, 1, "SCMP_CMP_EQ", 10, 0),
             ("seccomp-rule", "SCMP_ACT_ERRNO", 38, "kill", 1, 1, "SCMP_CMP_MASKED_EQ", 0x18, 0x18),
             ("seccomp-rule", "SCMP_ACT_ERRNO", 38, "personality", 2,
              0, "SCMP_CMP_EQ", 8, 0, 0, "SCMP_CMP_EQ", 0xffffffff, 0)]
    r = t.run(base_plan(t, ["sh", "-c", script], extra=rules))
    out = r.stdout.decode()
    assert r.error is None and r.container_status == 0, (r.error, out)
    lines = out.splitlines()
    assert "usr1=1" in lines and "zero=0" in lines and "winch=1" in lines and "chld=0" in lines, out
    assert "linux32=1" in lines, out
    assert out.count("Function not implemented") == 3, out

    # When: a rule denying chdir. Without no-new-privileges the filter is loaded before step 10,
    # so berth-init's own chdir to cwd fails; with it, the filter comes after, at execve.
    deny_chdir = [("seccomp-default", "SCMP_ACT_ALLOW", 0),
                  ("seccomp-rule", "SCMP_ACT_ERRNO", 1, "chdir", 0)]
    r = t.run(base_plan(t, ["true"], cwd="/tmp", extra=deny_chdir))
    assert r.error == (1, 'chdir to cwd "/tmp": Operation not permitted'), r.error
    r = t.run(base_plan(t, ["sh", "-c", "pwd; cd / || echo denied; grep NoNewPrivs /proc/self/status"],
                        cwd="/tmp", extra=deny_chdir + [("no-new-privileges",)]))
    out = r.stdout.decode()
    assert r.error is None and r.container_status == 0, (r.error, out)
    assert out.startswith("/tmp\n") and "denied" in out and "NoNewPrivs:\t1" in out, out
    # Even the startContainer hooks run before it.
    r = t.run(base_plan(t, ["true"], extra=deny_chdir + [
        ("no-new-privileges",), ("hook", "startContainer", 5, "/bin/sh", 3, "sh", "-c", "cd /tmp")]))
    assert r.error is None and r.container_status == 0, r.error

    # Plan errors, all before clone().
    for extra, msg in [
            ([("seccomp-default", "SCMP_ACT_NOTIFY", 0)],
             'plan record "seccomp-default": unknown or unsupported action "SCMP_ACT_NOTIFY"'),
            ([("seccomp-rule", "SCMP_ACT_ALLOW", 0, "read", 0)],
             'plan records "seccomp-*" need "seccomp-default"'),
            ([("seccomp-default", "SCMP_ACT_ALLOW", 0), ("seccomp-arch", "SCMP_ARCH_VAX")],
             'plan record "seccomp-arch": unknown architecture "SCMP_ARCH_VAX"'),
            ([("seccomp-default", "SCMP_ACT_ALLOW", 0), ("seccomp-flag", "SECCOMP_FILTER_FLAG_NEW")],
             'plan record "seccomp-flag": unknown flag "SECCOMP_FILTER_FLAG_NEW"'),
            ([("seccomp-default", "SCMP_ACT_ALLOW", 0),
              ("seccomp-rule", "SCMP_ACT_ERRNO", 1, "read", 1, 6, "SCMP_CMP_EQ", 0, 0)],
             'plan record "seccomp-rule": bad number "6"'),
            ([("seccomp-default", "SCMP_ACT_ALLOW", 0),
              ("seccomp-rule", "SCMP_ACT_ERRNO", 1, "read", 1, 0, "SCMP_CMP_XX", 0, 0)],
             'plan record "seccomp-rule": unknown operator "SCMP_CMP_XX"'),
            ([("seccomp-default", "SCMP_ACT_ALLOW", 0),
              ("seccomp-rule", "SCMP_ACT_ERRNO", 1, "read", 2, 0, "SCMP_CMP_EQ", 0, 0)],
             'plan record "seccomp-rule": 2 comparisons need 12 fields, got 8')]:
        r = t.run(base_plan(t, ["true"], extra=extra))
        assert r.error == (22, msg) and r.pid is None, (r.error, msg)


def t_personality(t):
    """personality 8 (LINUX32): uname -m says i686; set before a filter that denies personality."""
    r = t.run(base_plan(t, ["uname", "-m"], extra=[("personality", 8)]))
    assert r.error is None and r.stdout == b"i686\n", (r.error, r.stdout)
    r = t.run(base_plan(t, ["uname", "-m"]))
    assert r.stdout == b"x86_64\n", r.stdout
    r = t.run(base_plan(t, ["sh", "-c", "uname -m; linux64 true || echo denied"],
                        extra=[("personality", 8), ("seccomp-default", "SCMP_ACT_ALLOW", 0),
                               ("seccomp-rule", "SCMP_ACT_ERRNO", 1, "personality", 0)]))
    out = r.stdout.decode()
    assert r.error is None and out.startswith("i686\n") and out.endswith("denied\n"), (r.error, out)
    r = t.run(base_plan(t, ["true"], extra=[("personality", 1 << 32)]))
    assert r.error == (22, 'plan record "personality": bad number "4294967296"'), r.error


class Pty:
    """A pty standing for the caller's terminal: berth-init gets the slave as stdin/stdout."""

    def __init__(self, rows, cols):
        import pty
        self.master, self.slave = pty.openpty()
        self.data = b""
        self.resize(rows, cols)

    def resize(self, rows, cols):
        import fcntl
        import struct
        import termios
        fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def lflag(self):
        import termios
        return termios.tcgetattr(self.slave)[3]

    def read_until(self, what, timeout=10):
        """Everything read so far (from the start), once it contains what."""
        deadline = time.time() + timeout
        while what not in self.data:
            r, _, _ = select.select([self.master], [], [], max(0, deadline - time.time()))
            if not r:
                raise AssertionError("timeout waiting for %r in %r" % (what, self.data))
            try:
                self.data += os.read(self.master, 4096)
            except OSError:
                break
        return self.data

    def close(self):
        os.close(self.master)
        os.close(self.slave)


def relay_session(t, recs, rows=33, cols=77):
    """Run recs (terminal + wait, no console socket) with a pty as berth-init's stdio; the
    container's script talks to us. Returns (stage0 status, everything read, lflags seen)."""
    import termios
    tty = Pty(rows, cols)
    seen = {}

    def after_ready(res):
        # stage0 made our terminal raw while it relays: no ICANON, no ECHO.
        tty.read_until(b"tty:")
        seen["raw"] = tty.lflag()
        os.write(tty.master, b"hello relay\r")
        tty.read_until(b"got:hello relay")
        tty.resize(50, 132)
        os.kill(res.proc.pid, signal.SIGWINCH)
        time.sleep(0.3)
        os.write(tty.master, b"\r")
        out = tty.read_until(b"bye")
        seen["status"] = res.proc.wait(10)
        seen["out"] = out.replace(b"\r\n", b"\n").decode()
        seen["restored"] = tty.lflag()

    try:
        r = t.run(recs, stdin=tty.slave, stdout=tty.slave, after_ready=after_ready)
        assert r.error is None, r.error
        raw_off = termios.ICANON | termios.ECHO
        assert seen["raw"] & raw_off == 0, "stdin not raw: lflag 0x%x" % seen["raw"]
        assert seen["restored"] & raw_off == raw_off, "stdin not restored: 0x%x" % seen["restored"]
        return seen["status"], seen["out"], r
    finally:
        tty.close()


RELAY_SCRIPT = ("echo size:$(stty size) tty:$(tty); read x; echo got:$x; read y; "
                "echo size2:$(stty size); echo bye; exit 5")


def t_terminal_relay(t):
    """terminal + wait without console-socket: stage0 relays the pty to its own tty."""
    status, out, r = relay_session(t, base_plan(t, ["sh", "-c", RELAY_SCRIPT], wait=True, fifo=False,
                                                extra=[("terminal",)]))
    log(out)
    assert status == 5, (status, out)
    assert "size:33 77 tty:/dev/pts/0\n" in out, out
    assert "hello relay\n" in out, out  # the container's pty echoes what we type
    assert "got:hello relay\n" in out and "size2:50 132\n" in out, out
    # The relay is only for a stage0 that stays.
    r = t.run(base_plan(t, ["true"], extra=[("terminal",)]))
    assert r.error == (22, 'plan record "terminal" needs "console-socket" or "wait"'), r.error
    # A container flooding its output still gets our input: ^C reaches the container's
    # foreground process group as SIGINT (its pty is cooked). pid 1 of a pid namespace ignores
    # SIGINT without a handler, so sh traps it and exits 7 once `yes` died of it.
    import threading
    tty = Pty(24, 80)
    stop = threading.Event()

    def drain():
        while not stop.is_set():
            r, _, _ = select.select([tty.master], [], [], 0.1)
            if r:
                try:
                    os.read(tty.master, 65536)
                except OSError:
                    return

    reader = threading.Thread(target=drain)
    reader.start()

    def interrupt(res):
        time.sleep(0.3)
        os.write(tty.master, b"\x03")
        seen["flood"] = res.proc.wait(5)

    seen = {}
    try:
        r = t.run(base_plan(t, ["sh", "-c", "trap 'exit 7' INT; busybox yes"], wait=True, fifo=False,
                            extra=[("terminal",)]),
                  stdin=tty.slave, stdout=tty.slave, after_ready=interrupt)
        assert r.error is None and seen["flood"] == 7, (r.error, seen)
    finally:
        stop.set()
        reader.join()
        tty.close()
    # The child fails before sending the master (a bad mount) or after (no such binary):
    # stage0 does not hang on the relay, the error comes on the sync socket, status 1.
    for recs, msg in [
            (base_plan(t, ["true"], wait=True, fifo=False, extra=[("terminal",)],
                       extra_mounts=[("none", "/bad", "nosuchfs", 0, 0, "")]), "mount"),
            (base_plan(t, ["no-such-binary"], wait=True, fifo=False, extra=[("terminal",)]), "exec")]:
        r = t.run(recs, timeout=10)
        assert r.error and r.error[1].startswith(msg) and r.status == 1, (r.error, r.status)
    # stdin not a terminal: no raw mode, output still relayed, exit status passed on.
    r = t.run(base_plan(t, ["sh", "-c", "tty; exit 3"], wait=True, fifo=False, extra=[("terminal",)]))
    assert r.error is None and r.status == 3 and r.stdout.replace(b"\r", b"") == b"/dev/pts/0\n", \
        (r.error, r.status, r.stdout)


def userns_container(t, **kw):
    def on_pid(pid):
        for f in ["uid_map", "gid_map"]:
            with open("/proc/%d/%s" % (pid, f), "w") as fh:
                fh.write("0 100000 65536\n")

    first = t.run(base_plan(t, ["sleep", "30"], namespaces=["user", "pid", "mnt", "uts", "ipc", "net"],
                            bind_devices=True, mounts=[m for m in default_mounts() if m[2] != "cgroup"],
                            hostname="usernsbox", **kw),
                  on_pid=on_pid, wait_container=False)
    assert first.error is None, first.error
    return first


def join_plan(pid, args, *extra, wait=True):
    recs = [("version", 1)] + ([("wait",)] if wait else [])
    for ns in ["user", "ipc", "uts", "net", "pid", "mnt"]:
        recs.append(("ns", ns, "/proc/%d/ns/%s" % (pid, ns)))
    recs += [("arg", a) for a in args]
    recs += [("env", "PATH=/bin"), ("user", 0, 0)] + list(extra)
    return recs


def t_exec_modes(t):
    """Exec into a user-namespaced container: no rootfs, every namespace joined by path, no
    exec fifo; with and without wait, terminal by console socket and by relay."""
    first = userns_container(t)
    try:
        # wait: stage0 passes the exit status on.
        r = t.run(join_plan(first.pid, ["sh", "-c", "hostname; id -u; exit 4"]))
        assert r.error is None and r.status == 4, (r.error, r.status)
        assert r.stdout == b"usernsbox\n0\n", r.stdout
        # no wait: stage0 exits 0 at once, the process is ours (the subreaper) to reap.
        r = t.run(join_plan(first.pid, ["sh", "-c", "sleep 0.3; echo late; exit 6"], wait=False))
        assert r.error is None and r.status == 0 and r.stdout == b"late\n", (r.error, r.status, r.stdout)
        assert r.container_status == 6, r.container_status
        # seccomp and personality in exec mode too (no no-new-privileges: loaded with
        # CAP_SYS_ADMIN of the joined user namespace).
        r = t.run(join_plan(first.pid, ["sh", "-c", "uname -m; mkdir /tmp/x || true"],
                            ("personality", 8), ("seccomp-default", "SCMP_ACT_ALLOW", 0),
                            ("seccomp-rule", "SCMP_ACT_ERRNO", 38, "mkdir", 0)))
        assert r.error is None and r.stdout.startswith(b"i686\n") and \
            b"Function not implemented" in r.stdout, (r.error, r.stdout)
        # terminal over a console socket, no wait.
        sock_path = os.path.join(t.base, "exec-console.sock")
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        srv.bind(sock_path)
        srv.listen(1)
        got = {}
        try:
            def on_pid(pid):
                got["conn"], _ = srv.accept()

            def after_ready(res):
                msg, fds, _, _ = socket.recv_fds(got["conn"], 1024, 1)
                got["name"], got["master"] = msg.decode(), fds[0]

            r = t.run(join_plan(first.pid, ["sh", "-c", "tty; hostname"], ("terminal",),
                                ("console-socket", sock_path), ("console-size", 20, 60), wait=False),
                      on_pid=on_pid, after_ready=after_ready, wait_container=False)
            assert r.error is None, r.error
            os.close(r.out_fd)
            out = read_all(got["master"], 10).replace(b"\r\n", b"\n")
            reap(r.pid, 10)
            os.close(got["master"])
            got["conn"].close()
            assert got["name"] == out.splitlines()[0].decode() and out.endswith(b"\nusernsbox\n"), \
                (got["name"], out)
        finally:
            srv.close()
            os.unlink(sock_path)
        # terminal by the relay, with wait.
        status, out, r = relay_session(t, join_plan(first.pid, ["sh", "-c", RELAY_SCRIPT], ("terminal",)))
        assert status == 5 and "got:hello relay\n" in out and "size2:50 132\n" in out, (status, out)
        assert "size:33 77 tty:/dev/pts/" in out, out
    finally:
        os.kill(first.pid, signal.SIGKILL)
        os.close(first.out_fd)
        reap(first.pid, 10)


def t_memfd(t):
    """berth-init runs from a sealed memfd: stage0, the child, and berth-init started by the
    kernel for a `#!/proc/self/exe` entrypoint; argv, environment and fd 3 survive the re-exec."""
    F_GET_SEALS, SEALS = 1034, 0xF  # F_SEAL_SEAL|SHRINK|GROW|WRITE
    import fcntl
    import hashlib
    seen = {}

    def exe_facts(pid):
        path = "/proc/%d/exe" % pid
        fd = os.open(path, os.O_RDONLY)
        try:
            seals = fcntl.fcntl(fd, F_GET_SEALS)
        finally:
            os.close(fd)
        try:
            os.open(path, os.O_WRONLY)
            writable = "yes"
        except OSError as e:
            writable = e.errno
        return os.readlink(path), seals, writable

    def on_pid(pid):
        stage0 = int(open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()[1])
        seen["stage0"] = exe_facts(stage0)
        seen["child"] = exe_facts(pid)
        seen["cmdline"] = open("/proc/%d/cmdline" % stage0, "rb").read()
        seen["environ"] = open("/proc/%d/environ" % stage0, "rb").read()

    before = hashlib.sha256(open(INIT, "rb").read()).hexdigest()
    r = t.run(base_plan(t, ["true"], wait=True, fifo=False), on_pid=on_pid)
    assert r.error is None and r.status == 0, r.error
    memfd = ("/memfd:berth-init (deleted)", SEALS, 26)  # ETXTBSY: it is running
    assert seen["stage0"] == memfd and seen["child"] == memfd, seen
    assert seen["cmdline"] == INIT.encode() + b"\0init\0", seen["cmdline"]
    assert seen["environ"] == open("/proc/self/environ", "rb").read()

    # The kernel runs /proc/self/exe, i.e. berth-init, as the container's process (the idea of
    # CVE-2019-5736): it is the memfd again, not copied a second time, and prints its usage.
    # Its stdout is a full pipe, so it stays until we read: no race.
    script = os.path.join(t.rootfs, "selfexe")
    with open(script, "w") as f:
        f.write("#!/proc/self/exe\n")
    os.chmod(script, 0o755)
    out_r, out_w = os.pipe()
    fcntl.fcntl(out_w, 1031, 4096)  # F_SETPIPE_SZ: one page, filled below
    os.write(out_w, b"x" * 4096)

    def after_ready(res):
        deadline = time.time() + 10
        while open("/proc/%d/cmdline" % res.pid, "rb").read() != b"/proc/self/exe\0/selfexe\0":
            assert time.time() < deadline, "the script was not executed"
            time.sleep(0.01)
        seen["script"] = exe_facts(res.pid)
        data = b""
        while b"usage: berth-init init" not in data:
            data += os.read(out_r, 8192)
        seen["usage"] = data

    try:
        r = t.run(base_plan(t, ["/selfexe"], wait=True, fifo=False), stdout=out_w, after_ready=after_ready)
        assert r.status == 2 and seen["script"] == memfd, (r.status, seen)
        assert seen["usage"].startswith(b"x" * 4096 + b"usage: berth-init init"), seen["usage"]
    finally:
        os.unlink(script)
        os.close(out_r)
        os.close(out_w)
    assert hashlib.sha256(open(INIT, "rb").read()).hexdigest() == before


TESTS = [t_basic, t_caps_user, t_terminal, t_hooks, t_errors, t_wait, t_fds, t_readonly_binds,
         t_no_pivot, t_propagation, t_userns, t_timens, t_join, t_create_start_split,
         t_cgroup_v1_shape, t_seccomp, t_personality, t_terminal_relay, t_exec_modes, t_memfd]


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
