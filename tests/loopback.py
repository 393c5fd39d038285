"""Loopback peers for the tests of what happens on the way: a proxy that answers every CONNECT with a fixed
status, a server that accepts and never answers, and a port nothing listens on."""

from __future__ import annotations

import socket
import threading


class StatusProxy:
    """A tiny CONNECT proxy on loopback that answers every CONNECT with `status` (403: its policy says no; 502: it
    cannot reach the target) and closes. Bounded: each read waits at most 5 s and reads at most 8 KiB."""

    def __init__(self, status: int):
        self.status = status
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.requests: list[str] = []
        self.stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        self.sock.settimeout(0.2)
        while not self.stop.is_set():
            try:
                c, _ = self.sock.accept()
            except OSError:
                continue
            with c:
                c.settimeout(5)
                head = b""
                try:
                    while b"\r\n\r\n" not in head and len(head) < 8192:
                        chunk = c.recv(1024)
                        if not chunk:
                            break
                        head += chunk
                    self.requests.append(head.split(b"\r\n", 1)[0].decode("latin-1"))
                    c.sendall(f"HTTP/1.1 {self.status} No\r\nContent-Length: 0\r\n\r\n".encode())
                except OSError:
                    pass

    def close(self):
        self.stop.set()
        self.sock.close()


def closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class HangServer:
    """Accepts connections and never answers."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self.stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        self.sock.settimeout(0.2)
        while not self.stop.is_set():
            try:
                c, _ = self.sock.accept()
                self.conns.append(c)
            except OSError:
                continue

    def close(self):
        self.stop.set()
        for c in self.conns:
            c.close()
        self.sock.close()
