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
import re
import socket
import subprocess
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


def project_version():
    """The VERSION of the project() line in the top CMakeLists.txt: the one place."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'CMakeLists.txt')
    with open(path) as f:
        return re.search(r'project\(taskwire VERSION (\S+)', f.read()).group(1)


def run_binary(*argv):
    """Runs one of the binaries without a cluster (TASKWIRE_* variables left out)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith('TASKWIRE_')}
    start = time.monotonic()
    done = subprocess.run(list(argv), stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=harness.CLI_TIMEOUT, env=env)
    return harness.CliResult(list(argv), done.returncode, done.stdout, done.stderr,
                             time.monotonic() - start)


def closed_port():
    """A local port that nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


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
        # `slots` adds up every mode's: the thread slots (--slots) and the default 10,000
        # event-loop slots.
        self.assertEqual(by_id['exec-a']['slots'], 10_001)
        self.assertEqual(by_id['exec-b']['slots'], 10_004)
        self.assertIn({'mode': 'RUN_MODE_THREAD', 'slots': 1, 'used': 0}, by_id['exec-a']['mode_slots'])
        self.assertIn({'mode': 'RUN_MODE_THREAD', 'slots': 4, 'used': 0}, by_id['exec-b']['mode_slots'])
        self.assertEqual(sorted(by_id['exec-a']['queues']), ['default', 'solo'])
        self.assertIn('sha256', [t['name'] for t in by_id['exec-b']['task_types']])

        human = self.cli('executors')
        self.assertExit(human, 0)
        rows = {line.split()[0]: line.split() for line in human.stdout.splitlines()[1:]
                if line.strip()}
        self.assertEqual(set(rows), {'exec-a', 'exec-b'}, str(human))
        self.assertIn('10001', rows['exec-a'], str(human))
        self.assertIn('10004', rows['exec-b'], str(human))
        # Each mode's slots apart: a busy thread pool shows, whatever the event loop has free.
        self.assertIn('thread 0/4, event-loop 0/10000', human.stdout, str(human))

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
        # run only once exec-a's thread.sleep handler has stopped and answered the Cancel.
        submitted = self.cli('--json', 'submit', 'thread.sleep', '--payload', '60000',
                             '--queue', 'solo')
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

    # --- task words, durations, --version (issue 13)

    def test_a_task_word_that_starts_with_a_dash_is_refused_with_exit_2(self):
        for word, args in (('--wait', ('chord', 'echo:a', '--', 'collect', '--wait')),
                           ('--wait-timeout', ('chain', 'echo:a', '--', '--wait-timeout', '1'))):
            result = self.cli(*args)
            with self.subTest(args=args):
                self.assertExit(result, 2)
                self.assertIn(f"'{word}' starts with '-'", result.stderr, str(result))
                self.assertIn('put options before the task words', result.stderr, str(result))
                self.assertEqual(result.stdout, '', str(result))

    def test_the_scheduler_refuses_a_type_that_starts_with_a_dash(self):
        import grpc
        with self.assertRaises(grpc.RpcError) as raised:
            self.cluster.stub.Submit(
                pb.scheduler_pb2.SubmitRequest(task=pb.task_pb2.TaskSpec(type='--wait')),
                timeout=harness.RPC_TIMEOUT)
        self.assertEqual(raised.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
        self.assertIn("task.type '--wait' starts with '-'", raised.exception.details())

        workflow = pb.workflow_pb2.WorkflowSpec(nodes=[
            pb.workflow_pb2.WorkflowNode(name='a', task=pb.task_pb2.TaskSpec(type='echo')),
            pb.workflow_pb2.WorkflowNode(name='b', after=['a'],
                                         task=pb.task_pb2.TaskSpec(type='-x'))])
        with self.assertRaises(grpc.RpcError) as raised:
            self.cluster.stub.SubmitWorkflow(
                pb.scheduler_pb2.SubmitWorkflowRequest(workflow=workflow),
                timeout=harness.RPC_TIMEOUT)
        self.assertEqual(raised.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
        self.assertIn('workflow.nodes[1].task.type', raised.exception.details())

    def test_every_duration_option_takes_units(self):
        submitted = self.cli('--rpc-timeout', '5s', '--json', 'submit', 'echo', '--payload', 'd',
                             '--timeout', '1s', '--retries', '1', '--backoff', '100ms',
                             '--countdown', '0s', '--expires', '1m', '--retention', '1h',
                             '--wait-timeout', '10s')
        self.assertExit(submitted, 0)
        task = submitted.json()
        self.assertEqual(task['state'], 'TASK_STATE_SUCCEEDED', str(submitted))
        self.assertEqual(task['spec']['timeout'], '1s', str(submitted))
        self.assertEqual(task['spec']['retry']['initial_backoff'], '0.100s', str(submitted))
        for args in (('wait', task['id'], '--timeout', '2s'),
                     ('wait', task['id'], '--timeout', '1m30s'),
                     ('--rpc-timeout', '1500ms', 'get', task['id']),
                     ('watch', '--for', '100ms'),
                     ('chain', 'echo:a', 'echo', '--wait-timeout', '10s', '--timeout', '2.5s')):
            result = self.cli(*args)
            with self.subTest(args=args):
                self.assertExit(result, 0)
        chain = self.cli('--json', 'chain', 'echo:a', 'echo')
        self.assertExit(chain, 0)
        waited = self.cli('workflow', 'wait', chain.json()['workflow_id'], '--timeout', '10s')
        self.assertExit(waited, 0)
        for args in (('wait', task['id'], '--timeout', 'soon'),
                     ('submit', 'echo', '--timeout', '-1s'),
                     ('watch', '--for', '0s'),
                     ('--rpc-timeout', '0', 'list')):
            result = self.cli(*args)
            with self.subTest(args=args):
                self.assertExit(result, 2)

    def test_version_of_the_cli_and_both_services(self):
        version = project_version()
        for binary, name in ((harness.CLI_BIN, 'taskwire'),
                             (harness.SCHEDULER_BIN, 'taskwire-scheduler'),
                             (harness.EXECUTOR_BIN, 'taskwire-executor')):
            result = run_binary(binary, '--version')
            with self.subTest(binary=name):
                self.assertExit(result, 0)
                self.assertEqual(result.stdout.strip(), f'{name} {version}', str(result))

    # --- progress while waiting

    def test_progress_lines_appear_when_forced_and_not_when_piped(self):
        submitted = self.cli('--json', 'submit', 'e2e.nobody', '--payload', 'x')
        self.assertExit(submitted, 0)
        task_id = task_id_of(submitted)
        self.addCleanup(self.cancel_all, [task_id])

        forced = self.cli('--progress', 'wait', task_id, '--timeout', '1500ms')
        self.assertExit(forced, 4)
        self.assertIn(f"taskwire: task {task_id}: queued: no connected executor serves task "
                      "type 'e2e.nobody' on queue 'default'\n", forced.stderr, str(forced))

        piped = self.cli('wait', task_id, '--timeout', '1500ms')  # stderr is a pipe here
        self.assertExit(piped, 4)
        self.assertNotIn(f'task {task_id}:', piped.stderr, str(piped))
        self.assertIn('timed out', piped.stderr, str(piped))

        ran = self.cli('--progress', '--json', 'submit', 'thread.sleep', '--payload', '2500',
                       '--queue', 'solo', '--wait-timeout', '20s')
        self.assertExit(ran, 0)
        ran_id = ran.json()['id']
        lines = [l for l in ran.stderr.splitlines() if l.startswith(f'taskwire: task {ran_id}: ')]
        self.assertIn(f'taskwire: task {ran_id}: running on exec-a', lines, str(ran))
        self.assertEqual(lines[-1], f'taskwire: task {ran_id}: succeeded', str(ran))
        self.assertEqual(len(lines), len(set(lines)), f'a line repeated\n{ran}')

    def test_workflow_progress_counts_nodes_and_names_the_waiting_one(self):
        forced = self.cli('--progress', '--json', 'chord', '--wait-timeout', '2s',
                          'echo:a', 'echo:b', '--', 'e2e.nobody')
        self.assertExit(forced, 4)
        workflow_id = forced.json()['id']
        self.addCleanup(self.cli, 'workflow', 'cancel', workflow_id)
        self.assertIn(f'taskwire: workflow {workflow_id}: running: 1 queued, 2 succeeded; '
                      "e2e.nobody-3 queued: no connected executor serves task type "
                      "'e2e.nobody'", forced.stderr, str(forced))
        piped = self.cli('workflow', 'wait', workflow_id, '--timeout', '1500ms')
        self.assertExit(piped, 4)
        self.assertNotIn(f'workflow {workflow_id}:', piped.stderr, str(piped))

    # --- workflow get: why a queued node waits

    def test_workflow_get_shows_why_a_queued_node_waits(self):
        submitted = self.cli('--json', 'chord', '--queue', 'solo', 'echo:a', '--', 'e2e.nobody')
        self.assertExit(submitted, 0)
        workflow_id = submitted.json()['workflow_id']
        self.addCleanup(self.cli, 'workflow', 'cancel', workflow_id)
        self.watcher.wait_state(submitted.json()['task_ids'][-1], QUEUED, timeout=10)

        reason = "no connected executor serves task type 'e2e.nobody' on queue 'solo'"
        human = self.cli('workflow', 'get', workflow_id)
        self.assertExit(human, 0)
        node_line = [l for l in human.stdout.splitlines() if 'e2e.nobody-2' in l]
        self.assertEqual(len(node_line), 1, str(human))
        self.assertIn(reason, node_line[0], str(human))
        machine = self.cli('--json', 'workflow', 'get', workflow_id)
        self.assertEqual(machine.json()['nodes'][-1]['task']['waiting_reason'], reason,
                         str(machine))

    # --- list order, get's wording

    def test_list_is_newest_first_unless_oldest(self):
        ids = []
        for n in range(3):
            submitted = self.cli('--json', 'submit', 'e2e.order', '--payload', str(n))
            self.assertExit(submitted, 0)
            ids.append(task_id_of(submitted))
        self.addCleanup(self.cancel_all, ids)

        newest = self.cli('--json', 'list', '--type', 'e2e.order')
        self.assertExit(newest, 0)
        self.assertEqual([t['id'] for t in newest.json_lines()], ids[::-1], str(newest))
        oldest = self.cli('--json', 'list', '--type', 'e2e.order', '--oldest')
        self.assertEqual([t['id'] for t in oldest.json_lines()], ids, str(oldest))

        two = self.cli('list', '--type', 'e2e.order', '--limit', '2')
        self.assertExit(two, 0)
        rows = [l.split()[0] for l in two.stdout.splitlines()[1:] if l.strip()]
        self.assertEqual(rows[:2], [ids[2], ids[1]], str(two))
        self.assertIn('next page token:', two.stdout, str(two))

        # Pages go on in their own order; a token of the other order is refused.
        for order, expected in (((), ids[::-1]), (('--oldest',), ids)):
            page = self.cli('--json', 'list', '--type', 'e2e.order', '--limit', '2', *order)
            lines = page.json_lines()
            self.assertEqual([t['id'] for t in lines[:2]], expected[:2], str(page))
            token = lines[2]['next_page_token']
            rest = self.cli('--json', 'list', '--type', 'e2e.order', '--limit', '2',
                            '--page-token', token, *order)
            self.assertEqual([t['id'] for t in rest.json_lines()], expected[2:], str(rest))
            other = ('--oldest',) if not order else ()
            refused = self.cli('list', '--type', 'e2e.order', '--page-token', token, *other)
            self.assertExit(refused, 3)
            self.assertIn('page_token belongs to a listing', refused.stderr, str(refused))

    def test_get_says_1_attempt_and_shows_a_retry_policy_only_when_it_allows_a_retry(self):
        plain = self.cli('--json', 'submit', 'echo', '--payload', 'x', '--retries', '0',
                         '--wait')
        self.assertExit(plain, 0)
        human = self.cli('get', plain.json()['id'])
        self.assertExit(human, 0)
        self.assertNotIn('1 attempts', human.stdout, str(human))
        self.assertNotIn('retry:', human.stdout, str(human))
        self.assertIn('output:    1 byte\n', human.stdout, str(human))

        retried = self.cli('--json', 'submit', 'echo', '--payload', 'x', '--retries', '2',
                           '--backoff', '1s', '--wait')
        self.assertExit(retried, 0)
        human = self.cli('get', retried.json()['id'])
        self.assertIn('retry:     up to 3 attempts, backoff 1s', human.stdout, str(human))

    # --- health

    def test_health_exit_codes(self):
        serving = self.cli('health')
        self.assertExit(serving, 0)
        self.assertEqual(serving.stdout, 'SERVING\n', str(serving))

        machine = self.cli('--json', 'health')
        self.assertEqual(machine.json(), {'service': '', 'status': 'SERVING'}, str(machine))

        unknown = self.cli('health', '--service', 'e2e.nope')
        self.assertExit(unknown, 1)
        self.assertEqual(unknown.stdout, 'SERVICE_UNKNOWN\n', str(unknown))

        ready = run_binary(harness.CLI_BIN, '--server',
                           self.cluster.executors['exec-a'].ready['health'], 'health',
                           '--service', 'ready')
        self.assertExit(ready, 0)
        self.assertEqual(ready.stdout, 'SERVING\n', str(ready))

        closed = run_binary(harness.CLI_BIN, '--server', f'127.0.0.1:{closed_port()}', 'health')
        self.assertExit(closed, 3)
        self.assertIn('UNAVAILABLE', closed.stderr, str(closed))

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

        task_id = self.submit(cluster, 'thread.sleep', '--payload', '1500', '--queue', 'drainq')
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

        task_ids = [self.submit(cluster, 'thread.sleep', '--payload', '3000') for _ in range(3)]
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
