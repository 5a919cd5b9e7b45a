"""Runs the real taskwire binaries for the end-to-end and client tests.

A `Cluster` starts a scheduler and executors as subprocesses on 127.0.0.1 port 0, learns
their addresses from their ready files, and stops them by PID (SIGTERM, then SIGKILL after
a bound). Each process logs into the cluster's temp dir; `LoggedTestCase` prints those logs
when a test fails. `load_stubs()` generates the Python gRPC stubs from the proto at test
time (never committed). `EventWatcher` keeps a WatchTasks stream open in the background so
a test can wait for a task to reach a state instead of sleeping.

    class MyTest(harness.LoggedTestCase):
        def test_echo(self):
            cluster = self.new_cluster('echo')
            cluster.start_scheduler()
            cluster.start_executor('exec-a', slots=2)
            result = cluster.cli('submit', 'echo', '--payload', 'hi', '--wait')

Binaries come from TASKWIRE_SCHEDULER_BIN, TASKWIRE_EXECUTOR_BIN and TASKWIRE_CLI_BIN (set by
CMake), the proto root from TASKWIRE_PROTO_DIR; the defaults suit a run by hand from a
checkout built in ./build. Set TASKWIRE_E2E_KEEP=1 to keep the temp dirs.
"""

import atexit
import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import types
import unittest

import grpc

_SOURCE_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
_BUILD_DIR = os.path.join(_SOURCE_ROOT, 'build')

SCHEDULER_BIN = os.environ.get('TASKWIRE_SCHEDULER_BIN',
                               os.path.join(_BUILD_DIR, 'scheduler', 'taskwire-scheduler'))
EXECUTOR_BIN = os.environ.get('TASKWIRE_EXECUTOR_BIN',
                              os.path.join(_BUILD_DIR, 'executor', 'taskwire-executor'))
CLI_BIN = os.environ.get('TASKWIRE_CLI_BIN', os.path.join(_BUILD_DIR, 'cli', 'taskwire'))
PROTO_DIR = os.environ.get('TASKWIRE_PROTO_DIR', os.path.join(_SOURCE_ROOT, 'proto'))
_HEALTH_PROTO_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'proto')
KEEP_DIRS = os.environ.get('TASKWIRE_E2E_KEEP', '') not in ('', '0')

READY_TIMEOUT = 10.0     # seconds for a process to write its ready file
LINK_TIMEOUT = 10.0      # seconds for an executor to report "ready" (linked to the scheduler)
STOP_TIMEOUT = 15.0      # seconds after SIGTERM before SIGKILL
RPC_TIMEOUT = 10.0       # deadline of every unary call the harness makes
CLI_TIMEOUT = 30.0       # seconds a CLI run may take before it is killed


class HarnessError(AssertionError):
    """A process did not start, did not get ready, or did not stop cleanly."""


# --------------------------------------------------------------------------------------
# Stubs


_stubs = None
_stubs_lock = threading.Lock()


def load_stubs():
    """Generates (once per process) and imports the Python stubs of the taskwire protos.

    Returns a namespace with task_pb2, workflow_pb2, scheduler_pb2, scheduler_pb2_grpc,
    health_pb2 and health_pb2_grpc.
    """
    global _stubs
    with _stubs_lock:
        if _stubs is None:
            _stubs = _generate_stubs()
        return _stubs


def _generate_stubs():
    from grpc_tools import protoc  # Debian's python3-grpc-tools
    import grpc_tools

    out_dir = tempfile.mkdtemp(prefix='taskwire-stubs-')
    atexit.register(shutil.rmtree, out_dir, True)
    well_known = os.path.join(os.path.dirname(grpc_tools.__file__), '_proto')
    jobs = [
        (PROTO_DIR, ['taskwire/v1/task.proto', 'taskwire/v1/workflow.proto',
                      'taskwire/v1/scheduler.proto']),
        (_HEALTH_PROTO_DIR, ['health.proto']),
    ]
    for root, files in jobs:
        missing = [f for f in files if not os.path.isfile(os.path.join(root, f))]
        if missing:
            raise HarnessError(f'proto files {missing} not found under {root} '
                               '(set TASKWIRE_PROTO_DIR)')
        rc = protoc.main(['protoc', f'-I{root}', f'-I{well_known}', f'--python_out={out_dir}',
                          f'--grpc_python_out={out_dir}', *files])
        if rc != 0:
            raise HarnessError(f'grpc_tools.protoc failed ({rc}) on {files} in {root}')
    sys.path.insert(0, out_dir)
    from taskwire.v1 import scheduler_pb2, scheduler_pb2_grpc, task_pb2, workflow_pb2
    import health_pb2
    import health_pb2_grpc
    return types.SimpleNamespace(task_pb2=task_pb2, workflow_pb2=workflow_pb2,
                                 scheduler_pb2=scheduler_pb2,
                                 scheduler_pb2_grpc=scheduler_pb2_grpc, health_pb2=health_pb2,
                                 health_pb2_grpc=health_pb2_grpc)


