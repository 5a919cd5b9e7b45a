"""End-to-end tests of the taskwire CLI against the real scheduler and executors.

SharedClusterTest runs on one scheduler with two executors:
  exec-a: 1 slot, queues default + solo    (solo: only exec-a serves it)
  exec-b: 4 slots, queues default + q-watch (q-watch: only exec-b serves it)
ExecutorLossTest makes a cluster per test, since each test ends an executor.

Nothing here sleeps to let time pass: tests wait on events (ready files, process exits,
`taskwire wait` with a bound, a WatchTasks stream) with a bound on every wait.
"""

import base64
import hashlib
import json
import os
import queue
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

pb = harness.load_stubs()
TaskState = pb.task_pb2.TaskState
QUEUED = TaskState.Value('TASK_STATE_QUEUED')
RUNNING = TaskState.Value('TASK_STATE_RUNNING')


def task_id_of(result):
    """The id printed by `taskwire --json submit` (without --wait)."""
    return result.json()['task_id']


def output_of(task_json):
    return base64.b64decode(task_json.get('output', '')).decode()


class SharedClusterTest(harness.SharedClusterTestCase):
    @classmethod
    def setUpClass(cls):
        def start(cluster):
            cluster.start_scheduler()
            cluster.start_executor('exec-a', slots=1, queues=('default', 'solo'))
            cluster.start_executor('exec-b', slots=4, queues=('default', 'q-watch'))
        cls.start_cluster('cli', start, watch=True)

    def cli(self, *args, **kwargs):
        return self.cluster.cli(*args, **kwargs)

    def assertExit(self, result, code):
        self.assertEqual(result.returncode, code, f'wrong exit code\n{result}')

    # --- submit, get

    def test_submit_sha256_with_wait_prints_the_hash(self):
        expected = hashlib.sha256(b'hello').hexdigest()

        human = self.cli('submit', 'sha256', '--payload', 'hello', '--wait')
        self.assertExit(human, 0)
        self.assertIn(expected, human.stdout, str(human))
        self.assertIn('succeeded', human.stdout, str(human))

        machine = self.cli('--json', 'submit', 'sha256', '--payload', 'hello', '--wait')
        self.assertExit(machine, 0)
        task = machine.json()
        self.assertEqual(task['state'], 'TASK_STATE_SUCCEEDED', str(machine))
        self.assertEqual(output_of(task), expected, str(machine))
        self.assertEqual(task['spec']['type'], 'sha256')

    def test_submit_fail_with_wait_exits_1_and_shows_the_error(self):
        human = self.cli('submit', 'fail', '--payload', 'boom', '--wait')
        self.assertExit(human, 1)
        self.assertIn('boom', human.stdout + human.stderr, str(human))

        machine = self.cli('--json', 'submit', 'fail', '--payload', 'boom', '--wait')
        self.assertExit(machine, 1)
        task = machine.json()
        self.assertEqual(task['state'], 'TASK_STATE_FAILED', str(machine))
        self.assertEqual(task['error'], 'boom', str(machine))
        self.assertEqual(task['attempts'][-1]['outcome'], 'ATTEMPT_OUTCOME_FAILED', str(machine))

    def test_get_of_an_unknown_id_exits_3_with_not_found(self):
        for args in (('get', 'no-such-task'), ('--json', 'get', 'no-such-task')):
            result = self.cli(*args)
            self.assertExit(result, 3)
            self.assertIn('NOT_FOUND', result.stderr, str(result))
            self.assertEqual(result.stdout.strip(), '', str(result))

    def test_submit_of_an_invalid_task_is_rejected_with_invalid_argument(self):
        # The scheduler's validation, passed through: exit 3 and the field named.
        for task_type, field in (('', 'task.type'), ('bad type!', 'task.type')):
            result = self.cli('submit', task_type, '--payload', 'x')
            with self.subTest(task_type=task_type):
                self.assertExit(result, 3)
                self.assertIn('INVALID_ARGUMENT', result.stderr, str(result))
                self.assertIn(field, result.stderr, str(result))
        result = self.cli('submit', 'echo', '--queue', 'no spaces')
        self.assertExit(result, 3)
        self.assertIn('task.queue', result.stderr, str(result))
        # What the CLI can tell by itself is bad usage: exit 2, nothing sent.
        for args in (('submit', 'echo', '--priority', '101'), ('submit',),
                     ('list', '--state', 'sleepy'), ('no-such-command',)):
            result = self.cli(*args)
            with self.subTest(args=args):
                self.assertExit(result, 2)

    # --- list, executors

    def test_list_by_state_shows_the_finished_tasks(self):
        succeeded = []
        for payload in ('list-1', 'list-2'):
            result = self.cli('--json', 'submit', 'echo', '--payload', payload, '--wait')
            self.assertExit(result, 0)
            succeeded.append(result.json()['id'])
        failed = self.cli('--json', 'submit', 'fail', '--payload', 'list-3', '--wait')
        self.assertExit(failed, 1)
        failed_id = failed.json()['id']

        machine = self.cli('--json', 'list', '--state', 'succeeded', '--limit', '1000')
        self.assertExit(machine, 0)
        listed = machine.json_lines()
        ids = [t['id'] for t in listed]
        for task_id in succeeded:
            self.assertIn(task_id, ids, str(machine))
        self.assertNotIn(failed_id, ids, str(machine))
        self.assertEqual({t['state'] for t in listed}, {'TASK_STATE_SUCCEEDED'}, str(machine))

        human = self.cli('list', '--state', 'succeeded', '--limit', '1000')
        self.assertExit(human, 0)
        for task_id in succeeded:
            self.assertIn(task_id, human.stdout, str(human))
        self.assertNotIn(failed_id, human.stdout, str(human))

        failures = self.cli('--json', 'list', '--state', 'failed', '--type', 'fail')
        self.assertExit(failures, 0)
        self.assertIn(failed_id, [t['id'] for t in failures.json_lines()], str(failures))

    def test_executors_shows_both_executors_with_their_slots(self):
        machine = self.cli('--json', 'executors')
        self.assertExit(machine, 0)
        by_id = {e['id']: e for e in machine.json_lines()}
        self.assertEqual(set(by_id), {'exec-a', 'exec-b'}, str(machine))
        self.assertEqual(by_id['exec-a']['slots'], 1)
        self.assertEqual(by_id['exec-b']['slots'], 4)
        self.assertEqual(sorted(by_id['exec-a']['queues']), ['default', 'solo'])
        self.assertIn('sha256', [t['name'] for t in by_id['exec-b']['task_types']])

        human = self.cli('executors')
        self.assertExit(human, 0)
        rows = {line.split()[0]: line.split() for line in human.stdout.splitlines()[1:]
                if line.strip()}
        self.assertEqual(set(rows), {'exec-a', 'exec-b'}, str(human))
        self.assertIn('1', rows['exec-a'], str(human))
        self.assertIn('4', rows['exec-b'], str(human))

    # --- watch

    def test_watch_started_before_a_submit_sees_the_task_queued_running_and_succeeded(self):
        # `watch --count N` on queue q-watch. WatchTasks gives no sign that it is subscribed,
        # so marker tasks (a type nobody serves: exactly one QUEUED event each) go to q-watch
        # until the watch prints one. Then an echo task runs on q-watch; after its events,
        # as many markers as the count has left must make the watch exit by itself.
        count = 40
        watch = self.cluster.cli_popen('--json', 'watch', '--queue', 'q-watch',
                                       '--count', str(count))
        self.addCleanup(watch.stderr.close)
        self.addCleanup(watch.stdout.close)
        self.addCleanup(watch.wait, 10)
        self.addCleanup(watch.kill)  # runs first: cleanups are last in, first out
        lines = queue.Queue()

        def pump():
            for line in watch.stdout:
                lines.put(line)
            lines.put(None)

        threading.Thread(target=pump, daemon=True).start()
        printed = []
        markers = []
        self.addCleanup(self.cancel_all, markers)

        def next_event(timeout):
            line = lines.get(timeout=timeout)
            if line is None:
                self.fail(f'watch ended early (exit {watch.wait(5)}): {watch.stderr.read()}'
                          f'\nprinted: {printed}')
            printed.append(json.loads(line))
            return printed[-1]

        for _ in range(50):
            markers.append(self.cluster.submit('e2e.marker', 'x', queue='q-watch'))
            try:
                next_event(0.2)
                break
            except queue.Empty:
                continue
        self.assertTrue(printed, 'watch printed none of 50 marker events')

        submitted = self.cli('--json', 'submit', 'echo', '--payload', 'watched',
                             '--queue', 'q-watch')
        self.assertExit(submitted, 0)
        task_id = task_id_of(submitted)
        deadline = time.monotonic() + 10
        while not any(e['task_id'] == task_id and e['state'] == 'TASK_STATE_SUCCEEDED'
                      for e in printed):
            remaining = deadline - time.monotonic()
            self.assertGreater(remaining, 0, f'no SUCCEEDED event for {task_id}: {printed}')
            try:
                next_event(remaining)
            except queue.Empty:
                pass

        events = [e for e in printed if e['task_id'] == task_id]
        self.assertEqual([e['state'] for e in events],
                         ['TASK_STATE_QUEUED', 'TASK_STATE_RUNNING', 'TASK_STATE_SUCCEEDED'],
                         events)
        self.assertEqual(events[1]['executor_id'], 'exec-b', events)
        self.assertEqual(events[1]['attempt'], 1, events)
        self.assertTrue(all(e['type'] == 'echo' and e['queue'] == 'q-watch' for e in events))

        left = count - len(printed)
        self.assertGreater(left, 0, f'more events than expected: {printed}')
        for _ in range(left):
            markers.append(self.cluster.submit('e2e.marker', 'x', queue='q-watch'))
        self.assertEqual(watch.wait(timeout=10), 0, watch.stderr.read())
        while True:
            line = lines.get(timeout=5)
            if line is None:
                break
            printed.append(json.loads(line))
        self.assertEqual(len(printed), count, printed)

    # --- cancel

    def test_cancel_of_a_running_task_ends_it_and_frees_its_slot(self):
        # Only exec-a serves queue solo, and it has one slot: the echo after the cancel can
        # run only once exec-a's sleep handler has stopped and answered the Cancel.
        submitted = self.cli('--json', 'submit', 'sleep', '--payload', '60000', '--queue', 'solo')
        self.assertExit(submitted, 0)
        task_id = task_id_of(submitted)
        running = self.watcher.wait_state(task_id, RUNNING, timeout=10)
        self.assertEqual(running.executor_id, 'exec-a')

        started = time.monotonic()
        cancelled = self.cli('--json', 'cancel', task_id)
        self.assertExit(cancelled, 0)
        self.assertEqual(cancelled.json()['state'], 'TASK_STATE_CANCELLED', str(cancelled))

        waited = self.cli('--json', 'wait', task_id, '--timeout', '5')
        self.assertExit(waited, 1)
        task = waited.json()
        self.assertEqual(task['state'], 'TASK_STATE_CANCELLED', str(waited))
        self.assertEqual(task['attempts'][-1]['outcome'], 'ATTEMPT_OUTCOME_CANCELLED')
        self.assertLess(time.monotonic() - started, 5, 'cancel took too long')

        after = self.cli('--json', 'submit', 'echo', '--payload', 'after-cancel',
                         '--queue', 'solo', '--wait-timeout', '10')
        self.assertExit(after, 0)
        task = after.json()
        self.assertEqual(output_of(task), 'after-cancel', str(after))
        self.assertEqual(task['attempts'][-1]['executor_id'], 'exec-a', str(after))

    def test_cancel_of_an_unknown_id_exits_3_with_not_found(self):
        result = self.cli('cancel', 'no-such-task')
        self.assertExit(result, 3)
        self.assertIn('NOT_FOUND', result.stderr, str(result))

    # --- waiting reason

    def test_task_of_a_type_no_executor_serves_stays_queued_and_says_why(self):
        submitted = self.cli('--json', 'submit', 'no.such.type', '--payload', 'x')
        self.assertExit(submitted, 0)
        task_id = task_id_of(submitted)
        self.addCleanup(self.cancel_all, [task_id])

        waited = self.cli('--json', 'wait', task_id, '--timeout', '0.5')
        self.assertExit(waited, 4)
        task = waited.json()
        self.assertEqual(task['state'], 'TASK_STATE_QUEUED', str(waited))
        self.assertIn('no.such.type', task['waiting_reason'], str(waited))
        self.assertFalse(task['attempts'], str(waited))

        human = self.cli('get', task_id)
        self.assertExit(human, 0)
        self.assertIn('queued', human.stdout, str(human))
        self.assertIn(task['waiting_reason'], human.stdout, str(human))

    def cancel_all(self, task_ids):
        for task_id in task_ids:
            self.cluster.stub.CancelTask(pb.scheduler_pb2.CancelTaskRequest(task_id=task_id),
                                         timeout=harness.RPC_TIMEOUT)


