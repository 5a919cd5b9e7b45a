"""Six ways an executor link broke, one regression test each (plus the black-hole and pause
variants of the first), against the real binaries with the nemeses of nemesis.py:

1. a link that breaks and comes back (a TCP reset through a proxy; an executor paused past
   its lease; a black-holed connection) leaves no task RUNNING;
2. a result larger than a gRPC message fails its own attempt, not the link;
3. a second executor with a live executor's --id is refused and exits non-zero, the first
   keeps working;
4. results in flight when the scheduler is killed are settled when the executors reconnect,
   not a lease later;
5. an ~8 KB task id gets NOT_FOUND with a short message, not RESOURCE_EXHAUSTED;
6. a second scheduler on a taken --listen address (an executor on a taken health port)
   exits non-zero at start-up.

Waits are bounded polls of GetTask/ListTasks (a task's state has no event the test could
block on without WatchTasks, which a restart would end) or WaitTask with a bound.
"""

import os
import sys
import time

import grpc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fault_checker  # noqa: E402
import harness  # noqa: E402
import nemesis  # noqa: E402
from fault_checker import O, S, TERMINAL, history  # noqa: E402

pb = harness.load_stubs()
task_pb2 = pb.task_pb2
scheduler_pb2 = pb.scheduler_pb2

LEASE = 3          # --executor-timeout of most tests, seconds
HEARTBEAT = 1      # --heartbeat-interval
EXECUTOR_ARGS = ('--max-backoff', '0.5', '--kill-grace', '1')
TASKS_IN_FLIGHT = 6000  # case 4's load


def scheduler_args(lease=LEASE, heartbeat=HEARTBEAT):
    return ('--executor-timeout', str(lease), '--heartbeat-interval', str(heartbeat))


def sleep_spec(ms, **fields):
    return task_pb2.TaskSpec(type='thread.sleep', payload=str(ms).encode(), **fields)


def submit_all(stub, specs):
    response = fault_checker.call(stub.SubmitBatch, scheduler_pb2.SubmitBatchRequest(tasks=specs))
    return list(response.task_ids)


def tasks_of(stub, ids):
    return [fault_checker.get_task(stub, i) for i in ids]


def wait_states(stub, ids, states, timeout):
    """Polls GetTask (bounded) until every task is in one of `states`; returns the tasks and
    whether they all got there."""
    deadline = time.monotonic() + timeout
    while True:
        tasks = tasks_of(stub, ids)
        if all(t.state in states for t in tasks):
            return tasks, True
        if time.monotonic() >= deadline:
            return tasks, False
        time.sleep(0.1)  # a poll with a deadline


def wait_listed(stub, executor_ids, timeout):
    """Polls ListExecutors (bounded) until every one of `executor_ids` is linked."""
    deadline = time.monotonic() + timeout
    while True:
        listed = fault_checker.call(stub.ListExecutors, scheduler_pb2.ListExecutorsRequest())
        if executor_ids <= {e.id for e in listed.executors}:
            return
        if time.monotonic() >= deadline:
            raise AssertionError(f'executors {sorted(executor_ids)} not all linked within '
                                 f'{timeout}s: {[e.id for e in listed.executors]}')
        time.sleep(0.05)  # a poll with a deadline


def executor_metric(process, name, **labels):
    return nemesis.metric(nemesis.scrape(process.ready['metrics']), name, **labels)


