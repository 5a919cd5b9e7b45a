"""A real Prometheus scrapes a live scheduler and two executors while a workload runs, under
the job name and labels of the usual Kubernetes `kubernetes-pods` job; then
every PromQL expression of the Grafana dashboard and of the alert rules is evaluated through
Prometheus's HTTP API and must be valid and return series. `promtool check metrics` lints
both services' /metrics.

The workload makes the conditional series exist honestly: successes, failures, a retry, a
cancel, a workflow, and tasks on a queue that no executor serves (which must make
TaskwireNoExecutorForQueue's expression return that queue). Alert expressions that are
quiet on a healthy system are evaluated with `bool` comparisons (promql.with_bool).

Processes listen on 127.0.0.1 only, are stopped by PID, and every wait is bounded.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, '..', 'e2e'))
import harness  # noqa: E402
import promql  # noqa: E402
from google.protobuf import duration_pb2  # noqa: E402
from prometheus_server import NAMESPACE, SCRAPE_TIMEOUT, Prometheus  # noqa: E402

PROMTOOL = os.environ.get('TASKWIRE_PROMTOOL_BIN', shutil.which('promtool') or '/usr/bin/promtool')
RATE_INTERVAL = '1m'         # stands for Grafana's $__rate_interval
# Values for the Grafana variables: one concrete selection, and "All" (allValue .*).
# The concrete set is one install as the kubernetes-pods job labels it (prometheus_server).
VARIABLE_SETS = [
    {'namespace': NAMESPACE, 'job': 'kubernetes-pods', 'queue': 'default', 'type': 'echo'},
    {'namespace': '.*', 'job': '.*', 'queue': '.*', 'type': '.*'},
]
ORPHAN_QUEUE = 'orphan'      # tasks wait here: no executor serves it
K8S_CONFIG = os.path.join(promql.SOURCE_ROOT, 'k8s', 'base', 'core', 'executor.textproto')
# Scheduler metrics announced in docs/metrics.md that the dashboard and rules
# use already. While the scheduler does not export one, the expressions that read it are
# listed on stderr as pending instead of failing; once it exists they are checked as all
# the others. Remove a name when it lands.
PENDING_METRICS = set()
# Alerts without a comparison (absent(), `unless`), which with_bool cannot open up: quiet
# here, and made to fire on a live stack by test_alerts_live.py.
FIRED_BY_TEST_ALERTS_LIVE = {'TaskwireSchedulerDown'}

pb = harness.load_stubs()


def duration(seconds):
    d = duration_pb2.Duration()
    d.FromMilliseconds(int(seconds * 1000))
    return d


class PrometheusLiveTest(harness.SharedClusterTestCase):
    @classmethod
    def setUpClass(cls):
        def start(cluster):
            cluster.start_scheduler(*SCHEDULER_ARGS(cluster))
            cluster.start_executor('exec-a', slots=2)
            # exec-b also runs the process task types of the Kubernetes ConfigMap, which
            # proves that the shipped config parses.
            cluster.start_executor('exec-b', slots=2, extra_args=('--config', K8S_CONFIG))
        cls.start_cluster('prometheus', start)
        cls.metrics = {'scheduler': [cls.cluster.scheduler.ready['metrics']],
                       'executor': [p.ready['metrics'] for p in cls.cluster.executors.values()]}
        cls.prom_dir = tempfile.mkdtemp(prefix='taskwire-prometheus-')
        cls.addClassCleanup(shutil.rmtree, cls.prom_dir, True)
        cls.prometheus = Prometheus(cls.prom_dir, cls.metrics)
        cls.addClassCleanup(cls.prometheus.stop)
        cls.prometheus.start()
        try:
            cls.run_workload()
            cls.prometheus.wait_scraped_after(time.time())
            cls.pending = {m for m in PENDING_METRICS
                           if not cls.prometheus.query(f'count({m})')}
            if cls.pending:
                sys.stderr.write(f'\nPENDING: the scheduler does not export {sorted(cls.pending)} '
                                 'yet; expressions reading them are not checked\n')
        except Exception:
            sys.stderr.write(cls.cluster.logs() + '\n--- prometheus ---\n' +
                             cls.prometheus.log_tail())
            raise

    @classmethod
    def run_workload(cls):
        c = cls.cluster
        once = pb.task_pb2.RetryPolicy(max_attempts=1)
        ids = [c.submit('echo', f'hello {i}') for i in range(20)]
        ids += [c.submit('sha256', 'abc'), c.submit('fail', 'on purpose', retry=once)]
        # One retry: the first attempt fails, the second succeeds.
        ids.append(c.submit('fail', 'flaky:1', retry=pb.task_pb2.RetryPolicy(
            max_attempts=2, initial_backoff=duration(0.05))))
        # A process task from the Kubernetes ConfigMap's config (exec-b runs it).
        ids.append(c.submit('wc', 'one two three'))
        # Waiting tasks: no executor serves this queue; one of them is cancelled.
        orphans = [c.submit('echo', 'nobody', queue=ORPHAN_QUEUE) for _ in range(3)]
        c.stub.CancelTask(pb.scheduler_pb2.CancelTaskRequest(task_id=orphans[0]),
                          timeout=harness.RPC_TIMEOUT)
        # A chain of two nodes: the second gets the first's result.
        workflow = c.submit_workflow([('first', 'echo', 'wf', []),
                                      ('second', 'sha256', '', ['first'])])
        ended = c.wait_workflow(workflow.workflow_id, timeout=20)
        assert harness.workflow_state_name(ended.state) == 'SUCCEEDED', ended
        for task_id in ids:
            task = c.wait_task(task_id, timeout=20)
            state = harness.state_name(task.state)
            assert state in ('SUCCEEDED', 'FAILED'), f'task {task_id} still {state}'

    # --- the expressions

    def evaluate(self, expr):
        try:
            return self.prometheus.query(expr), None
        except AssertionError as e:
            return None, str(e)

    def is_pending(self, expr):
        if promql.metric_names(expr) & self.pending:
            sys.stderr.write(f'PENDING, not checked: {" ".join(expr.split())}\n')
            return True
        return False

    def test_every_dashboard_expression_is_valid_and_returns_series(self):
        problems = []
        targets = promql.dashboard_targets()
        for title, raw in targets:
            if self.is_pending(raw):
                continue
            for values in VARIABLE_SETS:
                expr = promql.substitute(raw, {**values, '__rate_interval': RATE_INTERVAL})
                result, error = self.evaluate(expr)
                if error or not result:
                    problems.append(f'[{title}] {expr}\n    -> {error or "no series"}')
        self.assertFalse(problems, f'{len(problems)} of {2 * len(targets)} dashboard queries '
                                   'failed:\n' + '\n'.join(problems))

    def test_every_alert_expression_is_valid_and_its_condition_returns_series(self):
        problems = []
        for name, expr in promql.alert_rules():
            if self.is_pending(expr):
                continue
            result, error = self.evaluate(expr)
            if error:
                problems.append(f'[{name}] invalid: {error}')
                continue
            if not result:  # quiet, as it should be on a healthy system: check the inputs
                if promql.with_bool(expr) == expr and name in FIRED_BY_TEST_ALERTS_LIVE:
                    continue  # no comparison to turn into 0/1: that test makes it fire
                result, error = self.evaluate(promql.with_bool(expr))
                if error or not result:
                    problems.append(f'[{name}] {promql.with_bool(expr)}\n    -> '
                                    f'{error or "no series"}')
        self.assertFalse(problems, '\n'.join(problems))

    def test_no_executor_alert_names_the_queue_nobody_serves(self):
        expr = dict(promql.alert_rules())['TaskwireNoExecutorForQueue']
        queues = {s['metric'].get('queue') for s in self.prometheus.query(expr)}
        self.assertEqual(queues, {ORPHAN_QUEUE})

    def test_scheduler_down_alert_is_quiet_while_it_runs(self):
        expr = dict(promql.alert_rules())['TaskwireSchedulerDown']
        self.assertEqual(self.prometheus.query(expr), [])

    def test_prometheus_loaded_every_rule_and_evaluates_it_without_error(self):
        deadline = time.monotonic() + SCRAPE_TIMEOUT
        while True:
            rules = [r for g in self.prometheus.api('rules')['data']['groups'] for r in g['rules']]
            pending = [r['name'] for r in rules if r.get('health') != 'ok']
            if rules and not pending:
                break
            if time.monotonic() > deadline:
                self.fail(f'rules not healthy: {[(r["name"], r.get("health"), r.get("lastError")) for r in rules]}')
            time.sleep(0.2)  # polling Prometheus's API: nothing to block on
        self.assertEqual({r['name'] for r in rules}, {n for n, _ in promql.alert_rules()})

    def test_every_metric_named_in_dashboard_and_rules_is_exported(self):
        names = set()
        for _, expr in promql.dashboard_targets() + promql.alert_rules():
            names |= promql.metric_names(expr)
        missing = sorted(n for n in names - self.pending
                         if not self.prometheus.query(f'count({n})'))
        self.assertFalse(missing, f'no series for {missing}')

    def test_dashboard_variables_list_the_workload_values(self):
        # namespace and job list the labels of the targets that export a build_info (the
        # scheduler's is pending until it lands); queue and type, what the workload used.
        build_info = {'scheduler': 'taskwire_scheduler_build_info',
                      'executor': 'taskwire_executor_build_info'}
        serving = {address for service, addresses in self.metrics.items()
                   if build_info[service] not in self.pending for address in addresses}
        labels = [t['labels'] for t in self.prometheus.api('targets')['data']['activeTargets']
                  if t['labels']['instance'] in serving]
        expected = {'namespace': {l['namespace'] for l in labels if 'namespace' in l},
                    'job': {l['job'] for l in labels},
                    'queue': {'default', ORPHAN_QUEUE}, 'type': {'echo', 'fail', 'sha256'}}
        self.assertTrue(expected['job'])
        for name, query in promql.dashboard_variables().items():
            selector, _, label = query[len('label_values('):-1].rpartition(', ')
            selector = promql.substitute(selector, {'namespace': '.*', 'job': '.*'})
            values = set(self.prometheus.api(f'label/{label}/values',
                                             **{'match[]': selector})['data'])
            self.assertTrue(expected[name] <= values, f'${name} ({query}) lists {values}')

    def test_promtool_check_metrics_passes_on_both_services(self):
        for service, addresses in self.metrics.items():
            for address in addresses:
                with urllib.request.urlopen(f'http://{address}/metrics', timeout=10) as r:
                    text = r.read()
                self.assertIn(b'process_cpu_seconds_total', text, f'{service} {address}')
                done = subprocess.run([PROMTOOL, 'check', 'metrics'], input=text,
                                      capture_output=True, timeout=30)
                self.assertEqual(done.returncode, 0, f'{service} {address}: '
                                 f'{done.stdout.decode()}{done.stderr.decode()}')
                self.assertEqual(done.stdout + done.stderr, b'',
                                 f'{service} {address} lint findings')


def SCHEDULER_ARGS(cluster):
    # The durable store, so that the store panels have data (the harness puts its
    # --data-dir in the cluster's directory).
    return ['--store', 'sqlite']


if __name__ == '__main__':
    unittest.main()
