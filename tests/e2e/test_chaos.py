"""Chaos, end to end with the real binaries: nothing whose Submit answered OK is lost.

A client submits 20,000 tasks (echo, short sleeps and a few longer ones that span a restart,
and process tasks: one that appends its payload to a file, so that every execution leaves a
trace, and `wc` from the shipped example config) in paced batches of SubmitBatch, while a chaos thread `kill -9`s the scheduler twice and an
executor once at random points of the submission (seeded; the seed is printed and can be
forced with TASKWIRE_CHAOS_SEED) and restarts them on the same address and data directory.
Every task has an idempotency key; a batch that fails with UNAVAILABLE or DEADLINE_EXCEEDED
(its answer may be lost with the scheduler) is sent again with the same keys until it
answers OK, so a lost answer never makes a second task.

At the end (bounded wait for no task to be waiting or running), the full ListTasks listing
must hold exactly the tasks whose submit answered OK, each once, each SUCCEEDED, one task per
idempotency key. Duplicated executions are allowed (at-least-once) and are counted and
printed: attempts beyond the first, lost attempts, and the append task's lines in its file.

Nothing sleeps to let time pass: the chaos thread waits on the submission's progress, the
end waits in a bounded poll of ListTasks.
"""

import collections
import json
import os
import random
import sys
import threading
import time
import traceback

import grpc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

pb = harness.load_stubs()
task_pb2 = pb.task_pb2
scheduler_pb2 = pb.scheduler_pb2
TaskState = task_pb2.TaskState
Outcome = task_pb2.AttemptOutcome

SUCCEEDED = TaskState.Value('TASK_STATE_SUCCEEDED')
NOT_DONE = [TaskState.Value(f'TASK_STATE_{s}')
            for s in ('PENDING', 'SCHEDULED', 'QUEUED', 'RUNNING')]
LOST = Outcome.Value('ATTEMPT_OUTCOME_LOST')
ATTEMPT_SUCCEEDED = Outcome.Value('ATTEMPT_OUTCOME_SUCCEEDED')

TASKS = 20_000
BATCH = 200
EXECUTORS = ('chaos-a', 'chaos-b')
THREAD_SLOTS = 8
DEADLINE = 360.0             # seconds for the whole test; ctest's TIMEOUT is above it
SUBMIT_RETRY_TIMEOUT = 60.0  # one batch may retry this long (covers a scheduler restart)
SAMPLE_OUTPUTS = 300         # tasks whose output is read back with GetTask
SUBMIT_RATE = 1500           # tasks per second at most: the chaos spreads over the run
# The client redials a restarted scheduler within half a second (gRPC's default backoff
# would stall the submission for seconds after each restart).
CHANNEL_OPTIONS = [('grpc.initial_reconnect_backoff_ms', 100),
                   ('grpc.min_reconnect_backoff_ms', 100),
                   ('grpc.max_reconnect_backoff_ms', 500)]

# Lease and heartbeat short enough that attempts recovered without an executor to claim
# them (their result was sent to a scheduler that died before storing it) come back soon.
SCHEDULER_ARGS = ('--executor-timeout', '5', '--heartbeat-interval', '1')

APPEND_TYPE = 'chaos.append'
# What the append task writes when its stdin was empty: a child whose executor was killed
# before it wrote the payload goes on running (the executor's children are not killed with
# it, a known executor issue) and reads EOF. Counted and reported, bounded by the slots.
NO_INPUT = '<no input>'
PROCESS_SLOTS = 2  # per executor, in the example config
PROCESS_CONFIG_EXAMPLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..',
                                      'deploy', 'executor', 'process-tasks.textproto')


def write_executor_config(directory, side_effects_path):
    """The shipped example config plus a type that appends its payload (one line) to
    `side_effects_path`: each execution, even one whose result is lost, leaves a line."""
    script = (f'p=$(/bin/cat); printf \'%s\\n\' "${{p:-{NO_INPUT}}}" >> {side_effects_path}; '
              'printf \'appended %s\' "$p"')
    with open(PROCESS_CONFIG_EXAMPLE) as f:
        text = f.read()
    text += f'''
process_tasks {{
  type: "{APPEND_TYPE}"
  argv: ["/bin/sh", "-c", {json.dumps(script)}]
  timeout_seconds: 30
}}
'''
    path = os.path.join(directory, 'chaos-executor.textproto')
    with open(path, 'w') as f:
        f.write(text)
    return path


