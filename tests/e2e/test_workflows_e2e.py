"""Workflows end to end, as a Celery user would write them (docs/workflows.md): the real
scheduler and executor, workflows built from the proto directly or with the taskwire CLI.

Celery's canvas cases: a chain passing a value through three steps (sha256 of echo of
echo "hello", checked against hashlib); a chord whose callback (`collect`) receives the
group's results in group order, not completion order; a group of 100 and a chain of 100;
a process task in the middle of a chain (plain and framed stdin); a node failing for good
cancels its downstream with "upstream X failed"; cancelling a workflow cancels every
unfinished node, the running one included; a flaky group member retried inside a chord
lets the chord finish. Then the CLI: chain/group/chord --wait, the tree view,
`workflow get|wait|cancel` and their exit codes, `watch` with workflow events; task-level
retries and not-retryable errors through `submit`.

Nothing sleeps to let time pass: waits are WaitWorkflow/WaitTask with a bound, CLI
`--wait` with a bound, or a WatchTasks stream.
"""

import hashlib
import json
import os
import queue
import sys
import tempfile
import threading
import time

import grpc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import nemesis  # noqa: E402

pb = harness.load_stubs()
task_pb2 = pb.task_pb2
workflow_pb2 = pb.workflow_pb2
scheduler_pb2 = pb.scheduler_pb2
TaskState = task_pb2.TaskState
WorkflowState = workflow_pb2.WorkflowState

SUCCEEDED = TaskState.Value('TASK_STATE_SUCCEEDED')
FAILED = TaskState.Value('TASK_STATE_FAILED')
CANCELLED = TaskState.Value('TASK_STATE_CANCELLED')
RUNNING = TaskState.Value('TASK_STATE_RUNNING')
WF_SUCCEEDED = WorkflowState.Value('WORKFLOW_STATE_SUCCEEDED')
WF_FAILED = WorkflowState.Value('WORKFLOW_STATE_FAILED')
WF_CANCELLED = WorkflowState.Value('WORKFLOW_STATE_CANCELLED')

WAIT = 30.0  # bound of every wait for a workflow that should end soon

# Process task types for the "process task in the middle" cases.
PROCESS_CONFIG = '''
process_slots: 2
process_tasks {
  type: "py.upper"
  argv: ["/usr/bin/python3", "-I", "-c",
         "import sys; sys.stdout.write(sys.stdin.read().upper())"]
  env { key: "PYTHONIOENCODING" value: "utf-8" }
  timeout_seconds: 30
}
process_tasks {
  type: "test.framed"
  argv: ["/bin/cat"]
  stdin_format: STDIN_FORMAT_FRAMED
}
process_tasks {
  type: "test.count"
  argv: ["/bin/sh", "-c", "printf %s \\"$TASKWIRE_UPSTREAM_COUNT\\""]
}
process_tasks {
  type: "test.exit"
  argv: ["/bin/sh", "-c", "exit \\"$(/bin/cat)\\""]
  not_retryable_exit_codes: 3
}
'''


def spec(task_type, payload=b'', **fields):
    if isinstance(payload, str):
        payload = payload.encode()
    return task_pb2.TaskSpec(type=task_type, payload=payload, **fields)


def node(name, task, after=()):
    return workflow_pb2.WorkflowNode(name=name, task=task, after=list(after))


def retry(max_attempts, backoff_ms=10):
    policy = task_pb2.RetryPolicy(max_attempts=max_attempts)
    policy.initial_backoff.FromMilliseconds(backoff_ms)
    return policy


def chain_nodes(specs, prefix='n'):
    """A chain written with the proto alone: node i waits for node i-1."""
    return [node(f'{prefix}{i}', s, [f'{prefix}{i - 1}'] if i else [])
            for i, s in enumerate(specs)]


