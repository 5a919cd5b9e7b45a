"""Process task types end to end: the stock executor started with the shipped example
config (deploy/executor/process-tasks.textproto, plus a few failing types for the test)
runs `wc`, `sort` and a Python one-liner through the CLI; a crash or a cancel fails only
its task; a type not in the file is never run; a drain at SIGTERM leaves no child behind.

Nothing sleeps to let time pass: waits are on CLI `--wait` with a bound, a WatchTasks
stream, or a pidfd, each bounded.
"""

import base64
import os
import select
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

pb = harness.load_stubs()
TaskState = pb.task_pb2.TaskState
RUNNING = TaskState.Value('TASK_STATE_RUNNING')

EXAMPLE_CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'deploy',
                              'executor', 'process-tasks.textproto')

# Appended to the example: types that fail on purpose.
TEST_TYPES = '''
process_tasks {
  type: "test.crash"
  argv: ["/bin/sh", "-c", "echo about to crash >&2; kill -SEGV $$"]
}
process_tasks {
  type: "test.hang"
  argv: ["/bin/sleep", "1000"]
}
'''


def output_of(task_json):
    return base64.b64decode(task_json.get('output', '')).decode()


def children_of(pid):
    """PIDs of the direct children of `pid`, from /proc/PID/task/*/children."""
    found = []
    for tid in os.listdir(f'/proc/{pid}/task'):
        with open(f'/proc/{pid}/task/{tid}/children') as f:
            found.extend(int(p) for p in f.read().split())
    return found


def await_children(pid, count, timeout=10):
    """The children of `pid` once there are `count` of them (or what there is at `timeout`):
    RUNNING is set when the scheduler assigns the task, a moment before the executor spawns."""
    deadline = time.monotonic() + timeout
    while True:
        children = children_of(pid)
        if len(children) >= count or time.monotonic() >= deadline:
            return children
        time.sleep(0.02)


def process_ends(pid, timeout):
    """Whether `pid` has exited within `timeout` seconds (its pidfd becomes readable)."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        return bool(select.select([fd], [], [], timeout)[0])
    finally:
        os.close(fd)


def write_config(directory):
    with open(EXAMPLE_CONFIG) as f:
        text = f.read()
    path = os.path.join(directory, 'executor.textproto')
    with open(path, 'w') as f:
        f.write(text + TEST_TYPES)
    return path


class ProcessTasksTest(harness.SharedClusterTestCase):
    @classmethod
    def setUpClass(cls):
        def start(cluster):
            cluster.start_scheduler()
            cluster.start_executor('proc', slots=2, extra_args=(
                '--config', write_config(cluster.dir), '--kill-grace', '1'))
        cls.start_cluster('process', start, watch=True)

    def submit_wait(self, task_type, payload):
        result = self.cluster.cli('--json', 'submit', task_type, '--payload', payload, '--wait',
                                  '--wait-timeout', '20')
        return result, result.json()

    def test_wc_sort_and_a_python_one_liner_run_as_processes(self):
        result, task = self.submit_wait('wc', 'to be or\nnot to be\n')
        self.assertEqual(result.returncode, 0, result)
        self.assertEqual(output_of(task).split(), ['2', '6', '19'])

        result, task = self.submit_wait('sort', 'pear\napple\nfig\n')
        self.assertEqual(result.returncode, 0, result)
        self.assertEqual(output_of(task), 'apple\nfig\npear\n')

        result, task = self.submit_wait('py.upper', 'shout')
        self.assertEqual(result.returncode, 0, result)
        self.assertEqual(output_of(task), 'SHOUT')

    def test_the_executor_announces_process_types_and_both_modes_slots(self):
        result = self.cluster.cli('--json', 'executors')
        self.assertEqual(result.returncode, 0, result)
        (executor,) = result.json_lines()
        self.assertEqual(executor['slots'], 10_004,
                         'two thread slots, two process slots and 10,000 event-loop slots')
        self.assertEqual({m['mode']: m['slots'] for m in executor['mode_slots']},
                         {'RUN_MODE_THREAD': 2, 'RUN_MODE_PROCESS': 2,
                          'RUN_MODE_EVENT_LOOP': 10_000}, result)
        modes = {t['name']: t.get('mode') for t in executor['task_types']}
        self.assertEqual(modes.get('wc'), 'RUN_MODE_PROCESS', result)
        self.assertEqual(modes.get('echo'), 'RUN_MODE_THREAD', result)
        self.assertEqual(modes.get('sleep'), 'RUN_MODE_EVENT_LOOP', result)

    def test_a_crash_fails_its_task_and_the_executor_keeps_serving(self):
        result, task = self.submit_wait('test.crash', '')
        self.assertNotEqual(result.returncode, 0, result)
        self.assertEqual(task['state'], 'TASK_STATE_FAILED', result)
        self.assertIn('SIGSEGV', task['error'], result)
        self.assertIn('about to crash', task['error'], result)
        self.assertEqual(task['attempts'][-1]['process']['term_signal'], 11, result)  # SIGSEGV

        result, task = self.submit_wait('py.upper', 'still serving')
        self.assertEqual(result.returncode, 0, result)
        self.assertEqual(output_of(task), 'STILL SERVING')

    def test_cancel_stops_a_running_process(self):
        submitted = self.cluster.cli('--json', 'submit', 'test.hang')
        self.assertEqual(submitted.returncode, 0, submitted)
        task_id = submitted.json()['task_id']
        self.watcher.wait_state(task_id, RUNNING)
        cancelled = self.cluster.cli('cancel', task_id)
        self.assertEqual(cancelled.returncode, 0, cancelled)
        waited = self.cluster.cli('--json', 'wait', task_id, '--timeout', '20')
        self.assertEqual(waited.json()['state'], 'TASK_STATE_CANCELLED', waited)

        result, task = self.submit_wait('wc', 'one two')
        self.assertEqual(result.returncode, 0, result)

    def test_a_type_not_in_the_file_is_never_run(self):
        submitted = self.cluster.cli('--json', 'submit', 'rm', '--payload', '-rf /')
        self.assertEqual(submitted.returncode, 0, submitted)
        task_id = submitted.json()['task_id']
        self.addCleanup(self.cluster.cli, 'cancel', task_id)
        waited = self.cluster.cli('--json', 'wait', task_id, '--timeout', '0.5')
        task = waited.json()
        self.assertEqual(task['state'], 'TASK_STATE_QUEUED', waited)
        self.assertFalse(task.get('attempts'), waited)


class ProcessDrainTest(harness.LoggedTestCase):
    def test_drain_at_sigterm_stops_running_children_and_exits_zero(self):
        cluster = self.new_cluster('process-drain')
        cluster.start_scheduler()
        executor = cluster.start_executor('proc', slots=1, extra_args=(
            '--config', write_config(cluster.dir), '--kill-grace', '1', '--drain-grace', '0.2'))
        watcher = harness.EventWatcher(cluster)
        self.addCleanup(watcher.close)
        watcher.sync()
        task_id = cluster.submit('test.hang')
        watcher.wait_state(task_id, RUNNING)
        children = await_children(executor.pid, 1)
        self.assertEqual(len(children), 1, f'children of the executor: {children}')

        code, killed = executor.stop()
        self.assertEqual((code, killed), (0, False), cluster.logs())
        self.assertTrue(process_ends(children[0], 10), f'child {children[0]} outlived the drain')


if __name__ == '__main__':
    unittest.main()
