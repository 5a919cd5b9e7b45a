"""The alert rules' shape, which no query can check: every alert carries its severity, its
texts and a runbook link to a section of docs/alerts.md that exists, is tested by promtool
in alerts_test.yml (firing at least once), and selects nothing by job name (the usual
Kubernetes scrape job names every pod's job `kubernetes-pods`)."""

import os
import re
import unittest

import yaml

import promql

ALERTS_TEST = os.path.join(os.path.dirname(promql.ALERTS), 'alerts_test.yml')
RUNBOOK = os.path.join(promql.SOURCE_ROOT, 'docs', 'alerts.md')
RUNBOOK_URL = 'https://github.com/taskwire/taskwire/blob/main/docs/alerts.md#'


def github_anchor(heading):
    return re.sub(r'[^a-z0-9 -]', '', heading.strip().lower()).replace(' ', '-')


class AlertRulesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with open(promql.ALERTS) as f:
            cls.rules = [r for g in yaml.safe_load(f)['groups'] for r in g['rules']
                         if 'alert' in r]
        with open(RUNBOOK) as f:
            cls.anchors = {github_anchor(line.lstrip('#')) for line in f
                           if line.startswith('## ')}

    def test_every_alert_has_severity_texts_and_a_runbook_section(self):
        for rule in self.rules:
            name = rule['alert']
            self.assertIn(rule['labels'].get('severity'), ('critical', 'warning'), name)
            for key in ('summary', 'description', 'runbook_url'):
                self.assertTrue(rule['annotations'].get(key), f'{name}: no {key}')
            url = rule['annotations']['runbook_url']
            self.assertEqual(url, RUNBOOK_URL + name.lower(), name)
            self.assertIn(name.lower(), self.anchors, f'docs/alerts.md has no "## {name}"')

    def test_no_rule_selects_a_job_name(self):
        for rule in self.rules:
            self.assertNotRegex(rule['expr'], r'job\s*=~?\s*"', rule['alert'])

    def test_promtool_tests_make_every_alert_fire(self):
        with open(ALERTS_TEST) as f:
            tests = yaml.safe_load(f)['tests']
        fired = {case['alertname'] for test in tests for case in test['alert_rule_test']
                 if case.get('exp_alerts')}
        self.assertEqual({r['alert'] for r in self.rules} - fired, set())


if __name__ == '__main__':
    unittest.main()
