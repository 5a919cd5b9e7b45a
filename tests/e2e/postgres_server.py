"""A throwaway PostgreSQL 15 for the tests, the HA end-to-end tests and the benchmarks.

`PostgresServer(dir)` runs initdb and postgres from Debian's postgresql-15 package
(/usr/lib/postgresql/15/bin) with the data in <dir>/data and the log in <dir>/postgres.log.
It listens on no TCP port (listen_addresses='') but on a unix socket in <dir>
(<dir>/.s.PGSQL.5432: the directory is private, so two servers never clash). The superuser
is the role `taskwire` (trust authentication on the socket); the database `taskwire` is
created at the first start.

    with PostgresServer(tmp_dir) as pg:
        url = pg.url()              # postgresql:///taskwire?host=<dir>&port=5432&user=taskwire
        pg.psql('SELECT 1')         # '1\\n'
        other = pg.create_database('other')

PostgreSQL refuses to run as root: when this runs as root, initdb and postgres run as the
user `nobody` through `setpriv`, and <dir> is handed to that user (chown). When <dir> cannot
be reached by that user (a dir under /root), or its socket path would be too long for a unix
socket, the server's files go to a private directory under /tmp instead (removed by close();
the log stays in <dir>). The server is stopped by its PID: SIGINT (fast shutdown), then
SIGKILL after a bound. stop() then start() restarts it on the same data; a new
PostgresServer on a dir that already holds data reuses it (no initdb).

As a command (for bench scripts and by hand):

    /usr/bin/python3 tests/e2e/postgres_server.py --dir D [--synchronous-commit on|off]

prints the url of database `taskwire` on one line and stays up until SIGTERM or SIGINT, then
stops postgres by its PID. It exits with 77 (ctest's skip code) when PostgreSQL 15 is not
installed. Python 3.11 standard library only.
"""

import argparse
import atexit
import os
import pwd
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import urllib.parse

BIN_DIR = '/usr/lib/postgresql/15/bin'
PACKAGE = 'postgresql-15'
PORT = 5432
SUPERUSER = 'taskwire'
DEFAULT_DB = 'taskwire'
RUN_AS_WHEN_ROOT = 'nobody'  # an existing unprivileged user: the system is not modified

INITDB_TIMEOUT = 120.0   # seconds for initdb
START_TIMEOUT = 60.0     # seconds for postgres to accept connections
STOP_TIMEOUT = 30.0      # seconds after SIGINT (fast shutdown) before SIGKILL
KILL_TIMEOUT = 10.0      # seconds for killed backends to be gone
PSQL_TIMEOUT = 60.0      # seconds a psql run may take
POLL_INTERVAL = 0.01     # seconds between two looks at a server that is not ready yet

SKIPPED = 77             # ctest's skip code, for the command line
_SOCKET_NAME = f'.s.PGSQL.{PORT}'
_MAX_SOCKET_PATH = 107   # sun_path holds 108 bytes, the last one a NUL

# Settings for tests: real commits (fsync and synchronous_commit stay on unless asked), room
# for many connections, a log on stderr (redirected to <dir>/postgres.log), no TCP.
_SETTINGS = {
    'listen_addresses': '',
    'port': str(PORT),
    'unix_socket_permissions': '0777',
    'shared_buffers': '128MB',
    'max_connections': '200',
    'logging_collector': 'off',
    'log_destination': 'stderr',
    # Parallel query would use /dev/shm, which containers often keep small (64 MB).
    'max_parallel_workers_per_gather': '0',
}


class PostgresNotInstalled(RuntimeError):
    """PostgreSQL 15's binaries are missing: tests turn this into a skip."""


class PostgresError(AssertionError):
    """initdb or postgres did not start, did not get ready, or a psql command failed."""


_live_servers = set()  # stopped by PID at exit if a caller forgot (or crashed before) it


@atexit.register
def _stop_leftovers():
    for server in list(_live_servers):
        try:
            server.close()
        except Exception as e:  # pylint: disable=broad-except
            print(f'postgres_server: at exit: {e}', file=sys.stderr)


