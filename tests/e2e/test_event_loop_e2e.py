"""The event-loop run mode (issue 14) end to end: http.get, http.request and sleep run on the
executor's event loop, against a local HTTP server (http_test_server.py) that delays,
answers errors, stalls mid-body, redirects to a denied address and returns a huge body.
The real binaries, driven through the CLI and the scheduler's gRPC API.

EventLoopTest shares one scheduler and one executor, exec-loop: one thread slot (--slots 1),
one loop thread, --fetch-allow 127.0.0.1 (127.0.0.2 stays denied) and a 1 MiB response
limit. EventLoopBuiltinsTest starts its own executor with --builtins echo.

Nothing here sleeps to let time pass: tests wait on events (a WatchTasks stream, the test
server's counters, `taskwire wait` with a bound) with a bound on every wait.
"""

import base64
import json
import os
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from http_test_server import HttpTestServer  # noqa: E402

pb = harness.load_stubs()
TaskState = pb.task_pb2.TaskState
RUNNING = TaskState.Value('TASK_STATE_RUNNING')
SUCCEEDED = TaskState.Value('TASK_STATE_SUCCEEDED')

MAX_RESPONSE_BYTES = 1048576
EXECUTOR = 'exec-loop'


def output_of(task_json):
    return base64.b64decode(task_json.get('output', '')).decode('utf-8', 'replace')


def parse_http_output(text):
    """(status, size, body) of an http.* output: "status N\\nsize N\\n\\nBODY"."""
    head, sep, body = text.partition('\n\n')
    if not sep:
        raise AssertionError(f'not an http.* output (no blank line): {text[:200]!r}')
    fields = dict(line.split(' ', 1) for line in head.splitlines())
    return int(fields['status']), int(fields['size']), body


class ThreadSampler:
    """Samples /proc/PID/status Threads every 20 ms on a background thread: the peak."""

    def __init__(self, pid):
        self.pid = pid
        self.idle = self._threads()
        self.peak = self.idle
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name='thread-sampler', daemon=True)
        self._thread.start()

    def _threads(self):
        try:
            with open(f'/proc/{self.pid}/status') as f:
                for line in f:
                    if line.startswith('Threads:'):
                        return int(line.split()[1])
        except OSError:
            pass
        return 0

    def _run(self):
        while not self._stop.wait(0.02):  # a sampling period, not a wait for an event
            self.peak = max(self.peak, self._threads())

    def stop(self):
        self._stop.set()
        self._thread.join(timeout=5)
        return self.peak


