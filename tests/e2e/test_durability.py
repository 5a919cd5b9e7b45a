"""Durability end to end with the real binaries, one behaviour per test:

- an idempotency key still matches its task after the scheduler is killed (`kill -9`) and
  restarted, queued or finished, and the finished task is not run again; a workflow's key
  likewise matches its workflow, running or finished;
- a finished task keeps its state, output and attempts through a `kill -9`; tasks waiting in
  SCHEDULED (a retry's backoff, a countdown) run after one; a retention deadline is kept;
- backpressure: past --max-waiting-tasks (or --max-waiting-per-queue) Submit answers
  RESOURCE_EXHAUSTED naming the flag, a batch that would pass the limit is refused whole, and
  once executors drain the queue submits are accepted again;
- retries (SCHEDULED between attempts, the backoff respected), not-retryable failures,
  countdown (ETA), expiry and per-task retention on a live cluster.

Nothing sleeps to let time pass: waits are WaitTask with a bound, a WatchTasks stream, or a
bounded poll where no event exists (a task's deletion at the end of its retention).
"""

import hashlib
import os
import sys
import time

import grpc
from google.protobuf import duration_pb2

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

pb = harness.load_stubs()
task_pb2 = pb.task_pb2
workflow_pb2 = pb.workflow_pb2
scheduler_pb2 = pb.scheduler_pb2
TaskState = task_pb2.TaskState
Outcome = task_pb2.AttemptOutcome

SCHEDULED = TaskState.Value('TASK_STATE_SCHEDULED')
QUEUED = TaskState.Value('TASK_STATE_QUEUED')
RUNNING = TaskState.Value('TASK_STATE_RUNNING')
SUCCEEDED = TaskState.Value('TASK_STATE_SUCCEEDED')
FAILED = TaskState.Value('TASK_STATE_FAILED')
EXPIRED = TaskState.Value('TASK_STATE_EXPIRED')

WAIT = 30.0           # bound of every wait for something that should happen within seconds
RESTART_CALLS = 30.0  # how long a call may retry UNAVAILABLE while a scheduler restarts


def spec(task_type, payload=b'', **fields):
    if isinstance(payload, str):
        payload = payload.encode()
    return task_pb2.TaskSpec(type=task_type, payload=payload, **fields)


def seconds(value):
    """A google.protobuf.Duration of `value` seconds."""
    d = duration_pb2.Duration()
    d.FromMilliseconds(int(value * 1000))
    return d


def rpc(cluster, method, request, timeout=harness.RPC_TIMEOUT):
    """cluster.stub.<method>(request), retried while the scheduler is (re)starting."""
    call = getattr(cluster.stub, method)
    return harness.call_until_answered(
        lambda: call(request, timeout=timeout, wait_for_ready=True), RESTART_CALLS)


def submit(cluster, task_spec):
    return rpc(cluster, 'Submit', scheduler_pb2.SubmitRequest(task=task_spec))


def get_task(cluster, task_id):
    return rpc(cluster, 'GetTask', scheduler_pb2.GetTaskRequest(task_id=task_id))


def wait_task(cluster, task_id, timeout=WAIT):
    request = scheduler_pb2.WaitTaskRequest(task_id=task_id)
    request.timeout.FromMilliseconds(int(timeout * 1000))
    return rpc(cluster, 'WaitTask', request, timeout=timeout + harness.RPC_TIMEOUT)


def outcomes(task):
    return [Outcome.Name(a.outcome).replace('ATTEMPT_OUTCOME_', '') for a in task.attempts]


def to_micros(attempt):
    """A copy of `attempt` with its times cut to whole microseconds."""
    copy = task_pb2.Attempt()
    copy.CopyFrom(attempt)
    for field in (copy.assigned_at, copy.finished_at):
        field.FromMicroseconds(field.ToMicroseconds())
    return copy


def to_seconds(timestamp):
    return timestamp.seconds + timestamp.nanos / 1e9


