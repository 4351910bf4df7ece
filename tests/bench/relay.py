#!/usr/bin/env python3
"""A relay that adds latency to a connection, for ssh's ProxyCommand: this
kernel has no netem, so a round trip of 20 ms is made by holding every chunk
10 ms on the way out and 10 ms on the way back. It speaks on its stdin and
stdout and connects to HOST PORT:

    ssh -o ProxyCommand='python3 tests/bench/relay.py --delay-ms 10 %h %p' host

With --listen PORT it is a relay of its own instead, on 127.0.0.1:PORT: every
connection to it is forwarded to HOST PORT the same way (for a tool that
cannot take a ProxyCommand, such as rclone's own ssh):

    python3 tests/bench/relay.py --delay-ms 10 --listen 2300 127.0.0.1 22

With --stall-file PATH it stops forwarding (in both directions, holding what
it has) while PATH exists: a connection that stalls without closing, for the
tests of a stalled server. Order and bytes are kept; bandwidth is not limited.
"""
import argparse
import os
import queue
import socket
import sys
import threading
import time


def pump(read, write, delay, stall, done):
    """Moves chunks from `read` to `write`, each `delay` seconds after it was
    read, never while `stall` exists."""
    held = queue.Queue()

    def reader():
        while True:
            try:
                data = read()
            except OSError:
                data = b""
            held.put((time.monotonic() + delay, data))
            if not data:
                return

    threading.Thread(target=reader, daemon=True).start()
    while True:
        due, data = held.get()
        wait = due - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        while stall and os.path.exists(stall):
            time.sleep(0.05)
        if not data:
            break
        try:
            write(data)
        except OSError:
            break
    done.set()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--delay-ms", type=float, default=0.0, help="one way")
    p.add_argument("--stall-file")
    p.add_argument("--listen", type=int, help="serve on 127.0.0.1:LISTEN")
    p.add_argument("host")
    p.add_argument("port", type=int)
    a = p.parse_args()
    if a.listen:
        return serve(a)
    # The descriptors themselves: ssh may hand a socket or pipes.
    relay(a, sys.stdin.fileno(), sys.stdout.fileno())


def serve(a):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", a.listen))
    s.listen(64)
    while True:
        client, _ = s.accept()
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        fd = client.fileno()
        threading.Thread(target=relay, args=(a, fd, fd, client), daemon=True).start()


def relay(a, stdin, stdout, keep=None):
    """Forwards between `stdin`/`stdout` (descriptors) and HOST PORT."""
    conn = socket.create_connection((a.host, a.port))
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    delay = a.delay_ms / 1000.0
    done = threading.Event()

    def to_stdout(data):
        while data:
            n = os.write(stdout, data)
            data = data[n:]

    def to_server(data):
        conn.sendall(data)

    threading.Thread(
        target=pump,
        args=(lambda: os.read(stdin, 65536), to_server, delay, a.stall_file, done),
        daemon=True,
    ).start()
    threading.Thread(
        target=pump,
        args=(lambda: conn.recv(65536), to_stdout, delay, a.stall_file, done),
        daemon=True,
    ).start()
    # Either side closing ends the relay (ssh then sees its proxy gone).
    done.wait()
    conn.close()
    if keep is not None:
        keep.close()


if __name__ == "__main__":
    main()