class ExecutorLossTest(harness.LoggedTestCase):
    """Each test ends an executor, so each gets a cluster of its own."""

    def start_watcher(self, cluster):
        watcher = harness.EventWatcher(cluster)
        self.addCleanup(watcher.close)
        watcher.sync()
        return watcher

    def submit(self, cluster, *args):
        result = cluster.cli('--json', 'submit', *args)
        self.assertEqual(result.returncode, 0, str(result))
        return task_id_of(result)

    def test_sigterm_drains_an_executor_and_its_running_task_succeeds(self):
        cluster = self.new_cluster('drain')
        cluster.start_scheduler()
        cluster.start_executor('exec-drain', slots=2, queues=('default', 'drainq'))
        cluster.start_executor('exec-other', slots=2)
        watcher = self.start_watcher(cluster)

        task_id = self.submit(cluster, 'sleep', '--payload', '1500', '--queue', 'drainq')
        running = watcher.wait_state(task_id, RUNNING, timeout=10)
        self.assertEqual(running.executor_id, 'exec-drain')

        draining = cluster.executors['exec-drain']
        draining.terminate()
        self.assertEqual(draining.wait_exit(timeout=15), 0,
                         'the draining executor did not exit 0 within 15 s')

        waited = cluster.cli('--json', 'wait', task_id, '--timeout', '10')
        self.assertEqual(waited.returncode, 0, str(waited))
        task = waited.json()
        self.assertEqual(task['state'], 'TASK_STATE_SUCCEEDED', str(waited))
        self.assertEqual([(a['executor_id'], a['outcome']) for a in task['attempts']],
                         [('exec-drain', 'ATTEMPT_OUTCOME_SUCCEEDED')], str(waited))

    def test_tasks_of_a_killed_executor_finish_on_the_survivor(self):
        cluster = self.new_cluster('kill')
        cluster.start_scheduler()
        cluster.start_executor('exec-victim', slots=4)
        watcher = self.start_watcher(cluster)

        task_ids = [self.submit(cluster, 'sleep', '--payload', '3000') for _ in range(3)]
        for task_id in task_ids:
            running = watcher.wait_state(task_id, RUNNING, timeout=10)
            self.assertEqual(running.executor_id, 'exec-victim')
        # The survivor joins only now, so that every task ran on the victim first.
        cluster.start_executor('exec-survivor', slots=4)
        cluster.executors['exec-victim'].kill()

        for task_id in task_ids:
            waited = cluster.cli('--json', 'wait', task_id, '--timeout', '20')
            self.assertEqual(waited.returncode, 0, f'{waited}\n{watcher.history(task_id)}')
            task = waited.json()
            self.assertEqual(task['state'], 'TASK_STATE_SUCCEEDED', str(waited))
            attempts = task['attempts']
            self.assertGreaterEqual(len(attempts), 2, str(waited))
            self.assertEqual((attempts[0]['executor_id'], attempts[0]['outcome']),
                             ('exec-victim', 'ATTEMPT_OUTCOME_LOST'), str(waited))
            self.assertEqual((attempts[-1]['executor_id'], attempts[-1]['outcome']),
                             ('exec-survivor', 'ATTEMPT_OUTCOME_SUCCEEDED'), str(waited))


if __name__ == '__main__':
    unittest.main()
