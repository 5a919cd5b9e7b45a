"""scripts/new-token.sh and deploy/compose/make-secrets.sh: the token printed once and only
its SHA-256 in the access-file entry; the entry's fields per role; refusals; and the
certificates make-secrets.sh makes: they verify for the names compose and the docs dial,
and gRPC's own TLS (grpcio, the same OpenSSL as the binaries on Debian) accepts them.
"""

import concurrent.futures
import hashlib
import os
import re
import stat
import subprocess
import tempfile
import unittest

import grpc

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_ROOT = os.path.abspath(os.path.join(HERE, '..', '..'))
NEW_TOKEN = os.path.join(SOURCE_ROOT, 'scripts', 'new-token.sh')
MAKE_SECRETS = os.path.join(SOURCE_ROOT, 'deploy', 'compose', 'make-secrets.sh')


def run(*args, cwd=None):
    return subprocess.run(list(args), capture_output=True, text=True, timeout=60, cwd=cwd)


def entries(text):
    """[{field: [values]}] of the `entry { ... }` blocks of an access file."""
    found = []
    for block in re.findall(r'entry \{(.*?)\n\}', text, re.S):
        fields = {}
        for key, value in re.findall(r'^\s*(\w+): "?([^"\n]*)"?$', block, re.M):
            fields.setdefault(key, []).append(value)
        found.append(fields)
    return found


class NewTokenTest(unittest.TestCase):
    def test_prints_the_token_on_stdout_and_only_its_hash_in_the_entry(self):
        done = run(NEW_TOKEN, 'alice', 'submitter')
        self.assertEqual(done.returncode, 0, done.stderr)
        token = done.stdout.strip()
        self.assertRegex(token, r'^[0-9a-f]{64}$')
        self.assertNotIn(token, done.stderr)
        self.assertEqual(entries(done.stderr), [{
            'name': ['alice'], 'role': ['ROLE_SUBMITTER'],
            'token_sha256': [hashlib.sha256(token.encode()).hexdigest()]}])
        self.assertNotEqual(run(NEW_TOKEN, 'alice', 'submitter').stdout, done.stdout)

    def test_executor_entries_list_queues_and_task_types(self):
        done = run(NEW_TOKEN, 'images-executors', 'executor', 'images,thumbs', 'resize')
        self.assertEqual(done.returncode, 0, done.stderr)
        entry = entries(done.stderr)[0]
        self.assertEqual(entry['role'], ['ROLE_EXECUTOR'])
        self.assertEqual(entry['queues'], ['images', 'thumbs'])
        self.assertEqual(entry['task_types'], ['resize'])

    def test_append_adds_entries_to_a_private_file_and_keeps_it_whole(self):
        with tempfile.TemporaryDirectory() as tmp:
            access = os.path.join(tmp, 'access.textproto')
            tokens = [run(NEW_TOKEN, '--append', access, name, role).stdout.strip()
                      for name, role in (('root', 'admin'), ('bob', 'ROLE_SUBMITTER'))]
            with open(access) as f:
                found = entries(f.read())
            self.assertEqual([e['name'] for e in found], [['root'], ['bob']])
            self.assertEqual([e['token_sha256'][0] for e in found],
                             [hashlib.sha256(t.encode()).hexdigest() for t in tokens])
            self.assertEqual(stat.S_IMODE(os.stat(access).st_mode), 0o600)
            self.assertEqual(os.listdir(tmp), ['access.textproto'])  # no temporary left

    def test_refuses_what_would_make_a_wrong_or_broken_entry(self):
        for args, message in (
                (('x', 'owner'), 'ROLE must be'),
                (('x', 'executor'), 'needs QUEUES'),
                (('x', 'admin', 'q'), 'for executors only'),
                (('a"b', 'admin'), 'bad NAME'),
                (('x', 'executor', 'a,b"c'), 'bad queues'),
                ((), 'usage')):
            with self.subTest(args):
                done = run(NEW_TOKEN, *args)
                self.assertEqual(done.returncode, 2)
                self.assertEqual(done.stdout, '')   # no token for a refused entry
                self.assertIn(message, done.stderr)


class MakeSecretsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.out = os.path.join(cls.tmp.name, 'secrets')
        done = run(MAKE_SECRETS, '--out', cls.out)
        assert done.returncode == 0, done.stderr

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def path(self, name):
        return os.path.join(self.out, name)

    def read(self, name):
        with open(self.path(name), 'rb') as f:
            return f.read()

    def test_the_server_certificate_verifies_for_the_names_clients_dial(self):
        for check in (['-verify_hostname', 'scheduler'], ['-verify_hostname', 'localhost'],
                      ['-verify_ip', '127.0.0.1']):
            done = run('openssl', 'verify', '-CAfile', self.path('ca.crt'), '-purpose',
                       'sslserver', *check, self.path('scheduler.crt'))
            self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
        done = run('openssl', 'verify', '-CAfile', self.path('ca.crt'), '-verify_hostname',
                   'evil.example', self.path('scheduler.crt'))
        self.assertNotEqual(done.returncode, 0)

    def test_the_access_file_holds_the_hash_of_each_token_and_the_ca_key_is_private(self):
        with open(self.path('access/access.textproto')) as f:
            found = {e['name'][0]: e for e in entries(f.read())}
        self.assertEqual({n: e['role'][0] for n, e in found.items()},
                         {'compose-executors': 'ROLE_EXECUTOR', 'healthcheck': 'ROLE_SUBMITTER',
                          'admin': 'ROLE_ADMIN'})
        for name, file in (('compose-executors', 'executor.token'),
                           ('healthcheck', 'healthcheck.token'), ('admin', 'admin.token')):
            token = self.read(file).strip()
            self.assertEqual(found[name]['token_sha256'][0], hashlib.sha256(token).hexdigest())
        self.assertEqual(stat.S_IMODE(os.stat(self.path('ca.key')).st_mode), 0o600)
        self.assertEqual(stat.S_IMODE(os.stat(self.out).st_mode), 0o700)

    def test_refuses_to_overwrite_without_force(self):
        self.assertEqual(run(MAKE_SECRETS, '--out', self.out).returncode, 1)
        with tempfile.TemporaryDirectory() as other:
            open(os.path.join(other, 'notes.txt'), 'w').close()
            self.assertEqual(run(MAKE_SECRETS, '--out', other).returncode, 1)
            self.assertEqual(os.listdir(other), ['notes.txt'])

    def test_grpc_tls_accepts_the_certificates_and_carries_the_token(self):
        """A gRPC server with scheduler.crt answers a client that trusts ca.crt, dialing
        localhost, and 127.0.0.1 with the name `scheduler` (compose's health check); the
        bearer token arrives as `authorization` metadata."""
        seen = []

        def echo(request, context):
            seen.append(dict(context.invocation_metadata()).get('authorization'))
            return request

        handler = grpc.method_handlers_generic_handler('test.Echo', {
            'Echo': grpc.unary_unary_rpc_method_handler(echo)})
        server = grpc.server(concurrent.futures.ThreadPoolExecutor(max_workers=2),
                             handlers=[handler])
        credentials = grpc.ssl_server_credentials(
            [(self.read('scheduler.key'), self.read('scheduler.crt'))])
        port = server.add_secure_port('127.0.0.1:0', credentials)
        server.start()
        try:
            token = self.read('admin.token').decode().strip()
            client_credentials = grpc.ssl_channel_credentials(root_certificates=self.read('ca.crt'))
            for target, options in ((f'localhost:{port}', []),
                                    (f'127.0.0.1:{port}',
                                     [('grpc.ssl_target_name_override', 'scheduler')])):
                with self.subTest(target), \
                        grpc.secure_channel(target, client_credentials, options) as channel:
                    call = channel.unary_unary('/test.Echo/Echo')
                    self.assertEqual(call(b'ping', timeout=10,
                                          metadata=[('authorization', f'Bearer {token}')]),
                                     b'ping')
            self.assertEqual(seen, [f'Bearer {token}'] * 2)
            with grpc.secure_channel(
                    f'127.0.0.1:{port}', client_credentials,
                    [('grpc.ssl_target_name_override', 'evil.example')]) as channel:
                with self.assertRaises(grpc.RpcError) as raised:
                    channel.unary_unary('/test.Echo/Echo')(b'ping', timeout=10)
                self.assertEqual(raised.exception.code(), grpc.StatusCode.UNAVAILABLE)
        finally:
            server.stop(None)


if __name__ == '__main__':
    unittest.main()