def workflow_state_name(state):
    """'SUCCEEDED' for WORKFLOW_STATE_SUCCEEDED (an int or a JSON enum name)."""
    if isinstance(state, int):
        state = load_stubs().workflow_pb2.WorkflowState.Name(state)
    return state.replace('WORKFLOW_STATE_', '')


def state_name(state):
    """'SUCCEEDED' for TASK_STATE_SUCCEEDED (an int or a JSON enum name)."""
    if isinstance(state, int):
        state = load_stubs().task_pb2.TaskState.Name(state)
    return state.replace('TASK_STATE_', '')


# --------------------------------------------------------------------------------------
# Processes


_live_processes = set()  # stopped by PID at exit if a test forgot (or crashed before) it


@atexit.register
def _kill_leftovers():
    for process in list(_live_processes):
        process.kill()


def _child_env():
    # The binaries read TASKWIRE_* variables as flag defaults: keep the user's out.
    return {k: v for k, v in os.environ.items() if not k.startswith('TASKWIRE_')}


class Process:
    """One binary started by the harness; logs go to <dir>/<name>.log."""

    def __init__(self, name, argv, directory):
        self.name = name
        self.log_path = os.path.join(directory, f'{name}.log')
        self.ready_path = os.path.join(directory, f'{name}.ready.json')
        self.argv = [*argv, '--ready-file', self.ready_path]
        self.ready = None
        self.expect_exit = False  # set when a test ends the process itself
        with open(self.log_path, 'ab') as log:
            self.popen = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=log,
                                          stderr=subprocess.STDOUT, env=_child_env())
        _live_processes.add(self)

    @property
    def pid(self):
        return self.popen.pid

    @property
    def returncode(self):
        return self.popen.poll()

    def wait_ready(self, timeout=READY_TIMEOUT):
        """Waits for the ready file (written atomically) and returns its JSON."""
        deadline = time.monotonic() + timeout
        while not os.path.exists(self.ready_path):
            if self.popen.poll() is not None:
                raise HarnessError(f'{self.name} exited with {self.popen.returncode} before it '
                                   f'was ready\n{self.log_tail()}')
            if time.monotonic() >= deadline:
                raise HarnessError(f'{self.name} wrote no ready file within {timeout}s\n'
                                   f'{self.log_tail()}')
            time.sleep(0.02)  # polling a file: there is no event to block on
        with open(self.ready_path) as f:
            self.ready = json.load(f)
        return self.ready

    def terminate(self):
        """Sends SIGTERM and returns at once; see wait_exit."""
        self.expect_exit = True
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)

    def wait_exit(self, timeout):
        """The exit code, or None if the process still runs after `timeout` seconds."""
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self):
        """SIGKILL (kill -9) and reap."""
        self.expect_exit = True
        if self.popen.poll() is None:
            self.popen.kill()
        self.popen.wait(timeout=STOP_TIMEOUT)
        _live_processes.discard(self)

    def stop(self, timeout=STOP_TIMEOUT):
        """SIGTERM, then SIGKILL after `timeout`. Returns (exit code, needed SIGKILL)."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
        killed = False
        try:
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            killed = True
            self.popen.kill()
            self.popen.wait(timeout=STOP_TIMEOUT)
        _live_processes.discard(self)
        return self.popen.returncode, killed

    def log_size(self):
        try:
            return os.path.getsize(self.log_path)
        except OSError:
            return 0

    def log_text(self, start=0):
        try:
            with open(self.log_path, 'rb') as f:
                f.seek(start)
                return f.read().decode('utf-8', 'replace')
        except OSError as e:
            return f'(no log: {e})'

    def log_tail(self, lines=40):
        text = self.log_text().splitlines()[-lines:]
        return f'--- last lines of {self.log_path} ---\n' + '\n'.join(text)


# --------------------------------------------------------------------------------------
# CLI results


@dataclasses.dataclass
class CliResult:
    argv: list
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    def json_lines(self):
        """Every non-empty stdout line parsed as JSON (fails the test on a bad line)."""
        objects = []
        for line in self.stdout.splitlines():
            if line.strip():
                try:
                    objects.append(json.loads(line))
                except ValueError as e:
                    raise AssertionError(f'not a JSON line ({e}): {line!r}\n{self}') from e
        return objects

    def json(self):
        """The single JSON object the command printed."""
        objects = self.json_lines()
        if len(objects) != 1:
            raise AssertionError(f'expected one JSON line, got {len(objects)}\n{self}')
        return objects[0]

    def __str__(self):
        return (f'$ {" ".join(self.argv)}\nexit {self.returncode} after {self.seconds:.2f}s\n'
                f'--- stdout ---\n{self.stdout}--- stderr ---\n{self.stderr}')


# --------------------------------------------------------------------------------------
# Cluster


class Cluster:
    """A scheduler and its executors, each a subprocess, all in one temp dir."""

    def __init__(self, label='cluster'):
        self.label = label
        self.dir = tempfile.mkdtemp(prefix=f'taskwire-e2e-{label}-')
        self.scheduler = None
        self.executors = {}  # id -> Process
        self.address = None
        self._channel = None
        self._stub = None
        self._closed = False

    # --- processes

    def start_scheduler(self, *extra_args):
        if not os.path.isfile(SCHEDULER_BIN):
            raise HarnessError(f'no scheduler binary at {SCHEDULER_BIN} '
                               '(set TASKWIRE_SCHEDULER_BIN or build taskwire-scheduler)')
        argv = [SCHEDULER_BIN, '--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0',
                *extra_args]
        if '--data-dir' not in extra_args:
            # The store (sqlite by default) lives in the cluster's directory, so a restarted
            # scheduler of this cluster recovers its tasks and no two clusters share one.
            argv += ['--data-dir', os.path.join(self.dir, 'data')]
        self.scheduler = Process('scheduler', argv, self.dir)
        self.address = self.scheduler.wait_ready()['grpc']
        return self.scheduler

    def restart_scheduler(self, *extra_args, kill=True):
        """Ends the scheduler (kill -9 by default, else SIGTERM) and starts a new one on the
        same address and data directory, as a crash and restart would. Executors keep
        dialling that address. Returns the new Process (logs in scheduler-N.log)."""
        old = self.scheduler
        assert old is not None, 'start the scheduler first'
        if kill:
            old.kill()
        else:
            old.terminate()
            old.wait_exit(STOP_TIMEOUT)
        self._restarts = getattr(self, '_restarts', 0) + 1
        self._retired_schedulers = getattr(self, '_retired_schedulers', []) + [old]
        argv = [SCHEDULER_BIN, '--listen', self.address, '--metrics-listen', '127.0.0.1:0',
                *extra_args]
        if '--data-dir' not in extra_args:
            argv += ['--data-dir', os.path.join(self.dir, 'data')]
        self.scheduler = Process(f'scheduler-{self._restarts}', argv, self.dir)
        self.address = self.scheduler.wait_ready()['grpc']
        return self.scheduler

    def start_executor(self, executor_id, slots=2, queues=('default',), extra_args=(),
                       wait_linked=True, scheduler_address=None):
        """Starts an executor; by default returns once the scheduler has welcomed it.
        `scheduler_address` (default: the scheduler's own) lets it dial through a proxy."""
        if not os.path.isfile(EXECUTOR_BIN):
            raise HarnessError(f'no executor binary at {EXECUTOR_BIN} '
                               '(set TASKWIRE_EXECUTOR_BIN or build taskwire-executor)')
        assert self.address, 'start the scheduler first'
        argv = [EXECUTOR_BIN, '--scheduler', scheduler_address or self.address,
                '--id', executor_id,
                '--slots', str(slots), '--queues', ','.join(queues),
                '--health-listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0',
                *extra_args]
        process = Process(f'executor-{executor_id}', argv, self.dir)
        self.executors[executor_id] = process
        ready = process.wait_ready()
        if ready.get('id') != executor_id:
            raise HarnessError(f'executor ready file names id {ready.get("id")!r}, '
                               f'not {executor_id!r}')
        if wait_linked:
            self.wait_executor_ready(executor_id)
        return process

    def wait_executor_ready(self, executor_id, timeout=LINK_TIMEOUT):
        """Waits on grpc.health.v1 Watch("ready") until the executor reports SERVING."""
        process = self.executors[executor_id]
        pb = load_stubs()
        serving = pb.health_pb2.HealthCheckResponse.SERVING
        seen = []
        with grpc.insecure_channel(process.ready['health']) as channel:
            stub = pb.health_pb2_grpc.HealthStub(channel)
            call = stub.Watch(pb.health_pb2.HealthCheckRequest(service='ready'), timeout=timeout)
            try:
                for response in call:
                    seen.append(pb.health_pb2.HealthCheckResponse.ServingStatus.Name(
                        response.status))
                    if response.status == serving:
                        return
            except grpc.RpcError as e:
                raise HarnessError(f'executor {executor_id} health watch ended: {e.code()} '
                                   f'{e.details()} (statuses seen: {seen})\n'
                                   f'{process.log_tail()}') from e
            finally:
                call.cancel()
        raise HarnessError(f'executor {executor_id} health watch ended without SERVING '
                           f'(statuses seen: {seen})')

    def close(self):
        """Stops every process by PID: executors first (they drain), then the scheduler.

        Raises HarnessError if a process that the test did not end itself exited non-zero
        on SIGTERM or needed SIGKILL.
        """
        if self._closed:
            return
        self._closed = True
        if self._channel is not None:
            self._channel.close()
        problems = []
        running = [p for p in self.executors.values() if p.returncode is None]
        for p in running:
            p.popen.send_signal(signal.SIGTERM)
        for p in list(self.executors.values()) + ([self.scheduler] if self.scheduler else []):
            rc, killed = p.stop()
            if p.expect_exit:
                continue
            if killed:
                problems.append(f'{p.name} (pid {p.pid}) ignored SIGTERM for {STOP_TIMEOUT}s '
                                'and was killed')
            elif rc != 0:
                problems.append(f'{p.name} (pid {p.pid}) exited with {rc} on SIGTERM')
        if problems:
            raise HarnessError('; '.join(problems) + '\n' + self.logs())

    def remove(self):
        if KEEP_DIRS:
            sys.stderr.write(f'keeping {self.dir}\n')
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    # --- clients

    @property
    def stub(self):
        """A Scheduler stub on a channel that close() closes."""
        if self._stub is None:
            pb = load_stubs()
            self._channel = grpc.insecure_channel(self.address)
            self._stub = pb.scheduler_pb2_grpc.SchedulerStub(self._channel)
        return self._stub

    def cli(self, *args, timeout=CLI_TIMEOUT):
        """Runs `taskwire --server ADDR ARGS...` and returns a CliResult."""
        if not os.path.isfile(CLI_BIN):
            raise HarnessError(f'no taskwire CLI at {CLI_BIN} '
                               '(set TASKWIRE_CLI_BIN or build the taskwire target)')
        argv = [CLI_BIN, '--server', self.address, *args]
        start = time.monotonic()
        try:
            done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                                  text=True, timeout=timeout, env=_child_env())
        except subprocess.TimeoutExpired as e:
            raise AssertionError(f'$ {" ".join(argv)}\nstill running after {timeout}s; '
                                 f'stdout so far: {e.stdout!r}') from e
        return CliResult(argv, done.returncode, done.stdout, done.stderr,
                         time.monotonic() - start)

    def cli_popen(self, *args):
        """Starts `taskwire --server ADDR ARGS...` with piped stdout (for watch)."""
        if not os.path.isfile(CLI_BIN):
            raise HarnessError(f'no taskwire CLI at {CLI_BIN} '
                               '(set TASKWIRE_CLI_BIN or build the taskwire target)')
        argv = [CLI_BIN, '--server', self.address, *args]
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True, env=_child_env())
        return process

    def submit(self, task_type, payload=b'', queue='', **spec_fields):
        """Submits one task over gRPC and returns its id."""
        pb = load_stubs()
        if isinstance(payload, str):
            payload = payload.encode()
        spec = pb.task_pb2.TaskSpec(type=task_type, payload=payload, queue=queue, **spec_fields)
        return self.stub.Submit(pb.scheduler_pb2.SubmitRequest(task=spec),
                                timeout=RPC_TIMEOUT).task_id

    def wait_task(self, task_id, timeout):
        """WaitTask bounded by `timeout` seconds; returns the Task (terminal or not)."""
        pb = load_stubs()
        request = pb.scheduler_pb2.WaitTaskRequest(task_id=task_id)
        request.timeout.FromMilliseconds(int(timeout * 1000))
        return self.stub.WaitTask(request, timeout=timeout + RPC_TIMEOUT)

    def submit_workflow(self, nodes, **workflow_fields):
        """Submits a workflow over gRPC; `nodes` are WorkflowNode messages or
        (name, type, payload, after) tuples. Returns the SubmitWorkflowResponse."""
        pb = load_stubs()
        messages = []
        for node in nodes:
            if isinstance(node, tuple):
                name, task_type, payload, after = node
                if isinstance(payload, str):
                    payload = payload.encode()
                node = pb.workflow_pb2.WorkflowNode(
                    name=name, task=pb.task_pb2.TaskSpec(type=task_type, payload=payload),
                    after=list(after))
            messages.append(node)
        spec = pb.workflow_pb2.WorkflowSpec(nodes=messages, **workflow_fields)
        return self.stub.SubmitWorkflow(pb.scheduler_pb2.SubmitWorkflowRequest(workflow=spec),
                                        timeout=RPC_TIMEOUT)

    def wait_workflow(self, workflow_id, timeout):
        """WaitWorkflow bounded by `timeout` seconds; returns the Workflow (ended or not)."""
        pb = load_stubs()
        request = pb.scheduler_pb2.WaitWorkflowRequest(workflow_id=workflow_id)
        request.timeout.FromMilliseconds(int(timeout * 1000))
        return self.stub.WaitWorkflow(request, timeout=timeout + RPC_TIMEOUT)

    # --- logs

    def processes(self):
        return ([self.scheduler] if self.scheduler else []) + list(self.executors.values())

    def log_marks(self):
        return {p.log_path: p.log_size() for p in self.processes()}

    def logs(self, marks=None):
        """Every process's log, from `marks` (see log_marks) on if given."""
        parts = []
        for p in self.processes():
            start = (marks or {}).get(p.log_path, 0)
            parts.append(f'----- {p.name} (pid {p.pid}, exit {p.returncode}) '
                         f'{p.log_path} from byte {start} -----\n{p.log_text(start)}')
        return '\n'.join(parts) + '\n'


