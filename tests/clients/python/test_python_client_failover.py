"""A plain grpcio client follows the leader of two standby schedulers, with nothing but the
recipe of docs/operations.md ("PostgreSQL and standby schedulers"): the target
`ipv4:A,B` and a service config of round_robin with client-side health checking of
taskwire.v1.Scheduler (gRPC's C core does the health checking; Python only passes the
config), and wait_for_ready on the calls that must ride out a takeover (submit_and_wait
says why Python needs it).

A PostgreSQL 15 (tests/e2e/postgres_server.py; without it the test exits 77, ctest's skip),
two schedulers on it with a 2 s lease and one executor dialling both. Through one channel
the client submits and waits; the leader is killed (SIGKILL); the same channel submits
again (wait_for_ready, and UNAVAILABLE retried, within 30 s) and the standby, now the
leader, runs it; the first task is still read through that channel. Waits are bounded
polls; every process is stopped by PID at the end.
"""

import json
import os
import sys
import time
import unittest

import grpc

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'e2e'))
import harness  # noqa: E402
import postgres_server  # noqa: E402

pb = harness.load_stubs()
task_pb2 = pb.task_pb2
scheduler_pb2 = pb.scheduler_pb2
health_pb2 = pb.health_pb2
SUCCEEDED = task_pb2.TaskState.Value('TASK_STATE_SUCCEEDED')
SERVING = health_pb2.HealthCheckResponse.SERVING

SKIPPED = 77               # ctest's SKIP_RETURN_CODE
SCHEDULER_SERVICE = 'taskwire.v1.Scheduler'
# The documented recipe, verbatim.
SERVICE_CONFIG = json.dumps({'loadBalancingConfig': [{'round_robin': {}}],
                             'healthCheckConfig': {'serviceName': SCHEDULER_SERVICE}})
LEADER_LEASE = 2           # --leader-lease, seconds
READY_TIMEOUT = 30.0       # a scheduler on PostgreSQL opens (and migrates) its store first
LEADER_WAIT = 30.0         # bound for an election, and for the takeover after the kill
RPC_TIMEOUT = 10.0
TASK_WAIT = 30.0           # WaitTask: the executor may have to reconnect to a new leader
RETRY_PAUSE = 0.1          # between two tries of a call that failed UNAVAILABLE


def postgres_missing():
    """Why PostgreSQL 15 cannot run here (naming the package), or None."""
    try:
        postgres_server.check_installed()
    except postgres_server.PostgresNotInstalled as e:
        return str(e)
    return None


class StandbyCluster(harness.Cluster):
    """Schedulers on one PostgreSQL and harness.Cluster's executors, in one directory;
    close() stops them all by PID (executors first)."""

    def __init__(self, label):
        super().__init__(label)
        self.schedulers = []

    def start_standby_scheduler(self, postgres_url):
        argv = [harness.SCHEDULER_BIN, '--listen', '127.0.0.1:0', '--store', 'postgres',
                '--postgres-url', postgres_url, '--leader-lease', str(LEADER_LEASE),
                '--metrics-listen', '']
        process = harness.Process(f'scheduler-{len(self.schedulers) + 1}', argv, self.dir)
        self.schedulers.append(process)
        process.address = process.wait_ready(timeout=READY_TIMEOUT)['grpc']
        return process

    def processes(self):
        return self.schedulers + list(self.executors.values())

    def close(self):
        try:
            super().close()  # the executors (harness.Cluster's own scheduler is None)
        finally:
            problems = []
            for p in self.schedulers:
                rc, killed = p.stop()
                if not p.expect_exit and (killed or rc != 0):
                    problems.append(f'{p.name} (pid {p.pid}) exited with {rc} on SIGTERM'
                                    f'{" after SIGKILL" if killed else ""}')
            if problems:
                raise harness.HarnessError('; '.join(problems) + '\n' + self.logs())


def health(address):
    """grpc.health.v1 Check of the Scheduler service: SERVING on the leader alone."""
    with grpc.insecure_channel(address) as channel:
        try:
            return pb.health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=SCHEDULER_SERVICE), timeout=2.0).status
        except grpc.RpcError:
            return None


def until(what, timeout, step=0.05):
    """The first truthy what(), polled for at most `timeout` seconds; else None."""
    deadline = time.monotonic() + timeout
    while True:
        value = what()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(step)  # polling: neither health Check nor the store pushes this event


def echo(payload):
    return task_pb2.TaskSpec(type='echo', payload=payload, idempotency_key=payload.decode())


