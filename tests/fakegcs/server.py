"""HTTP front end of the fake GCS server, and its command line.

One thread per connection (ThreadingHTTPServer), HTTP/1.1 keep-alive, every
response with a Content-Length.  For each request the server routes first
(so the operation is known), then applies any injected fault, reads the
body, runs the handler, applies shaping (first-byte latency, bandwidth cap)
and writes the answer.  The request log entry is recorded before the answer
is sent, so a client that has its answer can already see it in the log.

Run from the repository root:
    python3 -m tests.fakegcs --port 0 --port-file FILE [--bucket NAME ...]
"""

import os
import sys

if __name__ == "__main__" and not __package__:
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))))
    from tests.fakegcs.server import main
    sys.exit(main())

import argparse
import email.utils
import http.server
import itertools
import signal
import socket
import struct
import time
import traceback
from http import HTTPStatus

from . import control, crc32c, errors, routes
from .messages import Request, Response, parse_query
from .state import ServerState

INTERNAL_HEADER = "X-Fakegcs-Internal"
_SMALL_BODY = 64 * 1024
_WRITE_STEP = 1 << 20
_REASONS = {308: "Resume Incomplete", 499: "Client Closed Request"}
_NO_LENGTH = (204, 304)


def _reason(status):
    if status in _REASONS:
        return _REASONS[status]
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Status %d" % status


def _clean(value):
    return str(value).replace("\r", " ").replace("\n", " ")


