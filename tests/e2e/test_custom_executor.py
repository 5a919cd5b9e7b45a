"""A user's own executor program (examples/custom_executor.cc) serves task types of its own
next to the built-ins: a thread handler (wordcount) and an event-loop one (remind), against
the real scheduler and the CLI."""

import base64
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

CUSTOM_BIN = os.environ.get('TASKWIRE_CUSTOM_EXECUTOR_BIN',
                            '/work/main/build/examples/custom_executor')


class CustomExecutorTest(harness.LoggedTestCase):
    def test_runs_its_own_task_type_and_the_builtins(self):
        cluster = self.new_cluster('custom')
        cluster.start_scheduler()
        executor = harness.Process('custom-executor',
                                   [CUSTOM_BIN, '--scheduler', cluster.address], cluster.dir)
        try:
            executor.wait_ready()
            # The task waits in its queue until the executor has linked.
            done = cluster.cli('--json', 'submit', 'wordcount', '--payload',
                               'to be or not to be', '--wait', '--wait-timeout', '20')
            self.assertEqual(done.returncode, 0, done)
            self.assertEqual(base64.b64decode(done.json()['output']).decode(), '6')

            echo = cluster.cli('--json', 'submit', 'echo', '--payload', 'built-in too',
                               '--wait', '--wait-timeout', '20')
            self.assertEqual(echo.returncode, 0, echo)
            self.assertEqual(base64.b64decode(echo.json()['output']).decode(), 'built-in too')

            # Its own event-loop handler: announced in that mode, answers from its timer.
            listing = cluster.cli('--json', 'executors')
            self.assertEqual(listing.returncode, 0, listing)
            modes = {t['name']: t['mode'] for e in listing.json_lines() for t in e['task_types']}
            self.assertEqual(modes.get('remind'), 'RUN_MODE_EVENT_LOOP', listing)
            self.assertEqual(modes.get('wordcount'), 'RUN_MODE_THREAD', listing)
            remind = cluster.cli('--json', 'submit', 'remind', '--payload', 'tea is ready',
                                 '--wait', '--wait-timeout', '20')
            self.assertEqual(remind.returncode, 0, remind)
            self.assertEqual(base64.b64decode(remind.json()['output']).decode(),
                             'reminder: tea is ready')
            # The reminder takes 100 ms: a 50 ms task timeout ends the attempt first (its
            # OnAbort removes the timer) and the late completion is dropped.
            late = cluster.cli('--json', 'submit', 'remind', '--payload', 'too slow',
                               '--timeout', '50ms', '--retries', '0', '--wait',
                               '--wait-timeout', '20')
            self.assertNotEqual(late.returncode, 0, late)
            self.assertEqual(late.json()['state'], 'TASK_STATE_FAILED', late)
            self.assertIn('timed out', late.json()['attempts'][0]['error'], late)
        finally:
            code, killed = executor.stop()
        self.assertEqual((code, killed), (0, False), 'the executor drains and exits 0')


if __name__ == '__main__':
    unittest.main()
