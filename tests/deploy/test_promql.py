"""The PromQL helpers themselves (a wrong `with_bool` would make the live test lie), and the
Grafana dashboard's structure, which no query can check."""

import json
import re
import unittest

import promql

# Every selector carries it, so that two installs in one Prometheus stay apart.
INSTALL_FILTER = 'namespace=~"$namespace", job=~"$job"'
# A metric name and its matchers, if any.
SELECTOR = re.compile(r'\b((?:taskwire|process)_[a-z0-9_]+)\b(\{[^}]*\}|)')


class WithBoolTest(unittest.TestCase):
    def test_adds_bool_to_every_comparison_outside_matchers(self):
        self.assertEqual(
            promql.with_bool('a{x!="1", y=~"a|b"} > 0.1 and on (q) b <= 2 or c == 0'),
            'a{x!="1", y=~"a|b"} > bool 0.1 and on (q) b <= bool 2 or c == bool 0')

    def test_leaves_strings_and_existing_bool_alone(self):
        self.assertEqual(promql.with_bool('label_replace(a, "d", ">", "s", "<=") != bool 1'),
                         'label_replace(a, "d", ">", "s", "<=") != bool 1')

    def test_keeps_an_expression_without_comparisons(self):
        expr = 'sum by (le) (rate(h_bucket{q="a"}[5m]))'
        self.assertEqual(promql.with_bool(expr), expr)


class SubstituteTest(unittest.TestCase):
    def test_replaces_both_variable_forms(self):
        self.assertEqual(promql.substitute('r(m{q=~"$queue"}[$__rate_interval]) ${type}',
                                           {'queue': 'a', '__rate_interval': '1m', 'type': 't'}),
                         'r(m{q=~"a"}[1m]) t')

    def test_fails_on_an_unknown_variable(self):
        with self.assertRaises(KeyError):
            promql.substitute('m{q="$nope"}', {})


class SourcesTest(unittest.TestCase):
    def test_finds_the_dashboard_queries_variables_and_alerts(self):
        targets = promql.dashboard_targets()
        self.assertGreaterEqual(len(targets), 20)
        self.assertEqual(set(promql.dashboard_variables()), {'namespace', 'job', 'queue', 'type'})
        self.assertGreaterEqual(len(promql.alert_rules()), 5)

    def test_metric_names(self):
        self.assertEqual(promql.metric_names('rate(taskwire_a_total[1m]) / up + process_open_fds'),
                         {'taskwire_a_total', 'up', 'process_open_fds'})


class DashboardStructureTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with open(promql.DASHBOARD) as f:
            cls.dashboard = json.load(f)
        cls.panels = [p for p in cls.dashboard['panels'] if p['type'] != 'row']

    def test_panel_ids_are_unique_and_panels_fit_the_grid(self):
        ids = [p['id'] for p in self.dashboard['panels']]
        self.assertEqual(len(ids), len(set(ids)))
        cells = set()
        for p in self.dashboard['panels']:
            g = p['gridPos']
            self.assertLessEqual(g['x'] + g['w'], 24, p['title'])
            for x in range(g['x'], g['x'] + g['w']):
                for y in range(g['y'], g['y'] + g['h']):
                    self.assertNotIn((x, y), cells, f'{p["title"]} overlaps another panel')
                    cells.add((x, y))

    def test_every_panel_has_a_short_description(self):
        for p in self.panels:
            self.assertTrue(10 < len(p.get('description', '')) <= 250, p['title'])

    def test_every_query_uses_the_datasource_variable_and_known_variables(self):
        defined = {v['name'] for v in self.dashboard['templating']['list']} | {'__rate_interval'}
        for p in self.panels:
            self.assertEqual(p['datasource']['uid'], '${datasource}', p['title'])
            ref_ids = [t['refId'] for t in p['targets']]
            self.assertEqual(len(ref_ids), len(set(ref_ids)), p['title'])
            for t in p['targets']:
                used = set(re.findall(r'\$\{?(\w+)', t['expr']))
                self.assertTrue(used <= defined, f'{p["title"]}: {used - defined}')

    def test_it_covers_what_issue_6_asks_for(self):
        exprs = ' '.join(t['expr'] for p in self.panels for t in p['targets'])
        for metric in ('taskwire_tasks_finished_total', 'taskwire_queue_depth',
                       'taskwire_queue_oldest_age_seconds', 'taskwire_task_queue_wait_seconds_bucket',
                       'taskwire_task_run_seconds_bucket', 'taskwire_executors_connected',
                       'taskwire_executor_slots', 'taskwire_task_retries_total',
                       'taskwire_attempts_lost_total', 'taskwire_workflows_finished_total',
                       'taskwire_store_commit_seconds_bucket'):
            self.assertIn(metric, exprs)
        self.assertTrue(re.search(r'queue=~"\$queue"', exprs))
        self.assertTrue(re.search(r'type=~"\$type"', exprs))

    # Issue 13: two installs in one Prometheus, any scrape job name.

    def test_namespace_and_job_variables_list_the_installs_and_default_to_all(self):
        variables = {v['name']: v for v in self.dashboard['templating']['list']}
        self.assertEqual(list(variables), ['datasource', 'namespace', 'job', 'queue', 'type'])
        for name in ('namespace', 'job'):
            v = variables[name]
            self.assertIn('taskwire_scheduler_build_info', v['definition'], name)
            self.assertTrue(v['includeAll'], name)
            # .* also matches a missing label: series without a namespace stay visible.
            self.assertEqual(v['allValue'], '.*', name)
            self.assertEqual(v['current']['value'], ['$__all'], name)
        for name in ('queue', 'type'):  # chained: the values of the chosen install only
            self.assertIn(INSTALL_FILTER, variables[name]['definition'], name)

    def test_every_selector_is_filtered_by_namespace_and_job(self):
        for p in self.panels:
            for t in p['targets']:
                for name, braces in SELECTOR.findall(t['expr']):
                    self.assertIn(INSTALL_FILTER, braces, f'{p["title"]}: {name}')

    def test_no_query_depends_on_a_job_name(self):
        # Under the Kubernetes `kubernetes-pods` job every pod has that job name; the
        # services are picked out by their own metrics (build_info) instead.
        queries = [t['expr'] for p in self.panels for t in p['targets']]
        queries += [v['definition'] for v in self.dashboard['templating']['list']
                    if v['type'] == 'query']
        for q in queries:
            self.assertNotIn('taskwire-', q)
            for op, value in re.findall(r'\bjob\s*(=~|!~|!=|=)\s*"([^"]*)"', q):
                self.assertEqual((op, value), ('=~', '$job'), q)

    def test_failed_is_red_and_succeeded_green_wherever_outcomes_are_plotted(self):
        by_outcome = [p for p in self.panels
                      if any('{{outcome}}' in t.get('legendFormat', '') for t in p['targets'])]
        self.assertGreaterEqual(len(by_outcome), 3)
        for p in by_outcome:
            colors = {o['matcher']['options']: prop['value']['fixedColor']
                      for o in p['fieldConfig']['overrides'] if o['matcher']['id'] == 'byName'
                      for prop in o['properties'] if prop['id'] == 'color'}
            self.assertEqual(colors.get('failed'), 'red', p['title'])
            self.assertEqual(colors.get('succeeded'), 'green', p['title'])

    def test_store_commit_errors_have_their_own_red_panel_per_second(self):
        def reads(p, metric):
            return any(metric in t['expr'] for t in p['targets'])
        errors = [p for p in self.panels if reads(p, 'taskwire_store_commit_errors_total')]
        self.assertEqual(len(errors), 1)
        self.assertFalse(reads(errors[0], 'taskwire_store_size_bytes'))
        defaults = errors[0]['fieldConfig']['defaults']
        self.assertEqual(defaults['unit'], 'ops')
        self.assertEqual(defaults['color'], {'mode': 'fixed', 'fixedColor': 'red'})
        self.assertIn('rate(taskwire_store_commit_errors_total', errors[0]['targets'][0]['expr'])

    # The numbers an operator coming from Flower looks for first.

    def stat_reading(self, metric, also='', unit=None):
        found = [p for p in self.panels if p['type'] == 'stat'
                 and all(metric in t['expr'] and also in t['expr'] for t in p['targets'])
                 and unit in (None, p['fieldConfig']['defaults']['unit'])]
        self.assertEqual(len(found), 1, f'one stat panel reading {metric} {also} in {unit}')
        return found[0]

    def test_stat_panels_for_the_headline_numbers_form_the_top_row(self):
        stats = [self.stat_reading('taskwire_executors_connected'),
                 self.stat_reading('taskwire_queue_depth'),
                 self.stat_reading('taskwire_tasks_running'),
                 self.stat_reading('taskwire_tasks_scheduled'),
                 self.stat_reading('taskwire_tasks_finished_total', 'outcome="failed"'),
                 self.stat_reading('taskwire_tasks_finished_total', unit='ops'),
                 self.stat_reading('taskwire_queue_oldest_age_seconds')]
        self.assertEqual(self.dashboard['panels'][0]['type'], 'row')
        for p in stats:
            self.assertEqual(p['gridPos']['y'], 1, p['title'])
            self.assertEqual(p['fieldConfig']['defaults']['color'], {'mode': 'thresholds'})
            self.assertTrue(p['fieldConfig']['defaults']['thresholds']['steps'], p['title'])

    def test_stat_thresholds_are_the_alert_levels(self):
        alerts = dict(promql.alert_rules())

        def level(alert):  # the first `> N` of the rule
            return float(re.search(r'>\s*([0-9.]+)', alerts[alert]).group(1))

        def steps(p):
            return [(s['color'], s['value']) for s in p['fieldConfig']['defaults']['thresholds']['steps']]

        failure = self.stat_reading('taskwire_tasks_finished_total', 'outcome="failed"')
        self.assertEqual(failure['fieldConfig']['defaults']['unit'], 'percentunit')
        self.assertEqual(steps(failure), [('green', None),
                                          ('red', level('TaskwireTaskFailureRatioHigh'))])
        oldest = self.stat_reading('taskwire_queue_oldest_age_seconds')
        self.assertEqual(oldest['fieldConfig']['defaults']['unit'], 's')
        self.assertEqual(steps(oldest)[:2], [('green', None),
                                             ('orange', level('TaskwireQueueBacklogGrowing'))])
        self.assertEqual(steps(oldest)[2][0], 'red')
        self.assertEqual(steps(self.stat_reading('taskwire_executors_connected')),
                         [('red', None), ('green', 1)])

    def test_memory_limit_is_a_dashed_line_on_the_memory_panel(self):
        memory = [p for p in self.panels
                  if any('process_resident_memory_bytes' in t['expr'] for t in p['targets'])
                  and p['type'] == 'timeseries']
        self.assertEqual(len(memory), 1)
        limit = [t['refId'] for t in memory[0]['targets']
                 if 'taskwire_memory_limit_bytes' in t['expr']]
        self.assertEqual(len(limit), 1)
        dashed = [o for o in memory[0]['fieldConfig']['overrides']
                  if o['matcher'] == {'id': 'byFrameRefID', 'options': limit[0]}]
        self.assertIn({'id': 'custom.lineStyle', 'value': {'fill': 'dash', 'dash': [10, 10]}},
                      dashed[0]['properties'])

    def test_executors_table_has_one_row_per_executor_from_its_own_metrics(self):
        tables = [p for p in self.panels if p['type'] == 'table']
        self.assertEqual(len(tables), 1)
        table = tables[0]
        exprs = ' '.join(t['expr'] for t in table['targets'])
        for metric in ('taskwire_executor_build_info', 'taskwire_executor_connected',
                       'taskwire_executor_local_slots', 'taskwire_executor_attempts_total',
                       'taskwire_executor_reconnects_total', 'process_resident_memory_bytes'):
            self.assertIn(metric, exprs)
        for outcome in ('succeeded', 'failed'):
            self.assertIn(f'outcome="{outcome}"', exprs)
        self.assertIn('version', exprs)
        for t in table['targets']:
            self.assertEqual((t['format'], t['instant']), ('table', True), t['refId'])
            # The merge joins rows on the labels all results share: every aggregation keeps
            # exactly the executor's identity (and its version, in one column).
            for by in re.findall(r'\bby \(([^)]*)\)', t['expr']):
                self.assertIn(by, ('namespace, job, instance', 'namespace, job, instance, version'),
                              t['expr'])
        self.assertEqual([x['id'] for x in table['transformations']], ['merge', 'organize'])
        organize = table['transformations'][1]['options']
        for t in table['targets']:  # each value column is named, or hidden
            value = f'Value #{t["refId"]}'
            self.assertTrue(value in organize['renameByName'] or organize['excludeByName'].get(value))
        failed = next(t['refId'] for t in table['targets'] if 'outcome="failed"' in t['expr'])
        overrides = {o['matcher']['options']: o['properties']
                     for o in table['fieldConfig']['overrides']}
        self.assertIn({'id': 'color', 'value': {'mode': 'fixed', 'fixedColor': 'red'}},
                      overrides[organize['renameByName'][f'Value #{failed}']])

if __name__ == '__main__':
    unittest.main()
