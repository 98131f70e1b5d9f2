#!/usr/bin/env python3
"""A minimal --console-socket receiver for the e2e tests (python3 >= 3.9: socket.recv_fds).

usage: console_socket.py SOCKET_PATH [INPUT] [TIMEOUT_SECONDS]

Listens on SOCKET_PATH (an AF_UNIX stream socket), prints "listening" on stdout once it does,
accepts one connection and receives the pty master with SCM_RIGHTS. The message's data (the
pty's name) goes to stderr as "pty <name>". INPUT, if given, is written to the master. Then
everything read from the master is copied to stdout until the last slave fd closes (EIO),
EOF, or TIMEOUT_SECONDS (default 10) pass; a timeout exits with status 2.
"""

import os
import select
import socket
import sys
import time


def main() -> int:
    path = sys.argv[1]
    data_in = sys.argv[2].encode() if len(sys.argv) > 2 and sys.argv[2] else b""
    timeout = float(sys.argv[3]) if len(sys.argv) > 3 else 10.0
    deadline = time.monotonic() + timeout

    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(1)
    sys.stdout.write("listening\n")
    sys.stdout.flush()

    srv.settimeout(timeout)
    conn, _ = srv.accept()
    srv.close()
    os.unlink(path)
    msg, fds, _flags, _addr = socket.recv_fds(conn, 1024, 1)
    conn.close()
    if len(fds) != 1:
        sys.stderr.write("no fd received (data %r)\n" % msg)
        return 1
    master = fds[0]
    sys.stderr.write("pty %s\n" % msg.decode(errors="replace"))
    sys.stderr.flush()

    if data_in:
        os.write(master, data_in)

    out = sys.stdout.buffer
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            sys.stderr.write("timed out\n")
            return 2
        ready, _, _ = select.select([master], [], [], left)
        if not ready:
            continue
        try:
            chunk = os.read(master, 4096)
        except OSError:
            # EIO: every slave fd is closed, the container is gone.
            break
        if not chunk:
            break
        out.write(chunk)
        out.flush()
    os.close(master)
    return 0


if __name__ == "__main__":
    sys.exit(main())