class RestartTest(harness.LoggedTestCase):
    """Each test kills its own scheduler with `kill -9` and restarts it on the same
    address and data directory (harness.Cluster.restart_scheduler)."""

    def test_an_idempotency_key_matches_its_task_across_kill_9_queued_and_finished(self):
        cluster = self.new_cluster('idempotency')
        cluster.start_scheduler()  # no executor yet: the task stays QUEUED
        task = spec('echo', 'exactly once', idempotency_key='order-42')
        first = submit(cluster, task)
        self.assertFalse(first.existing)

        cluster.restart_scheduler()
        again = submit(cluster, task)
        self.assertEqual((again.task_id, again.existing), (first.task_id, True))
        other = submit(cluster, spec('echo', 'another', idempotency_key='order-43'))
        self.assertFalse(other.existing)
        self.assertNotEqual(other.task_id, first.task_id, 'a restart must not reuse ids')
        listed = harness.list_all_tasks(cluster.stub)
        self.assertEqual(sorted(t.id for t in listed), sorted([first.task_id, other.task_id]))

        cluster.start_executor('idem-exec', slots=2)
        done = wait_task(cluster, first.task_id)
        self.assertEqual(done.state, SUCCEEDED, done)
        self.assertEqual(done.output, b'exactly once')

        cluster.restart_scheduler()
        third = submit(cluster, task)
        self.assertEqual((third.task_id, third.existing), (first.task_id, True))
        after = get_task(cluster, first.task_id)
        self.assertEqual(after.state, SUCCEEDED, after)
        self.assertEqual(len(after.attempts), 1, f'a matched key must not run it again\n{after}')
        self.assertEqual(len(harness.list_all_tasks(cluster.stub)), 2)

    def test_a_workflow_idempotency_key_matches_its_workflow_across_kill_9(self):
        cluster = self.new_cluster('wf-idempotency')
        cluster.start_scheduler()  # no executor yet: the workflow stays RUNNING
        chain = workflow_pb2.WorkflowSpec(idempotency_key='nightly-7', nodes=[
            workflow_pb2.WorkflowNode(name='a', task=spec('echo', 'hello')),
            workflow_pb2.WorkflowNode(name='b', task=spec('sha256'), after=['a'])])
        request = scheduler_pb2.SubmitWorkflowRequest(workflow=chain)
        first = rpc(cluster, 'SubmitWorkflow', request)
        self.assertFalse(first.existing)

        cluster.restart_scheduler()
        again = rpc(cluster, 'SubmitWorkflow', request)
        self.assertTrue(again.existing)
        self.assertEqual((again.workflow_id, list(again.task_ids)),
                         (first.workflow_id, list(first.task_ids)))
        self.assertEqual(len(harness.list_all_tasks(cluster.stub)), 2, 'nothing new was stored')

        cluster.start_executor('wf-idem-exec', slots=2)
        wait = scheduler_pb2.WaitWorkflowRequest(workflow_id=first.workflow_id)
        wait.timeout.FromMilliseconds(int(WAIT * 1000))
        done = rpc(cluster, 'WaitWorkflow', wait, timeout=WAIT + harness.RPC_TIMEOUT)
        self.assertEqual(done.state, workflow_pb2.WorkflowState.Value('WORKFLOW_STATE_SUCCEEDED'),
                         done)
        self.assertEqual(done.results[0].output.decode(), hashlib.sha256(b'hello').hexdigest())

        cluster.restart_scheduler()
        third = rpc(cluster, 'SubmitWorkflow', request)
        self.assertEqual((third.workflow_id, third.existing), (first.workflow_id, True))
        for task_id in first.task_ids:
            self.assertEqual(len(get_task(cluster, task_id).attempts), 1,
                             'a matched key must not run a node again')

    def test_a_finished_task_keeps_its_state_output_and_attempts_through_kill_9(self):
        cluster = self.new_cluster('finished')
        cluster.start_scheduler()
        cluster.start_executor('fin-exec', slots=2)
        ok_id = submit(cluster, spec('sha256', 'hello')).task_id
        failed_id = submit(cluster, spec('fail', 'permanent:bad input')).task_id
        before = {i: wait_task(cluster, i) for i in (ok_id, failed_id)}
        self.assertEqual(before[ok_id].state, SUCCEEDED, before[ok_id])
        self.assertEqual(before[failed_id].state, FAILED, before[failed_id])

        cluster.restart_scheduler()
        for task_id, old in before.items():
            new = get_task(cluster, task_id)
            self.assertEqual(new.state, old.state, new)
            self.assertEqual(new.output, old.output)
            self.assertEqual(new.error, old.error)
            # The store keeps times to the microsecond.
            self.assertEqual(new.finished_at.ToMicroseconds(), old.finished_at.ToMicroseconds())
            self.assertEqual([to_micros(a) for a in new.attempts],
                             [to_micros(a) for a in old.attempts])
        self.assertEqual(get_task(cluster, ok_id).output,
                         hashlib.sha256(b'hello').hexdigest().encode())
        self.assertIn('bad input', get_task(cluster, failed_id).error)

    def test_scheduled_tasks_a_retry_backoff_and_a_countdown_run_after_kill_9(self):
        cluster = self.new_cluster('scheduled')
        cluster.start_scheduler()
        cluster.start_executor('sched-exec', slots=2)
        watcher = harness.EventWatcher(cluster)
        self.addCleanup(watcher.close)
        watcher.sync()
        retry = task_pb2.RetryPolicy(max_attempts=2, initial_backoff=seconds(3), multiplier=1,
                                     jitter=0)
        flaky_id = submit(cluster, spec('fail', 'flaky:1', retry=retry)).task_id
        later_id = submit(cluster, spec('echo', 'later', countdown=seconds(3))).task_id
        watcher.wait_state(flaky_id, SCHEDULED, timeout=WAIT)  # the first attempt failed
        watcher.close()
        self.assertEqual(get_task(cluster, later_id).state, SCHEDULED)

        cluster.restart_scheduler()  # both wait in SCHEDULED, held only by the store
        flaky = wait_task(cluster, flaky_id)
        self.assertEqual(flaky.state, SUCCEEDED, flaky)
        self.assertEqual(outcomes(flaky), ['FAILED', 'SUCCEEDED'])
        self.assertEqual(flaky.output, b'succeeded on attempt 2')
        later = wait_task(cluster, later_id)
        self.assertEqual(later.state, SUCCEEDED, later)
        self.assertGreaterEqual(to_seconds(later.attempts[0].assigned_at),
                                to_seconds(later.created_at) + 3 - 0.01)

    def test_a_retention_deadline_is_kept_across_kill_9(self):
        cluster = self.new_cluster('retention')
        cluster.start_scheduler()
        cluster.start_executor('ret-exec', slots=2)
        task_id = submit(cluster, spec('echo', 'short-lived', retention=seconds(2))).task_id
        done = wait_task(cluster, task_id)
        self.assertEqual(done.state, SUCCEEDED, done)

        cluster.restart_scheduler()
        assert_deleted_after_retention(self, cluster, done, retention=2.0)