# --------------------------------------------------------------------------------------
# Watching events


class EventWatcher:
    """Collects a cluster's task events from a WatchTasks stream on a background thread.

    The scheduler sends the stream's headers once the subscription is in place, so after
    sync() every later event is seen.
    """

    def __init__(self, cluster, stream_timeout=600.0):
        pb = load_stubs()
        self._cond = threading.Condition()
        self._events = []
        self._ended = None  # why the stream ended, once it has
        self._call = cluster.stub.WatchTasks(pb.scheduler_pb2.WatchTasksRequest(),
                                             timeout=stream_timeout)
        self._thread = threading.Thread(target=self._read, name='event-watcher', daemon=True)
        self._thread.start()

    def _read(self):
        reason = 'stream ended'
        try:
            for response in self._call:
                with self._cond:
                    self._events.extend(response.events)
                    self._cond.notify_all()
        except grpc.RpcError as e:
            reason = f'stream ended: {e.code()} {e.details()}'
        finally:
            with self._cond:
                self._ended = reason
                self._cond.notify_all()

    def sync(self):
        """Blocks until the scheduler has subscribed this watch (bounded by the stream's
        deadline)."""
        self._call.initial_metadata()

    def find(self, predicate, timeout):
        """The first event matching `predicate`, waiting up to `timeout`; else None."""
        deadline = time.monotonic() + timeout
        checked = 0
        with self._cond:
            while True:
                for event in self._events[checked:]:
                    if predicate(event):
                        return event
                checked = len(self._events)
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._ended is not None:
                    return None
                self._cond.wait(remaining)

    def wait_state(self, task_id, state, timeout=10.0):
        """The event of `task_id` entering `state` (a TaskState value); fails after timeout."""
        event = self.find(lambda e: e.task_id == task_id and e.state == state, timeout)
        if event is None:
            raise AssertionError(f'task {task_id} did not reach {state_name(state)} within '
                                 f'{timeout}s; its events: {self.history(task_id)}'
                                 f'{"; " + self._ended if self._ended else ""}')
        return event

    def history(self, task_id):
        """(STATE, attempt, executor) of every event of the task seen so far."""
        with self._cond:
            return [(state_name(e.state), e.attempt, e.executor_id)
                    for e in self._events if e.task_id == task_id]

    def close(self):
        self._call.cancel()
        self._thread.join(timeout=5)


