"""Faults, end to end with the real binaries: every accepted task ends, whatever
the network and the processes do.

A seeded schedule of faults from nemesis.py runs one fault after another for FAULT_WINDOW
seconds: TCP resets, black holes (healed or reset), delays and throttling on the links of
two executors (each behind its own proxy) and of the workload's client (behind a third);
SIGSTOP/SIGCONT of an executor or the scheduler; kill -9 and restart of an executor or the
scheduler (same id, address and data dir); a full disk under the scheduler's store (a small
tmpfs filled up, then emptied; skipped, with the reason printed, where tmpfs cannot be
mounted). A black hole on an executor's link is healed, reset, or left for ever (the
connection stays open and silent: the executor must notice and dial a new one).
Meanwhile a workload submits, through the client proxy, a mix of tasks with
idempotency keys (retried on UNAVAILABLE / DEADLINE_EXCEEDED / RESOURCE_EXHAUSTED, so a lost
answer never makes a second task): echo, short and long sleeps, flaky failures with and
without enough retries, primes, process tasks from deploy/executor/process-tasks.textproto,
chains, groups, chords and a chain that fails, and cancels of some long sleeps.

Once the schedule stops, fault_checker.Checker asserts (on a direct channel) that every task
is terminal within `lease + heartbeat + 5 s` after the last fault, every acknowledged submit
exists, attempts obey the fencing and retry rules, workflows agree with their nodes and the
executors' slot counts agree with the scheduler's. The run prints the seed, the schedule
and every violation with the task's full history.

    TASKWIRE_FAULTS_SEED=<n>   run that seed (default: a random one, printed)
    TASKWIRE_FAULTS_SEEDS=<k>  run k seeds in a row (n, n+1, ...); the suite runs one

One seed takes well under 2 minutes (FAULT_WINDOW + the settle bound + start and checks).
"""

import collections
import heapq
import os
import random
import sys
import threading
import time
import traceback

import grpc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fault_checker  # noqa: E402
import harness  # noqa: E402
import nemesis  # noqa: E402
from fault_checker import O  # noqa: E402

pb = harness.load_stubs()
task_pb2 = pb.task_pb2
workflow_pb2 = pb.workflow_pb2
scheduler_pb2 = pb.scheduler_pb2

LEASE = 3
HEARTBEAT = 1
MAX_LOST = 20          # legitimately lost attempts (kill -9, pauses) must not fail tasks
SCHEDULER_ARGS = ('--executor-timeout', str(LEASE), '--heartbeat-interval', str(HEARTBEAT),
                  '--max-lost-attempts', str(MAX_LOST))
EXECUTORS = ('faults-a', 'faults-b')
THREAD_SLOTS = 4
EXECUTOR_ARGS = ('--max-backoff', '0.5', '--kill-grace', '1')
FAULT_WINDOW = 40.0    # seconds of faults; the workload submits during the same window
SUBMIT_RATE = 15.0     # submits (tasks or workflows) per second
SETTLE = LEASE + HEARTBEAT + 5   # every task terminal this long after the last fault
CLIENT_RPC_TIMEOUT = 3.0
SUBMIT_RETRY_FOR = 40.0
DISK_MB = 48
PROCESS_CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..',
                              'deploy', 'executor', 'process-tasks.textproto')
CLIENT_RETRY_CODES = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED,
                      grpc.StatusCode.RESOURCE_EXHAUSTED)

# Nemeses and their weights in the schedule: the executors' links most of all.
NEMESES = {'reset-executor': 3, 'black-hole-executor': 2, 'delay-executor': 1,
           'throttle-executor': 1, 'reset-client': 1, 'black-hole-client': 1, 'delay-client': 1,
           'pause-executor': 2, 'pause-scheduler': 1, 'kill-executor': 1, 'kill-scheduler': 1,
           'full-disk': 1}


def seeds():
    first = int(os.environ.get('TASKWIRE_FAULTS_SEED', '0')) or random.randrange(1, 2**31)
    count = max(1, int(os.environ.get('TASKWIRE_FAULTS_SEEDS', '1')))
    return [first + i for i in range(count)]


