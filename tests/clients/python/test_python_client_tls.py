"""The Python client over TLS with a bearer token, against a scheduler that has an access
file, and an executor that reaches it with TLS and a token file: the set-up of
docs/security.md, with the real binaries. Certificates come from scripts/make-certs.sh."""

import hashlib
import os
import subprocess
import sys
import unittest

import grpc

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'e2e'))
import harness  # noqa: E402

pb = harness.load_stubs()
task_pb2 = pb.task_pb2
scheduler_pb2 = pb.scheduler_pb2
scheduler_pb2_grpc = pb.scheduler_pb2_grpc
SUCCEEDED = task_pb2.TaskState.Value('TASK_STATE_SUCCEEDED')

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '..')
TOKENS = {'py-user': ('ROLE_SUBMITTER', 'py-user-token-5a1b'),
          'py-other': ('ROLE_SUBMITTER', 'py-other-token-77c0'),
          'py-exec': ('ROLE_EXECUTOR', 'py-exec-token-93d2')}
RPC_TIMEOUT = 10.0


class PythonClientOverTlsTest(harness.SharedClusterTestCase):

    @classmethod
    def setUpClass(cls):
        def start(cluster):
            certs = os.path.join(cluster.dir, 'certs')
            subprocess.run([os.path.join(ROOT, 'scripts', 'make-certs.sh'), certs], check=True,
                           stdout=subprocess.DEVNULL)
            with open(os.path.join(certs, 'access.textproto'), 'w') as f:
                for name, (role, token) in TOKENS.items():
                    digest = hashlib.sha256(token.encode()).hexdigest()
                    scope = ' queues: "default"' if role == 'ROLE_EXECUTOR' else ''
                    f.write(f'entry {{ name: "{name}" role: {role} '
                            f'token_sha256: "{digest}"{scope} }}\n')
            with open(os.path.join(certs, 'executor.token'), 'w') as f:
                f.write(TOKENS['py-exec'][1] + '\n')
            cluster.start_scheduler('--tls-cert', os.path.join(certs, 'server.pem'),
                                    '--tls-key', os.path.join(certs, 'server.key'),
                                    '--auth-file', os.path.join(certs, 'access.textproto'))
            cluster.start_executor('py-tls-exec', slots=2, extra_args=(
                '--tls-ca', os.path.join(certs, 'ca.pem'),
                '--token-file', os.path.join(certs, 'executor.token')))
            cls.certs = certs
        cls.start_cluster('python-tls', start)

    def stub(self, token=None):
        with open(os.path.join(self.certs, 'ca.pem'), 'rb') as f:
            credentials = grpc.ssl_channel_credentials(root_certificates=f.read())
        if token is not None:
            credentials = grpc.composite_channel_credentials(
                credentials, grpc.access_token_call_credentials(token))
        channel = grpc.secure_channel(self.cluster.address, credentials)
        self.addCleanup(channel.close)
        return scheduler_pb2_grpc.SchedulerStub(channel)

    def run_echo(self, stub, payload):
        request = scheduler_pb2.SubmitRequest(task=task_pb2.TaskSpec(type='echo', payload=payload))
        request.wait.FromSeconds(10)
        return stub.Submit(request, timeout=10 + RPC_TIMEOUT)

    def test_a_token_over_tls_runs_a_task_on_an_executor_that_also_uses_tls(self):
        answer = self.run_echo(self.stub(TOKENS['py-user'][1]), b'over tls')
        self.assertEqual(answer.task.state, SUCCEEDED, str(answer.task))
        self.assertEqual(answer.task.output, b'over tls')
        self.assertEqual(answer.task.owner, 'py-user')

    def test_no_token_and_a_wrong_token_are_unauthenticated(self):
        for stub in (self.stub(), self.stub('not-a-token')):
            with self.assertRaises(grpc.RpcError) as caught:
                self.run_echo(stub, b'x')
            self.assertEqual(caught.exception.code(), grpc.StatusCode.UNAUTHENTICATED)

    def test_another_submitters_task_is_permission_denied(self):
        answer = self.run_echo(self.stub(TOKENS['py-user'][1]), b'mine')
        with self.assertRaises(grpc.RpcError) as caught:
            self.stub(TOKENS['py-other'][1]).GetTask(
                scheduler_pb2.GetTaskRequest(task_id=answer.task_id), timeout=RPC_TIMEOUT)
        self.assertEqual(caught.exception.code(), grpc.StatusCode.PERMISSION_DENIED)

    def test_a_plaintext_client_cannot_talk_to_a_tls_scheduler(self):
        with grpc.insecure_channel(self.cluster.address) as channel:
            stub = scheduler_pb2_grpc.SchedulerStub(channel)
            with self.assertRaises(grpc.RpcError) as caught:
                stub.GetTask(scheduler_pb2.GetTaskRequest(task_id='x'), timeout=5)
            self.assertEqual(caught.exception.code(), grpc.StatusCode.UNAVAILABLE)


if __name__ == '__main__':
    unittest.main()