# --------------------------------------------------------------------------------------
# Test case base


class LoggedTestCase(unittest.TestCase):
    """Prints the logs of the test's clusters when the test fails or errs.

    new_cluster() makes a cluster that the test's cleanup closes; show_logs_of() adds a
    longer-lived one (e.g. made in setUpClass), printing only what it logged during the test.
    """

    def run(self, result=None):
        if result is None:
            result = self.defaultTestResult()
        self._log_sources = []
        self._own_clusters = []
        problems_before = len(result.failures) + len(result.errors)
        try:
            return super().run(result)
        finally:
            if len(result.failures) + len(result.errors) > problems_before:
                for cluster, marks in self._log_sources:
                    sys.stderr.write(f'\n===== logs of {cluster.label} cluster for {self.id()} '
                                     f'=====\n{cluster.logs(marks)}')
                    sys.stderr.flush()
            for cluster in self._own_clusters:
                cluster.remove()

    def new_cluster(self, label):
        cluster = Cluster(label)
        self._own_clusters.append(cluster)
        self._log_sources.append((cluster, None))
        self.addCleanup(cluster.close)
        return cluster

    def show_logs_of(self, cluster):
        self._log_sources.append((cluster, cluster.log_marks()))


class SharedClusterTestCase(LoggedTestCase):
    """Tests that share one cluster, started once per class by start_cluster()."""

    cluster = None
    watcher = None

    @classmethod
    def start_cluster(cls, label, start, watch=False):
        """Makes the class's cluster, runs start(cluster) to start its processes, and opens
        a synced EventWatcher if `watch`; on a failure it prints the cluster's logs."""
        cluster = Cluster(label)
        cls.cluster = cluster
        cls.addClassCleanup(cluster.remove)
        cls.addClassCleanup(cluster.close)
        try:
            start(cluster)
            if watch:
                cls.watcher = EventWatcher(cluster)
                cls.addClassCleanup(cls.watcher.close)
                cls.watcher.sync()
        except Exception:
            sys.stderr.write(cluster.logs())
            raise

    def setUp(self):
        self.show_logs_of(self.cluster)