def make_schedule(rng, kinds):
    """[(start offset s, kind, target, duration s, param)], one fault after another."""
    schedule = []
    t = rng.uniform(1.0, 2.0)
    while True:
        kind = rng.choices(kinds, weights=[NEMESES[k] for k in kinds])[0]
        target = rng.choice(EXECUTORS) if kind.endswith('-executor') else None
        param = None
        if kind.startswith('reset') or kind.startswith('kill'):
            duration = 0.0
        elif kind.startswith('black-hole'):
            duration = rng.uniform(0.5, LEASE + 2.0)
            # 'forever': the connection stays open and silent to the end (a dead NAT entry);
            # only the executor's silence detection and a new connection get past it. A
            # client's default channel has no such detection: its links are healed or reset.
            param = rng.choice(['heal', 'reset', 'forever'] if target else ['heal', 'reset'])
        elif kind.startswith('delay'):
            duration = rng.uniform(1.0, 4.0)
            param = round(rng.uniform(0.05, 0.4), 3)
        elif kind.startswith('throttle'):
            duration = rng.uniform(1.0, 4.0)
            param = rng.choice([2_000, 20_000, 200_000])
        elif kind == 'pause-executor':
            duration = rng.uniform(0.3, LEASE + 2.0)
        elif kind == 'pause-scheduler':
            duration = rng.uniform(0.3, 3.0)
        else:  # full-disk
            duration = rng.uniform(1.0, 4.0)
        if t + duration > FAULT_WINDOW:
            return schedule
        schedule.append((round(t, 2), kind, target, round(duration, 2), param))
        t += duration + rng.uniform(0.5, 2.5)


def expect_flaky(n, max_attempts):
    """flaky:N fails attempts numbered <= N; a lost attempt uses a number up."""
    def want(task):
        if any(a.outcome in (O['LOST'], O['CANCELLED']) for a in task.attempts):
            return {'SUCCEEDED', 'FAILED'}
        return {'SUCCEEDED'} if max_attempts > n else {'FAILED'}
    return want


def retry(max_attempts):
    policy = task_pb2.RetryPolicy(max_attempts=max_attempts, multiplier=2.0, jitter=0.2)
    policy.initial_backoff.FromMilliseconds(100)
    policy.max_backoff.FromMilliseconds(500)
    return policy