def make_spec(rng, key):
    """A task of the mix, keyed by `key`; returns (TaskSpec, expected output or None)."""
    roll = rng.random()
    if roll < 0.60:
        return task_pb2.TaskSpec(type='echo', payload=key.encode(), idempotency_key=key), \
            key.encode()
    if roll < 0.01:  # long enough to be running across a restart, and be claimed back
        ms = rng.randint(200, 800)
        return task_pb2.TaskSpec(type='thread.sleep', payload=str(ms).encode(),
                                 idempotency_key=key), f'slept {ms} ms'.encode()
    if roll < 0.80:
        ms = rng.randint(0, 20)
        return task_pb2.TaskSpec(type='thread.sleep', payload=str(ms).encode(),
                                 idempotency_key=key), f'slept {ms} ms'.encode()
    if roll < 0.95:
        return task_pb2.TaskSpec(type=APPEND_TYPE, payload=key.encode(), idempotency_key=key), \
            f'appended {key}'.encode()
    words = rng.randint(1, 5)
    text = ' '.join(['w'] * words) + '\n'
    return task_pb2.TaskSpec(type='wc', payload=text.encode(), idempotency_key=key), None


class Progress:
    """The number of batches answered OK, for the chaos thread to wait on."""

    def __init__(self):
        self._cond = threading.Condition()
        self._batches = 0
        self._finished = False

    def advance(self):
        with self._cond:
            self._batches += 1
            self._cond.notify_all()

    def finish(self):
        with self._cond:
            self._finished = True
            self._cond.notify_all()

    def wait_for(self, batches, timeout):
        """True once `batches` were answered, False if the submission ended first or the
        timeout passed."""
        with self._cond:
            return self._cond.wait_for(
                lambda: self._batches >= batches or self._finished, timeout) and \
                self._batches >= batches


