"""A user's own executor program (examples/custom_executor.cc) serves a task type of its own
next to the built-ins, against the real scheduler and the CLI."""

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
        finally:
            code, killed = executor.stop()
        self.assertEqual((code, killed), (0, False), 'the executor drains and exits 0')


if __name__ == '__main__':
    unittest.main()