def _header_bytes(line):
    """Header lines are latin-1; other text (metadata values) goes out as UTF-8 octets."""
    try:
        return line.encode("latin-1")
    except UnicodeEncodeError:
        return line.encode("utf-8")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fakegcs/1"
    sys_version = ""

    def setup(self):
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # A serial, not the client's port: ports come back once a connection is gone.
        self.serial = next(self.server.connections)

    def log_message(self, fmt, *args):
        if self.server.state.verbose:
            super().log_message(fmt, *args)

    # Every method goes through the same dispatcher.
    def do_GET(self):
        self._dispatch()

    do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_GET

    # --- request side --------------------------------------------------------

    def _read_body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            parts = []
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    raise ConnectionError("connection closed in a chunked body")
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                parts.append(self._read_exact(size))
                self.rfile.readline(65537)
        length = int(self.headers.get("Content-Length") or 0)
        return self._read_exact(length) if length > 0 else b""

    def _read_exact(self, length):
        data = self.rfile.read(length)
        if len(data) != length:
            raise ConnectionError("connection closed in the request body")
        return data

    def _base_url(self):
        host = self.headers.get("Host")
        if not host:
            addr, port = self.server.server_address[:2]
            host = "%s:%d" % (addr, port)
        return "http://" + host

    # --- dispatch ----------------------------------------------------------------

    def _dispatch(self):
        raw_path, query = self._target()
        try:
            route, route_error = routes.resolve(self.command, raw_path, query), None
        except errors.GcsError as err:
            route, route_error = routes.Route("unknown", "json", None), err
        if route.api == "control":
            self._dispatch_control(route, raw_path, query)
        else:
            self._dispatch_api(route, route_error, raw_path, query)

    def _target(self):
        target = self.path
        if "://" in target.split("?", 1)[0]:          # absolute-form request target
            target = "/" + target.split("://", 1)[1].partition("/")[2]
        raw_path, _, raw_query = target.partition("?")
        return raw_path or "/", parse_query(raw_query)

    def _body_or_400(self, route, entry=None):
        """Read the request body; on broken framing answer 400 and return None."""
        try:
            return self._read_body()
        except ValueError:
            self.close_connection = True
            self._log(entry, 400)
            self._send(self._error_response(route, errors.invalid("Malformed request body.")))
            return None

    def _dispatch_control(self, route, raw_path, query):
        body = self._body_or_400(route)
        if body is not None:
            request = self._request(raw_path, query, body)
            self._send(self._run(self.server.state, route, request, control_handler=True))

    def _dispatch_api(self, route, route_error, raw_path, query):
        state = self.server.state
        internal = self.headers.get(INTERNAL_HEADER) == "1"
        entry = None
        if not internal:
            entry = {"op": route.op, "method": self.command, "path": raw_path,
                     "query": query, "status": None, "class": route.price_class,
                     "bytes_out": 0, "bytes_in": 0, "bucket": route.bucket,
                     "object": route.object, "time": time.time(),
                     "connection": self.serial}
        names = route.names()
        if route.op in ("objects.list", "xml.list") and query.get("prefix"):
            names.append(query["prefix"])       # a listing is named by its prefix
        fault = None if internal else state.faults.take(route.op, names)
        kind = fault.kind if fault is not None else None
        if entry is not None and kind is not None:
            entry["fault"] = kind

        if kind == "reset" and not fault.after and fault.at_byte is None:
            self._log(entry, 0)
            self._reset_connection()
            return
        if kind == "stall" and fault.before_body:
            time.sleep(fault.value)             # the client's upload meets a full window
        body = self._body_or_400(route, entry)
        if body is None:
            return
        if entry is not None:
            entry["bytes_in"] = len(body)
        auth_error = None
        if not internal:
            entry["identity"], auth_error = state.auth.check(route, self.command, self.headers)

        user_project = query.get("userProject") or self.headers.get("x-goog-user-project")
        if entry is not None:
            entry["user_project"] = user_project
        # Requester pays: every billed request names the project that pays. Upload chunks
        # belong to a session whose start already named it, so they are not checked again
        # (how real GCS treats a session URI here is unverified).
        pays_missing = (route.bucket in state.requester_pays and not user_project
                        and route.op not in ("uploads.chunk", "uploads.cancel"))

        if kind == "status" and not fault.after:
            response = self._error_response(route, errors.injected(fault.value))
        elif kind == "redirect":
            response = Response(302, [("Location", fault.value)], b"")
        elif route_error is not None:
            response = self._error_response(route, route_error)
        elif pays_missing:
            response = self._error_response(route, errors.user_project_missing())
        elif route_error is not None:
            response = self._error_response(route, route_error)
        elif auth_error is not None:
            response = self._error_response(route, auth_error)
        else:
            response = self._run(state, route, self._request(raw_path, query, body))

        midway = kind in ("stall", "reset") and fault.at_byte is not None
        if kind == "reset" and not midway:      # after the operation ran
            self._log(entry, 0)
            self._reset_connection()
            return
        if kind == "status" and fault.after:
            response = self._error_response(route, errors.injected(fault.value))
        if kind == "break_item":
            response = control.break_item(response, fault.value)
        if kind in ("corrupt", "truncate", "body", "inflate", "page_token"):
            response = control.damage_body(response, fault, query)
        if kind == "location":
            response = control.set_location(response, fault.value)
        if kind == "stall" and not midway and not fault.before_body:
            time.sleep(fault.value)
        shaping = None if internal else state.shaping
        if shaping is not None and shaping.latency_ms:
            time.sleep(shaping.latency_ms / 1000.0)

        cut = fault.value if kind == "cut_after" else None
        if kind == "reset" and midway:
            cut = fault.at_byte
        body_len = len(response.body) if response.send_body and self.command != "HEAD" else 0
        self._log(entry, response.status, body_len if cut is None else min(body_len, cut))
        self._send(response, cut_after=cut,
                   bandwidth=shaping.bandwidth_bps if shaping is not None else 0,
                   drip=fault.value if kind == "drip" else 0,
                   pause=(fault.at_byte, fault.value) if kind == "stall" and midway else None,
                   reset=kind == "reset")

    def _request(self, raw_path, query, body):
        return Request(method=self.command, raw_path=raw_path, query=query,
                       headers=self.headers, body=body, base_url=self._base_url())

    def _log(self, entry, status, bytes_out=0):
        if self.server.state.verbose:
            sys.stderr.write("fakegcs: %s %s %s -> %s\n" % (
                entry["op"] if entry else "internal", self.command, self.path, status))
        if entry is None:
            return
        entry["status"] = status
        entry["bytes_out"] = bytes_out
        self.server.state.log.append(entry)

    def _run(self, state, route, request, control_handler=False):
        try:
            if control_handler:
                return control.handle(state, request)
            return route.handler(state, request, route)
        except errors.GcsError as err:
            return self._error_response(route, err)
        except Exception:
            traceback.print_exc()
            return self._error_response(route, errors.GcsError(
                500, "internalError", "Internal error in the fake server."))

    def _error_response(self, route, err):
        headers = list(err.headers)
        body = b""
        if err.body and self.command != "HEAD":
            if route.api == "xml":
                headers.append(("Content-Type", "application/xml; charset=UTF-8"))
                body = err.xml_body()
            else:
                headers.append(("Content-Type", "application/json; charset=UTF-8"))
                body = err.json_body()
        return Response(err.status, headers, body)

    # --- response side ---------------------------------------------------------

    def _send(self, response, cut_after=None, bandwidth=0, drip=0, pause=None, reset=False):
        """Writes the answer. cut_after: close (FIN, or RST with reset) after that many body
        bytes; drip: body bytes per second; pause: (at, seconds), a stall within the body."""
        status = response.status
        body = response.body if response.body is not None else b""
        send_body = response.send_body and self.command != "HEAD" and status not in _NO_LENGTH
        lines = ["HTTP/1.1 %d %s" % (status, _reason(status)),
                 "Date: %s" % email.utils.formatdate(usegmt=True),
                 "Server: %s" % self.server_version]
        names = set()
        for key, value in response.headers:
            names.add(key.lower())
            lines.append("%s: %s" % (key, _clean(value)))
        if status not in _NO_LENGTH and "content-length" not in names:
            lines.append("Content-Length: %d" % len(body))
        if cut_after is not None:
            self.close_connection = True
        if self.close_connection:
            lines.append("Connection: close")
        head = b"".join(_header_bytes(line) + b"\r\n" for line in lines) + b"\r\n"
        if not send_body:
            body = b""
        try:
            if cut_after is not None:
                body = memoryview(body)[:cut_after]
            if drip or pause:
                self.wfile.write(head)
                self._write_slowly(memoryview(body).cast("B"), drip, pause)
            elif len(body) <= _SMALL_BODY and not bandwidth:
                self.wfile.write(head + bytes(body))
            else:
                self.wfile.write(head)
                self._write_body(memoryview(body).cast("B"), bandwidth)
        except (ConnectionError, BrokenPipeError, socket.timeout):
            self.close_connection = True
            return
        if cut_after is not None and reset:
            self.wfile.flush()
            self._reset_connection()
            return
        if cut_after is not None:
            try:
                self.connection.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    def _write_body(self, view, bandwidth):
        total = len(view)
        if not bandwidth:
            for pos in range(0, total, _WRITE_STEP):
                self.wfile.write(view[pos:pos + _WRITE_STEP])
            return
        step = int(min(256 * 1024, max(4096, bandwidth / 100)))
        start = time.monotonic()
        sent = 0
        while sent < total:
            piece = view[sent:sent + step]
            self.wfile.write(piece)
            sent += len(piece)
            ahead = sent / bandwidth - (time.monotonic() - start)
            if ahead > 0:
                time.sleep(ahead)

    def _write_slowly(self, view, drip, pause):
        """The body a byte at a time at drip bytes per second, or whole with one pause."""
        if pause:
            at, seconds = pause
            self.wfile.write(view[:at])
            self.wfile.flush()
            time.sleep(seconds)
            self.wfile.write(view[at:])
            return
        step = max(1, int(drip / 10))
        for pos in range(0, len(view), step):
            self.wfile.write(view[pos:pos + step])
            self.wfile.flush()
            time.sleep(step / drip)

    def _reset_connection(self):
        """Drop the connection without an answer: RST, not FIN."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
        except OSError:
            pass
        try:
            self.rfile.close()
        except OSError:
            pass
        try:
            self.connection.close()
        except OSError:
            pass


class FakeGcsServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, address, state):
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, Handler)
        self.state = state
        self.connections = itertools.count(1)  # next() is atomic under the GIL

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, OSError)):
            return
        super().handle_error(request, client_address)


def write_port_file(path, port):
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "w") as handle:
        handle.write("%d\n" % port)
    os.replace(tmp, path)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python3 -m tests.fakegcs",
                                     description="A Google Cloud Storage stand-in for tests.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--port-file", help="write the port here once listening")
    parser.add_argument("--bucket", action="append", default=[],
                        help="create this bucket (repeatable); reset() re-creates it empty")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    args = parser.parse_args(argv)

    state = ServerState(args.bucket, verbose=args.verbose)
    server = FakeGcsServer((args.host, args.port), state)
    port = server.server_address[1]
    if args.port_file:
        write_port_file(args.port_file, port)
    print("fakegcs: listening on http://%s:%d (crc32c: %s)"
          % (args.host, port, crc32c.implementation()), file=sys.stderr, flush=True)

    def stop(signum, frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    try:
        server.serve_forever(poll_interval=0.2)
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
