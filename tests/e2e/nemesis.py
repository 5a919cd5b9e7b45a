"""Nemeses for the fault-injection tests, in the spirit of Jepsen's: faults done
to the real processes and the real TCP connections between them.

- `TcpProxy`: listens on 127.0.0.1:0 and forwards every connection to a target address.
  Placed between executors and the scheduler (start the executor with
  `scheduler_address=proxy.address`) or between a client and the scheduler. Per connection
  or for all of them (and for the connections still to come) it can
    reset()       RST both sides (SO_LINGER 0, then close);
    black_hole()  stop forwarding silently: nothing is read or written, no FIN, the sockets
                  stay open (the bytes wait in the kernel's buffers); heal() resumes them
                  intact, reset() ends them;
    delay(s)      hold every chunk `s` seconds before forwarding it (order kept);
    throttle(b)   forward at most `b` bytes per second in each direction.
- `pause(process)` / `resume(process)`: SIGSTOP / SIGCONT (a GC-like pause); `Pauses` keeps
  track so that a test's cleanup resumes whatever it paused.
- `FullDisk`: a small tmpfs mounted for the scheduler's --data-dir, filled up by a filler
  file on fill() and emptied on heal(). Needs root and mount(2); `FullDisk.unavailable()`
  says why it cannot run here (the tests then skip it with that reason).
- kill -9 and restart on the same address and data dir: harness.Cluster.restart_scheduler
  and harness.restart_executor.

Every loop here is bounded in time (polls of at most 0.1 s that check a closed flag), and
every thread is a daemon joined with a bound on close().
"""

import collections
import errno
import os
import select
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time

POLL = 0.1          # seconds: the longest any proxy thread blocks before checking its flags
CHUNK = 65536
JOIN_TIMEOUT = 5.0


