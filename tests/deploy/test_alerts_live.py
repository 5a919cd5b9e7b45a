"""The shipped alert rules on a live stack, scraped the way the usual Kubernetes
`kubernetes-pods` job does (prometheus_server.py): quiet while a scheduler and two
executors work, then each failure fires its alert in a real Prometheus:

- a store that cannot commit (the scheduler's data dir on a small tmpfs, filled up):
  TaskwireStoreCommitErrors;
- a stopped executor: TaskwireExecutorDown, naming that executor;
- a stopped scheduler: TaskwireSchedulerDown.

The rules are alerts.yml with every `for:` set to 0s, so that an alert fires at the first
evaluation where its condition holds (promtool's alerts_test.yml checks the durations).
Processes listen on 127.0.0.1 only, are stopped by PID, and every wait is bounded.
"""

import os
import re
import shutil
import sys
import tempfile
import time
import unittest

import grpc

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, '..', 'e2e'))
import harness  # noqa: E402
import nemesis  # noqa: E402
import promql  # noqa: E402
from prometheus_server import SCRAPE_INTERVAL, Prometheus  # noqa: E402

ALERT_TIMEOUT = 30     # seconds for an alert to fire once its cause is in place
QUIET_EVALUATIONS = 3  # rule evaluations that must all find nothing on a healthy stack
DISK_MB = 16

pb = harness.load_stubs()


def rules_without_durations(directory):
    """alerts.yml with `for: 0s` everywhere: the live test checks conditions, not waits."""
    with open(promql.ALERTS) as f:
        text = f.read()
    text, count = re.subn(r'^(\s+for:\s*)\S+', r'\g<1>0s', text, flags=re.M)
    assert count == len(promql.alert_rules()), 'every rule should have a for: duration'
    path = os.path.join(directory, 'alerts-now.yml')
    with open(path, 'w') as f:
        f.write(text)
    return path


class AlertsLiveTest(harness.LoggedTestCase):
    def setUp(self):
        super().setUp()
        self.cluster = self.new_cluster('alerts')
        why_not = nemesis.FullDisk.unavailable()
        self.disk = None
        if why_not:
            sys.stderr.write(f'\nSKIP the full-store part: {why_not}\n')
        else:
            self.disk = nemesis.FullDisk(os.path.join(self.cluster.dir, 'data'), size_mb=DISK_MB)
            self.addCleanup(self.disk.unmount)  # LIFO: after the cluster's processes stop
        self.cluster.start_scheduler('--store', 'sqlite')
        self.cluster.start_executor('exec-a', slots=2)
        self.cluster.start_executor('exec-b', slots=2)
        directory = tempfile.mkdtemp(prefix='taskwire-alerts-')
        self.addCleanup(shutil.rmtree, directory, True)
        self.targets = {
            'scheduler': [self.cluster.scheduler.ready['metrics']],
            'executor': [p.ready['metrics'] for p in self.cluster.executors.values()]}
        self.prometheus = Prometheus(directory, self.targets,
                                     rule_file=rules_without_durations(directory))
        self.addCleanup(self.prometheus.stop)
        self.prometheus.start()

    def alerts(self, state=None):
        found = self.prometheus.api('alerts')['data']['alerts']
        return [a for a in found if state is None or a['state'] == state]

    def evaluations(self):
        groups = self.prometheus.api('rules')['data']['groups']
        return max((g.get('lastEvaluation', '') for g in groups), default='')

    def wait_firing(self, name, **labels):
        deadline = time.monotonic() + ALERT_TIMEOUT
        while True:
            for alert in self.alerts('firing'):
                if alert['labels'].get('alertname') == name and \
                        all(alert['labels'].get(k) == v for k, v in labels.items()):
                    return alert
            if time.monotonic() > deadline:
                self.fail(f'{name} {labels} did not fire in {ALERT_TIMEOUT}s; alerts: '
                          f'{[(a["labels"], a["state"]) for a in self.alerts()]}')
            time.sleep(0.2)  # polling Prometheus's API: nothing to block on

    def test_quiet_when_healthy_then_each_failure_fires_its_alert(self):
        c = self.cluster
        ids = [c.submit('echo', f'hello {i}') for i in range(10)]
        for task_id in ids:
            self.assertEqual(harness.state_name(c.wait_task(task_id, timeout=20).state),
                             'SUCCEEDED')
        self.prometheus.wait_scraped_after(time.time())

        # Healthy: several evaluations after every target was scraped, nothing pending
        # or firing. (absent() may fire before the first scrape; it must be gone now.)
        seen, deadline = set(), time.monotonic() + ALERT_TIMEOUT
        while len(seen) < QUIET_EVALUATIONS:
            self.assertLess(time.monotonic(), deadline, 'rules were not evaluated')
            evaluation = self.evaluations()
            if evaluation and evaluation not in seen:
                seen.add(evaluation)
                self.assertEqual([(a['labels'], a['state']) for a in self.alerts()], [],
                                 'alerts on a healthy stack')
            time.sleep(SCRAPE_INTERVAL / 4)  # waiting for the next evaluation

        scheduler_metrics = self.targets['scheduler'][0]
        if self.disk is not None:
            with self.subTest('a store that cannot commit'):
                self.disk.fill()
                # Submits fail while the disk is full; each failed transaction counts.
                deadline = time.monotonic() + ALERT_TIMEOUT
                while not any(a['labels']['alertname'] == 'TaskwireStoreCommitErrors'
                              for a in self.alerts('firing')):
                    self.assertLess(time.monotonic(), deadline,
                                    'TaskwireStoreCommitErrors did not fire')
                    try:
                        c.stub.Submit(pb.scheduler_pb2.SubmitRequest(
                            task=pb.task_pb2.TaskSpec(type='echo', payload=b'x' * 4096)),
                            timeout=2)
                    except grpc.RpcError:
                        pass  # refused while full: what the alert is about
                self.wait_firing('TaskwireStoreCommitErrors', instance=scheduler_metrics)
                self.disk.heal()

        with self.subTest('a stopped executor'):
            stopped = c.executors['exec-b']
            stopped.stop()
            self.wait_firing('TaskwireExecutorDown', instance=stopped.ready['metrics'],
                             job='kubernetes-pods')
            self.assertFalse([a for a in self.alerts() if a['labels']['alertname'] in
                              ('TaskwireSchedulerDown', 'TaskwireNoExecutorsConnected')],
                             'one executor of two stopped: the scheduler and exec-a are fine')

        with self.subTest('a stopped scheduler'):
            c.scheduler.stop()
            self.wait_firing('TaskwireSchedulerDown', instance=scheduler_metrics,
                             namespace='taskwire')


if __name__ == '__main__':
    unittest.main()