class LinkFaultTest(harness.LoggedTestCase):

    def setUp(self):
        self.pauses = nemesis.Pauses()

    def new_cluster(self, label):
        cluster = super().new_cluster(label)
        self.addCleanup(self.pauses.resume_all)  # cleanups are LIFO: before the close
        return cluster

    def new_proxy(self, target, name='proxy'):
        proxy = nemesis.TcpProxy(target, name)
        self.addCleanup(proxy.close)
        return proxy

    def assert_all_succeeded_once(self, tasks, what):
        bad = []
        for t in tasks:
            problems = fault_checker.attempt_violations(t)
            if t.state != S['SUCCEEDED']:
                problems.append(f'ended {fault_checker.harness.state_name(t.state)}')
            if problems:
                bad.append('; '.join(problems) + '\n' + history(t))
        self.assertFalse(bad, f'{what}: {len(bad)} of {len(tasks)} tasks wrong:\n\n'
                         + '\n\n'.join(bad))

    def assert_slots_agree_at_zero(self, cluster, executor_ids):
        checker = fault_checker.Checker(cluster.stub)
        checker.check_slots({i: cluster.executors[i] for i in executor_ids}, settle=5.0)
        self.assertFalse(checker.violations, checker.report())

    # ---------------------------------------------------------------- case 1

    def _ten_long_tasks_through_a_broken_link(self, label, fault, sleep_ms=3000):
        """One executor with 10 slots behind a proxy runs 10 sleeps; `fault(ctx)` breaks
        its link once; every task must then end SUCCEEDED within a bound, none stays
        RUNNING, and the slot counts agree at 0."""
        cluster = self.new_cluster(label)
        cluster.start_scheduler(*scheduler_args())
        proxy = self.new_proxy(cluster.address, 'exec-link')
        cluster.start_executor('solo', slots=10, extra_args=EXECUTOR_ARGS,
                               scheduler_address=proxy.address)
        stub = cluster.stub
        ids = submit_all(stub, [sleep_spec(sleep_ms) for _ in range(10)])
        tasks, ok = wait_states(stub, ids, {S['RUNNING']}, 10)
        self.assertTrue(ok, 'the 10 tasks did not all start:\n' +
                        '\n'.join(history(t) for t in tasks))
        fault_started = time.monotonic()
        fault(cluster, proxy)
        fault_ended = time.monotonic()
        # Every task ends: its first attempt (kept across the reconnect) or a second one,
        # well within two sleeps, a lease and the redial after the fault.
        bound = 2 * sleep_ms / 1000 + LEASE + HEARTBEAT + 5
        tasks, ok = wait_states(stub, ids, TERMINAL, bound)
        running = [history(t) for t in tasks if t.state not in TERMINAL]
        self.assertTrue(ok, f'{len(running)} of 10 tasks not terminal {bound:.0f}s after the '
                        f'fault (it took {fault_ended - fault_started:.1f}s):\n\n'
                        + '\n\n'.join(running))
        self.assert_all_succeeded_once(tasks, label)
        self.assert_slots_agree_at_zero(cluster, ['solo'])
        started = executor_metric(cluster.executors['solo'],
                                  'taskwire_executor_attempts_started_total')
        attempts = sum(len(t.attempts) for t in tasks)
        print(f'\n{label}: {attempts} attempts recorded, {started} started on the executor',
              flush=True)
        return cluster, tasks

    def test_a_reset_link_that_reconnects_leaves_no_task_running(self):
        def reset(cluster, proxy):
            proxy.wait_connections(1)
            proxy.reset()
            proxy.wait_connections(1, timeout=10)  # the executor redialled

        self._ten_long_tasks_through_a_broken_link('reset', reset)

    def test_an_executor_paused_past_its_lease_then_resumed_leaves_no_task_running(self):
        def pause(cluster, proxy):
            process = cluster.executors['solo']
            self.pauses.pause(process)
            time.sleep(LEASE + 1.5)  # the fault's length: past the lease on purpose
            self.pauses.resume(process)

        self._ten_long_tasks_through_a_broken_link('pause', pause)

    def test_a_black_holed_link_is_detected_and_the_executor_redials(self):
        """No FIN, no RST: only heartbeats (answered by the scheduler, watched by the
        executor) can tell. The executor must dial a new connection within about a lease
        of silence, and every task still ends."""
        redial = {}

        def black_hole(cluster, proxy):
            old = proxy.wait_connections(1)
            last = max(c.number for c in old)
            for c in old:
                proxy.black_hole(c)  # only the live connection: a redial passes
            t0 = time.monotonic()
            try:
                new = proxy.wait_connections(1, timeout=LEASE + 3 * HEARTBEAT + 5, since=last)
                redial['after'] = time.monotonic() - t0
                redial['conn'] = new
            except AssertionError as e:
                redial['error'] = str(e)
            for c in old:
                proxy.reset(c)  # end the black hole either way, so the test can finish

        cluster, _ = self._ten_long_tasks_through_a_broken_link('black-hole', black_hole)
        self.assertNotIn('error', redial,
                         f'the executor did not open a new connection within lease + 3 '
                         f'heartbeats + 5 s of a black-holed link (a new stream on the same '
                         f'gRPC channel goes over the same silent TCP connection): '
                         f'{redial.get("error")}')
        print(f'black-hole: the executor redialled {redial["after"]:.1f}s into the silence',
              flush=True)

    # ---------------------------------------------------------------- case 2

    def test_a_result_larger_than_a_message_fails_its_own_attempt_and_not_the_link(self):
        cluster = self.new_cluster('big-result')
        config = os.path.join(cluster.dir, 'big.textproto')
        with open(config, 'w') as f:
            f.write('''process_slots: 2
process_tasks {
  type: "big"
  argv: ["/usr/bin/head", "-c", "67108864", "/dev/zero"]
  timeout_seconds: 60
  limits { max_output_bytes: 67108864 }
}
''')
        cluster.start_scheduler(*scheduler_args())
        cluster.start_executor('bigexec', slots=2, extra_args=(*EXECUTOR_ARGS, '--config', config))
        stub = cluster.stub
        big = submit_all(stub, [task_pb2.TaskSpec(type='big')])[0]
        small = submit_all(stub, [sleep_spec(2000), task_pb2.TaskSpec(type='echo',
                                                                      payload=b'still here')])
        ids = [big, *small]
        tasks, ok = wait_states(stub, ids, TERMINAL, 40)
        self.assertTrue(ok, 'not terminal within 40 s:\n' + '\n\n'.join(history(t)
                                                                         for t in tasks))
        big_task, *others = tasks
        self.assertEqual(big_task.state, S['FAILED'], history(big_task))
        lost = [a.number for a in big_task.attempts if a.outcome == O['LOST']]
        self.assertEqual(lost, [], 'the oversized result must fail its own attempt, not '
                                   'lose the link:\n' + history(big_task))
        errors = ' '.join([big_task.error] + [a.error for a in big_task.attempts]).lower()
        self.assertIn('message', errors, 'the error must name the message limit:\n'
                      + history(big_task))
        self.assert_all_succeeded_once(others, 'tasks beside the big one')
        self.assertTrue(all(len(t.attempts) == 1 for t in others),
                        '\n\n'.join(history(t) for t in others))
        reconnects = executor_metric(cluster.executors['bigexec'],
                                     'taskwire_executor_reconnects_total')
        self.assertEqual(reconnects, 0, 'an oversized result must not drop the link')
        self.assert_slots_agree_at_zero(cluster, ['bigexec'])

    # ---------------------------------------------------------------- case 3

    def test_a_second_executor_with_the_same_id_is_refused_and_the_first_keeps_working(self):
        cluster = self.new_cluster('twin')
        cluster.start_scheduler(*scheduler_args())
        first = cluster.start_executor('twin', slots=4, extra_args=EXECUTOR_ARGS)
        stub = cluster.stub
        ids = submit_all(stub, [sleep_spec(1500) for _ in range(4)])
        wait_states(stub, ids, {S['RUNNING']}, 10)
        argv = [harness.EXECUTOR_BIN, '--scheduler', cluster.address, '--id', 'twin',
                '--slots', '4', '--queues', 'default', '--health-listen', '127.0.0.1:0',
                '--metrics-listen', '127.0.0.1:0', '--refused-id-grace', '2', *EXECUTOR_ARGS]
        second = harness.Process('executor-twin-second', argv, cluster.dir)
        second.expect_exit = True
        cluster.executors['twin (second process)'] = second
        rc = second.wait_exit(15)
        if rc is None:
            second.kill()
        log = second.log_text()
        self.assertIsNotNone(rc, 'the second executor with a live id still runs after 15 s\n'
                             + second.log_tail())
        self.assertNotEqual(rc, 0, 'the refused executor must exit non-zero\n' + log)
        self.assertIn('twin', log, 'its log must name the id it was refused for')
        more = submit_all(stub, [task_pb2.TaskSpec(type='echo', payload=b'%d' % i)
                                 for i in range(8)])
        tasks, ok = wait_states(stub, ids + more, TERMINAL, 20)
        self.assertTrue(ok, '\n\n'.join(history(t) for t in tasks if t.state not in TERMINAL))
        self.assert_all_succeeded_once(tasks, 'tasks of the first executor')
        self.assertTrue(all(len(t.attempts) == 1 and t.attempts[0].executor_id == 'twin'
                            for t in tasks), '\n\n'.join(history(t) for t in tasks))
        self.assertEqual(executor_metric(first, 'taskwire_executor_reconnects_total'), 0,
                         'the first executor lost its link to the second')
        self.assertEqual(first.returncode, None, 'the first executor exited')

    # ---------------------------------------------------------------- case 4

    def test_results_in_flight_when_the_scheduler_dies_are_settled_when_executors_reconnect(self):
        lease = 15
        cluster = self.new_cluster('in-flight')
        args = scheduler_args(lease=lease)
        cluster.start_scheduler(*args)
        for e in ('flight-a', 'flight-b'):
            cluster.start_executor(e, slots=8, extra_args=EXECUTOR_ARGS)
        channel = grpc.insecure_channel(cluster.address, options=fault_checker.CHANNEL_OPTIONS)
        self.addCleanup(channel.close)
        stub = pb.scheduler_pb2_grpc.SchedulerStub(channel)
        # Results stream back all the time: thousands of echoes a second (so that some are
        # always between the executor's send and the store's commit) beside sleeps that
        # run across the kill. The kill lands once about a third of them are done.
        specs = [task_pb2.TaskSpec(type='echo', payload=b'%d' % i) if i % 100
                 else sleep_spec(200 + (i * 37) % 600) for i in range(TASKS_IN_FLIGHT)]
        ids = []
        for start in range(0, len(specs), 500):
            ids += submit_all(stub, specs[start:start + 500])
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            done = fault_checker.call(stub.ListTasks, scheduler_pb2.ListTasksRequest(
                state=S['SUCCEEDED'], page_size=1000))
            if len(done.tasks) >= 1000 or len(done.tasks) >= len(ids) // 3:
                break
            time.sleep(0.02)  # a poll: the kill waits for progress, not for time
        cluster.restart_scheduler(*args)  # kill -9, same address and data dir
        restarted = time.monotonic()
        wait_listed(stub, {'flight-a', 'flight-b'}, timeout=10)
        reconnected = time.monotonic()
        bound = lease / 2
        tasks, ok = wait_states(stub, ids, TERMINAL, bound)
        late = [t for t in tasks if t.state not in TERMINAL]
        self.assertTrue(ok, f'{len(late)} tasks not terminal {bound}s after both executors '
                        f'reconnected ({reconnected - restarted:.1f}s after the restart):\n\n'
                        + '\n\n'.join(history(t) for t in late[:10]))
        waited = [t for t in tasks
                  if any('did not reconnect within a lease' in a.error for a in t.attempts)]
        self.assertFalse(waited, f'{len(waited)} attempts waited a lease though their '
                         'executor reconnected:\n\n' + '\n\n'.join(history(t)
                                                                   for t in waited[:10]))
        self.assert_all_succeeded_once(tasks, 'tasks across the kill')
        print(f'\nin-flight: executors back {reconnected - restarted:.1f}s after the restart; '
              f'{sum(len(t.attempts) > 1 for t in tasks)} tasks ran twice', flush=True)
        self.assert_slots_agree_at_zero(cluster, ['flight-a', 'flight-b'])

    # ---------------------------------------------------------------- case 5

    def test_an_8_kb_task_id_gets_not_found_with_a_short_message(self):
        cluster = self.new_cluster('long-id')
        cluster.start_scheduler(*scheduler_args())
        long_id = 'x' * 8192
        wait = scheduler_pb2.WaitTaskRequest(task_id=long_id)
        wait.timeout.FromMilliseconds(500)
        wf_wait = pb.scheduler_pb2.WaitWorkflowRequest(workflow_id=long_id)
        wf_wait.timeout.FromMilliseconds(500)
        long_key = 'k' * 8192
        long_type = 't' * 8192
        # A default channel: no option raises the metadata limit (8 KB by default).
        with grpc.insecure_channel(cluster.address) as channel:
            stub = pb.scheduler_pb2_grpc.SchedulerStub(channel)
            calls = [
                ('GetTask', stub.GetTask, scheduler_pb2.GetTaskRequest(task_id=long_id),
                 {grpc.StatusCode.NOT_FOUND}),
                ('CancelTask', stub.CancelTask, scheduler_pb2.CancelTaskRequest(task_id=long_id),
                 {grpc.StatusCode.NOT_FOUND}),
                ('WaitTask', stub.WaitTask, wait, {grpc.StatusCode.NOT_FOUND}),
                ('GetWorkflow', stub.GetWorkflow,
                 scheduler_pb2.GetWorkflowRequest(workflow_id=long_id),
                 {grpc.StatusCode.NOT_FOUND}),
                ('CancelWorkflow', stub.CancelWorkflow,
                 scheduler_pb2.CancelWorkflowRequest(workflow_id=long_id),
                 {grpc.StatusCode.NOT_FOUND}),
                ('WaitWorkflow', stub.WaitWorkflow, wf_wait, {grpc.StatusCode.NOT_FOUND}),
                ('Submit (8 KB type)', stub.Submit, scheduler_pb2.SubmitRequest(
                    task=task_pb2.TaskSpec(type=long_type)), {grpc.StatusCode.INVALID_ARGUMENT}),
                ('Submit (8 KB key)', stub.Submit, scheduler_pb2.SubmitRequest(
                    task=task_pb2.TaskSpec(type='echo', idempotency_key=long_key)),
                 {grpc.StatusCode.INVALID_ARGUMENT}),
                ('ListTasks (8 KB token)', stub.ListTasks,
                 scheduler_pb2.ListTasksRequest(page_token=long_key),
                 {grpc.StatusCode.INVALID_ARGUMENT}),
            ]
            wrong = []
            for name, method, request, codes in calls:
                try:
                    method(request, timeout=harness.RPC_TIMEOUT)
                    wrong.append(f'{name}: answered OK')
                except grpc.RpcError as e:
                    details = e.details() or ''
                    if e.code() not in codes or len(details) > 1024:
                        wrong.append(f'{name}: {e.code().name} with a {len(details)}-byte '
                                     f'message {details[:160]!r}, expected '
                                     f'{sorted(c.name for c in codes)} with a short one')
        self.assertFalse(wrong, '\n'.join(wrong))

    # ---------------------------------------------------------------- case 6

    def _assert_exits_at_start_up(self, process, address, what):
        rc = process.wait_exit(10)
        if rc is None:
            process.kill()
        ready = os.path.exists(process.ready_path)
        self.assertIsNotNone(rc, f'{what} still runs 10 s after starting on the taken address '
                             f'{address} (ready file written: {ready})\n{process.log_tail()}')
        self.assertNotEqual(rc, 0, f'{what} exited 0\n{process.log_tail()}')
        self.assertFalse(ready, f'{what} wrote its ready file before exiting')
        port = address.rsplit(':', 1)[1]
        self.assertIn(port, process.log_text(), f'{what} must say which address is taken\n'
                      + process.log_tail())

    def test_a_second_scheduler_on_a_taken_address_exits_at_start_up(self):
        cluster = self.new_cluster('taken-port')
        cluster.start_scheduler(*scheduler_args())
        argv = [harness.SCHEDULER_BIN, '--listen', cluster.address, '--metrics-listen',
                '127.0.0.1:0', '--store', 'memory']
        second = harness.Process('scheduler-second', argv, cluster.dir)
        second.expect_exit = True
        cluster.executors['second scheduler'] = second  # its log is printed on a failure
        self._assert_exits_at_start_up(second, cluster.address, 'a second scheduler')
        # The first one still answers.
        stub = cluster.stub
        task_id = submit_all(stub, [task_pb2.TaskSpec(type='echo', payload=b'first')])[0]
        self.assertEqual(fault_checker.get_task(stub, task_id).id, task_id)

    def test_a_second_executor_on_a_taken_health_port_exits_at_start_up(self):
        cluster = self.new_cluster('taken-health')
        cluster.start_scheduler(*scheduler_args())
        first = cluster.start_executor('health-a', slots=1, extra_args=EXECUTOR_ARGS)
        taken = first.ready['health']
        argv = [harness.EXECUTOR_BIN, '--scheduler', cluster.address, '--id', 'health-b',
                '--slots', '1', '--health-listen', taken, '--metrics-listen', '127.0.0.1:0',
                *EXECUTOR_ARGS]
        second = harness.Process('executor-health-b', argv, cluster.dir)
        second.expect_exit = True
        cluster.executors['health-b'] = second
        self._assert_exits_at_start_up(second, taken, 'an executor on a taken health port')


if __name__ == '__main__':
    import unittest
    unittest.main()