class WorkflowsTest(harness.SharedClusterTestCase):

    @classmethod
    def setUpClass(cls):
        config_dir = tempfile.mkdtemp(prefix='taskwire-wf-config-')
        cls.addClassCleanup(lambda: __import__('shutil').rmtree(config_dir, True))
        config = os.path.join(config_dir, 'executor.textproto')
        with open(config, 'w') as f:
            f.write(PROCESS_CONFIG)

        def start(cluster):
            cluster.start_scheduler()
            cluster.start_executor('wf-exec', slots=8, extra_args=('--config', config))
        cls.start_cluster('workflows', start, watch=True)

    # --- helpers

    def run_workflow(self, nodes, timeout=WAIT):
        response = self.cluster.submit_workflow(nodes)
        self.assertEqual(len(response.task_ids), len(nodes))
        workflow = self.cluster.wait_workflow(response.workflow_id, timeout)
        self.assertIn(workflow.state, (WF_SUCCEEDED, WF_FAILED, WF_CANCELLED),
                      f'workflow still {harness.workflow_state_name(workflow.state)} after '
                      f'{timeout}s:\n{workflow}')
        return workflow

    def node_status(self, workflow, name):
        for n in workflow.nodes:
            if n.name == name:
                return n
        self.fail(f'no node {name} in {[n.name for n in workflow.nodes]}')

    def result_of(self, workflow, name):
        for r in workflow.results:
            if r.node == name:
                return r.output
        self.fail(f'no result for {name}: {list(workflow.results)}')

    def assertSucceeded(self, workflow):
        self.assertEqual(workflow.state, WF_SUCCEEDED,
                         f'{harness.workflow_state_name(workflow.state)}: {workflow.error}\n'
                         f'{workflow}')

    # --- Celery's canvas cases

    def test_chain_passes_hello_through_echo_echo_sha256(self):
        workflow = self.run_workflow(chain_nodes([spec('echo', 'hello'), spec('echo'),
                                                  spec('sha256')]))
        self.assertSucceeded(workflow)
        self.assertEqual(self.result_of(workflow, 'n2').decode(),
                         hashlib.sha256(b'hello').hexdigest())
        self.assertEqual([r.node for r in workflow.results], ['n2'])  # the only sink
        self.assertEqual(workflow.decided_by, '')
        for n in workflow.nodes:
            self.assertEqual(n.task.workflow_id, workflow.id)
            self.assertEqual(n.task.node, n.name)

    def test_chord_callback_receives_group_results_in_group_order(self):
        # The first member finishes last: order must follow the group, not completion.
        group = [node('slow', spec('thread.sleep', '300')), node('b', spec('echo', 'b')),
                 node('c', spec('echo', 'c'))]
        callback = node('all', spec('collect'), ['slow', 'b', 'c'])
        workflow = self.run_workflow(group + [callback])
        self.assertSucceeded(workflow)
        self.assertEqual(json.loads(self.result_of(workflow, 'all')),
                         ['slept 300 ms', 'b', 'c'])

    def test_group_of_100_returns_every_result_in_node_order(self):
        nodes = [node(f'g{i}', spec('echo', str(i))) for i in range(100)]
        workflow = self.run_workflow(nodes)
        self.assertSucceeded(workflow)
        self.assertEqual([r.node for r in workflow.results], [f'g{i}' for i in range(100)])
        self.assertEqual([r.output.decode() for r in workflow.results],
                         [str(i) for i in range(100)])

    def test_chain_of_100_passes_the_value_to_the_end(self):
        start = time.monotonic()
        workflow = self.run_workflow(chain_nodes([spec('echo', 'x')] +
                                                 [spec('echo') for _ in range(99)]))
        elapsed = time.monotonic() - start
        self.assertSucceeded(workflow)
        self.assertEqual(self.result_of(workflow, 'n99'), b'x')
        sys.stderr.write(f'\nchain of 100 echo links, submit to result: {elapsed * 1000:.1f} ms\n')

    def test_process_task_in_the_middle_of_a_chain(self):
        workflow = self.run_workflow(chain_nodes([spec('echo', 'hello'), spec('py.upper'),
                                                  spec('sha256')]))
        self.assertSucceeded(workflow)
        self.assertEqual(self.result_of(workflow, 'n2').decode(),
                         hashlib.sha256(b'HELLO').hexdigest())

    def test_process_task_with_framed_stdin_sees_each_upstream_result_then_its_payload(self):
        nodes = [node('a', spec('echo', 'a')), node('bb', spec('echo', 'b\nb')),
                 node('framed', spec('test.framed', 'p'), ['a', 'bb']),
                 node('count', spec('test.count'), ['a', 'bb'])]
        workflow = self.run_workflow(nodes)
        self.assertSucceeded(workflow)
        self.assertEqual(self.result_of(workflow, 'framed'), b'1\na\n3\nb\nb\n1\np\n')
        self.assertEqual(self.result_of(workflow, 'count'), b'2')

    def test_a_node_that_fails_for_good_cancels_its_downstream_with_the_reason(self):
        nodes = chain_nodes([spec('echo', 'a'), spec('fail', 'permanent:boom'), spec('echo'),
                             spec('echo')])
        nodes.append(node('side', spec('echo', 'side')))  # not downstream: still succeeds
        workflow = self.run_workflow(nodes)
        self.assertEqual(workflow.state, WF_FAILED, str(workflow))
        self.assertEqual(workflow.decided_by, 'n1')
        failed = self.node_status(workflow, 'n1').task
        self.assertEqual(failed.state, FAILED)
        self.assertEqual(len(failed.attempts), 1)
        self.assertTrue(failed.attempts[0].not_retryable)
        self.assertIn('boom', failed.error)
        for name in ('n2', 'n3'):
            task = self.node_status(workflow, name).task
            self.assertEqual(task.state, CANCELLED, f'{name}: {task}')
            self.assertIn('upstream n1 failed', task.error)
            self.assertEqual(len(task.attempts), 0)
        self.assertEqual(self.node_status(workflow, 'n0').task.state, SUCCEEDED)
        self.assertEqual(self.node_status(workflow, 'side').task.state, SUCCEEDED)

    def test_cancelling_a_workflow_cancels_every_unfinished_node_running_ones_included(self):
        nodes = [node('first', spec('echo', 'done')),
                 node('long', spec('thread.sleep', '60000'), ['first']),
                 node('after', spec('echo'), ['long']),
                 node('parallel', spec('thread.sleep', '60000'))]
        response = self.cluster.submit_workflow(nodes)
        long_id = response.task_ids[1]
        self.watcher.wait_state(long_id, RUNNING, timeout=WAIT)
        state = self.cluster.stub.CancelWorkflow(
            scheduler_pb2.CancelWorkflowRequest(workflow_id=response.workflow_id),
            timeout=harness.RPC_TIMEOUT).state
        self.assertIn(state, (WF_CANCELLED, WorkflowState.Value('WORKFLOW_STATE_RUNNING')))
        workflow = self.cluster.wait_workflow(response.workflow_id, WAIT)
        self.assertEqual(workflow.state, WF_CANCELLED, str(workflow))
        self.assertEqual(workflow.decided_by, '')  # a client cancelled the whole workflow
        self.assertEqual(self.node_status(workflow, 'first').task.state, SUCCEEDED)
        for name in ('long', 'after', 'parallel'):
            self.assertEqual(self.node_status(workflow, name).task.state, CANCELLED, name)

    def test_a_flaky_group_member_is_retried_and_the_chord_completes(self):
        nodes = [node('a', spec('echo', 'a')),
                 node('flaky', spec('fail', 'flaky:2:b', retry=retry(3))),
                 node('c', spec('echo', 'c')),
                 node('all', spec('collect'), ['a', 'flaky', 'c'])]
        workflow = self.run_workflow(nodes)
        self.assertSucceeded(workflow)
        self.assertEqual(json.loads(self.result_of(workflow, 'all')), ['a', 'b', 'c'])
        flaky = self.node_status(workflow, 'flaky').task
        self.assertEqual(len(flaky.attempts), 3)
        self.assertFalse(any(a.not_retryable for a in flaky.attempts))

    def test_a_flaky_node_out_of_retries_fails_the_chord(self):
        nodes = [node('a', spec('echo', 'a')),
                 node('flaky', spec('fail', 'flaky:5', retry=retry(2))),
                 node('all', spec('collect'), ['a', 'flaky'])]
        workflow = self.run_workflow(nodes)
        self.assertEqual(workflow.state, WF_FAILED, str(workflow))
        self.assertEqual(workflow.decided_by, 'flaky')
        self.assertEqual(len(self.node_status(workflow, 'flaky').task.attempts), 2)
        self.assertIn('upstream flaky failed', self.node_status(workflow, 'all').task.error)

    # --- task level: retries and not-retryable errors

    def test_a_not_retryable_exit_code_stops_the_retries(self):
        task_id = self.cluster.submit('test.exit', '3', retry=retry(5))
        task = self.cluster.wait_task(task_id, WAIT)
        self.assertEqual(task.state, FAILED)
        self.assertEqual(len(task.attempts), 1)
        self.assertTrue(task.attempts[0].not_retryable)
        self.assertEqual(task.attempts[0].process.exit_code, 3)

    # --- the CLI

    def test_cli_chain_wait_prints_the_tree_and_the_result(self):
        r = self.cluster.cli('chain', 'echo:hello', 'echo', 'sha256', '--wait',
                             '--wait-timeout', str(WAIT))
        self.assertEqual(r.returncode, 0, r)
        self.assertIn('state:     succeeded', r.stdout)
        self.assertIn('echo-1', r.stdout)
        self.assertIn('`- echo-2', r.stdout)
        self.assertIn('`- sha256-3', r.stdout)
        self.assertIn(f'sha256-3: {hashlib.sha256(b"hello").hexdigest()}', r.stdout)

    def test_cli_chord_json_gives_the_callback_result(self):
        r = self.cluster.cli('chord', '--wait', '--wait-timeout', str(WAIT), '--json',
                             'echo:a', 'echo:b', '--', 'collect')
        self.assertEqual(r.returncode, 0, r)
        workflow = r.json()
        self.assertEqual(workflow['state'], 'WORKFLOW_STATE_SUCCEEDED')
        results = workflow['results']
        self.assertEqual([x['node'] for x in results], ['collect-3'])
        import base64
        self.assertEqual(json.loads(base64.b64decode(results[0]['output'])), ['a', 'b'])

    def test_cli_group_prints_the_workflow_id_and_workflow_wait_and_get_show_it(self):
        r = self.cluster.cli('group', 'echo:x', 'echo:y')
        self.assertEqual(r.returncode, 0, r)
        workflow_id = r.stdout.strip()
        self.assertTrue(workflow_id)
        r = self.cluster.cli('workflow', 'wait', workflow_id, '--timeout', str(WAIT))
        self.assertEqual(r.returncode, 0, r)
        self.assertIn('nodes:     2 (2 succeeded)', r.stdout)
        r = self.cluster.cli('workflow', 'get', workflow_id, '--json')
        self.assertEqual(r.returncode, 0, r)
        self.assertEqual(r.json()['id'], workflow_id)
        task_id = r.json()['nodes'][0]['task']['id']
        r = self.cluster.cli('get', task_id)
        self.assertEqual(r.returncode, 0, r)
        self.assertIn(f'workflow:  {workflow_id} (node echo-1)', r.stdout)

    def test_cli_failed_chain_exits_1_and_the_tree_names_the_reason(self):
        r = self.cluster.cli('chain', 'echo:x', 'fail:permanent:broken', 'echo', '--wait',
                             '--wait-timeout', str(WAIT))
        self.assertEqual(r.returncode, 1, r)
        self.assertIn('state:     failed (decided by fail-2)', r.stdout)
        self.assertIn('broken', r.stdout)
        self.assertIn('upstream fail-2 failed', r.stdout)

    def test_cli_workflow_cancel(self):
        r = self.cluster.cli('chain', 'thread.sleep:60000', 'echo')
        self.assertEqual(r.returncode, 0, r)
        workflow_id = r.stdout.strip()
        r = self.cluster.cli('workflow', 'cancel', workflow_id)
        self.assertEqual(r.returncode, 0, r)
        self.assertIn(f'workflow {workflow_id}:', r.stdout)
        r = self.cluster.cli('workflow', 'wait', workflow_id, '--timeout', str(WAIT))
        self.assertEqual(r.returncode, 1, r)
        self.assertIn('state:     cancelled', r.stdout)

    def test_cli_watch_prints_the_workflow_events_beside_its_nodes_events(self):
        # Two unfiltered watches, --json and human. WatchTasks gives no sign that it is
        # subscribed, so echo tasks are submitted until both have printed a line; then a
        # chain whose middle node fails for good must show, in both, its nodes' events and
        # the workflow's own events (docs/workflows.md, "Seeing it").
        watches = {}
        for form in ('json', 'human'):
            args = ('--json',) if form == 'json' else ()
            proc = self.cluster.cli_popen(*args, 'watch', '--for', str(2 * WAIT))
            self.addCleanup(proc.stderr.close)
            self.addCleanup(proc.stdout.close)
            self.addCleanup(proc.wait, 10)
            self.addCleanup(proc.kill)  # runs first: cleanups are last in, first out
            lines = queue.Queue()

            def pump(stream=proc.stdout, lines=lines):
                for line in stream:
                    lines.put(line)
                lines.put(None)

            threading.Thread(target=pump, daemon=True).start()
            watches[form] = (proc, lines, [])

        def read_until(form, done, bound):
            proc, lines, printed = watches[form]
            deadline = time.monotonic() + bound
            while not done(printed):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                try:
                    line = lines.get(timeout=min(remaining, 0.2))
                except queue.Empty:
                    continue
                if line is None:
                    self.fail(f'{form} watch ended early (exit {proc.wait(5)}): '
                              f'{proc.stderr.read()}\nprinted: {printed}')
                printed.append(json.loads(line) if form == 'json' else line.rstrip('\n'))
            return True

        for _ in range(50):
            self.cluster.submit('echo', 'marker')
            if all(read_until(form, lambda printed: printed, 0.2) for form in watches):
                break
        self.assertTrue(all(watches[form][2] for form in watches),
                        'a watch printed none of 50 marker events')

        r = self.cluster.cli('chain', 'echo:x', 'fail:permanent:broken', 'echo')
        self.assertEqual(r.returncode, 0, r)
        workflow_id = r.stdout.strip()

        def workflow_events(printed):
            return [e for e in printed
                    if 'task_id' not in e and e.get('workflow_id') == workflow_id]

        self.assertTrue(read_until('json', lambda p: any(
            e['state'] == 'WORKFLOW_STATE_FAILED' for e in workflow_events(p)), WAIT),
            f'no FAILED workflow event: {watches["json"][2]}')
        # RUNNING at submit, RUNNING again once fail-2 decided it, then FAILED.
        events = workflow_events(watches['json'][2])
        self.assertEqual([(e['state'], e['decided_by']) for e in events],
                         [('WORKFLOW_STATE_RUNNING', ''), ('WORKFLOW_STATE_RUNNING', 'fail-2'),
                          ('WORKFLOW_STATE_FAILED', 'fail-2')], events)
        self.assertIn('broken', events[-1]['error'])
        nodes = {e['node'] for e in watches['json'][2]
                 if 'task_id' in e and e['workflow_id'] == workflow_id}
        self.assertEqual(nodes, {'echo-1', 'fail-2', 'echo-3'})

        def failed_line(printed):
            return [line for line in printed
                    if f'{workflow_id}  workflow  failed' in line]

        self.assertTrue(read_until('human', failed_line, WAIT),
                        f'no human workflow line: {watches["human"][2]}')
        self.assertIn('decided by fail-2', failed_line(watches['human'][2])[0])
        self.assertTrue(any(f'workflow {workflow_id}/echo-3' in line
                            for line in watches['human'][2]), watches['human'][2])

    def test_cli_chain_with_an_idempotency_key_twice_submits_one_workflow(self):
        key = f'wf-key-{time.monotonic_ns()}'
        args = ('chain', '--idempotency-key', key, 'echo:once', 'echo')
        first = self.cluster.cli(*args)
        self.assertEqual(first.returncode, 0, first)
        self.assertNotIn('matched', first.stderr)
        again = self.cluster.cli(*args)
        self.assertEqual(again.returncode, 0, again)
        self.assertEqual(again.stdout, first.stdout)
        workflow_id = first.stdout.strip()
        self.assertIn(f"idempotency key '{key}' matched workflow '{workflow_id}'", again.stderr)
        workflow = self.cluster.wait_workflow(workflow_id, WAIT)
        self.assertSucceeded(workflow)
        self.assertEqual(self.result_of(workflow, 'echo-2'), b'once')

    def test_cli_workflow_get_of_an_unknown_id_is_a_server_error(self):
        r = self.cluster.cli('workflow', 'get', 'no-such-workflow')
        self.assertEqual(r.returncode, 3, r)
        self.assertIn('NOT_FOUND', r.stderr)

    def test_cli_chord_needs_a_callback(self):
        r = self.cluster.cli('chord', 'collect')
        self.assertEqual(r.returncode, 2, r)
        self.assertIn('callback', r.stderr)

    def test_cli_submit_retries_a_flaky_task_until_it_succeeds(self):
        r = self.cluster.cli('submit', 'fail', '--payload', 'flaky:1:ok', '--retries', '2',
                             '--backoff', '10ms', '--wait', '--wait-timeout', str(WAIT), '--json')
        self.assertEqual(r.returncode, 0, r)
        task = r.json()
        self.assertEqual(task['state'], 'TASK_STATE_SUCCEEDED')
        self.assertEqual(len(task['attempts']), 2)

    def test_cli_submit_of_a_permanent_failure_makes_one_attempt(self):
        r = self.cluster.cli('submit', 'fail', '--payload', 'permanent:nope', '--retries', '3',
                             '--wait', '--wait-timeout', str(WAIT))
        self.assertEqual(r.returncode, 1, r)
        self.assertIn('attempts:  1', r.stdout)
        self.assertIn('[not retryable] nope', r.stdout)

    def test_cli_countdown_shows_the_scheduled_time(self):
        r = self.cluster.cli('submit', 'echo', '--payload', 'later', '--countdown', '1h')
        self.assertEqual(r.returncode, 0, r)
        task_id = r.stdout.strip()
        r = self.cluster.cli('get', task_id)
        self.assertEqual(r.returncode, 0, r)
        self.assertIn('state:     scheduled', r.stdout)
        self.assertIn('runs at:', r.stdout)
        self.cluster.cli('cancel', task_id)

    def test_cli_idempotency_key_returns_the_first_task(self):
        first = self.cluster.cli('submit', 'echo', '--payload', 'once', '--idempotency-key',
                                 'wf-e2e-key-1')
        second = self.cluster.cli('submit', 'echo', '--payload', 'once', '--idempotency-key',
                                  'wf-e2e-key-1')
        self.assertEqual(first.returncode, 0, first)
        self.assertEqual(second.returncode, 0, second)
        self.assertEqual(first.stdout.strip(), second.stdout.strip())
        self.assertIn('matched task', second.stderr)