def check_installed():
    """Raises PostgresNotInstalled unless initdb, postgres and psql are all present."""
    for name in ('initdb', 'postgres', 'psql'):
        path = os.path.join(BIN_DIR, name)
        if not os.access(path, os.X_OK):
            raise PostgresNotInstalled(
                f'PostgreSQL 15 is not installed ({path} is missing): install the Debian '
                f'package {PACKAGE} (scripts/install-deps.sh does)')


def _child_env():
    # libpq and the server read PG* variables (PGHOST, PGOPTIONS, PGDATA...): keep the
    # user's out, so every setting comes from the command line.
    return {k: v for k, v in os.environ.items() if not k.startswith('PG')}


def _traversable(path, uid, gid):
    """Whether a user (uid, gid, no supplementary groups) can reach `path`: every ancestor
    searchable (the directory itself is the user's own, or chowned to it)."""
    path = os.path.realpath(path)
    parts = []
    head = path
    while True:
        parts.append(head)
        parent = os.path.dirname(head)
        if parent == head:
            break
        head = parent
    for p in parts:
        st = os.stat(p)
        if st.st_uid == uid:
            bits = stat.S_IXUSR
        elif st.st_gid == gid:
            bits = stat.S_IXGRP
        else:
            bits = stat.S_IXOTH
        if p != path and not st.st_mode & bits:
            return False
    return True


def _tail(path, max_bytes=4000):
    try:
        with open(path, 'rb') as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - max_bytes))
            return f.read().decode('utf-8', 'replace')
    except OSError as e:
        return f'({path}: {e})'


