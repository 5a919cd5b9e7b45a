"""A Python client, built from the proto alone, against a real scheduler and one executor.

This is the proof that taskwire's wire API is usable from another language: the stubs are
generated from proto/taskwire/v1 while the test runs, and nothing here knows the C++ code.
The processes are started by the e2e harness (tests/e2e/harness.py).
"""

import hashlib
import json
import os
import sys
import unittest

import grpc

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'e2e'))
import harness  # noqa: E402

pb = harness.load_stubs()
task_pb2 = pb.task_pb2
scheduler_pb2 = pb.scheduler_pb2
TaskState = task_pb2.TaskState

RPC_TIMEOUT = 10.0  # every call has a deadline


class TaskwireClient:
    """The small client a Python user would write over the generated stubs."""

    def __init__(self, stub):
        self.stub = stub

    def submit(self, task_type, payload=b'', **spec_fields):
        spec = task_pb2.TaskSpec(type=task_type, payload=payload, **spec_fields)
        return self.stub.Submit(scheduler_pb2.SubmitRequest(task=spec),
                                timeout=RPC_TIMEOUT).task_id

    def run(self, task_type, payload=b'', wait=10.0, **spec_fields):
        """Submits and waits in one call: the task once terminal, or as it is after `wait`."""
        request = scheduler_pb2.SubmitRequest(
            task=task_pb2.TaskSpec(type=task_type, payload=payload, **spec_fields))
        request.wait.FromMilliseconds(int(wait * 1000))
        return self.stub.Submit(request, timeout=wait + RPC_TIMEOUT)

    def submit_batch(self, specs):
        return list(self.stub.SubmitBatch(scheduler_pb2.SubmitBatchRequest(tasks=specs),
                                          timeout=RPC_TIMEOUT).task_ids)

    def wait_request(self, task_id, timeout):
        request = scheduler_pb2.WaitTaskRequest(task_id=task_id)
        request.timeout.FromMilliseconds(int(timeout * 1000))
        return request

    def wait(self, task_id, timeout=10.0):
        """The task once terminal, or as it is when `timeout` seconds pass."""
        return self.stub.WaitTask(self.wait_request(task_id, timeout),
                                  timeout=timeout + RPC_TIMEOUT)

    def wait_all(self, task_ids, timeout=20.0):
        """Waits for many tasks at once (one WaitTask each, all in flight together)."""
        futures = [self.stub.WaitTask.future(self.wait_request(t, timeout),
                                             timeout=timeout + RPC_TIMEOUT) for t in task_ids]
        return [f.result() for f in futures]

    def get(self, task_id):
        return self.stub.GetTask(scheduler_pb2.GetTaskRequest(task_id=task_id),
                                 timeout=RPC_TIMEOUT)

    def cancel(self, task_id):
        return self.stub.CancelTask(scheduler_pb2.CancelTaskRequest(task_id=task_id),
                                    timeout=RPC_TIMEOUT).state

    def list(self, **filters):
        return self.stub.ListTasks(scheduler_pb2.ListTasksRequest(**filters), timeout=RPC_TIMEOUT)


