#!/usr/bin/python3
"""The course's "slow remote service": a local HTTP/1.1 server that answers every request
after a fixed delay (docs/course.md). Standard library only, and itself an event loop: one
thread, one epoll set, non-blocking sockets, no thread per connection, so 10,000
connections open at once are fine.

    http_server.py [--host 127.0.0.1] [--port 0] [--delay-ms 100] [--ready-file F]

Every request (any method, any path) gets "200 OK" after --delay-ms with a short text body
naming the path, over keep-alive connections (Content-Length framing; a request body is
read and dropped; pipelined requests are answered in order). The delay is the same for
every request, so the pending answers form a queue already sorted by deadline. The port goes
to --ready-file as {"port": N} (written atomically) once it listens: the interface of
bench/http_delay_server.cc, so the course uses either. SIGTERM or SIGINT: prints its
counters on stderr and exits 0.

(It is written on epoll rather than asyncio because asyncio's transports cost almost three
times the CPU per connection, which the 10,000-connection lesson would measure instead of
taskwire.)
"""

import argparse
import collections
import json
import os
import resource
import select
import signal
import socket
import sys
import time

MAX_HEADER_BYTES = 64 * 1024


class Conn:
    __slots__ = ('sock', 'fd', 'inbuf', 'outbuf', 'body_left', 'close_after', 'closed',
                 'pending', 'want_out')

    def __init__(self, sock):
        self.sock = sock
        self.fd = sock.fileno()
        self.inbuf = b''
        self.outbuf = b''
        self.body_left = 0        # bytes of a request body still to drop
        self.close_after = False  # the last request asked to close the connection
        self.closed = False
        self.pending = 0          # answers waiting for their deadline
        self.want_out = False     # EPOLLOUT registered