class Workload:
    """Submits the mix through `stub` (the client proxy) until stopped; records every
    acknowledged submit in the checker."""

    def __init__(self, rng, seed, stub, checker):
        self.rng = rng
        self.seed = seed
        self.stub = stub
        self.checker = checker
        self.counts = collections.Counter()
        self.retried = collections.Counter()
        self.unresolved = []   # keys whose submit never answered (not acknowledged)
        self.cancels = []      # heap of (due, task id)
        self.errors = []
        self.n = 0
        self.ended = time.monotonic()
        self.stop_at = self.ended + FAULT_WINDOW

    def _call(self, method, request):
        def on_retry(e):
            self.retried[e.code().name] += 1
        # Bounded by the window's end too, so that a scheduler that never comes back (it
        # crashed on restart) ends the run within the test's bound.
        retry_for = max(2.0, min(SUBMIT_RETRY_FOR, self.stop_at + 15 - time.monotonic()))
        return harness.call_until_answered(
            lambda: method(request, timeout=CLIENT_RPC_TIMEOUT), retry_for,
            codes=CLIENT_RETRY_CODES, pause=0.1, on_retry=on_retry)

    def _submit(self, kind, spec, want):
        key = f'faults-{self.seed}-{self.n}'
        self.n += 1
        spec.idempotency_key = key
        try:
            response = self._call(self.stub.Submit, scheduler_pb2.SubmitRequest(task=spec))
        except grpc.RpcError as e:
            self.unresolved.append((key, e.code().name))
            return None
        self.checker.expect(response.task_id, kind, want)
        self.counts[kind] += 1
        return response.task_id

    def _workflow(self, kind, nodes, want_state):
        key = f'faults-{self.seed}-wf-{self.n}'
        self.n += 1
        spec = workflow_pb2.WorkflowSpec(idempotency_key=key, nodes=[
            workflow_pb2.WorkflowNode(name=name, task=task_pb2.TaskSpec(
                type=t, payload=p.encode()), after=after) for name, t, p, after in nodes])
        try:
            response = self._call(self.stub.SubmitWorkflow,
                                  scheduler_pb2.SubmitWorkflowRequest(workflow=spec))
        except grpc.RpcError as e:
            self.unresolved.append((key, e.code().name))
            return
        self.checker.expect_workflow(response.workflow_id, response.task_ids, kind)
        self.checker.workflow_want[response.workflow_id] = want_state
        self.counts[kind] += 1

    def one(self):
        rng = self.rng
        roll = rng.random()
        if roll < 0.30:
            self._submit('echo', task_pb2.TaskSpec(type='echo', payload=b'e%d' % self.n),
                         {'SUCCEEDED'})
        elif roll < 0.45:
            self._submit('sleep-short', task_pb2.TaskSpec(
                type='thread.sleep', payload=str(rng.randint(5, 200)).encode()), {'SUCCEEDED'})
        elif roll < 0.55:
            self._submit('sleep-long', task_pb2.TaskSpec(
                type='thread.sleep', payload=str(rng.randint(800, 3000)).encode()), {'SUCCEEDED'})
        elif roll < 0.60:
            n = rng.randint(1, 2)
            max_attempts = rng.choice([n, n + 1, n + 2])
            self._submit('flaky', task_pb2.TaskSpec(type='fail', payload=f'flaky:{n}'.encode(),
                                                    retry=retry(max_attempts)),
                         expect_flaky(n, max_attempts))
        elif roll < 0.66:
            self._submit('primes', task_pb2.TaskSpec(
                type='primes', payload=str(rng.randint(10_000, 2_000_000)).encode()),
                {'SUCCEEDED'})
        elif roll < 0.76:
            kind = rng.choice(['wc', 'true', 'py.upper'])
            self._submit(f'process {kind}', task_pb2.TaskSpec(
                type=kind, payload=b'one two three\n'), {'SUCCEEDED'})
        elif roll < 0.83:
            task_id = self._submit('cancelled', task_pb2.TaskSpec(
                type='thread.sleep', payload=str(rng.randint(500, 2500)).encode()),
                {'CANCELLED', 'SUCCEEDED'})
            if task_id:
                heapq.heappush(self.cancels, (time.monotonic() + rng.uniform(0.05, 1.5),
                                              task_id))
        elif roll < 0.88:
            self._workflow('chain', [('a', 'echo', 'x', []), ('b', 'sha256', '', ['a']),
                                     ('c', 'echo', '', ['b'])], 'SUCCEEDED')
        elif roll < 0.93:
            self._workflow('group', [(f'g{i}', 'thread.sleep', str(rng.randint(10, 600)), [])
                                     for i in range(3)], 'SUCCEEDED')
        elif roll < 0.97:
            self._workflow('chord', [('p0', 'primes', '50000', []), ('p1', 'primes', '70000', []),
                                     ('p2', 'echo', 'z', []),
                                     ('join', 'collect', '', ['p0', 'p1', 'p2'])], 'SUCCEEDED')
        else:
            self._workflow('failing chain', [('a', 'echo', 'x', []),
                                             ('b', 'fail', 'permanent:on purpose', ['a']),
                                             ('c', 'echo', '', ['b'])], 'FAILED')

    def due_cancels(self, everything=False):
        now = time.monotonic()
        while self.cancels and (everything or self.cancels[0][0] <= now):
            _, task_id = heapq.heappop(self.cancels)
            try:
                response = self._call(self.stub.CancelTask,
                                      scheduler_pb2.CancelTaskRequest(task_id=task_id))
            except grpc.RpcError as e:
                self.counts[f'cancel failed {e.code().name}'] += 1
                continue
            state = harness.state_name(response.state)
            self.counts[f'cancel answered {state}'] += 1
            kind, _ = self.checker.tasks[task_id]
            if state == 'CANCELLED':
                self.checker.expect(task_id, kind, {'CANCELLED'})
            elif state in ('SUCCEEDED',):
                self.checker.expect(task_id, kind, {'SUCCEEDED'})

    def run(self, stop_at):
        self.stop_at = stop_at
        started = time.monotonic()
        try:
            i = 0
            while time.monotonic() < stop_at:
                pause = started + i / SUBMIT_RATE - time.monotonic()
                if pause > 0:
                    time.sleep(pause)  # pacing the load
                self.one()
                self.due_cancels()
                i += 1
            self.due_cancels(everything=True)
        except Exception:
            self.errors.append(traceback.format_exc())
        finally:
            self.ended = time.monotonic()


