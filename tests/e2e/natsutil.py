"""nats-server for the tests (loopback, random ports, private store dirs, always
stopped) and a small NATS client over a socket (the text protocol: CONNECT,
PUB, SUB, MSG/HMSG): enough to create a stream, publish to it with acks, send
JetStream API requests and read a stream back message by message, so the
tests need no client library of their own."""
import base64
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

NATS_SERVER = shutil.which("nats-server") or "/usr/sbin/nats-server"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One nats-server with JetStream; start() again after kill() reuses its store and ports."""

    def __init__(self, name, store, port=None, cluster_port=None, routes=(), auth=None,
                 tls=None):
        self.name, self.store = name, store
        self.port = port or free_port()
        self.cluster_port = cluster_port
        self.routes = list(routes)
        self.auth = auth or {}
        self.tls = tls  # {"cert": path, "key": path}: clients must use TLS
        self.proc = None
        self.log = os.path.join(store, name + ".log")

    @property
    def url(self):
        return "nats://127.0.0.1:%d" % self.port

    def _conf(self):
        lines = ['server_name: "%s"' % self.name, 'listen: "127.0.0.1:%d"' % self.port,
                 'jetstream { store_dir: "%s" }' % os.path.join(self.store, self.name)]
        if "user" in self.auth:
            lines.append('authorization { user: "%s", password: "%s" }' %
                         (self.auth["user"], self.auth["password"]))
        elif "token" in self.auth:
            lines.append('authorization { token: "%s" }' % self.auth["token"])
        if self.tls:
            lines.append('tls { cert_file: "%s", key_file: "%s" }' % (self.tls["cert"],
                                                                     self.tls["key"]))
        if self.cluster_port:
            lines.append('cluster { name: "sakertest", listen: "127.0.0.1:%d", routes: [%s] }' % (
                self.cluster_port, ", ".join('"nats-route://127.0.0.1:%d"' % p
                                             for p in self.routes)))
        path = os.path.join(self.store, self.name + ".conf")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        return path

    def start(self, wait=True):
        conf = self._conf()
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([NATS_SERVER, "-c", conf], stdout=log, stderr=log)
        if wait:
            self.wait_listening()
        return self

    def wait_listening(self, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, "nats-server %s exited:\n%s" % (self.name,
                                                                           self.tail())
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("nats-server %s not listening:\n%s" % (self.name, self.tail()))

    def tail(self, n=20):
        try:
            with open(self.log, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def kill(self, sig=signal.SIGKILL):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=20)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None


class Cluster:
    """n servers (n == 1: no cluster block), stores under one temporary directory."""

    def __init__(self, n=1, auth=None, tls=None):
        self.dir = tempfile.mkdtemp(prefix="saker-nats-")
        cports = [free_port() for _ in range(n)] if n > 1 else [None]
        self.servers = [Server("n%d" % i, self.dir, cluster_port=cports[i],
                               routes=[p for p in cports if p != cports[i]] if n > 1 else (),
                               auth=auth, tls=tls)
                        for i in range(n)]

    def start(self):
        for s in self.servers:
            s.start(wait=False)
        for s in self.servers:
            s.wait_listening()
        return self

    def urls(self):
        return [s.url for s in self.servers]

    def stop(self):
        for s in self.servers:
            s.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


class Client:
    """A NATS connection speaking the text protocol; requests only."""

    def __init__(self, url, user=None, password=None, token=None, timeout=5.0):
        m = re.match(r"nats://(?:([^:@]*)(?::([^@]*))?@)?([^:]+):(\d+)", url)
        self.sock = socket.create_connection((m.group(3), int(m.group(4))), timeout=timeout)
        self.buf = b""
        self.sid = 0
        info = self._line()
        assert info.startswith(b"INFO"), info
        opts = {"verbose": False, "pedantic": False, "headers": True, "no_responders": True,
                "protocol": 1, "lang": "python-test", "version": "0"}
        if user or m.group(1) and m.group(2) is not None:
            opts["user"], opts["pass"] = user or m.group(1), password or m.group(2)
        elif token or m.group(1):
            opts["auth_token"] = token or m.group(1)
        self.sock.sendall(b"CONNECT " + json.dumps(opts).encode() + b"\r\nPING\r\n")
        while True:
            l = self._line()
            if l == b"PONG":
                break
            if l.startswith(b"-ERR"):
                raise ConnectionError(l.decode())
        self.inbox = "_INBOX.t%d" % os.getpid()
        self.sock.sendall(("SUB %s.* 1\r\n" % self.inbox).encode())

    def _fill(self):
        d = self.sock.recv(65536)
        if not d:
            raise ConnectionError("closed")
        self.buf += d

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        l, self.buf = self.buf.split(b"\r\n", 1)
        return l

    def _take(self, n):
        while len(self.buf) < n + 2:
            self._fill()
        d, self.buf = self.buf[:n], self.buf[n + 2:]
        return d

    def request(self, subject, payload=b"", timeout=5.0):
        self.sid += 1
        reply = "%s.%d" % (self.inbox, self.sid)
        if isinstance(payload, str):
            payload = payload.encode()
        self.sock.settimeout(timeout)
        self.sock.sendall(b"PUB %s %s %d\r\n%s\r\n" % (subject.encode(), reply.encode(),
                                                       len(payload), payload))
        while True:
            l = self._line()
            if l == b"PING":
                self.sock.sendall(b"PONG\r\n")
                continue
            if l.startswith(b"-ERR"):
                raise ConnectionError(l.decode())
            parts = l.split()
            if parts[0] == b"MSG":
                data = self._take(int(parts[-1]))
                hdr = b""
            elif parts[0] == b"HMSG":
                hl, tl = int(parts[-2]), int(parts[-1])
                raw = self._take(tl)
                hdr, data = raw[:hl], raw[hl:]
            else:
                continue
            if parts[1].decode() != reply:
                continue
            if b"503" in hdr.split(b"\r\n", 1)[0]:
                raise ConnectionError("no responders for " + subject)
            return data

    def js(self, subject, payload):
        """A JetStream API call or a publish acknowledged by the stream: the JSON reply."""
        reply = json.loads(self.request(subject, payload, timeout=10.0) or b"{}")
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


def stream_info(url, stream, **auth):
    c = Client(url, **auth)
    try:
        return json.loads(c.request("$JS.API.STREAM.INFO." + stream))
    finally:
        c.close()


def stream_messages(url, stream, **auth):
    """Every message of the stream: [(subject, data bytes, headers bytes)], in order."""
    c = Client(url, **auth)
    out = []
    try:
        info = json.loads(c.request("$JS.API.STREAM.INFO." + stream))
        assert "error" not in info, info
        st = info["state"]
        if not st["messages"]:
            return out
        for seq in range(st["first_seq"], st["last_seq"] + 1):
            r = json.loads(c.request("$JS.API.STREAM.MSG.GET." + stream,
                                     json.dumps({"seq": seq})))
            if "error" in r:
                continue
            m = r["message"]
            out.append((m["subject"], base64.b64decode(m.get("data", "")),
                        base64.b64decode(m.get("hdrs", "") or "")))
        return out
    finally:
        c.close()


def any_url_messages(urls, stream, timeout=30.0, **auth):
    """stream_messages through the first server that answers (a cluster may be electing)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        for u in urls:
            try:
                return stream_messages(u, stream, **auth)
            except (OSError, ConnectionError, AssertionError, KeyError, ValueError) as e:
                last = e
        time.sleep(0.5)
    raise AssertionError("stream %s unreadable: %s" % (stream, last))
