"""What the stock executor does for clients is the operator's choice: --builtins limits the
task types it announces, and http.get (on the event loop) and thread.http.get (on a thread)
fetch only what the fetch policy allows (loopback is refused unless --fetch-allow lists it).
The real binaries, driven through the CLI."""

import base64
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

DENIED = "is denied by the executor's fetch policy (--fetch-deny/--fetch-allow)"


class BuiltinsAndFetchPolicyTest(harness.LoggedTestCase):
    def test_an_executor_announces_only_the_builtins_it_is_given(self):
        cluster = self.new_cluster('builtins')
        cluster.start_scheduler()
        cluster.start_executor('exec-few', extra_args=('--builtins', 'sha256, echo'))
        listing = cluster.cli('--json', 'executors')
        self.assertEqual(listing.returncode, 0, listing)
        (executor,) = listing.json_lines()
        self.assertEqual(sorted(t['name'] for t in executor['task_types']), ['echo', 'sha256'],
                         str(listing))

    def test_an_unknown_builtin_is_a_startup_error_that_lists_the_known_ones(self):
        cluster = self.new_cluster('bad-builtins')
        process = harness.Process('executor-bad',
                                  [harness.EXECUTOR_BIN, '--scheduler', '127.0.0.1:1',
                                   '--builtins', 'echo,http.post'], cluster.dir)
        process.expect_exit = True
        self.assertEqual(process.wait_exit(10), 2, process.log_tail())
        log = process.log_text()
        self.assertIn("unknown built-in task type 'http.post'", log)
        self.assertIn('collect, echo, fail, http.get, http.request, primes, sha256, sleep, '
                      'thread.http.get, thread.sleep', log)

    def test_http_get_of_loopback_fails_not_retryable_unless_allowed(self):
        # http.get runs on the event loop, thread.http.get on a thread: one fetch policy.
        cluster = self.new_cluster('fetch')
        scheduler = cluster.start_scheduler()
        url = f"http://{scheduler.ready['metrics']}/metrics"
        cluster.start_executor('exec-default', queues=('strict',))
        cluster.start_executor('exec-allow', queues=('local',),
                               extra_args=('--fetch-allow', '127.0.0.1'))

        for task_type in ('http.get', 'thread.http.get'):
            with self.subTest(task_type=task_type):
                refused = cluster.cli('--json', 'submit', task_type, '--queue', 'strict',
                                      '--payload', url, '--retries', '3', '--wait',
                                      '--wait-timeout', '20')
                self.assertEqual(refused.returncode, 1, refused)
                task = refused.json()
                self.assertEqual(task['state'], 'TASK_STATE_FAILED', str(refused))
                self.assertIn(f'{task_type}: 127.0.0.1 {DENIED}', task['error'], str(refused))
                self.assertEqual(len(task['attempts']), 1, 'not retryable: no retry follows')

                fetched = cluster.cli('--json', 'submit', task_type, '--queue', 'local',
                                      '--payload', url, '--wait', '--wait-timeout', '20')
                self.assertEqual(fetched.returncode, 0, fetched)
                output = base64.b64decode(fetched.json()['output']).decode()
                self.assertTrue(output.startswith('status 200\n'), output[:200])
                self.assertIn('taskwire_', output)


if __name__ == '__main__':
    unittest.main()
