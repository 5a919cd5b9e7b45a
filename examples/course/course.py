#!/usr/bin/python3
"""The course's lessons as measured scenarios on taskwire (docs/course.md).

    examples/course/run.sh [BUILD_DIR]          (the usual way in)
    /usr/bin/python3 examples/course/course.py --build BUILD_DIR [--lessons a,b,c,d]

Starts its own scheduler (127.0.0.1:0), a local HTTP server that answers after 100 ms, and
one executor per measured row, each on a queue of its own; submits the same job to each
run model and prints a table of wall times measured on this machine:

  a) 100 downloads: sequentially, on threads, as processes, on the event loop
  b) prime counting: sequentially, on threads, as processes (and Python threads, for contrast)
  c) a task queue with a worker: 20 tasks and `taskwire watch`, a chain, a chord
  d) 10,000 concurrent downloads, then 10,000 timers: the event loop on one thread vs
     1,000 threads

Every process it starts is stopped by PID when it ends (also on SIGTERM/SIGINT); every wait
is bounded. Standard library plus Debian's python3-grpcio/python3-protobuf/python3-grpc-tools
(scripts/install-deps.sh): the gRPC stubs are generated from proto/ at start-up.
"""

import argparse
import concurrent.futures
import datetime
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import types

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, '..', '..'))
PYTHON = '/usr/bin/python3'

HTTP_DELAY_MS = 100       # every answer of the local server waits this long
DOWNLOADS = 100           # lesson a
# Lesson b: primes below N per task. At 5,000,000 a C++ task takes under 10 ms here, within
# the noise of a shared 2-core machine; at 20,000,000 about 30 ms (Python: about 80 ms).
PRIMES_N = int(os.environ.get('COURSE_PRIMES_N', 20_000_000))
PRIMES_TASKS = 8
PRIMES_RUNS = 5           # lesson b: each row is the median of this many runs
QUEUE_TASKS = 20          # lesson c
MANY = 10_000             # lesson d
MANY_THREAD_SLOTS = 1000
BUDGET_S = 110.0          # no lesson starts after this; run.sh kills everything at 150 s
QUIET_WAIT_S = float(os.environ.get('QUIET_WAIT', 0))  # per lesson, for an idle machine
RPC_TIMEOUT = 10.0


class CourseError(Exception):
    """A scenario could not run as written: the message says what went wrong."""


# --- processes --------------------------------------------------------------------------