class EventLoopTest(harness.SharedClusterTestCase):
    @classmethod
    def setUpClass(cls):
        cls.http = HttpTestServer().start()
        cls.addClassCleanup(cls.http.stop)

        def start(cluster):
            cluster.start_scheduler()
            cluster.start_executor(EXECUTOR, slots=1, extra_args=(
                '--fetch-allow', '127.0.0.1', '--event-loop-threads', '1',
                '--http-max-response-bytes', str(MAX_RESPONSE_BYTES)))

        cls.start_cluster('event-loop', start, watch=True)

    # --- helpers

    def cli(self, *args, **kwargs):
        return self.cluster.cli(*args, **kwargs)

    def submit_wait(self, task_type, payload, *options, wait_timeout=30):
        """`taskwire --json submit TYPE --payload P OPTIONS --wait-timeout W`: (result, task)."""
        result = self.cli('--json', 'submit', task_type, '--payload', payload, *options,
                          '--wait-timeout', str(wait_timeout), timeout=wait_timeout + 15)
        self.assertNotEqual(result.returncode, 4, f'still not finished after {wait_timeout}s\n'
                                                  f'{result}')
        return result, result.json()

    def submit_id(self, task_type, payload, *options):
        result = self.cli('--json', 'submit', task_type, '--payload', payload, *options)
        self.assertEqual(result.returncode, 0, result)
        task_id = result.json()['task_id']
        self.addCleanup(self.cli, 'cancel', task_id)  # a no-op once it has ended
        return task_id

    def assertFailedNotRetryable(self, result, task):
        self.assertEqual(result.returncode, 1, result)
        self.assertEqual(task['state'], 'TASK_STATE_FAILED', str(result))
        self.assertEqual(len(task['attempts']), 1, f'not retryable: no retry follows\n{result}')
        attempt = task['attempts'][0]
        self.assertEqual(attempt['outcome'], 'ATTEMPT_OUTCOME_FAILED', str(result))
        self.assertTrue(attempt['not_retryable'], str(result))
        self.assertEqual(attempt['executor_id'], EXECUTOR, str(result))

    # --- http.get

    def test_http_get_outputs_status_size_and_body(self):
        result, task = self.submit_wait('http.get', self.http.url('/delay?ms=10'))
        self.assertEqual(result.returncode, 0, result)
        self.assertEqual(task['state'], 'TASK_STATE_SUCCEEDED', str(result))
        body = 'delayed 10 ms\n'
        self.assertEqual(output_of(task), f'status 200\nsize {len(body)}\n\n{body}', str(result))
        self.assertEqual(task['attempts'][-1]['executor_id'], EXECUTOR, str(result))

    def test_fifty_slow_fetches_overlap_on_an_executor_with_one_thread_slot(self):
        # 50 requests of 500 ms each: 25 s one after the other (the executor has one thread
        # slot), about 0.5 s when they overlap on the loop.
        executor = self.cluster.executors[EXECUTOR]
        sampler = ThreadSampler(executor.pid)
        self.http.reset_peak()
        url = self.http.url('/delay?ms=500')
        start = time.monotonic()
        ids = [self.cluster.submit('http.get', url) for _ in range(50)]
        deadline = start + 20
        tasks = [self.cluster.wait_task(i, max(0.1, deadline - time.monotonic())) for i in ids]
        elapsed = time.monotonic() - start
        peak_threads = sampler.stop()
        states = [harness.state_name(t.state) for t in tasks]
        self.assertEqual(states, ['SUCCEEDED'] * 50, f'after {elapsed:.2f}s')
        for t in tasks:
            self.assertEqual(parse_http_output(t.output.decode())[0], 200)
        stats = self.http.stats()
        sys.stderr.write(f'\n  50 x 500 ms http.get: {elapsed:.2f} s, server saw {stats.delay_peak} '
                         f'at once; executor threads {sampler.idle} idle, peak {peak_threads}\n')
        self.assertLess(elapsed, 5.0, 'the fetches did not overlap (25 s if one after another)')
        self.assertGreaterEqual(stats.delay_peak, 25, 'the server saw few requests at once')
        self.assertLess(peak_threads - sampler.idle, 25,
                        f'the executor grew from {sampler.idle} to {peak_threads} threads')

    def test_a_status_500_is_the_output_not_a_failure(self):
        result, task = self.submit_wait('http.get', self.http.url('/status?code=500'))
        self.assertEqual(result.returncode, 0, result)
        self.assertEqual(task['state'], 'TASK_STATE_SUCCEEDED', str(result))
        self.assertEqual(parse_http_output(output_of(task)), (500, 11, 'status 500\n'))

    def test_a_body_that_stalls_ends_at_the_task_timeout_and_the_connection_is_closed(self):
        closed_before = self.http.stats().stalls_closed
        start = time.monotonic()
        result, task = self.submit_wait('http.get', self.http.url('/stall'), '--timeout', '2s',
                                        '--retries', '0')
        elapsed = time.monotonic() - start
        self.assertEqual(result.returncode, 1, result)
        self.assertEqual(task['state'], 'TASK_STATE_FAILED', str(result))
        self.assertEqual(len(task['attempts']), 1, str(result))
        self.assertIn(task['attempts'][0]['outcome'],
                      ('ATTEMPT_OUTCOME_TIMED_OUT', 'ATTEMPT_OUTCOME_FAILED'), str(result))
        # The task's 2 s, not http.get's own 10 s limit, ended it.
        self.assertGreater(elapsed, 1.5, str(result))
        self.assertLess(elapsed, 8.0, str(result))
        self.assertTrue(
            self.http.wait_for(lambda s: s.stalls_closed > closed_before, timeout=5),
            'the executor left the stalled connection open after the attempt ended')

    def test_a_redirect_to_a_denied_address_fails_not_retryable_and_names_it(self):
        target = self.http.url('/echo', host='127.0.0.2')
        result, task = self.submit_wait('http.get', self.http.url(f'/redirect?to={target}'),
                                        '--retries', '3')
        self.assertFailedNotRetryable(result, task)
        self.assertIn('127.0.0.2', task['error'], str(result))
        self.assertIn('fetch policy', task['error'], str(result))

    def test_a_body_over_the_response_limit_fails_not_retryable(self):
        aborted_before = self.http.stats().huge_aborted
        result, task = self.submit_wait('http.get', self.http.url('/huge?mb=64'),
                                        '--retries', '3')
        self.assertFailedNotRetryable(result, task)
        error = task['error'].lower()
        self.assertTrue(any(word in error for word in (str(MAX_RESPONSE_BYTES), 'limit',
                                                       'too large', 'max-response')),
                        f'the error does not say what limit was passed\n{result}')
        # The executor stopped reading: the server's write of the 64 MiB broke off.
        self.assertTrue(self.http.wait_for(lambda s: s.huge_aborted > aborted_before, timeout=10),
                        'the server sent the whole 64 MiB body: the executor kept reading')

    def test_an_http_get_cancelled_in_flight_ends_cancelled_and_closes_its_connection(self):
        stats = self.http.stats()
        open_before, closed_before = stats.stalls_open, stats.stalls_closed
        task_id = self.submit_id('http.get', self.http.url('/stall'))
        self.watcher.wait_state(task_id, RUNNING, timeout=10)
        self.assertTrue(self.http.wait_for(lambda s: s.stalls_open > open_before, timeout=10),
                        'the request never reached the server')
        start = time.monotonic()
        cancelled = self.cli('--json', 'cancel', task_id)
        self.assertEqual(cancelled.returncode, 0, cancelled)
        waited = self.cli('--json', 'wait', task_id, '--timeout', '5')
        task = waited.json()
        self.assertEqual(task['state'], 'TASK_STATE_CANCELLED', str(waited))
        self.assertEqual(task['attempts'][-1]['outcome'], 'ATTEMPT_OUTCOME_CANCELLED', str(waited))
        self.assertLess(time.monotonic() - start, 5, 'cancel took too long')
        self.assertTrue(self.http.wait_for(lambda s: s.stalls_closed > closed_before, timeout=5),
                        'the cancel did not reach the transfer: its connection stayed open')

    # --- http.request

    def test_http_request_sends_method_headers_and_body(self):
        payload = json.dumps({'url': self.http.url('/echo'), 'method': 'POST',
                              'headers': {'X-Taskwire-Test': 'event-loop'},
                              'body': 'hello from the loop'})
        result, task = self.submit_wait('http.request', payload)
        self.assertEqual(result.returncode, 0, result)
        status, size, body = parse_http_output(output_of(task))
        self.assertEqual(status, 200, str(result))
        self.assertEqual(size, len(body.encode()), str(result))
        echoed = json.loads(body)
        self.assertEqual(echoed['method'], 'POST', body)
        headers = {k.lower(): v for k, v in echoed['headers'].items()}
        self.assertEqual(headers.get('x-taskwire-test'), 'event-loop', body)
        self.assertEqual(echoed['body'], 'hello from the loop', body)

    def test_http_request_timeout_ms_ends_a_slow_request(self):
        payload = json.dumps({'url': self.http.url('/delay?ms=5000'), 'method': 'GET',
                              'timeout_ms': 300})
        start = time.monotonic()
        result, task = self.submit_wait('http.request', payload, '--retries', '0')
        elapsed = time.monotonic() - start
        self.assertEqual(result.returncode, 1, result)
        self.assertEqual(task['state'], 'TASK_STATE_FAILED', str(result))
        self.assertLess(elapsed, 4.0, f'timeout_ms 300 against a 5 s answer\n{result}')

    # --- sleep on the loop

    def test_a_loop_sleep_holds_no_thread_slot_and_is_cancelled_in_flight(self):
        task_id = self.submit_id('sleep', '60000')
        self.watcher.wait_state(task_id, RUNNING, timeout=10)
        # The executor's only thread slot is free while the sleep waits on the loop.
        result, task = self.submit_wait('echo', 'beside the sleep', wait_timeout=10)
        self.assertEqual(result.returncode, 0, result)
        self.assertEqual(output_of(task), 'beside the sleep', str(result))

        start = time.monotonic()
        cancelled = self.cli('--json', 'cancel', task_id)
        self.assertEqual(cancelled.returncode, 0, cancelled)
        self.assertEqual(cancelled.json()['state'], 'TASK_STATE_CANCELLED', str(cancelled))
        waited = self.cli('--json', 'wait', task_id, '--timeout', '5')
        self.assertEqual(waited.returncode, 1, waited)
        task = waited.json()
        self.assertEqual(task['state'], 'TASK_STATE_CANCELLED', str(waited))
        self.assertEqual(task['attempts'][-1]['outcome'], 'ATTEMPT_OUTCOME_CANCELLED', str(waited))
        self.assertLess(time.monotonic() - start, 5, 'cancel took too long')

        result, task = self.submit_wait('sleep', '20', wait_timeout=10)
        self.assertEqual(result.returncode, 0, result)
        self.assertEqual(output_of(task), 'slept 20 ms', str(result))

    # --- what the executor announces

    def test_executors_lists_each_type_with_its_mode(self):
        listing = self.cli('--json', 'executors')
        self.assertEqual(listing.returncode, 0, listing)
        (executor,) = listing.json_lines()
        modes = {t['name']: t.get('mode') for t in executor['task_types']}
        for name in ('http.get', 'http.request', 'sleep'):
            self.assertEqual(modes.get(name), 'RUN_MODE_EVENT_LOOP', f'{name}\n{listing}')
        for name in ('thread.http.get', 'thread.sleep', 'echo'):
            self.assertEqual(modes.get(name), 'RUN_MODE_THREAD', f'{name}\n{listing}')
        slots = {m.get('mode'): m.get('slots') for m in executor.get('mode_slots', [])}
        self.assertEqual(slots.get('RUN_MODE_THREAD'), 1, str(listing))
        self.assertGreaterEqual(slots.get('RUN_MODE_EVENT_LOOP', 0), 1000,
                                f'event-loop slots are large by default\n{listing}')

        human = self.cli('executors')
        self.assertEqual(human.returncode, 0, human)
        self.assertIn('http.get(event-loop)', human.stdout, str(human))
        self.assertNotIn('thread.http.get(', human.stdout, str(human))