def assert_deleted_after_retention(test, cluster, task, retention):
    """Polls GetTask (bounded) until `task` is NOT_FOUND; checks it was not deleted before
    finished_at + retention and that listings no longer show it."""
    deadline = time.monotonic() + retention + WAIT
    while True:
        try:
            get_task(cluster, task.id)
        except grpc.RpcError as e:
            test.assertEqual(e.code(), grpc.StatusCode.NOT_FOUND, e)
            gone_at = time.time()
            break
        test.assertLess(time.monotonic(), deadline,
                        f'task {task.id} still there {retention + WAIT}s after it finished')
        time.sleep(0.1)  # a poll: the deletion sends no event
    test.assertGreaterEqual(gone_at, to_seconds(task.finished_at) + retention - 0.05,
                            'deleted before its retention passed')
    test.assertNotIn(task.id, [t.id for t in harness.list_all_tasks(cluster.stub)])


class BackpressureTest(harness.LoggedTestCase):

    def test_past_max_waiting_tasks_submits_are_refused_whole_until_the_queue_drains(self):
        cluster = self.new_cluster('backpressure')
        cluster.start_scheduler('--max-waiting-tasks', '50')  # and no executor yet

        def batch(n, prefix):
            return scheduler_pb2.SubmitBatchRequest(
                tasks=[spec('echo', f'{prefix}-{i}', idempotency_key=f'{prefix}-{i}')
                       for i in range(n)])

        first = cluster.stub.SubmitBatch(batch(40, 'a'), timeout=harness.RPC_TIMEOUT)
        self.assertEqual(len(first.task_ids), 40)
        with self.assertRaises(grpc.RpcError) as refused:
            cluster.stub.SubmitBatch(batch(20, 'b'), timeout=harness.RPC_TIMEOUT)
        self.assertEqual(refused.exception.code(), grpc.StatusCode.RESOURCE_EXHAUSTED)
        self.assertIn('--max-waiting-tasks', refused.exception.details())
        self.assertEqual(len(harness.list_all_tasks(cluster.stub)), 40,
                         'a refused batch must store none of its tasks')

        singles = [cluster.submit('echo', f'c-{i}') for i in range(10)]
        with self.assertRaises(grpc.RpcError) as refused:
            cluster.submit('echo', 'the 51st')
        self.assertEqual(refused.exception.code(), grpc.StatusCode.RESOURCE_EXHAUSTED)
        self.assertIn('--max-waiting-tasks', refused.exception.details())
        self.assertIn('50', refused.exception.details())
        # A client retrying a submit whose answer it lost gets its task, even at the limit.
        again = submit(cluster, spec('echo', 'a-7', idempotency_key='a-7'))
        self.assertEqual((again.task_id, again.existing), (first.task_ids[7], True))
        listed = harness.list_all_tasks(cluster.stub)
        self.assertEqual(sorted(t.id for t in listed), sorted([*first.task_ids, *singles]))
        self.assertEqual({t.state for t in listed}, {QUEUED})

        cluster.start_executor('drainer', slots=4)
        for task_id in [*first.task_ids, *singles]:
            done = wait_task(cluster, task_id)
            self.assertEqual(done.state, SUCCEEDED, done)
        accepted = cluster.stub.SubmitBatch(batch(50, 'd'), timeout=harness.RPC_TIMEOUT)
        self.assertEqual(len(accepted.task_ids), 50)
        self.assertEqual(wait_task(cluster, accepted.task_ids[-1]).state, SUCCEEDED)

    def test_past_max_waiting_per_queue_only_that_queue_is_refused(self):
        cluster = self.new_cluster('backpressure-queue')
        cluster.start_scheduler('--max-waiting-per-queue', '5')
        for i in range(5):
            cluster.submit('echo', f'{i}', queue='small')
        with self.assertRaises(grpc.RpcError) as refused:
            cluster.submit('echo', 'sixth', queue='small')
        self.assertEqual(refused.exception.code(), grpc.StatusCode.RESOURCE_EXHAUSTED)
        self.assertIn('--max-waiting-per-queue', refused.exception.details())
        self.assertIn("'small'", refused.exception.details())
        cluster.submit('echo', 'elsewhere', queue='other')
        self.assertEqual(len(harness.list_all_tasks(cluster.stub, queue='small')), 5)


