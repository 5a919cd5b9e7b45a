"""A local HTTP/1.1 server for the e2e tests of the http.* task types (stdlib only).

It listens on 127.0.0.1 port 0, a thread per connection, keep-alive, and serves:

    /delay?ms=N       200 "delayed N ms\\n" after N ms (the wait ends early when it stops)
    /status?code=N    status N, body "status N\\n"
    /stall            200 with Content-Length 1000, sends 500 bytes, then waits until the
                      client closes the connection (or the server stops)
    /redirect?to=URL  302 to URL
    /huge?mb=N        200 with N MiB of 'x', streamed in 64 KiB writes
    /echo             200, JSON {"method", "path", "headers", "body"} of the request
                      (any method; a body is read by its Content-Length)

Anything else is a 404. The server counts what it saw so a test can wait for it instead of
sleeping: `wait_for(predicate, timeout)` evaluates `predicate(stats)` whenever a counter
changes. `stats` has `requests` (per path), `delay_in_flight` and `delay_peak` (concurrent
/delay requests, now and at most), `stalls_open` and `stalls_closed` (/stall connections
that are waiting, and that the client closed), and `huge_aborted` (/huge responses the
client cut off).

    with HttpTestServer() as server:
        url = server.url('/delay?ms=500')

Run it by hand with `python3 http_test_server.py [PORT]`.
"""

import http.server
import json
import select
import socketserver
import sys
import threading
import time
import types
import urllib.parse

