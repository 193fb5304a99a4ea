"""A nats-server on loopback for tests, and a minimal NATS client (the text
protocol over a socket: CONNECT, PUB, SUB, MSG/HMSG) to create a stream and
publish to it, so the tests need no client library of their own."""
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class NatsServer:
    """nats-server -js on a random loopback port with a private store; always stopped."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="saker-nats-")
        self.port = free_port()
        self.url = "nats://127.0.0.1:%d" % self.port
        self.log = open(os.path.join(self.dir, "server.log"), "w")
        self.proc = subprocess.Popen(
            ["nats-server", "-js", "-a", "127.0.0.1", "-p", str(self.port),
             "-sd", os.path.join(self.dir, "store")],
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    if s.recv(4096).startswith(b"INFO"):
                        return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("nats-server did not start")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class Client:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""
        self._line()  # INFO
        self.sock.sendall(b'CONNECT {"verbose":false,"headers":true,"no_responders":true}\r\n'
                          b"SUB _INBOX.t.* 1\r\n")
        self.n = 0

    def _line(self):
        while b"\r\n" not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                raise RuntimeError("NATS connection closed")
            self.buf += data
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _take(self, n):
        while len(self.buf) < n + 2:
            self.buf += self.sock.recv(65536)
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def request(self, subject, payload, headers=None):
        """Publishes with a reply inbox and returns the reply's payload."""
        self.n += 1
        inbox = "_INBOX.t.%d" % self.n
        body = payload if isinstance(payload, bytes) else payload.encode()
        if headers:
            hdr = "NATS/1.0\r\n" + "".join("%s: %s\r\n" % kv for kv in headers.items()) + "\r\n"
            hdr = hdr.encode()
            self.sock.sendall(b"HPUB %s %s %d %d\r\n%s%s\r\n" % (
                subject.encode(), inbox.encode(), len(hdr), len(hdr) + len(body), hdr, body))
        else:
            self.sock.sendall(b"PUB %s %s %d\r\n%s\r\n" % (
                subject.encode(), inbox.encode(), len(body), body))
        while True:
            line = self._line()
            if line == b"PING":
                self.sock.sendall(b"PONG\r\n")
                continue
            parts = line.split()
            if parts[0] == b"MSG":
                data = self._take(int(parts[-1]))
            elif parts[0] == b"HMSG":
                data = self._take(int(parts[-1]))[int(parts[-2]):]
            else:
                continue
            if parts[1].decode() == inbox:
                return data

    def js(self, subject, payload):
        """A JetStream API call or a publish acknowledged by the stream: the JSON reply."""
        reply = json.loads(self.request(subject, payload) or b"{}")
        if "error" in reply:
            raise RuntimeError("%s: %s" % (subject, reply["error"]))
        return reply

    def create_stream(self, name, subjects):
        return self.js("$JS.API.STREAM.CREATE." + name,
                       json.dumps({"name": name, "subjects": subjects, "storage": "file"}))

    def publish(self, subject, doc):
        return self.js(subject, json.dumps(doc) if not isinstance(doc, (bytes, str)) else doc)

    def close(self):
        self.sock.close()