class TimersTest(harness.SharedClusterTestCase):
    """Retries, countdown, expiry and retention on one live cluster (one executor)."""

    @classmethod
    def setUpClass(cls):
        def start(cluster):
            cluster.start_scheduler()
            cluster.start_executor('timers', slots=4)
        cls.start_cluster('timers', start, watch=True)

    def test_a_flaky_task_succeeds_on_attempt_3_after_waiting_in_scheduled(self):
        retry = task_pb2.RetryPolicy(max_attempts=3, initial_backoff=seconds(0.5), multiplier=1,
                                     jitter=0)
        task_id = submit(self.cluster, spec('fail', 'flaky:2', retry=retry)).task_id
        task = wait_task(self.cluster, task_id)
        self.assertEqual(task.state, SUCCEEDED, task)
        self.assertEqual(task.output, b'succeeded on attempt 3')
        self.assertEqual(outcomes(task), ['FAILED', 'FAILED', 'SUCCEEDED'])
        self.assertEqual([a.number for a in task.attempts], [1, 2, 3])
        for failed, retried in zip(task.attempts, task.attempts[1:]):
            self.assertGreaterEqual(to_seconds(retried.assigned_at),
                                    to_seconds(failed.finished_at) + 0.5 - 0.01,
                                    f'a retry started before its backoff passed\n{task}')
        self.watcher.wait_state(task_id, SUCCEEDED, timeout=WAIT)
        states = [s for s, _, _ in self.watcher.history(task_id)]
        runs = [i for i, s in enumerate(states) if s == 'RUNNING']
        self.assertEqual(len(runs), 3, states)
        for a, b in zip(runs, runs[1:]):
            self.assertIn('SCHEDULED', states[a:b], f'no SCHEDULED between attempts: {states}')

    def test_a_not_retryable_failure_ends_the_task_at_once(self):
        retry = task_pb2.RetryPolicy(max_attempts=5, initial_backoff=seconds(0.1))
        task = wait_task(self.cluster, submit(self.cluster, spec(
            'fail', 'permanent:no use retrying', retry=retry)).task_id)
        self.assertEqual(task.state, FAILED, task)
        self.assertEqual(outcomes(task), ['FAILED'])
        self.assertTrue(task.attempts[0].not_retryable, task)
        self.assertIn('no use retrying', task.error)

    def test_a_countdown_task_waits_in_scheduled_then_runs(self):
        submitted = time.monotonic()
        task_id = submit(self.cluster, spec('echo', 'when due', countdown=seconds(1))).task_id
        early = get_task(self.cluster, task_id)
        if time.monotonic() - submitted < 0.8:  # else a loaded machine took the second
            self.assertEqual(early.state, SCHEDULED, early)
        self.assertAlmostEqual(to_seconds(early.scheduled_for),
                               to_seconds(early.created_at) + 1, delta=0.01)
        task = wait_task(self.cluster, task_id)
        self.assertEqual(task.state, SUCCEEDED, task)
        self.assertEqual(task.output, b'when due')
        self.assertGreaterEqual(to_seconds(task.attempts[0].assigned_at),
                                to_seconds(task.created_at) + 1 - 0.01)
        self.watcher.wait_state(task_id, SUCCEEDED, timeout=WAIT)
        states = [s for s, _, _ in self.watcher.history(task_id)]
        self.assertEqual(states[0], 'SCHEDULED', states)
        self.assertLess(states.index('SCHEDULED'), states.index('RUNNING'), states)

    def test_a_task_no_executor_serves_expires(self):
        task_id = submit(self.cluster, spec('nobody.serves.this', 'x',
                                            expires_after=seconds(1))).task_id
        task = wait_task(self.cluster, task_id)
        self.assertEqual(task.state, EXPIRED, task)
        self.assertEqual(list(task.attempts), [])
        self.assertIn('expires_after', task.error)
        self.assertGreaterEqual(to_seconds(task.finished_at), to_seconds(task.created_at) + 1 - 0.01)

    def test_a_finished_task_is_deleted_when_its_own_retention_passes(self):
        key = f'retained-{time.monotonic_ns()}'
        task = wait_task(self.cluster, submit(self.cluster, spec(
            'echo', 'brief', idempotency_key=key, retention=seconds(1))).task_id)
        self.assertEqual(task.state, SUCCEEDED, task)
        assert_deleted_after_retention(self, self.cluster, task, retention=1.0)
        # The key went with the task: the same key now makes a new task.
        again = submit(self.cluster, spec('echo', 'brief', idempotency_key=key))
        self.assertFalse(again.existing)
        self.assertNotEqual(again.task_id, task.id)