class Proc:
    """A process this script started; stopped by its PID only."""
    live = []

    def __init__(self, name, argv, work, ready_file=None, env=None):
        self.name = name
        self.work = work
        self.log_path = os.path.join(work, f'{name}.log')
        self.ready_path = os.path.join(work, f'{name}.ready.json') if ready_file else None
        if self.ready_path:
            argv = [*argv, '--ready-file', self.ready_path]
        self.argv = argv
        with open(self.log_path, 'ab') as log:
            self.popen = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                          stderr=subprocess.STDOUT, env=env or child_env())
        Proc.live.append(self)
        with open(os.path.join(work, 'pids'), 'a') as f:  # run.sh's last resort
            f.write(f'{self.popen.pid} {argv[0]}\n')

    @property
    def pid(self):
        return self.popen.pid

    def log_tail(self, lines=15):
        try:
            with open(self.log_path, errors='replace') as f:
                return ''.join(f.readlines()[-lines:])
        except OSError:
            return ''

    def wait_ready(self, timeout=15.0):
        deadline = time.monotonic() + timeout
        while not os.path.exists(self.ready_path):
            if self.popen.poll() is not None:
                raise CourseError(f'{self.name} exited with status {self.popen.returncode} '
                                  f'before it was ready; its log:\n{self.log_tail()}')
            if time.monotonic() > deadline:
                raise CourseError(f'{self.name} wrote no ready file within {timeout:.0f} s; '
                                  f'its log:\n{self.log_tail()}')
            time.sleep(0.02)
        with open(self.ready_path) as f:
            return json.load(f)

    def stop(self, grace=10.0):
        """SIGTERM (an executor drains), SIGKILL after `grace` seconds; returns the status."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                print(f'course: {self.name} (pid {self.pid}) ignored SIGTERM for {grace:.0f} s; '
                      'killing it', file=sys.stderr)
                self.popen.kill()
                self.popen.wait(timeout=10)
        if self in Proc.live:
            Proc.live.remove(self)
        return self.popen.returncode


def stop_all():
    for proc in reversed(list(Proc.live)):
        try:
            proc.stop(grace=5.0)
        except Exception as e:  # keep stopping the others
            print(f'course: stopping {proc.name}: {e}', file=sys.stderr)


def child_env():
    # The binaries read TASKWIRE_* variables as flag defaults: keep the user's out.
    env = {k: v for k, v in os.environ.items() if not k.startswith('TASKWIRE_')}
    env['TASKWIRE_PROGRESS'] = '0'
    return env


def read_proc_status(pid):
    values = {}
    try:
        with open(f'/proc/{pid}/status') as f:
            for line in f:
                key, _, value = line.partition(':')
                if key in ('Threads', 'VmRSS', 'VmHWM'):
                    values[key] = int(value.split()[0])
    except OSError:
        pass
    return values


def cpu_seconds(pid):
    """User + system time of the process and of its children it has reaped."""
    try:
        with open(f'/proc/{pid}/stat') as f:
            fields = f.read().rsplit(')', 1)[1].split()
        return sum(int(x) for x in fields[11:15]) / os.sysconf('SC_CLK_TCK')
    except OSError:
        return 0.0


class Sampler:
    """Peak thread count and RSS of one process, read from /proc every few milliseconds."""

    def __init__(self, pid, interval=0.003):
        self.pid = pid
        self.interval = interval
        first = read_proc_status(pid)
        self.threads_before = first.get('Threads', 0)
        self.peak_threads = self.threads_before
        self.peak_rss_kib = first.get('VmRSS', 0)
        self.cpu_before = cpu_seconds(pid)
        self.cpu = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            s = read_proc_status(self.pid)
            self.peak_threads = max(self.peak_threads, s.get('Threads', 0))
            self.peak_rss_kib = max(self.peak_rss_kib, s.get('VmRSS', 0))
            self._stop.wait(self.interval)

    def finish(self):
        self._stop.set()
        self._thread.join()
        s = read_proc_status(self.pid)
        # VmHWM: the kernel's own high-water mark of RSS (the process started fresh).
        self.peak_rss_kib = max(self.peak_rss_kib, s.get('VmHWM', 0))
        self.cpu = cpu_seconds(self.pid) - self.cpu_before
        return self


def machine_jiffies():
    """(busy, idle) jiffies of the whole machine. Busy: user, nice, system, and steal (the
    host's); irq and softirq count as neither, since the kernel may account loopback TCP
    there without charging the processes that caused it."""
    with open('/proc/stat') as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    return v[0] + v[1] + v[2] + v[7], v[3] + v[4]


def idle_percent(interval=0.5):
    b0, i0 = machine_jiffies()
    time.sleep(interval)
    b1, i1 = machine_jiffies()
    return 100 * (i1 - i0) / max(1, (b1 - b0) + (i1 - i0))


# --- the gRPC stubs, generated from proto/ as tests/e2e/harness.py does ---------------------

def load_stubs(work):
    from grpc_tools import protoc  # Debian's python3-grpc-tools
    import grpc_tools

    proto_dir = os.path.join(ROOT, 'proto')
    out_dir = os.path.join(work, 'stubs')
    os.makedirs(out_dir, exist_ok=True)
    well_known = os.path.join(os.path.dirname(grpc_tools.__file__), '_proto')
    files = sorted(f'taskwire/v1/{name}' for name in os.listdir(os.path.join(proto_dir, 'taskwire', 'v1'))
                   if name.endswith('.proto'))
    rc = protoc.main(['protoc', f'-I{proto_dir}', f'-I{well_known}', f'--python_out={out_dir}',
                      f'--grpc_python_out={out_dir}', *files])
    if rc != 0:
        raise CourseError(f'grpc_tools.protoc failed ({rc}) on {files}')
    sys.path.insert(0, out_dir)
    from taskwire.v1 import scheduler_pb2, scheduler_pb2_grpc, task_pb2, workflow_pb2
    return types.SimpleNamespace(task_pb2=task_pb2, workflow_pb2=workflow_pb2,
                                 scheduler_pb2=scheduler_pb2,
                                 scheduler_pb2_grpc=scheduler_pb2_grpc)


def ts(timestamp):
    return timestamp.seconds + timestamp.nanos / 1e9


# --- output -----------------------------------------------------------------------------

def table(headers, rows):
    """Prints a Markdown table with aligned columns (docs/course.md pastes them as they are)."""
    cells = [[str(c) for c in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    line = lambda row: '| ' + ' | '.join(c.ljust(w) for c, w in zip(row, widths)) + ' |'
    print(line(cells[0]))
    print('|' + '|'.join('-' * (w + 2) for w in widths) + '|')
    for row in cells[1:]:
        print(line(row))
    sys.stdout.flush()


def say(text=''):
    print(text, flush=True)


def mib(kib):
    return f'{kib / 1024:.0f}'


def secs(value):
    return f'{value:.2f}' if value < 10 else f'{value:.1f}'


# --- the course -------------------------------------------------------------------------

class Course:
    def __init__(self, build, work):
        self.build = build
        self.work = work
        self.scheduler_bin = os.path.join(build, 'scheduler', 'taskwire-scheduler')
        self.executor_bin = os.path.join(build, 'executor', 'taskwire-executor')
        self.cli_bin = os.path.join(build, 'cli', 'taskwire')
        self.bench_bin = os.path.join(build, 'bench', 'taskwire-bench')
        self.delay_server_bin = os.path.join(build, 'bench', 'http-delay-server')
        self.started = time.monotonic()
        self.pb = None
        self.stub = None
        self.address = None
        self.http_port = None
        self.executors = 0
        self.waited = 0.0  # seconds spent waiting for a quiet machine (QUIET_WAIT)
        self.others_start = None
        self.scheduler = None

    # --- set-up

    def start(self):
        import grpc
        self.pb = load_stubs(self.work)
        self.scheduler = scheduler = Proc('scheduler', [self.scheduler_bin, '--listen', '127.0.0.1:0',
                                       '--metrics-listen', '', '--data-dir',
                                       os.path.join(self.work, 'data'), '--log-level', 'warn'],
                         self.work, ready_file=True)
        self.address = scheduler.wait_ready()['grpc']
        self.channel = grpc.insecure_channel(self.address)
        self.stub = self.pb.scheduler_pb2_grpc.SchedulerStub(self.channel)
        self.http_server = self.start_http_server('http-server', python=True)
        self.http_port = self.http_server.port

    def start_http_server(self, name, python):
        if python:
            argv = [PYTHON, os.path.join(HERE, 'http_server.py')]
        else:
            argv = [self.delay_server_bin]
        server = Proc(name, [*argv, '--port', '0', '--delay-ms', str(HTTP_DELAY_MS)],
                      self.work, ready_file=True)
        server.port = server.wait_ready()['port']
        return server

    def url(self, path, port=None):
        return f'http://127.0.0.1:{port or self.http_port}{path}'

    def write_config(self, name, process_slots, tasks):
        """An executor config (docs/process-tasks.md) with the course's process task types."""
        path = os.path.join(self.work, f'{name}.textproto')
        with open(path, 'w') as f:
            f.write(f'process_slots: {process_slots}\n')
            for type_name, script in tasks:
                f.write('process_tasks {\n'
                        f'  type: "{type_name}"\n'
                        f'  argv: ["{PYTHON}", "-I", "-S", "{os.path.join(HERE, script)}"]\n'
                        '  timeout_seconds: 60\n'
                        '  not_retryable_exit_codes: [64]\n'
                        '}\n')
        return path

    def start_executor(self, queue, *flags, config=None):
        """One executor serving only `queue`; returns once the scheduler lists it."""
        self.executors += 1
        name = f'executor-{self.executors}-{queue}'
        argv = [self.executor_bin, '--scheduler', self.address, '--id', name, '--queues', queue,
                '--health-listen', '', '--metrics-listen', '', '--fetch-allow', '127.0.0.1',
                '--log-level', 'warn', *flags]
        if config:
            argv += ['--config', config]
        proc = Proc(name, argv, self.work, ready_file=True)
        proc.wait_ready()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            listed = self.stub.ListExecutors(self.pb.scheduler_pb2.ListExecutorsRequest(),
                                             timeout=RPC_TIMEOUT)
            if any(e.id == name and not e.draining for e in listed.executors):
                return proc
            if proc.popen.poll() is not None:
                break
            time.sleep(0.02)
        raise CourseError(f'{name} did not link to the scheduler within 10 s; its log:\n'
                          f'{proc.log_tail()}')

    def stop_executor(self, proc):
        status = proc.stop()
        if status not in (0, None):
            raise CourseError(f'{proc.name} exited with status {status} after SIGTERM; its log:\n'
                              f'{proc.log_tail()}')

    # --- running a batch

    def run_batch(self, queue, task_type, payloads, timeout=60.0):
        """Submits every task at once, waits for all; returns (wall seconds, tasks).

        Wall time is the scheduler's own: from the batch's creation to the last task's end.
        """
        pb = self.pb
        specs = [pb.task_pb2.TaskSpec(type=task_type, payload=p, queue=queue) for p in payloads]
        for spec in specs:
            spec.timeout.FromSeconds(int(timeout))
        ids = []
        for i in range(0, len(specs), 1000):
            ids += self.stub.SubmitBatch(pb.scheduler_pb2.SubmitBatchRequest(tasks=specs[i:i + 1000]),
                                         timeout=RPC_TIMEOUT).task_ids
        futures = []
        for task_id in ids:
            request = pb.scheduler_pb2.WaitTaskRequest(task_id=task_id)
            request.timeout.FromSeconds(int(timeout))
            futures.append(self.stub.WaitTask.future(request, timeout=timeout + RPC_TIMEOUT))
        tasks = [f.result() for f in futures]
        succeeded = pb.task_pb2.TaskState.Value('TASK_STATE_SUCCEEDED')
        bad = [t for t in tasks if t.state != succeeded]
        if bad:
            t = bad[0]
            raise CourseError(f'{len(bad)} of {len(tasks)} {task_type} tasks on queue {queue} did '
                              f'not succeed; the first: {t.id} '
                              f'{pb.task_pb2.TaskState.Name(t.state)}: '
                              f'{t.error or t.waiting_reason or "(no error)"}')
        wall = max(ts(t.finished_at) for t in tasks) - min(ts(t.created_at) for t in tasks)
        return wall, tasks

    def measured_row(self, queue, flags, task_type, payloads, config=None, check=None):
        """A fresh executor, one batch on it: the wall time, the executor's peaks and CPU."""
        return self.measured_rows([(queue, flags, task_type, config)], payloads, 1, check)[0]

    def measured_rows(self, rows, payloads, runs, check=None):
        """One fresh executor per row (queue, flags, task type, config), all started first;
        then `runs` rounds, each running the batch once per row in turn, so that a change
        in the machine's speed meanwhile hits every row alike. Per row: the median wall time,
        the executor's peaks, its CPU per run."""
        procs, samplers, walls = [], [], [[] for _ in rows]
        try:
            for queue, flags, _, config in rows:
                procs.append(self.start_executor(queue, *flags, config=config))
            samplers = [Sampler(proc.pid) for proc in procs]
            for _ in range(runs):
                for i, (queue, _, task_type, _) in enumerate(rows):
                    wall, tasks = self.run_batch(queue, task_type, payloads)
                    if check:
                        check(tasks)
                    walls[i].append(wall)
        finally:
            for sampler in samplers:
                sampler.finish()
            for proc in procs:
                self.stop_executor(proc)
        return [types.SimpleNamespace(wall=statistics.median(w), walls=w, threads=s.peak_threads,
                                      threads_before=s.threads_before, rss_kib=s.peak_rss_kib,
                                      cpu=s.cpu / runs)
                for w, s in zip(walls, samplers)]

    def time_left(self):
        return BUDGET_S - (time.monotonic() - self.started - self.waited)

    def machine_note(self):
        """Before a lesson: how idle the cores are (other work slows every figure)."""
        t0 = time.monotonic()
        idle = idle_percent()
        while idle < 90 and time.monotonic() - t0 < QUIET_WAIT_S:
            idle = idle_percent(2.0)
        self.waited += time.monotonic() - t0
        load = open('/proc/loadavg').read().split()[:3]
        note = f'machine: {idle:.0f} % idle before this lesson (load average {" ".join(load)})'
        if idle < 85:
            note += ('; WARNING: other work is using the cores, the figures below are slower '
                     'than on a quiet machine (QUIET_WAIT=120 waits for one)')
        say(note)
        self.others_start = self.cpu_snapshot()

    def cpu_snapshot(self):
        """(time, machine busy CPU s, CPU s of this script and of every process it started)."""
        busy, _ = machine_jiffies()
        t = os.times()  # children: the executors, benches and CLI runs it has reaped
        own = t.user + t.system + t.children_user + t.children_system
        own += sum(cpu_seconds(p.pid) for p in Proc.live)  # scheduler, servers: still running
        return time.monotonic(), busy / os.sysconf('SC_CLK_TCK'), own

    def others_note(self):
        """After a lesson: the share of the cores that other processes took meanwhile."""
        if self.others_start is None:
            return
        (t0, b0, o0), (t1, b1, o1) = self.others_start, self.cpu_snapshot()
        self.others_start = None
        share = max(0.0, (b1 - b0) - (o1 - o0)) / max(1e-9, (t1 - t0) * (os.cpu_count() or 1))
        note = f'machine: other processes took {100 * share:.0f} % of the cores during this lesson'
        if share > 0.10:
            note += '; WARNING: its figures are slower than on a quiet machine'
        say(note)

    # --- lesson a: I/O-bound ------------------------------------------------------------

    def lesson_a(self):
        say(f'== a) I/O-bound: {DOWNLOADS} downloads from a local server that answers after '
            f'{HTTP_DELAY_MS} ms')
        say('rule: I/O-bound work waits, so overlap the waits: threads overlap as many as they '
            'have slots, processes pay a program start per download, and the event loop '
            'overlaps them all on one thread.')
        self.machine_note()
        say()
        urls = [self.url(f'/item/{i}').encode() for i in range(DOWNLOADS)]

        def check(tasks):
            for t in tasks:
                if not t.output.startswith(b'status 200\n'):
                    raise CourseError(f'task {t.id}: unexpected output {t.output[:80]!r}')

        fetch_config = self.write_config('a-processes', 20, [('course.fetch', 'fetch.py')])
        scenarios = [
            ('sequential', 'thread.http.get, --slots 1', 1, 'a-seq', ['--slots', '1'],
             'thread.http.get', None),
            ('threads', 'thread.http.get, --slots 20', 20, 'a-threads20', ['--slots', '20'],
             'thread.http.get', None),
            ('threads', 'thread.http.get, --slots 100', 100, 'a-threads100', ['--slots', '100'],
             'thread.http.get', None),
            ('processes', 'python3 fetch.py per task, process_slots 20', 20, 'a-processes',
             ['--builtins', 'none'], 'course.fetch', fetch_config),
            ('event loop', 'http.get, --event-loop-threads 1', DOWNLOADS, 'a-loop',
             ['--event-loop-threads', '1'], 'http.get', None),
        ]
        rows = []
        base = None
        for model, how, at_once, queue, flags, task_type, config in scenarios:
            r = self.measured_row(queue, flags, task_type, urls, config=config, check=check)
            base = base or r.wall
            rows.append([model, how, at_once, secs(r.wall), f'{base / r.wall:.1f}x',
                         r.threads, mib(r.rss_kib), f'{r.cpu:.2f}'])
            say(f'   {model:<11} {how:<45} {secs(r.wall):>6} s')
        say()
        table(['model', 'how', 'at once', 'wall s', 'speed-up', 'executor threads (peak)',
               'executor RSS MiB (peak)', 'CPU s (executor + children)'], rows)
        say(f'(the floor: {DOWNLOADS} x {HTTP_DELAY_MS} ms = {DOWNLOADS * HTTP_DELAY_MS / 1000:.0f} s '
            f'one at a time, {HTTP_DELAY_MS / 1000:.1f} s all at once)')

    # --- lesson b: CPU-bound ------------------------------------------------------------

    def lesson_b(self):
        cores = os.cpu_count() or 1
        say(f'== b) CPU-bound: {PRIMES_TASKS} tasks, each counting the primes below '
            f'{PRIMES_N:,} ({cores} cores; each row the median of {PRIMES_RUNS} runs)')
        say('rule: CPU-bound work only goes faster on more cores: C++ threads use them all '
            '(no GIL), and so do processes, which Python needs because its GIL runs one thread '
            'at a time.')
        self.machine_note()
        say()
        payloads = [str(PRIMES_N).encode()] * PRIMES_TASKS
        sys.path.insert(0, HERE)
        from primes import count_primes
        expected = str(count_primes(PRIMES_N)).encode()

        def check(tasks):
            for t in tasks:
                if t.output.strip() != expected:
                    raise CourseError(f'task {t.id}: {t.output[:40]!r}, expected {expected!r}')

        rows = []
        seq, par = self.measured_rows([('b-seq', ['--slots', '1'], 'primes', None),
                                       ('b-threads', ['--slots', str(cores)], 'primes', None)],
                                      payloads, PRIMES_RUNS, check)
        rows.append(['sequential', 'built-in primes (C++), --slots 1', 1, secs(seq.wall),
                     '1.0x', f'{seq.cpu:.2f}'])
        rows.append(['threads', f'built-in primes (C++), --slots {cores}', cores, secs(par.wall),
                     f'{seq.wall / par.wall:.1f}x', f'{par.cpu:.2f}'])
        config = lambda slots: self.write_config(f'b-proc{slots}', slots,
                                                 [('course.primes', 'primes.py')])
        pseq, ppar = self.measured_rows(
            [('b-proc1', ['--builtins', 'none'], 'course.primes', config(1)),
             (f'b-proc{cores}', ['--builtins', 'none'], 'course.primes', config(cores))],
            payloads, PRIMES_RUNS, check)
        rows.append(['processes, 1 at a time', 'python3 primes.py per task, process_slots 1', 1,
                     secs(pseq.wall), '1.0x', f'{pseq.cpu:.2f}'])
        rows.append(['processes', f'python3 primes.py per task, process_slots {cores}', cores,
                     secs(ppar.wall), f'{pseq.wall / ppar.wall:.1f}x', f'{ppar.cpu:.2f}'])
        # For contrast, not on taskwire: the same Python code on threads of one process.
        walls_one, walls_many = [], []
        for _ in range(PRIMES_RUNS):
            t0 = time.monotonic()
            for _ in range(PRIMES_TASKS):
                count_primes(PRIMES_N)
            walls_one.append(time.monotonic() - t0)
            t0 = time.monotonic()
            with concurrent.futures.ThreadPoolExecutor(cores) as pool:
                list(pool.map(count_primes, [PRIMES_N] * PRIMES_TASKS))
            walls_many.append(time.monotonic() - t0)
        one, many = statistics.median(walls_one), statistics.median(walls_many)
        rows.append(['(contrast) Python threads, 1', 'count_primes() in this script, 1 thread',
                     1, secs(one), '1.0x', '-'])
        rows.append(['(contrast) Python threads', f'count_primes() in this script, {cores} threads',
                     cores, secs(many), f'{one / many:.1f}x', '-'])
        table(['model', 'how', 'at once', 'wall s', 'speed-up',
               'CPU s per run (executor + children)'], rows)
        say('(speed-up: against the row above it that runs the same code one at a time; '
            f'the best possible is {cores}.0x on {cores} cores)')

    # --- lesson c: a task queue with a worker -------------------------------------------

    def cli(self, *args, timeout=30):
        result = subprocess.run([self.cli_bin, '--server', self.address, *args],
                                stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                timeout=timeout, env=child_env())
        if result.returncode != 0:
            raise CourseError(f'taskwire {" ".join(args)}: exit {result.returncode}: '
                              f'{result.stderr.strip()}')
        return result.stdout

    def show(self, *args, timeout=30):
        """Runs the CLI, prints the command and its output (without the clock times)."""
        say(f'$ taskwire {" ".join(args)}')
        out = self.cli(*args, timeout=timeout)
        for line in out.rstrip('\n').split('\n'):
            if not re.match(r'(created|finished):', line):
                say(f'  {line}')
        return out

    def workflow_wall(self, out):
        match = re.search(r'^workflow:\s+(\S+)', out, re.M)
        if not match:
            raise CourseError(f'no workflow id in: {out[:200]!r}')
        workflow = self.stub.GetWorkflow(
            self.pb.scheduler_pb2.GetWorkflowRequest(workflow_id=match.group(1)),
            timeout=RPC_TIMEOUT)
        return ts(workflow.finished_at) - ts(workflow.created_at)

    def lesson_c(self):
        slots = 4
        say('== c) a task queue with a worker: submit, watch results arrive, chain, chord')
        say('rule: a task queue decouples asking from doing: clients submit and go on, workers '
            'take tasks as their slots free up, and workflows pass each result to the next task.')
        self.machine_note()
        say()
        config = self.write_config('c-worker', 2, [('course.primes', 'primes.py')])
        worker = self.start_executor('default', '--slots', str(slots), config=config)
        watch = None
        try:
            self.show('executors')
            say()
            watch = Proc('watch', [self.cli_bin, '--server', self.address, 'watch', '--for', '30s'],
                         self.work)
            time.sleep(0.5)  # the watch subscribes; the CLI gives no signal of that
            say('$ taskwire watch &            # the live monitor, in the background')
            sleeps = [50 + (i * 137) % 351 for i in range(QUEUE_TASKS)]
            say(f'$ taskwire submit thread.sleep --payload {sleeps[0]}     # one task: prints its id')
            ids = [self.cli('submit', 'thread.sleep', '--payload', str(sleeps[0])).strip()]
            say(f'  {ids[0]}')
            say(f'python: stub.SubmitBatch(SubmitBatchRequest(tasks=[TaskSpec(type="thread.sleep", '
                f'payload=b"{sleeps[1]}"), ...]))   # {QUEUE_TASKS - 1} more in one call')
            specs = [self.pb.task_pb2.TaskSpec(type='thread.sleep', payload=str(ms).encode())
                     for ms in sleeps[1:]]
            ids += self.stub.SubmitBatch(self.pb.scheduler_pb2.SubmitBatchRequest(tasks=specs),
                                         timeout=RPC_TIMEOUT).task_ids
            futures = []
            for task_id in ids:
                request = self.pb.scheduler_pb2.WaitTaskRequest(task_id=task_id)
                request.timeout.FromSeconds(30)
                futures.append(self.stub.WaitTask.future(request, timeout=40))
            tasks = [f.result() for f in futures]
            succeeded = self.pb.task_pb2.TaskState.Value('TASK_STATE_SUCCEEDED')
            if any(t.state != succeeded for t in tasks):
                raise CourseError(f'not every thread.sleep task succeeded: '
                                  f'{[t.error for t in tasks if t.state != succeeded][:3]}')
            first = min(ts(t.created_at) for t in tasks)
            queue_wall = max(ts(t.finished_at) for t in tasks) - first
            time.sleep(0.3)  # the last events reach the watch
            with open(watch.log_path) as f:
                lines = [l.rstrip('\n') for l in f if 'thread.sleep' in l]
            say(f'  ({QUEUE_TASKS} tasks, {sum(sleeps)} ms of sleep in all; the worker runs '
                f'{slots} at a time, the rest wait queued)')
            mid = len(lines) // 2
            say(f'taskwire watch printed {len(lines)} lines for them (queued, running, succeeded '
                f'for each); the first 4, 4 from the middle, the last 2:')
            for line in lines[:4] + ['  ...'] + lines[mid - 2:mid + 2] + ['  ...'] + lines[-2:]:
                say(f'  {line}')
            say('results, in the order they arrived:')
            by_end = sorted(tasks, key=lambda t: ts(t.finished_at))
            say('  ' + ', '.join(f'{t.output.decode().replace("slept ", "")} @{ts(t.finished_at) - first:.2f}s'
                                 for t in by_end[:8]) + ', ...')
            say()
            chain_out = self.show('chain', '--wait', '--wait-timeout', '20s',
                                  f'http.get:{self.url("/report.txt")}', 'sha256')
            chain_wall = self.workflow_wall(chain_out)
            say()
            chord_out = self.show('chord', '--wait', '--wait-timeout', '20s',
                                  'primes:1000000', 'course.primes:2000000', 'primes:3000000',
                                  '--', 'collect')
            chord_wall = self.workflow_wall(chord_out)
            say()
        finally:
            if watch is not None:
                watch.stop()
            self.stop_executor(worker)
        table(['scenario', 'tasks', 'wall s', 'note'], [
            [f'{QUEUE_TASKS} thread.sleep tasks, one worker with --slots {slots}', QUEUE_TASKS,
             secs(queue_wall), f'{sum(sleeps) / 1000:.2f} s of sleeps / {slots} slots = '
             f'{sum(sleeps) / 1000 / slots:.2f} s at best'],
            ['chain: http.get -> sha256 (the page\'s hash)', 2, secs(chain_wall),
             f'one {HTTP_DELAY_MS} ms download, then a hash of its output'],
            ['chord: primes x2 + course.primes -> collect', 4, secs(chord_wall),
             'the group runs at once (thread and process modes), then the callback'],
        ])

    # --- lesson d: 10,000 waits ---------------------------------------------------------

    def lesson_d(self):
        say(f'== d) thousands of concurrent requests on one thread: {MANY:,} downloads '
            f'({HTTP_DELAY_MS} ms each), then {MANY:,} plain waits')
        say('rule: thousands of waits fit on one event-loop thread, since a waiting request '
            'costs a socket and a callback, where each thread costs a stack and a slot of its own.')
        self.machine_note()
        say()
        if os.access(self.delay_server_bin, os.X_OK):
            server = self.start_http_server('http-delay-server', python=False)
            server_note = 'build/bench/http-delay-server (C++, epoll, one thread)'
        else:
            server = self.http_server
            server_note = 'examples/course/http_server.py (Python, epoll, one thread)'
        say(f'server: {server_note}; the tasks are submitted with taskwire-bench throughput')
        url = self.url('/many', server.port)
        loop_flags = ['--event-loop-threads', '1']
        thread_flags = ['--slots', str(MANY_THREAD_SLOTS)]
        ms = str(HTTP_DELAY_MS)
        scenarios = [
            ('event loop', 'http.get, --event-loop-threads 1', 'd-loop', loop_flags, 'http.get', url),
            ('threads', f'thread.http.get, --slots {MANY_THREAD_SLOTS}', 'd-threads', thread_flags,
             'thread.http.get', url),
            # The same waits without the HTTP client: a timer each.
            ('event loop', f'sleep {ms} ms, --event-loop-threads 1', 'd-loop-sleep', loop_flags,
             'sleep', ms),
            ('threads', f'thread.sleep {ms} ms, --slots {MANY_THREAD_SLOTS}', 'd-threads-sleep',
             thread_flags, 'thread.sleep', ms),
        ]
        rows = []
        for model, how, queue, flags, task_type, payload in scenarios:
            proc = self.start_executor(queue, *flags)
            try:
                sampler = Sampler(proc.pid)
                scheduler_cpu, server_cpu = cpu_seconds(self.scheduler.pid), cpu_seconds(server.pid)
                argv = [self.bench_bin, 'throughput', '--server', self.address, '--tasks',
                        str(MANY), '--type', task_type, '--payload', payload, '--queue', queue,
                        '--batch', '500', '--deadline', '45', '--json']
                say(f'$ taskwire-bench throughput --tasks {MANY} --type {task_type} '
                    f'--payload {payload} --queue {queue} --batch 500')
                bench = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                                       text=True, timeout=60, env=child_env())
                sampler.finish()
                scheduler_cpu = cpu_seconds(self.scheduler.pid) - scheduler_cpu
                server_cpu = cpu_seconds(server.pid) - server_cpu
            finally:
                self.stop_executor(proc)
            result = None
            for line in bench.stdout.splitlines():
                if line.startswith('{'):
                    result = json.loads(line)
                elif line.startswith('throughput:') or line.strip().startswith('outcomes:'):
                    say(f'  {line.strip()}')
            if bench.returncode != 0 or result is None:
                raise CourseError(f'taskwire-bench exited with {bench.returncode} for {task_type}:\n'
                                  f'{bench.stdout[-1500:]}{bench.stderr[-1500:]}')
            rows.append([model, how, secs(result['elapsed_s']), f'{result["tasks_per_s"]:,.0f}',
                         f'{sampler.threads_before} -> {sampler.peak_threads}',
                         mib(sampler.peak_rss_kib), f'{sampler.cpu:.2f}',
                         f'{scheduler_cpu:.2f} / {server_cpu:.2f}'])
        say()
        table(['model', 'executor', 'wall s', 'tasks/s', 'executor threads (idle -> peak)',
               'executor RSS MiB (peak)', 'executor CPU s', 'CPU s: scheduler / server'], rows)
        say(f'(the floor: {HTTP_DELAY_MS / 1000:.1f} s with every wait under way at once; '
            f'{MANY // MANY_THREAD_SLOTS} rounds of {HTTP_DELAY_MS} ms = '
            f'{MANY // MANY_THREAD_SLOTS * HTTP_DELAY_MS / 1000:.1f} s on {MANY_THREAD_SLOTS} threads. '
            'An http.get also opens a TCP connection: with 10,000 at once, each task\'s CPU, not '
            'its wait, sets the pace on a small machine; the sleep rows show the waits alone.)')