def _rst_close(sock):
    """Closes `sock` with a TCP reset (SO_LINGER on, 0 s) instead of a FIN."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


class _Settings:
    """What a connection does with its bytes; a proxy's defaults are copied to each new
    connection."""

    def __init__(self, black_hole=False, delay=0.0, rate=None):
        self.black_hole = black_hole
        self.delay = delay
        self.rate = rate  # bytes per second per direction; None: unlimited

    def copy(self):
        return _Settings(self.black_hole, self.delay, self.rate)

    def __repr__(self):
        parts = []
        if self.black_hole:
            parts.append('black-holed')
        if self.delay:
            parts.append(f'delay {self.delay}s')
        if self.rate:
            parts.append(f'{self.rate} B/s')
        return ', '.join(parts) or 'passing'


class Connection:
    """One proxied connection: a downstream (accepted) socket and an upstream (dialled)
    one, with a reader and a writer thread per direction."""

    def __init__(self, proxy, number, down, up, settings):
        self.proxy = proxy
        self.number = number
        self.down = down
        self.up = up
        self.settings = settings
        self.opened_at = time.monotonic()
        self.bytes = {'up': 0, 'down': 0}
        self._cond = threading.Condition()
        self._queues = {'up': collections.deque(), 'down': collections.deque()}
        self._eof = {'up': False, 'down': False}
        self._done = {'up': False, 'down': False}
        self.closed = False
        self.close_reason = None
        self._threads = []
        for direction, src, dst in (('up', down, up), ('down', up, down)):
            for target, name in ((self._read, 'read'), (self._write, 'write')):
                t = threading.Thread(target=target, args=(direction, src, dst), daemon=True,
                                     name=f'{proxy.name}-{number}-{direction}-{name}')
                self._threads.append(t)
        for t in self._threads:
            t.start()

    def __repr__(self):
        state = f'closed ({self.close_reason})' if self.closed else repr(self.settings)
        return (f'<{self.proxy.name} conn {self.number}: {state}, '
                f'{self.bytes["up"]} B up, {self.bytes["down"]} B down>')

    # --- control

    def update(self, **changes):
        with self._cond:
            for key, value in changes.items():
                setattr(self.settings, key, value)
            self._cond.notify_all()

    def reset(self, reason='reset by the nemesis'):
        """RST to both sides; the threads end within POLL."""
        with self._cond:
            if self.closed:
                return
            self.closed = True
            self.close_reason = reason
            self._cond.notify_all()
        _rst_close(self.down)
        _rst_close(self.up)

    def _close_clean(self):
        with self._cond:
            if self.closed:
                return
            self.closed = True
            self.close_reason = 'closed by the peers'
            self._cond.notify_all()
        for s in (self.down, self.up):
            try:
                s.close()
            except OSError:
                pass

    def join(self, timeout=JOIN_TIMEOUT):
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))

    # --- pumps

    def _read(self, direction, src, dst):
        try:
            while True:
                with self._cond:
                    # Black-holed: read nothing; the sender's bytes wait in the kernel.
                    while self.settings.black_hole and not self.closed:
                        self._cond.wait(POLL)
                    if self.closed:
                        return
                readable, _, _ = select.select([src], [], [], POLL)
                if not readable:
                    continue
                with self._cond:
                    if self.settings.black_hole or self.closed:
                        continue  # the flag changed while waiting: leave the bytes unread
                try:
                    data = src.recv(CHUNK)
                except OSError as e:
                    self.reset(f'{direction} read error: {e}')
                    return
                with self._cond:
                    due = time.monotonic() + self.settings.delay
                    if not data:
                        self._eof[direction] = True
                        self._queues[direction].append((due, None))
                        self._cond.notify_all()
                        return
                    self._queues[direction].append((due, data))
                    self._cond.notify_all()
        except (OSError, ValueError):  # the socket was closed under us
            return

    def _write(self, direction, src, dst):
        queue = self._queues[direction]
        try:
            while True:
                with self._cond:
                    while not self.closed and (self.settings.black_hole or not queue):
                        self._cond.wait(POLL)
                    if self.closed:
                        return
                    due, data = queue[0]
                    wait = due - time.monotonic()
                    if wait > 0:
                        self._cond.wait(min(wait, POLL))
                        continue
                    rate = self.settings.rate
                    if data is not None and rate:
                        piece = max(1, int(rate * POLL))
                        if len(data) > piece:
                            queue[0] = (due, data[piece:])
                            data = data[:piece]
                        else:
                            queue.popleft()
                    else:
                        queue.popleft()
                if data is None:
                    try:
                        dst.shutdown(socket.SHUT_WR)
                    except OSError:
                        pass
                    with self._cond:
                        self._done[direction] = True
                        both = all(self._done.values())
                    if both:
                        self._close_clean()
                    return
                try:
                    dst.sendall(data)
                except OSError as e:
                    self.reset(f'{direction} write error: {e}')
                    return
                self.bytes[direction] += len(data)
                if rate:
                    time.sleep(len(data) / rate)  # pacing the throttle, bounded by POLL
        except (OSError, ValueError):
            return


class TcpProxy:
    """A TCP proxy on 127.0.0.1:0 to `target` ('host:port'); see the module docstring."""

    def __init__(self, target, name='proxy'):
        self.name = name
        self.target = target
        host, port = target.rsplit(':', 1)
        self._target = (host, int(port))
        self._lock = threading.Lock()
        self._defaults = _Settings()
        self._refuse = False
        self._connections = []
        self._closed = False
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(('127.0.0.1', 0))
        self._listener.listen(64)
        self.address = f'127.0.0.1:{self._listener.getsockname()[1]}'
        self.accepted = 0
        self._thread = threading.Thread(target=self._accept_loop, daemon=True,
                                         name=f'{name}-accept')
        self._thread.start()

    def __repr__(self):
        return f'<TcpProxy {self.name} {self.address} -> {self.target}: {self.connections()}>'

    def _accept_loop(self):
        while not self._closed:
            try:
                readable, _, _ = select.select([self._listener], [], [], POLL)
            except (OSError, ValueError):
                return
            if not readable:
                continue
            try:
                down, _ = self._listener.accept()
            except OSError:
                continue
            with self._lock:
                refuse = self._refuse or self._closed
                settings = self._defaults.copy()
            if refuse:
                _rst_close(down)
                continue
            up = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            up.settimeout(2.0)
            try:
                up.connect(self._target)
            except OSError:
                _rst_close(up)
                _rst_close(down)  # the target is down: the dialler sees a reset
                continue
            up.settimeout(None)
            for s in (down, up):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self.accepted += 1
                conn = Connection(self, self.accepted, down, up, settings)
                self._connections.append(conn)

    # --- which connections

    def connections(self, live=True):
        with self._lock:
            return [c for c in self._connections if not (live and c.closed)]

    def wait_connections(self, count, timeout=10.0, since=0):
        """Waits (bounded) until at least `count` live connections numbered above `since`
        exist; returns them."""
        deadline = time.monotonic() + timeout
        while True:
            live = [c for c in self.connections() if c.number > since]
            if len(live) >= count:
                return live
            if time.monotonic() >= deadline:
                raise AssertionError(f'{self.name}: {len(live)} of {count} connections after '
                                     f'{timeout}s: {self!r}')
            time.sleep(0.02)  # polling the accept thread's list

    def _targets(self, connection):
        return self.connections() if connection is None else [connection]

    # --- faults (connection=None: every live connection, and the defaults of new ones)

    def reset(self, connection=None):
        for c in self._targets(connection):
            c.reset()

    def black_hole(self, connection=None):
        if connection is None:
            with self._lock:
                self._defaults.black_hole = True
        for c in self._targets(connection):
            c.update(black_hole=True)

    def delay(self, seconds, connection=None):
        if connection is None:
            with self._lock:
                self._defaults.delay = seconds
        for c in self._targets(connection):
            c.update(delay=seconds)

    def throttle(self, bytes_per_second, connection=None):
        if connection is None:
            with self._lock:
                self._defaults.rate = bytes_per_second
        for c in self._targets(connection):
            c.update(rate=bytes_per_second)

    def refuse(self, on=True):
        """New connections are reset at once (a partition that also stops redials)."""
        with self._lock:
            self._refuse = on

    def heal(self, connection=None, keep=()):
        """Undoes black_hole, delay, throttle and refuse; connections in `keep` stay as
        they are."""
        if connection is None:
            with self._lock:
                self._defaults = _Settings()
                self._refuse = False
        for c in self._targets(connection):
            if c not in keep:
                c.update(black_hole=False, delay=0.0, rate=None)

    def close(self):
        """Resets every connection and stops listening; bounded."""
        with self._lock:
            self._closed = True
        try:
            self._listener.close()
        except OSError:
            pass
        self._thread.join(JOIN_TIMEOUT)
        for c in self.connections(live=False):
            c.reset('proxy closed')
        deadline = time.monotonic() + JOIN_TIMEOUT
        for c in self.connections(live=False):
            c.join(max(0.1, deadline - time.monotonic()))


# --------------------------------------------------------------------------------------
# Processes


def pause(process):
    """SIGSTOP: the process stays, frozen (its sockets open, its timers stopped)."""
    if process.returncode is None:
        os.kill(process.pid, signal.SIGSTOP)


def resume(process):
    if process.returncode is None:
        os.kill(process.pid, signal.SIGCONT)


class Pauses:
    """Pauses processes and resumes every one of them on resume_all() (a test's cleanup),
    so that no process is left stopped (SIGTERM would never reach it)."""

    def __init__(self):
        self._paused = []

    def pause(self, process):
        pause(process)
        self._paused.append(process)

    def resume(self, process):
        resume(process)
        if process in self._paused:
            self._paused.remove(process)

    def resume_all(self):
        for p in list(self._paused):
            try:
                resume(p)
            except ProcessLookupError:
                pass
        self._paused.clear()


# --------------------------------------------------------------------------------------
# A full disk


class FullDisk:
    """A `size_mb` tmpfs mounted on `path` (the scheduler's --data-dir); fill() writes a
    filler file until the file system is full, heal() removes it. Root and mount(2) are
    needed: check `unavailable()` first."""

    _why_not = None
    _checked = False

    @classmethod
    def unavailable(cls):
        """None if a tmpfs can be mounted here, else the reason (for a skip)."""
        if cls._checked:
            return cls._why_not
        cls._checked = True
        if os.geteuid() != 0:
            cls._why_not = 'a full disk needs a tmpfs mount, and mount(2) needs root'
            return cls._why_not
        probe = tempfile.mkdtemp(prefix='taskwire-disk-probe-')
        try:
            done = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', probe],
                                  capture_output=True, text=True, timeout=10)
            if done.returncode != 0:
                cls._why_not = f'mount -t tmpfs failed: {done.stderr.strip()}'
            else:
                subprocess.run(['umount', probe], capture_output=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired) as e:
            cls._why_not = f'mount -t tmpfs failed: {e}'
        finally:
            shutil.rmtree(probe, ignore_errors=True)
        return cls._why_not

    def __init__(self, path, size_mb=64):
        self.path = path
        self.size_mb = size_mb
        os.makedirs(path, exist_ok=True)
        done = subprocess.run(['mount', '-t', 'tmpfs', '-o', f'size={size_mb}m,mode=0700',
                               'tmpfs', path], capture_output=True, text=True, timeout=10)
        if done.returncode != 0:
            raise RuntimeError(f'mount -t tmpfs on {path}: {done.stderr.strip()}')
        self.mounted = True
        self.filler = os.path.join(path, 'nemesis-filler')

    def used_fraction(self):
        st = os.statvfs(self.path)
        return 1.0 - st.f_bavail / st.f_blocks

    def fill(self, leave_bytes=0):
        """Writes the filler until ENOSPC (or only up to `leave_bytes` free). Bounded by
        the file system's size."""
        block = b'\0' * (1 << 20)
        try:
            f = open(self.filler, 'ab')
        except OSError as e:
            if e.errno == errno.ENOSPC:
                return self  # full already (the store filled what the last heal freed)
            raise
        with f:
            while True:
                st = os.statvfs(self.path)
                free = st.f_bavail * st.f_frsize
                if free <= leave_bytes:
                    break
                try:
                    f.write(block[:max(1, min(len(block), free - leave_bytes))])
                    f.flush()
                except OSError as e:
                    if e.errno == errno.ENOSPC:
                        break
                    raise
        return self

    def heal(self):
        try:
            os.remove(self.filler)
        except FileNotFoundError:
            pass

    def unmount(self):
        if not self.mounted:
            return
        self.heal()
        done = subprocess.run(['umount', self.path], capture_output=True, text=True,
                              timeout=10)
        if done.returncode != 0:  # a process still holds a file: lazily
            subprocess.run(['umount', '-l', self.path], capture_output=True, timeout=10)
        self.mounted = False


# --------------------------------------------------------------------------------------
# Metrics of a process (Prometheus text)


def scrape(address, timeout=5.0):
    """{(name, frozenset(labels)): value} from http://address/metrics."""
    import urllib.request
    with urllib.request.urlopen(f'http://{address}/metrics', timeout=timeout) as response:
        text = response.read().decode('utf-8', 'replace')
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith('#'):
            continue
        try:
            head, value = line.rsplit(' ', 1)
            if '{' in head:
                name, rest = head.split('{', 1)
                labels = []
                for part in rest.rstrip('}').split(','):
                    if '=' in part:
                        k, v = part.split('=', 1)
                        labels.append((k, v.strip('"')))
                key = (name, frozenset(labels))
            else:
                key = (head, frozenset())
            samples[key] = float(value)
        except ValueError:
            continue
    return samples


def metric(samples, name, **labels):
    """The value of `name` with exactly `labels`, or None."""
    return samples.get((name, frozenset(labels.items())))