class ExecutorReconnectTest(harness.LoggedTestCase):
    """An executor whose scheduler is killed and restarted keeps running its attempt; its
    Hello lists it, so the restarted scheduler keeps that attempt instead of running the
    task again, and the result (sent after the new Welcome) ends the task."""

    def test_a_running_attempt_survives_a_scheduler_restart(self):
        cluster = self.new_cluster('reconnect')
        cluster.start_scheduler()
        cluster.start_executor('survivor', slots=2)
        watcher = harness.EventWatcher(cluster)
        watcher.sync()
        task_id = cluster.submit('thread.sleep', '3000')
        watcher.wait_state(task_id, RUNNING, timeout=WAIT)
        watcher.close()
        # RUNNING goes out as the assignment is sent: the kill must wait until the executor
        # runs the attempt, or its Hello has nothing to list (and attempt 2 is then right).
        metrics = cluster.executors['survivor'].ready['metrics']
        deadline = time.monotonic() + WAIT
        while nemesis.metric(nemesis.scrape(metrics),
                             'taskwire_executor_attempts_started_total') != 1.0:
            self.assertLess(time.monotonic(), deadline, 'the executor never started the attempt')
            time.sleep(0.02)  # a poll with a deadline: the executor sends no event for a start

        cluster.restart_scheduler()  # kill -9, then the same address and data directory
        request = scheduler_pb2.WaitTaskRequest(task_id=task_id)
        request.timeout.FromSeconds(int(WAIT))
        deadline = time.monotonic() + WAIT
        while True:  # the channel may first fail a call on the old scheduler's connection
            try:
                task = cluster.stub.WaitTask(request, timeout=WAIT + harness.RPC_TIMEOUT,
                                             wait_for_ready=True)
                break
            except grpc.RpcError as e:
                if e.code() != grpc.StatusCode.UNAVAILABLE or time.monotonic() > deadline:
                    raise
        self.assertEqual(task.state, SUCCEEDED, str(task))
        self.assertEqual(task.output, b'slept 3000 ms')
        self.assertEqual([(a.number, a.executor_id) for a in task.attempts], [(1, 'survivor')],
                         'the attempt listed in Hello.running must be kept, not run again')


if __name__ == '__main__':
    import unittest
    unittest.main()