def _children_of(pid):
    """The PIDs whose parent is `pid` (postgres' backends and auxiliary processes)."""
    out = []
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            with open(f'/proc/{entry}/stat') as f:
                fields = f.read().rsplit(')', 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        if len(fields) > 1 and fields[1] == str(pid):
            out.append(int(entry))
    return out


def _exited(pid):
    """Whether `pid` is gone or a zombie (its memory, and so its attachment to the shared
    memory a new postmaster checks, is released)."""
    try:
        with open(f'/proc/{pid}/stat') as f:
            fields = f.read().rsplit(')', 1)[1].split()
    except (OSError, IndexError):
        return True
    return not fields or fields[0] in ('Z', 'X')


def _kill_tree(popen):
    """SIGKILL to the postmaster and its children; reaps the postmaster and waits (bounded)
    until the children have exited too, so that a postgres started next on the same data
    finds no old backend attached."""
    if popen.poll() is not None:
        return
    children = _children_of(popen.pid)
    popen.kill()
    for child in children:
        try:
            os.kill(child, signal.SIGKILL)
        except ProcessLookupError:
            pass
    popen.wait()  # SIGKILL cannot be ignored
    deadline = time.monotonic() + KILL_TIMEOUT
    for child in children:
        while not _exited(child) and time.monotonic() < deadline:
            time.sleep(POLL_INTERVAL)  # polling: not our child, nothing to wait() for


class PostgresServer:
    """One postgres postmaster in `directory`; see the module's doc."""

    def __init__(self, directory, synchronous_commit='on', settings=None):
        self.dir = os.path.abspath(directory)
        self.log_path = os.path.join(self.dir, 'postgres.log')
        self.initdb_log_path = os.path.join(self.dir, 'initdb.log')
        self.settings = dict(_SETTINGS)
        self.settings['synchronous_commit'] = synchronous_commit
        self.settings.update(settings or {})
        self._popen = None
        self._run_as = None      # (uid, gid) when running as root, else None
        self._run_dir = None     # where data/ and the socket live: self.dir or a /tmp dir
        self._own_run_dir = False

    # ----------------------------------------------------------------------------------
    # Life cycle

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    @property
    def pid(self):
        """The postmaster's PID, or None when it is not running."""
        return self._popen.pid if self._popen is not None else None

    @property
    def socket_dir(self):
        """The directory of the unix socket (the url's host)."""
        return self._run_dir

    @property
    def data_dir(self):
        return os.path.join(self._run_dir, 'data')

    def start(self):
        """initdb (unless the data exists), start postgres, wait until it answers, create the
        database `taskwire` if missing. Returns self."""
        if self._popen is not None:
            raise PostgresError(f'postgres already runs in {self._run_dir} (pid {self.pid})')
        check_installed()
        os.makedirs(self.dir, exist_ok=True)
        if self._run_dir is None:
            self._choose_run_dir()
        if not os.path.exists(os.path.join(self.data_dir, 'PG_VERSION')):
            self._initdb()
        self._start_postmaster()
        try:
            self._wait_ready()
            exists = self.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DEFAULT_DB}'",
                               db='postgres')
            if not exists.strip():
                self.psql(f'CREATE DATABASE {DEFAULT_DB}', db='postgres')
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, timeout=STOP_TIMEOUT):
        """Fast shutdown by PID (SIGINT), SIGKILL after `timeout` s. Returns the exit code
        (None when it was not running)."""
        popen, self._popen = self._popen, None
        if popen is None:
            return None
        _live_servers.discard(self)
        if popen.poll() is None:
            popen.send_signal(signal.SIGINT)
            try:
                return popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
            _kill_tree(popen)
            raise PostgresError(f'postgres (pid {popen.pid}) ignored SIGINT for {timeout}s and '
                                f'was killed\n{_tail(self.log_path)}')
        return popen.returncode

    def kill(self):
        """SIGKILL of the postmaster and its children (a crash); the data stays."""
        popen, self._popen = self._popen, None
        if popen is None:
            return
        _live_servers.discard(self)
        _kill_tree(popen)

    def close(self):
        """stop(), then remove the /tmp directory used when `dir` was not usable."""
        try:
            self.stop()
        finally:
            if self._own_run_dir and self._run_dir is not None:
                shutil.rmtree(self._run_dir, ignore_errors=True)
                self._run_dir = None
                self._own_run_dir = False

    # ----------------------------------------------------------------------------------
    # Clients

    def url(self, db=DEFAULT_DB):
        """The libpq URL of database `db`, e.g. for --postgres-url."""
        if self._run_dir is None:
            raise PostgresError('the server was never started')
        host = urllib.parse.quote(self._run_dir, safe='/')
        return (f'postgresql:///{urllib.parse.quote(db, safe="")}?host={host}&port={PORT}'
                f'&user={SUPERUSER}')

    def psql(self, sql, db=DEFAULT_DB, timeout=PSQL_TIMEOUT):
        """Runs `sql` (one or more statements, stopping at the first error) and returns psql's
        unaligned, tuples-only output."""
        result = subprocess.run(
            [os.path.join(BIN_DIR, 'psql'), '-X', '-A', '-t', '-q', '-v', 'ON_ERROR_STOP=1',
             '-d', self.url(db), '-f', '-'],
            input=sql, capture_output=True, text=True, timeout=timeout, env=_child_env())
        if result.returncode != 0:
            raise PostgresError(f'psql failed ({result.returncode}) on {sql!r}: '
                                f'{result.stderr.strip()}')
        return result.stdout

    def create_database(self, name):
        """CREATE DATABASE `name`; returns its url."""
        self.psql('CREATE DATABASE "%s"' % name.replace('"', '""'), db='postgres')
        return self.url(name)

    def log_tail(self, max_bytes=4000):
        return _tail(self.log_path, max_bytes)

    # ----------------------------------------------------------------------------------
    # Internals

    def _choose_run_dir(self):
        if os.geteuid() == 0:
            try:
                user = pwd.getpwnam(RUN_AS_WHEN_ROOT)
            except KeyError:
                raise PostgresError(f'running as root, and there is no user '
                                    f'{RUN_AS_WHEN_ROOT!r} to run postgres as') from None
            if shutil.which('setpriv') is None:
                raise PostgresError('running as root needs setpriv (package util-linux) to '
                                    'run postgres as an unprivileged user')
            self._run_as = (user.pw_uid, user.pw_gid)
        uid, gid = self._run_as or (os.geteuid(), os.getegid())
        usable = (_traversable(self.dir, uid, gid)
                  and len(os.path.join(self.dir, _SOCKET_NAME)) <= _MAX_SOCKET_PATH)
        if usable:
            self._run_dir = self.dir
        else:
            self._run_dir = tempfile.mkdtemp(prefix='taskwire-pg-', dir='/tmp')
            self._own_run_dir = True
        if self._run_as is not None:
            os.chown(self._run_dir, uid, gid)

    def _argv(self, program, *args):
        argv = [os.path.join(BIN_DIR, program), *args]
        if self._run_as is None:
            return argv
        uid, gid = self._run_as
        return ['setpriv', f'--reuid={uid}', f'--regid={gid}', '--clear-groups', '--', *argv]

    def _initdb(self):
        # A half-made data dir from an interrupted initdb would make initdb fail: start over.
        shutil.rmtree(self.data_dir, ignore_errors=True)
        argv = self._argv('initdb', '-D', self.data_dir, '-U', SUPERUSER, '--auth=trust',
                          '--encoding=UTF8', '--locale=C', '--no-sync', '--no-instructions')
        with open(self.initdb_log_path, 'wb') as log:
            try:
                rc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, cwd=self._run_dir,
                                    env=_child_env(), timeout=INITDB_TIMEOUT).returncode
            except subprocess.TimeoutExpired:
                raise PostgresError(f'initdb took more than {INITDB_TIMEOUT}s\n'
                                    f'{_tail(self.initdb_log_path)}') from None
        if rc != 0:
            raise PostgresError(f'initdb failed ({rc})\n{_tail(self.initdb_log_path)}')

    def _start_postmaster(self):
        settings = dict(self.settings, unix_socket_directories=self._run_dir)
        args = ['-D', self.data_dir]
        for key, value in settings.items():
            args += ['-c', f'{key}={value}']
        with open(self.log_path, 'ab') as log:
            self._popen = subprocess.Popen(self._argv('postgres', *args),
                                           stdin=subprocess.DEVNULL, stdout=log,
                                           stderr=subprocess.STDOUT, cwd=self._run_dir,
                                           env=_child_env())
        _live_servers.add(self)

    def _wait_ready(self):
        """Polls until the socket exists and `SELECT 1` answers (bounded)."""
        deadline = time.monotonic() + START_TIMEOUT
        socket_path = os.path.join(self._run_dir, _SOCKET_NAME)
        pid_file = os.path.join(self.data_dir, 'postmaster.pid')
        while True:
            if self._popen.poll() is not None:
                raise PostgresError(f'postgres exited with {self._popen.returncode} before it '
                                    f'was ready\n{_tail(self.log_path)}')
            if os.path.exists(socket_path) and _pid_file_says_ready(pid_file):
                try:
                    if self.psql('SELECT 1', db='postgres', timeout=10).strip() == '1':
                        return
                except (PostgresError, subprocess.TimeoutExpired):
                    pass  # not yet (or a startup hiccup): look again until the deadline
            if time.monotonic() >= deadline:
                raise PostgresError(f'postgres did not answer within {START_TIMEOUT}s\n'
                                    f'{_tail(self.log_path)}')
            time.sleep(POLL_INTERVAL)  # polling a file: there is no event to block on


