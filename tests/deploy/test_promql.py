"""The PromQL helpers themselves: a wrong `with_bool` would make the live test lie."""

import unittest

import promql


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
        self.assertEqual(set(promql.dashboard_variables()), {'queue', 'type'})
        self.assertGreaterEqual(len(promql.alert_rules()), 5)

    def test_metric_names(self):
        self.assertEqual(promql.metric_names('rate(taskwire_a_total[1m]) / up + process_open_fds'),
                         {'taskwire_a_total', 'up', 'process_open_fds'})


if __name__ == '__main__':
    unittest.main()