class Server:
    def __init__(self, options):
        self.delay = options.delay_ms / 1000.0
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((options.host, options.port))
        self.listener.listen(4096)
        self.listener.setblocking(False)
        self.port = self.listener.getsockname()[1]
        self.epoll = select.epoll()
        self.epoll.register(self.listener.fileno(), select.EPOLLIN)
        # Signals wake the loop through a socket pair (signal.set_wakeup_fd).
        self.wake_r, self.wake_w = socket.socketpair()
        self.wake_r.setblocking(False)
        self.wake_w.setblocking(False)
        self.epoll.register(self.wake_r.fileno(), select.EPOLLIN)
        self.conns = {}
        self.due = collections.deque()  # (deadline, conn, method, path, close), FIFO = sorted
        self.stopping = False
        self.requests = self.connections = self.peak_open = 0

    def run(self):
        signal.set_wakeup_fd(self.wake_w.fileno())
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self.on_signal)
        listener_fd, wake_fd = self.listener.fileno(), self.wake_r.fileno()
        while not self.stopping:
            timeout = -1
            if self.due:
                timeout = max(0.0, self.due[0][0] - time.monotonic())
            for fd, events in self.epoll.poll(timeout, 4096):
                if fd == listener_fd:
                    self.accept()
                elif fd == wake_fd:
                    try:
                        self.wake_r.recv(4096)
                    except BlockingIOError:
                        pass
                else:
                    conn = self.conns.get(fd)
                    if conn is None:
                        continue
                    if events & (select.EPOLLIN | select.EPOLLERR | select.EPOLLHUP):
                        self.read(conn)
                    if events & select.EPOLLOUT and not conn.closed:
                        self.flush(conn)
            now = time.monotonic()
            due = self.due
            while due and due[0][0] <= now:
                _, conn, method, path, close = due.popleft()
                if not conn.closed:
                    self.answer(conn, method, path, close)

    def on_signal(self, signum, frame):
        self.stopping = True

    def accept(self):
        while True:
            try:
                sock, _ = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:  # EMFILE and the like: leave it in the backlog for now
                print(f'http_server: accept: {e}', file=sys.stderr, flush=True)
                return
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = Conn(sock)
            self.conns[conn.fd] = conn
            self.epoll.register(conn.fd, select.EPOLLIN)
            self.connections += 1
            self.peak_open = max(self.peak_open, len(self.conns))

    def close(self, conn):
        if conn.closed:
            return
        conn.closed = True
        del self.conns[conn.fd]
        self.epoll.unregister(conn.fd)
        conn.sock.close()

    def read(self, conn):
        try:
            data = conn.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self.close(conn)
            return
        if not data:
            self.close(conn)
            return
        conn.inbuf += data
        self.parse(conn)

    def parse(self, conn):
        while not conn.close_after:
            if conn.body_left:
                dropped = min(conn.body_left, len(conn.inbuf))
                conn.inbuf = conn.inbuf[dropped:]
                conn.body_left -= dropped
                if conn.body_left:
                    return
            end = conn.inbuf.find(b'\r\n\r\n')
            if end < 0:
                if len(conn.inbuf) > MAX_HEADER_BYTES:
                    self.reject(conn, b'431 Request Header Fields Too Large')
                return
            lines = conn.inbuf[:end].decode('latin-1').split('\r\n')
            conn.inbuf = conn.inbuf[end + 4:]
            parts = lines[0].split(' ')
            if len(parts) != 3:
                self.reject(conn, b'400 Bad Request')
                return
            method, path, version = parts
            connection = ''
            for line in lines[1:]:
                name, _, value = line.partition(':')
                name = name.strip().lower()
                if name == 'content-length':
                    try:
                        conn.body_left = int(value)
                    except ValueError:
                        self.reject(conn, b'400 Bad Request')
                        return
                elif name == 'connection':
                    connection = value.strip().lower()
            close = connection == 'close' or (version == 'HTTP/1.0' and connection != 'keep-alive')
            conn.close_after = close
            conn.pending += 1
            self.requests += 1
            self.due.append((time.monotonic() + self.delay, conn, method, path, close))

    def reject(self, conn, status):
        conn.close_after = True
        self.send(conn, b'HTTP/1.1 ' + status + b'\r\nContent-Length: 0\r\nConnection: close\r\n\r\n',
                  close=True)

    def answer(self, conn, method, path, close):
        conn.pending -= 1
        body = f'hello from the course server: {method} {path}\n'.encode()
        head = (f'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {len(body)}\r\n'
                f'Connection: {"close" if close else "keep-alive"}\r\n\r\n').encode()
        self.send(conn, head + (b'' if method == 'HEAD' else body), close=close)

    def send(self, conn, data, close):
        conn.outbuf += data
        self.flush(conn)
        if close and not conn.closed and not conn.outbuf:
            self.close(conn)

    def flush(self, conn):
        while conn.outbuf:
            try:
                sent = conn.sock.send(conn.outbuf)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                self.close(conn)
                return
            conn.outbuf = conn.outbuf[sent:]
        want_out = bool(conn.outbuf)
        if want_out != conn.want_out:
            conn.want_out = want_out
            self.epoll.modify(conn.fd, select.EPOLLIN | (select.EPOLLOUT if want_out else 0))
        if not conn.outbuf and conn.close_after and not conn.pending:
            self.close(conn)


def cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--host', default='127.0.0.1')
    parser.add_argument('--port', type=int, default=0)
    parser.add_argument('--delay-ms', type=int, default=100)
    parser.add_argument('--ready-file')
    options = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    server = Server(options)
    if options.ready_file:
        tmp = f'{options.ready_file}.tmp'
        with open(tmp, 'w') as f:
            json.dump({'port': server.port}, f)
        os.replace(tmp, options.ready_file)
    print(f'http_server: listening on {options.host}:{server.port}, delay {options.delay_ms} ms, '
          f'up to {hard} open files', file=sys.stderr, flush=True)
    server.run()
    print(f'http_server: {server.requests} requests, {server.connections} connections, '
          f'at most {server.peak_open} open at once, {cpu_seconds():.2f} s CPU',
          file=sys.stderr, flush=True)


if __name__ == '__main__':
    main()
