"""An HTTP proxy in front of an S3 server that misbehaves on purpose, for
tests/bucket.rs: it answers some requests itself with the errors S3 gives
(503 SlowDown, 500 InternalError) or holds them unanswered (a stalled
connection), and forwards the rest unchanged (the Host header too: SigV4
signs it).

    s3_proxy.py LISTEN_PORT UPSTREAM_PORT MODE

MODE: slowdown:N   the first N requests get 503 SlowDown
      fail-puts    every PUT gets 500 InternalError
      stall-puts   every PUT is read and never answered
      verify       every PUT must carry x-amz-checksum-crc64nvme, and its
                   body must match it (400 BadDigest otherwise), as AWS
                   checks on receipt (the test servers do not)
      corrupt      as verify, one byte of each PUT's body changed on the way
      race         before the first PUT of an object goes on, another writer
                   puts "theirs" under its key (unsigned: for moto)
"""

import base64

import http.client
import http.server
import socketserver
import sys
import threading
import time

listen, upstream, mode = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
lock = threading.Lock()
seen = 0
raced = False


# CRC-64/NVME, reflected: the table of its polynomial.
TABLE = []
for i in range(256):
    c = i
    for _ in range(8):
        c = (c >> 1) ^ (0x9A6C9329AC4BC9B5 if c & 1 else 0)
    TABLE.append(c)


def crc64nvme(data):
    c = 0xFFFFFFFFFFFFFFFF
    for b in data:
        c = TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFFFFFFFFFF


assert crc64nvme(b"123456789") == 0xAE8B14860A799888


def error(handler, status, code):
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f"<Error><Code>{code}</Code><Message>{code} (test proxy)</Message></Error>"
    ).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/xml")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def handle_any(self):
        global seen
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        with lock:
            seen += 1
            n = seen
        if mode.startswith("slowdown:") and n <= int(mode.split(":")[1]):
            return error(self, 503, "SlowDown")
        if mode == "fail-puts" and self.command == "PUT":
            return error(self, 500, "InternalError")
        if mode == "stall-puts" and self.command == "PUT":
            while True:
                time.sleep(3600)
        if mode in ("verify", "corrupt") and self.command == "PUT":
            if mode == "corrupt" and body:
                body = bytes([body[0] ^ 1]) + body[1:]
            said = self.headers.get("x-amz-checksum-crc64nvme")
            if said is None:
                return error(self, 400, "MissingChecksum")
            if base64.b64decode(said) != crc64nvme(body).to_bytes(8, "big"):
                return error(self, 400, "BadDigest")
        global raced
        if mode == "race" and self.command == "PUT" and "uploadId" not in self.path and not raced:
            raced = True
            other = http.client.HTTPConnection("127.0.0.1", upstream)
            other.request("PUT", self.path.split("?")[0], body=b"theirs")
            other.getresponse().read()
            other.close()
        conn = http.client.HTTPConnection("127.0.0.1", upstream)
        conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
        for k, v in self.headers.items():
            conn.putheader(k, v)
        conn.endheaders()
        if body:
            conn.send(body)
        resp = conn.getresponse()
        data = resp.read()
        self.send_response(resp.status, resp.reason)
        for k, v in resp.getheaders():
            if k.lower() not in ("content-length", "transfer-encoding", "connection"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        conn.close()

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


Server(("127.0.0.1", listen), Handler).serve_forever()
