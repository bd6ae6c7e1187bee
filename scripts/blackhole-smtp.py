#!/usr/bin/env python3
"""A TCP server that accepts connections and never answers: an SMTP server
that hangs before its greeting, for certmint's timeout tests.

    scripts/blackhole-smtp.py PORT PIDFILE &

Listens on 127.0.0.1:PORT only, writes its PID to PIDFILE once it is
listening (so callers wait for the file, not for a fixed time), keeps every
accepted connection open without reading or writing, and exits on SIGTERM or
SIGINT (removing PIDFILE)."""
import os
import selectors
import signal
import socket
import sys


def main() -> int:
    if len(sys.argv) != 3:
        print("usage: blackhole-smtp.py PORT PIDFILE", file=sys.stderr)
        return 2
    try:
        port = int(sys.argv[1])
        if not 1 <= port <= 65535:
            raise ValueError
    except ValueError:
        print(f"blackhole-smtp.py: bad port {sys.argv[1]!r}", file=sys.stderr)
        return 2
    pidfile = sys.argv[2]

    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        srv.bind(("127.0.0.1", port))
    except OSError as e:
        print(f"blackhole-smtp.py: cannot listen on 127.0.0.1:{port}: {e}", file=sys.stderr)
        return 1
    srv.listen(64)

    def stop(signum, frame):  # noqa: ARG001
        try:
            os.unlink(pidfile)
        except OSError:
            pass
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    tmp = f"{pidfile}.tmp"
    with open(tmp, "w") as f:
        f.write(f"{os.getpid()}\n")
    os.rename(tmp, pidfile)

    # Hold the accepted sockets (never read, never write); drop them only
    # when the client goes away, so that a long test cannot exhaust fds.
    held = []
    sel = selectors.DefaultSelector()
    sel.register(srv, selectors.EVENT_READ)
    while True:
        for key, _ in sel.select():
            if key.fileobj is srv:
                conn, _addr = srv.accept()
                held.append(conn)
                sel.register(conn, selectors.EVENT_READ)
            else:
                conn = key.fileobj
                # Peek without consuming: an empty read means the client left.
                try:
                    data = conn.recv(1, socket.MSG_PEEK)
                except OSError:
                    data = b""
                if not data:
                    sel.unregister(conn)
                    held.remove(conn)
                    conn.close()
                else:
                    # The client spoke (it should wait for the greeting);
                    # still never answer, but stop watching it.
                    sel.unregister(conn)


if __name__ == "__main__":
    sys.exit(main())