class Nemesis:
    """Runs a schedule against the cluster; logs what it did and when."""

    def __init__(self, test, cluster, proxies, client_proxy, disk, executor_args, started):
        self.test = test
        self.cluster = cluster
        self.proxies = proxies
        self.client_proxy = client_proxy
        self.disk = disk
        self.executor_args = executor_args
        self.started = started
        self.log = []
        self.errors = []
        self.last_fault_end = started
        self.retired = []
        self.forever = []  # connections black-holed to the end

    def note(self, text):
        self.log.append(f'{time.monotonic() - self.started:6.2f}s {text}')

    def run(self, schedule):
        try:
            for at, kind, target, duration, param in schedule:
                wait = self.started + at - time.monotonic()
                if wait > 0:
                    time.sleep(wait)  # the schedule's time, not a wait for an event
                self.do(kind, target, duration, param)
                self.last_fault_end = time.monotonic()
        except Exception:
            self.errors.append(traceback.format_exc())
        finally:
            self.test.pauses.resume_all()
            for p in list(self.proxies.values()) + [self.client_proxy]:
                self.heal(p)
            if self.disk:
                self.disk.heal()
            self.last_fault_end = time.monotonic()

    def live(self, proxy):
        """The proxy's open connections but those black-holed for ever (no later fault
        touches those)."""
        return [c for c in proxy.connections() if c not in self.forever]

    def heal(self, proxy):
        proxy.heal(keep=self.forever)  # those stay silent to the end

    def do(self, kind, target, duration, param):
        proxy = self.proxies[target] if target else self.client_proxy
        label = f'{kind}{" " + target if target else ""}'
        if kind.startswith('reset'):
            conns = self.live(proxy)
            for c in conns:
                proxy.reset(c)
            self.note(f'{label}: reset {len(conns)} connections')
        elif kind.startswith('black-hole'):
            conns = self.live(proxy)
            for c in conns:
                proxy.black_hole(c)
            self.note(f'{label}: {len(conns)} connections black-holed for {duration}s, '
                      f'then {param}')
            time.sleep(duration)  # the fault's length
            for c in conns:
                if param == 'reset':
                    proxy.reset(c)
                elif param == 'heal':
                    proxy.heal(c)
                else:
                    self.forever.append(c)
        elif kind.startswith('delay'):
            proxy.delay(param)
            self.note(f'{label}: delay {param}s for {duration}s')
            time.sleep(duration)
            self.heal(proxy)
        elif kind.startswith('throttle'):
            proxy.throttle(param)
            self.note(f'{label}: {param} B/s for {duration}s')
            time.sleep(duration)
            self.heal(proxy)
        elif kind == 'pause-executor':
            process = self.cluster.executors[target]
            self.test.pauses.pause(process)
            self.note(f'{label}: SIGSTOP pid {process.pid} for {duration}s')
            time.sleep(duration)
            self.test.pauses.resume(process)
        elif kind == 'pause-scheduler':
            process = self.cluster.scheduler
            self.test.pauses.pause(process)
            self.note(f'{label}: SIGSTOP pid {process.pid} for {duration}s')
            time.sleep(duration)
            self.test.pauses.resume(process)
        elif kind == 'kill-executor':
            self.retired.append(self.cluster.executors[target])
            t0 = time.monotonic()
            harness.restart_executor(self.cluster, target, wait_linked=False,
                                     **self.executor_args[target])
            self.note(f'{label}: kill -9 and restart ({time.monotonic() - t0:.1f}s)')
        elif kind == 'kill-scheduler':
            self.retired.append(self.cluster.scheduler)
            t0 = time.monotonic()
            try:
                self.cluster.restart_scheduler(*SCHEDULER_ARGS)
            except harness.HarnessError as e:
                self.note(f'{label}: kill -9, and the restarted scheduler did not come up')
                raise AssertionError(f'the scheduler did not come back after kill -9: {e}')
            self.note(f'{label}: kill -9 and restart ({time.monotonic() - t0:.1f}s)')
        elif kind == 'full-disk':
            self.disk.fill()
            self.note(f'{label}: store disk full for {duration}s '
                      f'({self.disk.used_fraction():.0%} used)')
            time.sleep(duration)
            self.disk.heal()
            if self.cluster.scheduler.returncode is not None:
                rc = self.cluster.scheduler.returncode
                self.retired.append(self.cluster.scheduler)
                self.cluster.scheduler.expect_exit = True
                self.cluster.restart_scheduler(*SCHEDULER_ARGS)
                self.errors.append(f'the scheduler exited ({rc}) on a full disk')
        else:
            raise AssertionError(f'unknown nemesis {kind}')