def _pid_file_says_ready(path):
    """postmaster.pid's 8th line is the postmaster's status: 'ready' once it accepts
    connections."""
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except OSError:
        return False
    return len(lines) >= 8 and lines[7].strip() == 'ready'


# --------------------------------------------------------------------------------------
# Command line


def main(argv=None):
    parser = argparse.ArgumentParser(
        description='Start a throwaway PostgreSQL 15 in DIR, print the url of its database '
                    'taskwire, stay up until SIGTERM/SIGINT.')
    parser.add_argument('--dir', required=True, help='directory for the data, socket and log')
    parser.add_argument('--synchronous-commit', choices=('on', 'off'), default='on')
    args = parser.parse_args(argv)

    # A signal during start-up only marks the stop; once started, the signals are blocked
    # and taken with sigwait (postgres is spawned before, so it does not inherit the block).
    stop_signals = {signal.SIGTERM, signal.SIGINT}
    received = []
    for signum in stop_signals:
        signal.signal(signum, lambda s, _frame: received.append(s))

    server = PostgresServer(args.dir, synchronous_commit=args.synchronous_commit)
    try:
        server.start()
    except PostgresNotInstalled as e:
        print(f'postgres_server: {e}', file=sys.stderr)
        return SKIPPED
    except PostgresError as e:
        print(f'postgres_server: {e}', file=sys.stderr)
        server.close()
        return 1
    try:
        signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
        if not received:
            print(server.url(), flush=True)
            signal.sigwait(stop_signals)
    finally:
        server.close()
    return 0


if __name__ == '__main__':
    sys.exit(main())