class PythonClientFailoverTest(harness.LoggedTestCase):

    def setUp(self):
        why_not = postgres_missing()
        if why_not:
            self.skipTest(why_not)
        cluster = StandbyCluster('python-failover')
        # As LoggedTestCase.new_cluster (logs printed on failure, the directory removed
        # after them), but PostgreSQL's cleanup must run after the cluster's close.
        self._own_clusters.append(cluster)
        self._log_sources.append((cluster, None))
        pg = postgres_server.PostgresServer(os.path.join(cluster.dir, 'postgres'))
        self.addCleanup(pg.close)
        pg.start()
        self.addCleanup(cluster.close)
        self.schedulers = [cluster.start_standby_scheduler(pg.url()) for _ in range(2)]
        cluster.address = ','.join(s.address for s in self.schedulers)  # --scheduler A,B
        cluster.start_executor('py-failover-exec', slots=2)

    def leader(self, candidates):
        """The one scheduler of `candidates` whose health says SERVING (bounded wait)."""
        def only_leader():
            serving = [s for s in candidates if health(s.address) == SERVING]
            return serving[0] if len(serving) == 1 else None
        leader = until(only_leader, LEADER_WAIT)
        self.assertIsNotNone(leader, f'no single leader among {[s.address for s in candidates]}'
                                     f' within {LEADER_WAIT}s')
        return leader

    def submit_and_wait(self, stub, payload):
        """Submit and WaitTask on `stub`'s channel. wait_for_ready: while no scheduler is
        healthy (a takeover) the call waits for one instead of failing at once, and waiting
        is what makes Python's gRPC read the health streams (the C core has no thread of its
        own: calls that fail fast saw the new leader only at its backup poll, 6-8 s late
        with grpcio 1.51). UNAVAILABLE is retried all the same (a standby whose health the
        channel has not read yet), safely: the task has an idempotency key."""
        deadline = time.monotonic() + LEADER_WAIT
        while True:
            try:
                task_id = stub.Submit(scheduler_pb2.SubmitRequest(task=echo(payload)),
                                      timeout=max(deadline - time.monotonic(), RETRY_PAUSE),
                                      wait_for_ready=True).task_id
                break
            except grpc.RpcError as e:
                if e.code() != grpc.StatusCode.UNAVAILABLE or time.monotonic() >= deadline:
                    raise
            time.sleep(RETRY_PAUSE)  # a little backoff; the deadline bounds the retries
        request = scheduler_pb2.WaitTaskRequest(task_id=task_id)
        request.timeout.FromSeconds(int(TASK_WAIT))
        task = stub.WaitTask(request, timeout=TASK_WAIT + RPC_TIMEOUT, wait_for_ready=True)
        self.assertEqual(task.state, SUCCEEDED, str(task))
        self.assertEqual(task.output, payload)
        return task

    def test_one_channel_follows_the_leader_across_a_kill(self):
        leader = self.leader(self.schedulers)
        standby = next(s for s in self.schedulers if s is not leader)

        # (1) The standby alone refuses, naming the leader (once it has read the lease).
        with grpc.insecure_channel(standby.address) as channel:
            stub = pb.scheduler_pb2_grpc.SchedulerStub(channel)
            errors = []

            def refusal_names_leader():
                try:
                    stub.Submit(scheduler_pb2.SubmitRequest(task=echo(b'to-standby')),
                                timeout=RPC_TIMEOUT)
                except grpc.RpcError as e:
                    errors.append(e)
                    return (e.code() == grpc.StatusCode.UNAVAILABLE
                            and leader.address in e.details())
                self.fail('a standby accepted a Submit')
            until(refusal_names_leader, LEADER_WAIT)
            self.assertEqual(errors[-1].code(), grpc.StatusCode.UNAVAILABLE, errors[-1].details())
            self.assertIn(f'the leader is {leader.address}', errors[-1].details())

        # (2) One channel to both, with the recipe: every call reaches the leader.
        channel = grpc.insecure_channel(f'ipv4:{leader.address},{standby.address}',
                                        options=[('grpc.service_config', SERVICE_CONFIG)])
        self.addCleanup(channel.close)
        stub = pb.scheduler_pb2_grpc.SchedulerStub(channel)
        first = self.submit_and_wait(stub, b'before-the-kill')
        # Fail-fast calls too: without health checking, round_robin would send every other
        # one to the standby.
        for i in range(6):
            self.assertEqual(stub.GetTask(scheduler_pb2.GetTaskRequest(task_id=first.id),
                                          timeout=RPC_TIMEOUT).state, SUCCEEDED, f'call {i}')

        # (3) kill -9 the leader; the same channel submits again once the standby leads.
        killed_at = time.monotonic()
        leader.kill()
        second = self.submit_and_wait(stub, b'after-the-kill')
        print(f'\nthe same channel ran a task on the new leader '
              f'{time.monotonic() - killed_at:.2f} s after the kill', file=sys.stderr)
        self.assertIs(self.leader([standby]), standby)
        self.assertEqual(second.attempts[-1].executor_id, 'py-failover-exec')

        # (4) The task of the old leader's term is still there, through the same channel.
        again = stub.GetTask(scheduler_pb2.GetTaskRequest(task_id=first.id), timeout=RPC_TIMEOUT)
        self.assertEqual((again.state, again.output), (SUCCEEDED, b'before-the-kill'))


def main():
    why_not = postgres_missing()
    if why_not:
        print(f'clients_python_failover skipped: {why_not}', flush=True)
        return SKIPPED
    program = unittest.main(module='__main__', verbosity=2, exit=False)
    return 0 if program.result.wasSuccessful() else 1


if __name__ == '__main__':
    sys.exit(main())