_CHUNK = 64 * 1024


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'  # keep-alive; every answer has a Content-Length
    server_version = 'taskwire-e2e-http'

    def log_message(self, fmt, *args):  # quiet: the tests print what matters
        pass

    # --- dispatch

    def do_GET(self):
        self._dispatch()

    def do_HEAD(self):
        self._dispatch()

    def do_POST(self):
        self._dispatch()

    def do_PUT(self):
        self._dispatch()

    def do_PATCH(self):
        self._dispatch()

    def do_DELETE(self):
        self._dispatch()

    def do_OPTIONS(self):
        self._dispatch()

    def _dispatch(self):
        parsed = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(parsed.query)
        body = self._read_body()
        owner = self.server.owner
        owner._count(parsed.path)
        route = {
            '/delay': self._delay,
            '/status': self._status,
            '/stall': self._stall,
            '/redirect': self._redirect,
            '/huge': self._huge,
            '/echo': self._echo,
        }.get(parsed.path)
        if route is None:
            self._send(404, b'not found\n')
            return
        try:
            route(query, body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _read_body(self):
        length = int(self.headers.get('Content-Length') or 0)
        return self.rfile.read(length) if length > 0 else b''

    def _send(self, code, body, content_type='text/plain', extra_headers=()):
        self.send_response(code)
        self.send_header('Content-Type', content_type)
        self.send_header('Content-Length', str(len(body)))
        for name, value in extra_headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command != 'HEAD':
            self.wfile.write(body)

    @staticmethod
    def _number(query, name, default):
        try:
            return int(query.get(name, [default])[0])
        except ValueError:
            return default

    # --- routes

    def _delay(self, query, body):
        ms = self._number(query, 'ms', 0)
        owner = self.server.owner
        owner._delay_started()
        try:
            owner._stopping.wait(ms / 1000.0)  # the server's delay, cut short by stop()
        finally:
            owner._delay_ended()
        self._send(200, f'delayed {ms} ms\n'.encode())

    def _status(self, query, body):
        code = self._number(query, 'code', 200)
        self._send(code, f'status {code}\n'.encode())

    def _stall(self, query, body):
        owner = self.server.owner
        self.send_response(200)
        self.send_header('Content-Type', 'text/plain')
        self.send_header('Content-Length', '1000')
        self.end_headers()
        self.wfile.write(b's' * 500)
        self.wfile.flush()
        self.close_connection = True
        owner._update(lambda s: setattr(s, 'stalls_open', s.stalls_open + 1))
        closed_by_client = False
        try:
            # Wait until the client closes (the socket reads EOF or an error) or stop().
            while not owner._stopping.is_set():
                readable, _, _ = select.select([self.connection], [], [], 0.05)
                if readable:
                    try:
                        data = self.connection.recv(4096)
                    except OSError:
                        data = b''
                    if not data:
                        closed_by_client = True
                        break
        finally:
            def record(s):
                s.stalls_open -= 1
                if closed_by_client:
                    s.stalls_closed += 1
            owner._update(record)

    def _redirect(self, query, body):
        target = query.get('to', [''])[0]
        self._send(302, f'see {target}\n'.encode(), extra_headers=(('Location', target),))

    def _huge(self, query, body):
        mb = self._number(query, 'mb', 1)
        total = mb * 1024 * 1024
        self.send_response(200)
        self.send_header('Content-Type', 'application/octet-stream')
        self.send_header('Content-Length', str(total))
        self.end_headers()
        chunk = b'x' * _CHUNK
        sent = 0
        try:
            while sent < total and not self.server.owner._stopping.is_set():
                n = min(_CHUNK, total - sent)
                self.wfile.write(chunk[:n])
                sent += n
        except (BrokenPipeError, ConnectionResetError):
            self.server.owner._update(lambda s: setattr(s, 'huge_aborted', s.huge_aborted + 1))
            self.close_connection = True

    def _echo(self, query, body):
        answer = {
            'method': self.command,
            'path': self.path,
            'headers': {name: value for name, value in self.headers.items()},
            'body': body.decode('utf-8', 'replace'),
        }
        self._send(200, json.dumps(answer).encode(), content_type='application/json')


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024  # the default 5 would drop SYNs of 50 concurrent connects

    def __init__(self, owner, address):
        self.owner = owner
        super().__init__(address, _Handler)


class HttpTestServer:
    """The server on 127.0.0.1:0 (or `port`), served from a background thread."""

    def __init__(self, host='127.0.0.1', port=0):
        self._cond = threading.Condition()
        self._stats = types.SimpleNamespace(requests={}, delay_in_flight=0, delay_peak=0,
                                            stalls_open=0, stalls_closed=0, huge_aborted=0)
        self._stopping = threading.Event()
        self._server = _Server(self, (host, port))
        self.host = host
        self.port = self._server.server_address[1]
        self._thread = None

    def start(self):
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={'poll_interval': 0.1},
                                        name='http-test-server', daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._stopping.set()  # ends the delays, stalls and huge bodies in flight
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def url(self, path='/', host=None):
        return f'http://{host or self.host}:{self.port}{path}'

    # --- counters

    def _update(self, change):
        with self._cond:
            change(self._stats)
            self._cond.notify_all()

    def _count(self, path):
        self._update(lambda s: s.requests.__setitem__(path, s.requests.get(path, 0) + 1))

    def _delay_started(self):
        def change(s):
            s.delay_in_flight += 1
            s.delay_peak = max(s.delay_peak, s.delay_in_flight)
        self._update(change)

    def _delay_ended(self):
        self._update(lambda s: setattr(s, 'delay_in_flight', s.delay_in_flight - 1))

    def stats(self):
        """A copy of the counters."""
        with self._cond:
            return types.SimpleNamespace(**{k: (dict(v) if isinstance(v, dict) else v)
                                            for k, v in vars(self._stats).items()})

    def reset_peak(self):
        self._update(lambda s: setattr(s, 'delay_peak', s.delay_in_flight))

    def wait_for(self, predicate, timeout):
        """Waits until predicate(stats) is true, at most `timeout` seconds; returns whether
        it became true."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate(self._stats):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True


if __name__ == '__main__':
    server = HttpTestServer(port=int(sys.argv[1]) if len(sys.argv) > 1 else 0).start()
    print(json.dumps({'port': server.port}), flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.stop()
