#!/usr/bin/env python3
"""bad-https.py: an HTTPS server of a directory that misbehaves on purpose.

Serves the files under --root over HTTP/1.1 and TLS with single-range
support (bytes=a-b, bytes=a-, bytes=-n: 206 with Content-Range; 416 when
the range starts past the end; 200 for the whole file), for the faults a
client of remote stores must survive and nginx cannot make:

  none      behave
  truncate  send the full Content-Length but only half the body, then close
  flip      flip one bit (the low bit of the middle byte) of every body
  slow      send the headers, then stall forever

Listens on 127.0.0.1, on a port the kernel picks; the port is written to
--port-file (by rename, so a reader never sees half of it) once the server
accepts connections. Exits by itself after --lifetime seconds (600), so
that a test which fails to stop it cannot keep the test run waiting for
ever. Standard library only.
"""

import argparse
import email.utils
import http.server
import os
import re
import socket
import ssl
import sys
import threading
import urllib.parse

CHUNK = 64 * 1024
MODES = ("none", "truncate", "flip", "slow")
RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")


def parse_range(header, size):
    """Return (start, end) inclusive, "unsatisfiable", or None to ignore.

    A Range header this server does not handle (several ranges, another
    unit, bad syntax) is ignored, as RFC 9110 allows: the answer is 200.
    """
    m = RANGE_RE.match(header.strip())
    if not m:
        return None
    first, last = m.group(1), m.group(2)
    if first == "" and last == "":
        return None
    if first == "":
        # A suffix: the last n bytes.
        n = int(last)
        if n == 0:
            return "unsatisfiable"
        if size == 0:
            return "unsatisfiable"
        return (max(0, size - n), size - 1)
    start = int(first)
    end = int(last) if last != "" else size - 1
    if last != "" and end < start:
        return None
    if start >= size:
        return "unsatisfiable"
    return (start, min(end, size - 1))


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "bad-https"
    sys_version = ""

    def log_message(self, format, *args):
        sys.stderr.write("%s %s\n" % (self.server.mode, format % args))
        sys.stderr.flush()

    def resolve(self):
        """The file the request names, or None (the client gets 404)."""
        path = urllib.parse.urlsplit(self.path).path
        path = urllib.parse.unquote(path)
        if "\0" in path:
            return None
        root = self.server.root
        full = os.path.realpath(os.path.join(root, path.lstrip("/")))
        if full != root and not full.startswith(root + os.sep):
            return None
        if not os.path.isfile(full):
            return None
        return full

    def send_plain(self, code, extra=()):
        body = ("%d\n" % code).encode()
        self.send_response(code)
        for k, v in extra:
            self.send_header(k, v)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self):
        self.serve(False)

    def do_GET(self):
        self.serve(True)

    def serve(self, with_body):
        full = self.resolve()
        if full is None:
            self.send_plain(404)
            return
        try:
            f = open(full, "rb")
        except OSError:
            self.send_plain(403)
            return
        with f:
            st = os.fstat(f.fileno())
            size = st.st_size
            rng = None
            if "Range" in self.headers:
                rng = parse_range(self.headers["Range"], size)
            if rng == "unsatisfiable":
                self.send_plain(416, [("Content-Range", "bytes */%d" % size)])
                return
            if rng is None:
                start, length, code = 0, size, 200
            else:
                start, length, code = rng[0], rng[1] - rng[0] + 1, 206
            self.send_response(code)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(length))
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Last-Modified",
                             email.utils.formatdate(st.st_mtime, usegmt=True))
            if code == 206:
                self.send_header("Content-Range", "bytes %d-%d/%d" %
                                 (start, start + length - 1, size))
            self.end_headers()
            if not with_body:
                return
            self.send_body(f, start, length)

    def send_body(self, f, start, length):
        mode = self.server.mode
        if mode == "slow":
            self.wfile.flush()
            # Headers are out; never send the body nor close.
            threading.Event().wait()
        send = length
        if mode == "truncate":
            send = length // 2
        flip_at = length // 2 if mode == "flip" and length > 0 else -1
        f.seek(start)
        done = 0
        while done < send:
            buf = f.read(min(CHUNK, send - done))
            if not buf:
                break  # the file shrank: the client sees a short body
            if done <= flip_at < done + len(buf):
                b = bytearray(buf)
                b[flip_at - done] ^= 0x01
                buf = bytes(b)
            self.wfile.write(buf)
            done += len(buf)
        if mode == "truncate" or done < length:
            self.wfile.flush()
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, addr, root, mode, context):
        self.root = root
        self.mode = mode
        self.context = context
        super().__init__(addr, Handler)

    def finish_request(self, request, client_address):
        # The TLS handshake runs here, in the request's thread, so that a
        # client that connects and says nothing holds up no other client.
        try:
            request.settimeout(30)
            tls = self.context.wrap_socket(request, server_side=True)
            tls.settimeout(None)
        except (OSError, ssl.SSLError) as e:
            sys.stderr.write("%s handshake failed: %s\n" % (self.mode, e))
            return
        try:
            super().finish_request(tls, client_address)
        finally:
            try:
                tls.close()
            except OSError:
                pass


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--fault", choices=MODES, default="none")
    ap.add_argument("--lifetime", type=float, default=600)
    args = ap.parse_args()

    root = os.path.realpath(args.root)
    if not os.path.isdir(root):
        sys.exit("bad-https: '%s' is not a directory" % args.root)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.set_alpn_protocols(["http/1.1"])
    try:
        ctx.load_cert_chain(args.cert, args.key)
    except (OSError, ssl.SSLError) as e:
        sys.exit("bad-https: cannot load '%s': %s" % (args.cert, e))

    srv = Server(("127.0.0.1", 0), root, args.fault, ctx)
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % srv.server_address[1])
    os.rename(tmp, args.port_file)
    end = threading.Timer(args.lifetime, os._exit, (0,))
    end.daemon = True
    end.start()
    srv.serve_forever()


if __name__ == "__main__":
    main()
