"""A real Prometheus server for the live tests: on 127.0.0.1, a temporary data dir, stopped
by PID. It scrapes taskwire the way the usual Kubernetes `kubernetes-pods` job does (the
job of the prometheus.io/* annotations in k8s/base): one job named `kubernetes-pods` for
every pod, with `namespace` and `pod` labels, so nothing may depend on a job name."""

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime, timezone
import shutil

import promql

PROMETHEUS = os.environ.get('TASKWIRE_PROMETHEUS_BIN', shutil.which('prometheus') or
                            '/usr/bin/prometheus')
SCRAPE_INTERVAL = 1          # seconds; the tests wait for scrapes, so keep it short
START_TIMEOUT = 30           # seconds for Prometheus to answer /-/ready
SCRAPE_TIMEOUT = 30          # seconds for every target to be scraped
NAMESPACE = 'taskwire'       # what the kubernetes-pods job's relabelling would add


def kubernetes_pods_job(targets):
    """A static stand-in for the kubernetes-pods job: its job name and its labels."""
    groups = []
    for service, addresses in targets.items():
        for n, address in enumerate(addresses):
            groups.append({'targets': [address],
                           'labels': {'namespace': NAMESPACE, 'pod': f'taskwire-{service}-{n}'}})
    return {'job_name': 'kubernetes-pods', 'static_configs': groups}


def free_port():
    # Prometheus cannot report a port it picked itself, so pick one; start() retries on a
    # lost race.
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


class Prometheus:
    """A Prometheus server on 127.0.0.1 with a temporary data dir."""

    def __init__(self, directory, targets, rule_file=promql.ALERTS):
        """`targets`: {'scheduler': [address], 'executor': [address, ...]}."""
        self.dir = directory
        self.config = os.path.join(directory, 'prometheus.yml')
        self.log_path = os.path.join(directory, 'prometheus.log')
        with open(self.config, 'w') as f:
            json.dump({  # JSON is YAML
                'global': {'scrape_interval': f'{SCRAPE_INTERVAL}s',
                           'evaluation_interval': f'{SCRAPE_INTERVAL}s'},
                'rule_files': [rule_file],
                'scrape_configs': [kubernetes_pods_job(targets)]}, f, indent=1)
        self.process = None
        self.url = None

    def start(self):
        for _ in range(3):
            port = free_port()
            self.url = f'http://127.0.0.1:{port}'
            with open(self.log_path, 'ab') as log:
                self.process = subprocess.Popen(
                    [PROMETHEUS, f'--config.file={self.config}',
                     f'--storage.tsdb.path={os.path.join(self.dir, "data")}',
                     f'--web.listen-address=127.0.0.1:{port}',
                     '--storage.tsdb.retention.time=1h'],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
            deadline = time.monotonic() + START_TIMEOUT
            while time.monotonic() < deadline and self.process.poll() is None:
                try:
                    with urllib.request.urlopen(f'{self.url}/-/ready', timeout=2) as r:
                        if r.status == 200:
                            return
                except (urllib.error.URLError, ConnectionError):
                    pass
                time.sleep(0.1)  # polling an HTTP endpoint: nothing to block on
            self.stop()
        raise AssertionError(f'Prometheus did not become ready\n{self.log_tail()}')

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)

    def api(self, path, **params):
        query = urllib.parse.urlencode(params, doseq=True)
        try:
            with urllib.request.urlopen(f'{self.url}/api/v1/{path}?{query}', timeout=10) as r:
                body = json.load(r)
        except urllib.error.HTTPError as e:  # 400 on a bad query: keep its message
            body = json.load(e)
        return body

    def query(self, expr):
        """The result list; raises AssertionError with Prometheus's error if invalid."""
        body = self.api('query', query=expr)
        if body.get('status') != 'success':
            raise AssertionError(f'{body.get("errorType")}: {body.get("error")}')
        return body['data']['result']

    def wait_scraped_after(self, moment, scrapes=2, samples=3):
        """Waits until every target is up, has been scraped `scrapes` intervals after
        `moment` (epoch seconds), and has at least `samples` samples (rate() needs two
        inside its window; the first scrape may come seconds after start-up)."""
        deadline = time.monotonic() + SCRAPE_TIMEOUT
        wanted = moment + scrapes * SCRAPE_INTERVAL
        while True:
            targets = self.api('targets')['data']['activeTargets']
            counts = {s['metric']['instance']: float(s['value'][1])
                      for s in self.query('count_over_time(up[10m])')}
            late = [t['scrapeUrl'] + ' ' + t['health'] + ' ' + t.get('lastError', '')
                    for t in targets if t['health'] != 'up' or _epoch(t['lastScrape']) < wanted
                    or counts.get(t['labels']['instance'], 0) < samples]
            if targets and not late:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f'targets not scraped in {SCRAPE_TIMEOUT}s: {late}')
            time.sleep(0.2)  # polling Prometheus's API: nothing to block on

    def log_tail(self, lines=30):
        try:
            with open(self.log_path, errors='replace') as f:
                return ''.join(f.readlines()[-lines:])
        except OSError as e:
            return f'(no log: {e})'


def _epoch(rfc3339):
    # "2026-11-25T16:03:32.123456789Z": Python parses microseconds at most.
    head, _, frac = rfc3339.rstrip('Z').partition('.')
    seconds = datetime.strptime(head, '%Y-%m-%dT%H:%M:%S').replace(tzinfo=timezone.utc)
    return seconds.timestamp() + (float('0.' + frac[:9]) if frac else 0.0)