class PythonClientTest(harness.SharedClusterTestCase):
    client = None

    @classmethod
    def setUpClass(cls):
        def start(cluster):
            cluster.start_scheduler()
            cluster.start_executor('py-exec', slots=4)
        cls.start_cluster('python-client', start)
        cls.client = TaskwireClient(cls.cluster.stub)

    def assertRpcError(self, code, call, *args, message_contains=None):
        with self.assertRaises(grpc.RpcError) as caught:
            call(*args)
        self.assertEqual(caught.exception.code(), code, caught.exception.details())
        if message_contains is not None:
            self.assertIn(message_contains, caught.exception.details())
        return caught.exception

    def assertSucceeded(self, task):
        self.assertEqual(task.state, TaskState.Value('TASK_STATE_SUCCEEDED'), str(task))

    # --- submit and wait

    def test_submit_echo_and_wait_returns_the_payload(self):
        task_id = self.client.submit('echo', b'hello from python')
        task = self.client.wait(task_id)
        self.assertSucceeded(task)
        self.assertEqual(task.id, task_id)
        self.assertEqual(task.output, b'hello from python')
        self.assertEqual(task.spec.queue, 'default')
        self.assertEqual([(a.number, a.executor_id) for a in task.attempts], [(1, 'py-exec')])
        self.assertEqual(task.attempts[0].outcome,
                         task_pb2.AttemptOutcome.Value('ATTEMPT_OUTCOME_SUCCEEDED'))
        self.assertTrue(task.HasField('finished_at'))

    def test_submit_sha256_and_wait_returns_the_hex_digest(self):
        payload = bytes(range(256)) * 16
        task = self.client.wait(self.client.submit('sha256', payload))
        self.assertSucceeded(task)
        self.assertEqual(task.output.decode(), hashlib.sha256(payload).hexdigest())
        self.assertEqual(self.client.get(task.id).output, task.output)

    def test_submit_that_waits_answers_with_the_result_in_one_call(self):
        response = self.client.run('echo', b'one round trip')
        self.assertSucceeded(response.task)
        self.assertEqual(response.task.id, response.task_id)
        self.assertEqual(response.task.output, b'one round trip')

    def test_submit_that_waits_answers_the_current_state_when_the_wait_runs_out(self):
        response = self.client.run('nobody.serves.this', wait=0.1)
        self.assertEqual(response.task.state, TaskState.Value('TASK_STATE_QUEUED'))
        self.assertIn('nobody.serves.this', response.task.waiting_reason)

    def test_submit_batch_of_50_runs_every_task_in_request_order(self):
        specs = []
        for i in range(50):
            if i % 2:
                specs.append(task_pb2.TaskSpec(type='echo', payload=f'item-{i}'.encode()))
            else:
                specs.append(task_pb2.TaskSpec(type='sha256', payload=f'item-{i}'.encode()))
        ids = self.client.submit_batch(specs)
        self.assertEqual(len(ids), 50)
        self.assertEqual(len(set(ids)), 50, 'task ids are not unique')

        tasks = self.client.wait_all(ids)
        for i, (task_id, task) in enumerate(zip(ids, tasks)):
            with self.subTest(i=i):
                self.assertEqual(task.id, task_id)
                self.assertSucceeded(task)
                payload = f'item-{i}'.encode()
                expected = payload if i % 2 else hashlib.sha256(payload).hexdigest().encode()
                self.assertEqual(task.output, expected)

    def test_wait_with_a_timeout_answers_the_current_state_of_an_unfinished_task(self):
        task_id = self.client.submit('no.such.type', b'x')
        self.addCleanup(self.client.cancel, task_id)
        task = self.client.wait(task_id, timeout=0.3)
        self.assertEqual(task.state, TaskState.Value('TASK_STATE_QUEUED'), str(task))
        self.assertIn('no.such.type', task.waiting_reason)
        self.assertEqual(self.client.cancel(task_id), TaskState.Value('TASK_STATE_CANCELLED'))

    # --- errors

    def test_invalid_submit_is_rejected_with_invalid_argument_naming_the_field(self):
        negative = task_pb2.TaskSpec(type='echo')
        negative.timeout.FromMilliseconds(-1)
        cases = [
            ('task.type', task_pb2.TaskSpec(type='')),
            ('task.type', task_pb2.TaskSpec(type='has space')),
            ('task.queue', task_pb2.TaskSpec(type='echo', queue='a/b')),
            ('task.priority', task_pb2.TaskSpec(type='echo', priority=101)),
            ('task.timeout', negative),
        ]
        for field, spec in cases:
            with self.subTest(field=field, spec=str(spec)):
                self.assertRpcError(grpc.StatusCode.INVALID_ARGUMENT, self.stub_submit, spec,
                                    message_contains=field)

    def test_a_batch_with_one_invalid_task_is_rejected_whole(self):
        queue = 'batch-reject'
        specs = [task_pb2.TaskSpec(type='echo', queue=queue),
                 task_pb2.TaskSpec(type='', queue=queue),
                 task_pb2.TaskSpec(type='echo', queue=queue)]
        self.assertRpcError(grpc.StatusCode.INVALID_ARGUMENT, self.client.submit_batch, specs,
                            message_contains='tasks[1].type')
        self.assertEqual(list(self.client.list(queue=queue).tasks), [],
                         'a rejected batch stored some of its tasks')

    def test_unknown_task_ids_are_not_found(self):
        self.assertRpcError(grpc.StatusCode.NOT_FOUND, self.client.get, 'no-such-task',
                            message_contains='no-such-task')
        self.assertRpcError(grpc.StatusCode.NOT_FOUND, self.client.wait, 'no-such-task', 1.0)
        self.assertRpcError(grpc.StatusCode.NOT_FOUND, self.client.cancel, 'no-such-task')

    def test_an_empty_task_id_is_an_invalid_argument(self):
        self.assertRpcError(grpc.StatusCode.INVALID_ARGUMENT, self.client.get, '',
                            message_contains='task_id')

    # --- listing

    def test_list_tasks_pages_through_a_queue_oldest_first(self):
        queue = 'paged'
        ids = self.client.submit_batch(
            [task_pb2.TaskSpec(type='echo', queue=queue, payload=b'%d' % i) for i in range(5)])
        seen, token = [], ''
        for _ in range(10):  # 3 pages expected; the bound stops a token that never ends
            page = self.client.list(queue=queue, page_size=2, page_token=token)
            self.assertLessEqual(len(page.tasks), 2)
            seen.extend(t.id for t in page.tasks)
            token = page.next_page_token
            if not token:
                break
        self.assertEqual(seen, ids)

    def test_list_executors_reports_the_executor_and_its_slots(self):
        response = self.cluster.stub.ListExecutors(scheduler_pb2.ListExecutorsRequest(),
                                                   timeout=RPC_TIMEOUT)
        # `slots` adds up every mode's: 4 threads and the default 10,000 event-loop slots.
        self.assertEqual([(e.id, e.slots) for e in response.executors], [('py-exec', 10_004)])
        self.assertEqual({(m.mode, m.slots) for m in response.executors[0].mode_slots},
                         {(task_pb2.RUN_MODE_THREAD, 4), (task_pb2.RUN_MODE_EVENT_LOOP, 10_000)})
        modes = {t.name: t.mode for t in response.executors[0].task_types}
        self.assertLessEqual({'echo', 'sleep', 'thread.sleep', 'fail', 'primes', 'sha256'},
                             set(modes))
        self.assertEqual(modes['sleep'], task_pb2.RUN_MODE_EVENT_LOOP)
        self.assertEqual(modes['thread.sleep'], task_pb2.RUN_MODE_THREAD)

    def test_a_chord_built_from_the_proto_hands_the_callback_the_group_results_in_order(self):
        # docs/workflows.md, "From the proto": a chord is a group of nodes with no `after`,
        # and a callback whose `after` lists them in the order its input should have.
        workflow_pb2 = pb.workflow_pb2
        group = [workflow_pb2.WorkflowNode(name=f'h{i}',
                                           task=task_pb2.TaskSpec(type='sha256', payload=word))
                 for i, word in enumerate([b'alpha', b'beta', b'gamma'])]
        # The slowest member comes first: the callback's input follows `after`, not timing.
        group.insert(0, workflow_pb2.WorkflowNode(
            name='slow', task=task_pb2.TaskSpec(type='thread.sleep', payload=b'200')))
        callback = workflow_pb2.WorkflowNode(name='all', task=task_pb2.TaskSpec(type='collect'),
                                             after=[n.name for n in group])
        spec = workflow_pb2.WorkflowSpec(nodes=group + [callback], labels={'client': 'python'})
        submitted = self.cluster.stub.SubmitWorkflow(
            scheduler_pb2.SubmitWorkflowRequest(workflow=spec), timeout=RPC_TIMEOUT)
        self.assertEqual(len(submitted.task_ids), 5)
        request = scheduler_pb2.WaitWorkflowRequest(workflow_id=submitted.workflow_id)
        request.timeout.FromSeconds(20)
        workflow = self.cluster.stub.WaitWorkflow(request, timeout=20 + RPC_TIMEOUT)
        self.assertEqual(workflow.state, workflow_pb2.WorkflowState.Value('WORKFLOW_STATE_SUCCEEDED'),
                         str(workflow))
        self.assertEqual([r.node for r in workflow.results], ['all'])
        self.assertEqual(json.loads(workflow.results[0].output),
                         ['slept 200 ms'] + [hashlib.sha256(w).hexdigest()
                                             for w in (b'alpha', b'beta', b'gamma')])
        self.assertEqual(workflow.labels['client'], 'python')

    def stub_submit(self, spec):
        return self.cluster.stub.Submit(scheduler_pb2.SubmitRequest(task=spec),
                                        timeout=RPC_TIMEOUT)


if __name__ == '__main__':
    unittest.main()