def machine_line(build):
    model = ''
    try:
        with open('/proc/cpuinfo') as f:
            model = next((l.split(':', 1)[1].strip() for l in f if l.startswith('model name')), '')
    except OSError:
        pass
    mem_gib = os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2 ** 30
    commit = subprocess.run(['git', '-C', ROOT, 'rev-parse', '--short', 'HEAD'],
                            capture_output=True, text=True).stdout.strip() or '?'
    return (f'{datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}, {os.cpu_count()} cores '
            f'({model}), {mem_gib:.0f} GiB, Linux {platform.release()}, checkout {commit}, '
            f'binaries {build}')


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--build', default=os.path.join(ROOT, 'build'))
    parser.add_argument('--lessons', default='a,b,c,d', help='comma-separated: a,b,c,d')
    parser.add_argument('--work', help='directory for logs and data (default: a new temp dir, '
                                       'kept only when something failed)')
    options = parser.parse_args()
    build = os.path.abspath(options.build)
    work = options.work or tempfile.mkdtemp(prefix='taskwire-course.')
    os.makedirs(work, exist_ok=True)
    with open(os.path.join(work, 'pids'), 'a') as f:  # run.sh's last resort, should it hang
        f.write(f'{os.getpid()} {PYTHON}\n')

    def on_signal(signum, frame):
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    course = Course(build, work)
    lessons = [l.strip() for l in options.lessons.split(',') if l.strip()]
    say(f'== taskwire course  {machine_line(build)}')
    say()
    ok = True
    try:
        course.start()
        for lesson in lessons:
            if course.time_left() <= 0:
                say(f'course: {BUDGET_S:.0f} s passed; lesson {lesson} skipped')
                ok = False
                continue
            try:
                getattr(course, f'lesson_{lesson}')()
                course.others_note()
            except CourseError as e:
                ok = False
                say(f'lesson {lesson} FAILED: {e}')
            except Exception as e:  # a gRPC error, a timeout: report it, go on
                ok = False
                say(f'lesson {lesson} FAILED: {type(e).__name__}: {e}')
            say()
    except CourseError as e:
        ok = False
        say(f'course: cannot start: {e}')
    finally:
        stop_all()
    say(f'== done in {time.monotonic() - course.started:.1f} s')
    if options.work:
        pass  # the caller's directory (run.sh keeps it when something failed)
    elif ok and os.environ.get('KEEP_LOGS') != '1':
        shutil.rmtree(work, ignore_errors=True)
    else:
        say(f'logs in {work}')
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