class FaultsTest(harness.LoggedTestCase):

    def setUp(self):
        self.pauses = nemesis.Pauses()
        self.closers = []
        self.disk = None

    def test_every_accepted_task_ends_through_a_seeded_schedule_of_faults(self):
        summary = []
        for seed in seeds():
            with self.subTest(seed=seed):
                summary.append(self.run_seed(seed))
        print('\n' + '\n'.join(summary), flush=True)

    def run_seed(self, seed):
        print(f'\nfaults seed: {seed} (rerun with TASKWIRE_FAULTS_SEED={seed})', flush=True)
        rng = random.Random(seed)
        started = time.monotonic()
        kinds = list(NEMESES)
        why_not = nemesis.FullDisk.unavailable()
        if why_not:
            kinds.remove('full-disk')
            print(f'full-disk nemesis skipped: {why_not}', flush=True)
        schedule = make_schedule(rng, kinds)
        print(f'fault schedule ({len(schedule)} faults in {FAULT_WINDOW}s; '
              '(start s, nemesis, target, duration s, param)):', flush=True)
        for item in schedule:
            print(f'  {item}', flush=True)

        cluster = self.new_cluster(f'faults-{seed}')
        self.addCleanup(self.pauses.resume_all)  # cleanups are LIFO: before the close
        try:
            return self.run_cluster(seed, rng, schedule, why_not, cluster, started)
        finally:
            # Each seed's processes end with it (a loop of seeds runs one cluster at a time).
            self.pauses.resume_all()
            for closer in self.closers:
                closer()
            self.closers.clear()
            try:
                cluster.close()
            finally:
                if self.disk is not None:
                    self.disk.unmount()
                    self.disk = None

    def run_cluster(self, seed, rng, schedule, why_not, cluster, started):
        disk = None
        if not why_not:
            disk = self.disk = nemesis.FullDisk(os.path.join(cluster.dir, 'data'),
                                                size_mb=DISK_MB)
        cluster.start_scheduler(*SCHEDULER_ARGS)
        proxies = {}
        executor_args = {}
        for executor_id in EXECUTORS:
            proxy = nemesis.TcpProxy(cluster.address, f'link-{executor_id}')
            self.closers.append(proxy.close)
            proxies[executor_id] = proxy
            executor_args[executor_id] = dict(
                slots=THREAD_SLOTS, extra_args=(*EXECUTOR_ARGS, '--config', PROCESS_CONFIG),
                scheduler_address=proxy.address)
            cluster.start_executor(executor_id, **executor_args[executor_id])
        client_proxy = nemesis.TcpProxy(cluster.address, 'client')
        self.closers.append(client_proxy.close)
        client_channel = grpc.insecure_channel(client_proxy.address,
                                               options=fault_checker.CHANNEL_OPTIONS)
        self.closers.append(client_channel.close)
        direct = grpc.insecure_channel(cluster.address, options=fault_checker.CHANNEL_OPTIONS)
        self.closers.append(direct.close)
        checker = fault_checker.Checker(pb.scheduler_pb2_grpc.SchedulerStub(direct),
                                        max_lost_attempts=MAX_LOST)
        checker.workflow_want = {}

        t0 = time.monotonic()
        workload = Workload(rng, seed, pb.scheduler_pb2_grpc.SchedulerStub(client_channel),
                            checker)
        chaos = Nemesis(self, cluster, proxies, client_proxy, disk, executor_args, t0)
        threads = [threading.Thread(target=workload.run, args=(t0 + FAULT_WINDOW,),
                                    name='workload', daemon=True),
                   threading.Thread(target=chaos.run, args=(schedule,), name='nemesis',
                                    daemon=True)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(FAULT_WINDOW + 30)
        self.assertFalse(any(t.is_alive() for t in threads), 'workload or nemesis hung')
        for line in chaos.log:
            print(f'  nemesis {line}', flush=True)
        self.assertFalse(workload.errors, 'the workload failed:\n' + '\n'.join(workload.errors))
        if cluster.scheduler.returncode is not None or chaos.errors:
            # Nothing to check against: say what happened to the nemesis and the scheduler.
            self.fail(f'seed {seed} (rerun with TASKWIRE_FAULTS_SEED={seed}): the nemesis failed '
                      f'or the scheduler is gone (exit {cluster.scheduler.returncode}):\n'
                      + '\n'.join(chaos.errors) + '\n' + cluster.scheduler.log_tail(20))
        last_fault = max(chaos.last_fault_end, workload.ended)
        print(f'workload: {dict(workload.counts)}; client retries {dict(workload.retried)}; '
              f'{len(workload.unresolved)} submits never answered: {workload.unresolved[:5]}',
              flush=True)

        # Every task terminal within lease + heartbeat + 5 s of the last fault.
        took = checker.wait_all_terminal(max(0.0, last_fault + SETTLE - time.monotonic()))
        if took is not None:
            print(f'all terminal {time.monotonic() - last_fault:.1f}s after the last fault',
                  flush=True)
        by_id = checker.check_tasks()
        checker.check_workflows(by_id)
        self.check_workflow_outcomes(checker)
        live = {i: p for i, p in cluster.executors.items() if p.returncode is None}
        checker.check_slots(live)
        stats = collections.Counter()
        for t in by_id.values():
            for a in t.attempts:
                stats[fault_checker.outcome_name(a.outcome)] += 1
            stats['re-run tasks'] += len(t.attempts) > 1
        summary = (f'seed {seed}: {len(schedule)} faults, {len(by_id)} tasks, '
                   f'{len(checker.workflows)} workflows, attempts {dict(stats)}, '
                   f'{len(checker.violations)} violations, '
                   f'{time.monotonic() - started:.0f}s')
        print(summary, flush=True)
        problems = checker.report()
        if problems:
            self.fail(f'seed {seed} (rerun with TASKWIRE_FAULTS_SEED={seed}); schedule:\n'
                      + '\n'.join(f'  {item}' for item in schedule) + f'\n{problems}')
        return summary

    def check_workflow_outcomes(self, checker):
        for workflow_id, want in checker.workflow_want.items():
            try:
                wf = fault_checker.call(checker.stub.GetWorkflow,
                                        scheduler_pb2.GetWorkflowRequest(workflow_id=workflow_id))
            except grpc.RpcError:
                continue  # reported by check_workflows
            state = harness.workflow_state_name(wf.state)
            if state != want:
                kind = checker.workflows[workflow_id][0]
                checker.violation(f'workflow {workflow_id} ({kind}) ended {state}, expected '
                                  f'{want}\n' + '\n'.join(fault_checker.history(n.task)
                                                          for n in wf.nodes))



class FullDiskTest(harness.LoggedTestCase):
    """The full-disk nemesis alone, with a check a mixed run may miss: what the store holds
    once commits succeed again, and after a kill -9."""

    def test_tasks_that_finish_while_the_store_disk_is_full_are_stored_whole(self):
        why_not = nemesis.FullDisk.unavailable()
        if why_not:
            self.skipTest(f'full-disk nemesis unavailable: {why_not}')
        cluster = self.new_cluster('full-disk')
        disk = nemesis.FullDisk(os.path.join(cluster.dir, 'data'), size_mb=DISK_MB)
        self.addCleanup(disk.unmount)  # cleanups are LIFO: after the cluster's close
        cluster.start_scheduler(*SCHEDULER_ARGS)
        cluster.start_executor('disk-exec', slots=10, extra_args=EXECUTOR_ARGS)
        stub = cluster.stub
        # Tasks submitted one by one across the moment the disk fills: some are stored
        # and assigned, their RUNNING not stored, and they finish while it is full.
        specs, ids = [], []
        lock = threading.Lock()

        def submit_across(thread):
            for i in range(12):
                spec = task_pb2.TaskSpec(type='thread.sleep', payload=b'%d' % (300 + 100 * (i % 8)),
                                         idempotency_key=f'disk-{thread}-{i}')
                response = harness.call_until_answered(
                    lambda: stub.Submit(scheduler_pb2.SubmitRequest(task=spec), timeout=15),
                    30, codes=fault_checker.RETRYABLE)
                with lock:
                    specs.append(spec)
                    ids.append(response.task_id)
                time.sleep(0.05)  # spreading the submits over the fault's start

        submitters = [threading.Thread(target=submit_across, args=(n,), daemon=True)
                      for n in range(4)]
        for t in submitters:
            t.start()
        time.sleep(0.3)  # the fault starts amid the submits
        disk.fill()
        time.sleep(2.5)  # the fault's length: running tasks finish while the disk is full
        disk.heal()
        for t in submitters:
            t.join(40)
        self.assertFalse(any(t.is_alive() for t in submitters),
                         'the submits did not end after the disk healed')

        def read_back(when):
            deadline = time.monotonic() + 20
            while True:
                tasks = [fault_checker.get_task(stub, i) for i in ids]
                if all(t.state in fault_checker.TERMINAL for t in tasks) or \
                        time.monotonic() > deadline:
                    break
                time.sleep(0.1)  # a poll with a deadline
            listed = {t.id: t for t in harness.call_until_answered(
                lambda: harness.list_all_tasks(stub), 30, codes=fault_checker.RETRYABLE)}
            problems = []
            for task_id, task, spec in zip(ids, tasks, specs):
                if task.state != fault_checker.S['SUCCEEDED']:
                    problems.append(f'GetTask: {fault_checker.history(task)}')
                row = listed.pop(task_id, None)
                if row is None:
                    problems.append(f'{task_id} ({spec.idempotency_key}) missing from ListTasks')
                elif (row.spec.idempotency_key, row.state) != (spec.idempotency_key,
                                                               fault_checker.S['SUCCEEDED']):
                    problems.append(f'ListTasks: {fault_checker.history(row)} key '
                                    f'{row.spec.idempotency_key!r}')
            for row in listed.values():
                problems.append(f'ListTasks lists a task nobody submitted: id {row.id!r} key '
                                f'{row.spec.idempotency_key!r} created '
                                f'{row.created_at.ToJsonString()}: {fault_checker.history(row)}')
            self.assertFalse(problems, f'{when}:\n' + '\n'.join(problems))

        read_back('once commits succeed again')
        cluster.restart_scheduler(*SCHEDULER_ARGS)  # kill -9: what the store holds
        read_back('after a kill -9 and restart of the scheduler')


if __name__ == '__main__':
    import unittest
    unittest.main()