class ExecutorDeathTest(harness.LoggedTestCase):
    def test_a_killed_executors_process_task_dies_with_it(self):
        """kill -9 of an executor must not leave its subprocess running on beside the
        retry of its attempt (a duplicate side effect at the same time)."""
        cluster = self.new_cluster('orphans')
        marker = os.path.join(cluster.dir, 'marker')
        config = os.path.join(cluster.dir, 'exec.textproto')
        with open(config, 'w') as f:
            f.write('process_slots: 1\nprocess_tasks { type: "slow.mark" argv: ["/bin/sh", "-c", '
                    f'"/bin/sleep 1; echo ran >> {marker}"] }}\n')
        cluster.start_scheduler()
        cluster.start_executor('victim', slots=1, extra_args=('--config', config))
        watcher = harness.EventWatcher(cluster)
        watcher.sync()
        task_id = cluster.submit('slow.mark')
        watcher.wait_state(task_id, harness.load_stubs().task_pb2.TaskState.Value(
            'TASK_STATE_RUNNING'))
        cluster.executors['victim'].kill()
        # The command would have written the marker one second after it started; give it
        # three (a bounded wait for something that must not happen).
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and not os.path.exists(marker):
            time.sleep(0.1)
        watcher.close()
        self.assertFalse(os.path.exists(marker), 'the orphaned subprocess ran on')


if __name__ == '__main__':
    import unittest
    unittest.main()
