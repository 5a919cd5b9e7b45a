"""PromQL helpers for the deploy tests: the expressions of the Grafana dashboard and the
alert rules, Grafana variable substitution, and `with_bool` for evaluating an alert's
condition on a healthy system.

An alert expression such as `ratio > 0.1` returns nothing while all is well, which says
nothing about whether its inputs exist or its label matching works. `with_bool` adds the
`bool` modifier to every comparison (`ratio > bool 0.1`), so the same expression returns a
0/1 series wherever its inputs exist and join; `and`, `or` and `unless` still act on those
series as in the rule.
"""

import json
import os
import re

import yaml

SOURCE_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
DASHBOARD = os.path.join(SOURCE_ROOT, 'deploy', 'grafana', 'dashboards', 'taskwire.json')
ALERTS = os.path.join(SOURCE_ROOT, 'deploy', 'prometheus', 'alerts.yml')

_COMPARISONS = ('==', '!=', '>=', '<=', '>', '<')
_METRIC = re.compile(r'\b((?:taskwire|process)_[a-z0-9_]+|up)\b')


def dashboard_targets(path=DASHBOARD):
    """(panel title, expr) for every query of every panel, rows included."""
    with open(path) as f:
        dashboard = json.load(f)
    found = []

    def walk(panels):
        for panel in panels:
            for target in panel.get('targets', []):
                found.append((panel['title'], target['expr']))
            walk(panel.get('panels', []))

    walk(dashboard['panels'])
    return found


def dashboard_variables(path=DASHBOARD):
    """name -> query of every `query` template variable."""
    with open(path) as f:
        dashboard = json.load(f)
    return {v['name']: v['definition'] for v in dashboard['templating']['list']
            if v['type'] == 'query'}


def alert_rules(path=ALERTS):
    """(alert name, expr) for every alerting rule."""
    with open(path) as f:
        doc = yaml.safe_load(f)
    return [(rule['alert'], rule['expr']) for group in doc['groups']
            for rule in group['rules'] if 'alert' in rule]


def substitute(expr, values):
    """Replaces Grafana variables ($name, ${name}) by values[name]; fails on leftovers."""
    def replace(match):
        name = match.group(1) or match.group(2)
        if name not in values:
            raise KeyError(f'no value for Grafana variable ${name} in {expr!r}')
        return values[name]
    result = re.sub(r'\$\{(\w+)\}|\$(\w+)', replace, expr)
    return result


def metric_names(expr):
    """The metric names an expression reads (taskwire_*, process_*, up)."""
    return set(_METRIC.findall(expr))


def with_bool(expr):
    """`expr` with `bool` after every comparison operator outside label matchers and
    strings (see the module comment)."""
    out = []
    i, depth, quote = 0, 0, None
    while i < len(expr):
        c = expr[i]
        if quote:
            out.append(c)
            if c == '\\' and i + 1 < len(expr):
                out.append(expr[i + 1])
                i += 2
                continue
            if c == quote:
                quote = None
            i += 1
            continue
        if c in '"\'`':
            quote = c
        elif c == '{':
            depth += 1
        elif c == '}':
            depth -= 1
        elif depth == 0:
            op = next((o for o in _COMPARISONS if expr.startswith(o, i)), None)
            if op:
                out.append(op)
                i += len(op)
                if not re.match(r'\s*bool\b', expr[i:]):
                    out.append(' bool')
                continue
        out.append(c)
        i += 1
    return ''.join(out)