# --------------------------------------------------------------------------------------
# Helpers for durability tests (restarts, retries across them, full listings)


RETRYABLE_CODES = (grpc.StatusCode.UNAVAILABLE,)


def call_until_answered(call, timeout, codes=RETRYABLE_CODES, pause=0.05, on_retry=None):
    """Runs `call()` until it does not fail with one of `codes` (by default UNAVAILABLE:
    the scheduler is down or restarting), for at most `timeout` seconds; returns its
    result or raises its last error. `on_retry(error)` is called before each retry."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return call()
        except grpc.RpcError as e:
            if e.code() not in codes or time.monotonic() + pause >= deadline:
                raise
            if on_retry is not None:
                on_retry(e)
            time.sleep(pause)  # back off a little between attempts; the deadline bounds it


def list_all_tasks(stub, page_size=1000, max_pages=100_000, **filters):
    """Every task of a ListTasks listing (oldest first), following next_page_token.
    `filters` are ListTasksRequest fields (state, queue, type)."""
    pb = load_stubs()
    tasks = []
    token = ''
    for _ in range(max_pages):
        page = stub.ListTasks(pb.scheduler_pb2.ListTasksRequest(
            page_size=page_size, page_token=token, **filters), timeout=RPC_TIMEOUT)
        tasks.extend(page.tasks)
        token = page.next_page_token
        if not token:
            return tasks
    raise HarnessError(f'ListTasks still had pages after {max_pages} of them')


def restart_executor(cluster, executor_id, kill=True, **start_args):
    """Ends an executor of `cluster` (kill -9 by default, else SIGTERM) and starts a new
    process with the same id; `start_args` are start_executor's (slots, queues, extra_args,
    wait_linked), given again. Returns the new Process (it logs into the same file)."""
    old = cluster.executors[executor_id]
    if kill:
        old.kill()
    else:
        old.stop()
        old.expect_exit = True
    try:
        os.remove(old.ready_path)  # else the new process would seem ready at once
    except FileNotFoundError:
        pass
    return cluster.start_executor(executor_id, **start_args)