class EventLoopBuiltinsTest(harness.LoggedTestCase):
    def test_builtins_echo_leaves_http_get_unknown_to_the_executor(self):
        cluster = self.new_cluster('loop-builtins')
        cluster.start_scheduler()
        cluster.start_executor('exec-echo', extra_args=('--builtins', 'echo',
                                                        '--fetch-allow', '127.0.0.1'))
        listing = cluster.cli('--json', 'executors')
        self.assertEqual(listing.returncode, 0, listing)
        (executor,) = listing.json_lines()
        self.assertEqual([t['name'] for t in executor['task_types']], ['echo'], str(listing))

        with HttpTestServer() as http:
            submitted = cluster.cli('--json', 'submit', 'http.get', '--payload',
                                    http.url('/delay?ms=1'))
            self.assertEqual(submitted.returncode, 0, submitted)
            task_id = submitted.json()['task_id']
            self.addCleanup(cluster.cli, 'cancel', task_id)
            # An echo submitted after it runs to the end on the same executor...
            echo = cluster.cli('--json', 'submit', 'echo', '--payload', 'x',
                               '--wait-timeout', '10')
            self.assertEqual(echo.returncode, 0, echo)
            # ...while the http.get waits: no executor serves it.
            got = cluster.cli('--json', 'get', task_id)
            task = got.json()
            self.assertEqual(task['state'], 'TASK_STATE_QUEUED', str(got))
            self.assertFalse(task['attempts'], str(got))
            self.assertIn('http.get', task['waiting_reason'], str(got))
            self.assertEqual(http.stats().requests, {}, 'the server was asked nothing')


if __name__ == '__main__':
    unittest.main()