class ChaosTest(harness.LoggedTestCase):

    def run(self, result=None):
        """Adds to the harness's logs (of the processes still in the cluster) the tails of
        those the chaos killed, when the test fails."""
        if result is None:
            result = self.defaultTestResult()
        self._killed_logs = []
        problems_before = len(result.failures) + len(result.errors)
        try:
            return super().run(result)
        finally:
            if len(result.failures) + len(result.errors) > problems_before:
                for text in self._killed_logs:
                    sys.stderr.write(text)

    def keep_logs_of(self, processes):
        """A cleanup: reads the log tails before the harness removes the cluster's dir."""
        for p in processes:
            self._killed_logs.append(f'\n===== killed by the chaos: {p.name} (pid {p.pid}) '
                                     f'=====\n{p.log_tail(80)}\n')

    def test_nothing_acknowledged_is_lost_through_kill_9_of_scheduler_and_executor(self):
        seed = int(os.environ.get('TASKWIRE_CHAOS_SEED', '0')) or random.randrange(1, 2**31)
        print(f'\nchaos seed: {seed} (rerun with TASKWIRE_CHAOS_SEED={seed})', flush=True)
        rng = random.Random(seed)
        started = time.monotonic()
        deadline = started + DEADLINE

        def remaining(at_most):
            left = deadline - time.monotonic()
            self.assertGreater(left, 0, f'the test ran out of its {DEADLINE}s')
            return min(at_most, left)

        cluster = self.new_cluster('chaos')
        side_effects = os.path.join(cluster.dir, 'side-effects.log')
        config = write_executor_config(cluster.dir, side_effects)
        executor_args = dict(slots=THREAD_SLOTS,
                             extra_args=('--config', config, '--max-backoff', '0.5',
                                         '--kill-grace', '1'))
        cluster.start_scheduler(*SCHEDULER_ARGS)
        for executor_id in EXECUTORS:
            cluster.start_executor(executor_id, **executor_args)

        # Chaos: two scheduler kills and one executor kill, each at a random batch of the
        # submission and a random moment after it (mid-RPC more often than not).
        batches = TASKS // BATCH
        plan = sorted([
            (rng.randint(batches // 10, batches * 4 // 10), 'scheduler'),
            (rng.randint(batches * 4 // 10 + 1, batches * 6 // 10), 'executor'),
            (rng.randint(batches * 6 // 10 + 1, batches * 9 // 10), 'scheduler'),
        ])
        plan = [(at, what, rng.uniform(0, 0.3)) for at, what in plan]
        victim = rng.choice(EXECUTORS)
        print(f'chaos plan: {[(at, what, round(delay, 3)) for at, what, delay in plan]}, '
              f'executor victim {victim}', flush=True)
        progress = Progress()
        chaos_log = []
        chaos_errors = []
        retired = []  # processes the chaos killed: their logs are printed if the test fails
        self.addCleanup(self.keep_logs_of, retired)

        def chaos():
            try:
                for at, what, delay in plan:
                    if not progress.wait_for(at, timeout=300):
                        chaos_errors.append(f'submission ended before batch {at}')
                        return
                    time.sleep(delay)  # a random moment, not a wait for an event
                    t = time.monotonic() - started
                    if what == 'scheduler':
                        retired.append(cluster.scheduler)
                        cluster.restart_scheduler(*SCHEDULER_ARGS)  # kill -9, same address/dir
                    else:
                        retired.append(cluster.executors[victim])
                        harness.restart_executor(cluster, victim, **executor_args)
                    chaos_log.append(f'{t:.1f}s after batch {at}: kill -9 {what} '
                                     f'and restart ({time.monotonic() - started - t:.1f}s)')
            except Exception:  # reported by the main thread
                chaos_errors.append(traceback.format_exc())

        chaos_thread = threading.Thread(target=chaos, name='chaos', daemon=True)
        chaos_thread.start()

        # Submit, paced. The channel follows the restarted scheduler (same address).
        channel = grpc.insecure_channel(cluster.address, options=CHANNEL_OPTIONS)
        self.addCleanup(channel.close)
        stub = pb.scheduler_pb2_grpc.SchedulerStub(channel)
        acknowledged = {}  # task id -> key
        expected = {}      # key -> (type, expected output)
        retried_calls = collections.Counter()

        def on_retry(error):
            retried_calls[error.code().name] += 1

        submit_started = time.monotonic()
        try:
            for b in range(batches):
                pause = submit_started + b * BATCH / SUBMIT_RATE - time.monotonic()
                if pause > 0:
                    time.sleep(pause)  # pacing the load, not waiting for an event
                specs = []
                for i in range(b * BATCH, (b + 1) * BATCH):
                    key = f'chaos-{seed}-{i}'
                    spec, output = make_spec(rng, key)
                    specs.append(spec)
                    expected[key] = (spec.type, output)
                request = scheduler_pb2.SubmitBatchRequest(tasks=specs)
                response = harness.call_until_answered(
                    lambda: stub.SubmitBatch(request, timeout=harness.RPC_TIMEOUT),
                    remaining(SUBMIT_RETRY_TIMEOUT),
                    codes=(grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED),
                    on_retry=on_retry)
                self.assertEqual(len(response.task_ids), len(specs))
                for spec, task_id in zip(specs, response.task_ids):
                    self.assertNotIn(task_id, acknowledged,
                                     f'two keys answered with one id {task_id}')
                    acknowledged[task_id] = spec.idempotency_key
                progress.advance()
        finally:
            progress.finish()
        submitted_at = time.monotonic() - started
        chaos_thread.join(timeout=remaining(120))
        self.assertFalse(chaos_thread.is_alive(), 'the chaos thread did not finish')
        self.assertFalse(chaos_errors, 'the chaos thread failed:\n' + '\n'.join(chaos_errors))
        print(f'submitted {len(acknowledged)} tasks in {submitted_at:.1f}s; '
              f'submit calls retried: {dict(retried_calls)}', flush=True)
        for line in chaos_log:
            print(f'chaos: {line}', flush=True)
        self.assertEqual(len(chaos_log), 3, chaos_log)

        # Wait (bounded) until nothing waits or runs.
        not_done = None
        while time.monotonic() < deadline:
            not_done = collections.Counter()
            for state in NOT_DONE:
                tasks = harness.call_until_answered(
                    lambda: harness.list_all_tasks(stub, state=state), remaining(30))
                if tasks:
                    not_done[harness.state_name(state)] = len(tasks)
            if not not_done:
                break
            time.sleep(0.5)  # a poll with a deadline: there is no "all done" event
        done_at = time.monotonic() - started
        listing = harness.call_until_answered(lambda: harness.list_all_tasks(stub), 60)
        states = collections.Counter(harness.state_name(t.state) for t in listing)
        print(f'all done after {done_at:.1f}s; listing: {len(listing)} tasks {dict(states)}',
              flush=True)
        self.assertFalse(not_done, f'still not done {DEADLINE}s after the start: '
                                   f'{dict(not_done or {})}')

        # Exactly the acknowledged tasks, once each, each SUCCEEDED; one task per key.
        seen = collections.Counter(t.id for t in listing)
        twice = [i for i, n in seen.items() if n > 1]
        missing = sorted(set(acknowledged) - set(seen))
        extra = sorted(set(seen) - set(acknowledged))
        by_key = collections.Counter(t.spec.idempotency_key for t in listing)
        keys_twice = [k for k, n in by_key.items() if n > 1]
        not_succeeded = [(t.id, harness.state_name(t.state), t.error)
                         for t in listing if t.state != SUCCEEDED]
        self.assertEqual(len(acknowledged), TASKS)
        self.assertEqual(twice, [], 'tasks listed more than once')
        self.assertEqual(missing[:20], [], f'{len(missing)} acknowledged tasks are missing')
        self.assertEqual(extra[:20], [], f'{len(extra)} tasks nobody was answered for')
        self.assertEqual(keys_twice[:20], [], 'idempotency keys with more than one task')
        self.assertEqual(not_succeeded[:20], [], f'{len(not_succeeded)} tasks did not succeed')
        for t in listing:
            self.assertEqual(acknowledged[t.id], t.spec.idempotency_key, t.id)

        # Executions beyond one per task: allowed (at-least-once), counted and reported.
        attempts = collections.Counter()
        for t in listing:
            attempts['tasks with more than one attempt'] += len(t.attempts) > 1
            attempts['extra attempts'] += max(0, len(t.attempts) - 1)
            for a in t.attempts:
                if a.outcome == LOST:
                    attempts[f'lost attempts on {a.executor_id}'] += 1
            succeeded = sum(a.outcome == ATTEMPT_SUCCEEDED for a in t.attempts)
            self.assertEqual(succeeded, 1, f'task {t.id}: {succeeded} attempts SUCCEEDED\n{t}')
        with open(side_effects) as f:
            runs = collections.Counter(line.rstrip('\n') for line in f)
        cut_off = runs.pop(NO_INPUT, 0)
        self.assertLessEqual(cut_off, PROCESS_SLOTS,
                             'more runs without input than process slots of the killed executor')
        append_keys = [k for k, (kind, _) in expected.items() if kind == APPEND_TYPE]
        never_ran = [k for k in append_keys if runs[k] == 0]
        self.assertEqual(never_ran[:20], [],
                         f'{len(never_ran)} {APPEND_TYPE} tasks SUCCEEDED without running')
        self.assertEqual(set(runs) - set(append_keys), set(), 'lines of unknown tasks')
        duplicated_runs = sum(n - 1 for n in runs.values() if n > 1)
        # Each execution belongs to an attempt the scheduler assigned: never more runs.
        attempts_of = {t.spec.idempotency_key: len(t.attempts) for t in listing}
        overrun = [(k, runs[k], attempts_of[k]) for k in append_keys if runs[k] > attempts_of[k]]
        self.assertEqual(overrun[:20], [], f'{len(overrun)} {APPEND_TYPE} tasks ran more times '
                                           '(key, runs, attempts) than they had attempts')
        print(f'duplicates (allowed, at-least-once): {dict(attempts)}; {APPEND_TYPE}: '
              f'{len(append_keys)} tasks, {sum(runs.values())} executions, '
              f'{duplicated_runs} duplicated executions on '
              f'{sum(1 for n in runs.values() if n > 1)} tasks; {cut_off} orphaned runs of '
              'the killed executor without their input', flush=True)

        # The results themselves: a sample read back whole.
        for t in rng.sample(listing, SAMPLE_OUTPUTS):
            task = harness.call_until_answered(
                lambda: stub.GetTask(scheduler_pb2.GetTaskRequest(task_id=t.id),
                                     timeout=harness.RPC_TIMEOUT), 30)
            kind, output = expected[task.spec.idempotency_key]
            if kind == 'wc':
                words = task.spec.payload.decode().split()
                self.assertEqual(task.output.decode().split(),
                                 ['1', str(len(words)), str(len(task.spec.payload))], task)
            else:
                self.assertEqual(task.output, output, task)
        print(f'chaos test took {time.monotonic() - started:.1f}s', flush=True)


if __name__ == '__main__':
    import unittest
    unittest.main()
