"""Static checks of the container files (no Docker engine here): the Dockerfile's stages,
its runtime packages against the libraries the built binaries really link, and the compose
stack's wiring (services, ports, mounts, the Prometheus and Grafana configuration it uses),
and its secure variant (compose.secure.yaml: TLS and tokens from the files make-secrets.sh
makes).

The library check needs TASKWIRE_SCHEDULER_BIN and TASKWIRE_EXECUTOR_BIN (set by CMake) and
the apt package lists of the machine (`apt-cache depends`), as scripts/install-deps.sh
leaves them.
"""

import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import unittest

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_ROOT = os.path.abspath(os.path.join(HERE, '..', '..'))
DOCKERFILE = os.path.join(SOURCE_ROOT, 'deploy', 'docker', 'Dockerfile')
COMPOSE = os.path.join(SOURCE_ROOT, 'deploy', 'compose', 'compose.yaml')
COMPOSE_SECURE = os.path.join(SOURCE_ROOT, 'deploy', 'compose', 'compose.secure.yaml')
MAKE_SECRETS = os.path.join(SOURCE_ROOT, 'deploy', 'compose', 'make-secrets.sh')
BASE_IMAGE = 'debian:bookworm-slim'
SANITIZER_RUNTIME = re.compile(r'^lib(asan|ubsan|tsan|lsan|hwasan)\.so')
BUILD_TOOLS = re.compile(r'(^|\s)(build-essential|cmake|ninja-build|g\+\+|gcc|clang|make|git|'
                         r'pkg-config|protobuf-compiler\S*|\S+-dev)(\s|$)')
# What the Kubernetes manifests expect of the images (k8s/base).
K8S_UID = '10001'
PORTS = {'scheduler': {'7070', '9464'}, 'executor': {'7071', '9465'}}


def parse_dockerfile(path=DOCKERFILE):
    """[(stage name, base, [(INSTRUCTION, arguments)])] with continuation lines joined."""
    with open(path) as f:
        text = re.sub(r'\\\n', ' ', f.read())
    stages = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith('#'):
            continue
        instruction, _, args = line.partition(' ')
        instruction = instruction.upper()
        if instruction == 'FROM':
            words = args.split()
            name = words[2] if len(words) >= 3 and words[1].upper() == 'AS' else None
            stages.append((name, words[0], []))
        else:
            stages[-1][2].append((instruction, args.strip()))
    return stages


def stage_chain(stages, name):
    """The instructions of `name` and of every stage it is built FROM, base first."""
    by_name = {s[0]: s for s in stages}
    chain = []
    while name in by_name:
        _, base, instructions = by_name[name]
        chain = instructions + chain
        name = base
    return chain


def apt_installed(instructions):
    """Packages named by `apt-get install` in RUN instructions."""
    packages = []
    for instruction, args in instructions:
        if instruction != 'RUN':
            continue
        for command in re.split(r'&&|;', args):
            words = shlex.split(command)
            if words[:2] == ['apt-get', 'install']:
                packages += [w for w in words[2:] if not w.startswith('-')]
    return packages


class DockerfileTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.stages = parse_dockerfile()
        cls.names = [s[0] for s in cls.stages]

    def test_every_stage_starts_from_bookworm_slim_or_an_earlier_stage(self):
        seen = set()
        for name, base, _ in self.stages:
            self.assertTrue(base == BASE_IMAGE or base in seen, f'stage {name} FROM {base}')
            seen.add(name)
        self.assertTrue({'build', 'scheduler', 'executor'} <= seen, seen)

    def test_build_stage_uses_the_readme_scripts(self):
        runs = ' && '.join(a for i, a in stage_chain(self.stages, 'build') if i == 'RUN')
        self.assertIn('./scripts/install-deps.sh', runs)
        self.assertIn('./scripts/build.sh', runs)

    def test_final_stages_are_non_root_with_runtime_packages_only(self):
        for target in ('scheduler', 'executor'):
            with self.subTest(target):
                chain = stage_chain(self.stages, target)
                users = [a for i, a in chain if i == 'USER']
                self.assertTrue(users, f'{target}: no USER')
                self.assertEqual(users[-1].split(':')[0], K8S_UID,
                                 f'{target}: USER {users[-1]} (k8s runAsUser is {K8S_UID})')
                installed = ' '.join(apt_installed(chain))
                self.assertIsNone(BUILD_TOOLS.search(installed),
                                  f'{target} installs build tools: {installed}')
                copies = [a for i, a in chain if i in ('COPY', 'ADD')]
                self.assertTrue(copies and all(a.startswith('--from=build ') for a in copies),
                                f'{target} copies more than build outputs: {copies}')
                runs = ' '.join(a for i, a in chain if i == 'RUN')
                self.assertNotIn('install-deps.sh', runs)
                exposed = set(' '.join(a for i, a in chain if i == 'EXPOSE').split())
                self.assertEqual(exposed, PORTS[target])
                self.assertTrue([a for i, a in chain if i == 'HEALTHCHECK'], f'{target}: no HEALTHCHECK')
                entry = [json.loads(a) for i, a in chain if i == 'ENTRYPOINT'][-1]
                self.assertEqual(entry, [f'taskwire-{target}'])

    def test_runtime_packages_cover_every_library_the_binaries_link(self):
        binaries = [os.environ.get('TASKWIRE_SCHEDULER_BIN'), os.environ.get('TASKWIRE_EXECUTOR_BIN')]
        if not all(binaries):
            self.fail('set TASKWIRE_SCHEDULER_BIN and TASKWIRE_EXECUTOR_BIN (CMake does)')
        listed = apt_installed(stage_chain(self.stages, 'runtime'))
        depends = subprocess.run(
            ['apt-cache', 'depends', '--recurse', '--no-recommends', '--no-suggests',
             '--no-conflicts', '--no-breaks', '--no-replaces', '--no-enhances', *listed],
            capture_output=True, text=True, timeout=120)
        self.assertEqual(depends.returncode, 0, depends.stderr)
        available = set(listed) | {line.split(':', 1)[-1].strip().split(':')[0]
                                   for line in depends.stdout.splitlines()}
        # The sanitizer runtimes come only with the ASan/UBSan test build; images are built
        # without them (scripts/build.sh in the Dockerfile's build stage).
        libraries = sorted({lib for binary in binaries for lib in linked_libraries(binary)
                            if not SANITIZER_RUNTIME.search(os.path.basename(lib))})
        owners = owning_packages(libraries)
        missing = {lib: owners[lib] for lib in libraries if owners[lib] not in available}
        self.assertFalse(missing, f'libraries whose packages the runtime stage does not install: {missing}')


def linked_libraries(binary):
    done = subprocess.run(['ldd', binary], capture_output=True, text=True, timeout=30, check=True)
    return sorted({m.group(1) for m in re.finditer(r'=>\s+(/\S+)', done.stdout)})


def owning_packages(paths):
    """path -> Debian package, in one dpkg query (each query reads the whole database)."""
    # bookworm's dpkg database may list a library under /lib or /usr/lib (merged /usr).
    candidates = {}
    for path in paths:
        names = {path, os.path.realpath(path)}
        names |= {'/usr' + p for p in names if p.startswith('/lib')}
        names |= {p[len('/usr'):] for p in names if p.startswith('/usr/lib')}
        for name in names:
            candidates[name] = path
    done = subprocess.run(['dpkg', '-S', *sorted(candidates)], capture_output=True, text=True)
    owners = {path: f'(no package owns {path})' for path in paths}
    for line in done.stdout.splitlines():
        package, _, name = line.partition(': ')
        if name in candidates:
            owners[candidates[name]] = package.split(':')[0]
    return owners


class ComposeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with open(COMPOSE) as f:
            cls.compose = yaml.safe_load(f)
        cls.services = cls.compose['services']
        cls.dir = os.path.dirname(COMPOSE)

    def test_it_starts_a_scheduler_two_executors_prometheus_and_grafana(self):
        self.assertEqual(set(self.services),
                         {'scheduler', 'executor-1', 'executor-2', 'prometheus', 'grafana'})
        stages = {s[0] for s in parse_dockerfile()}
        for name, target in (('scheduler', 'scheduler'), ('executor-1', 'executor'),
                             ('executor-2', 'executor')):
            build = self.services[name]['build']
            self.assertEqual(build['target'], target)
            self.assertIn(target, stages)
            context = os.path.normpath(os.path.join(self.dir, build['context']))
            self.assertEqual(os.path.join(context, build['dockerfile']), DOCKERFILE)

    def test_executors_dial_the_scheduler_with_distinct_ids(self):
        ids = set()
        for name in ('executor-1', 'executor-2'):
            env = self.services[name]['environment']
            host, port = env['TASKWIRE_SCHEDULER'].split(':')
            self.assertEqual(host, 'scheduler')
            self.assertIn(port, PORTS['scheduler'])
            ids.add(env['TASKWIRE_EXECUTOR_ID'])
            self.assertEqual(self.services[name]['depends_on']['scheduler']['condition'],
                             'service_healthy')
        self.assertEqual(len(ids), 2)

    def test_every_bind_mount_exists(self):
        for name, service in self.services.items():
            for volume in service.get('volumes', []):
                source = volume.split(':')[0]
                if source.startswith('.'):
                    self.assertTrue(os.path.exists(os.path.join(self.dir, source)),
                                    f'{name}: {source} does not exist')

    def test_prometheus_scrapes_the_compose_services_on_their_metrics_ports(self):
        mounts = dict(v.split(':')[:2] for v in self.services['prometheus']['volumes'])
        config_dir = os.path.normpath(os.path.join(self.dir, [s for s, t in mounts.items()
                                                               if t == '/etc/prometheus'][0]))
        with open(os.path.join(config_dir, 'prometheus.yml')) as f:
            config = yaml.safe_load(f)
        targets = {t for job in config['scrape_configs'] for c in job['static_configs']
                   for t in c['targets']}
        self.assertEqual(targets, {'scheduler:9464', 'executor-1:9465', 'executor-2:9465'})
        jobs = {job['job_name'] for job in config['scrape_configs']}
        self.assertEqual(jobs, {'taskwire-scheduler', 'taskwire-executor'})  # the alert rules' jobs
        for rule_file in config['rule_files']:
            self.assertTrue(os.path.isfile(os.path.join(config_dir, rule_file)), rule_file)

    def test_grafana_gets_the_datasource_and_the_dashboard(self):
        mounts = dict(v.split(':')[:2] for v in self.services['grafana']['volumes'])
        by_target = {t: os.path.normpath(os.path.join(self.dir, s)) for s, t in mounts.items()}
        provisioning = by_target['/etc/grafana/provisioning']
        with open(os.path.join(provisioning, 'datasources', 'prometheus.yml')) as f:
            datasource = yaml.safe_load(f)['datasources'][0]
        self.assertEqual(datasource['url'], 'http://prometheus:9090')
        with open(os.path.join(provisioning, 'dashboards', 'taskwire.yml')) as f:
            provider = yaml.safe_load(f)['providers'][0]
        dashboards = by_target[provider['options']['path']]
        self.assertTrue(os.path.isfile(os.path.join(dashboards, 'taskwire.json')))

    def test_taskwire_services_are_hardened_and_published_on_loopback_only(self):
        for name, service in self.services.items():
            for port in service.get('ports', []):
                self.assertTrue(port.startswith('127.0.0.1:'), f'{name} publishes {port}')
            if name.startswith(('scheduler', 'executor')):
                self.assertTrue(service.get('read_only'), name)
                self.assertEqual(service.get('cap_drop'), ['ALL'], name)



class ComposeSecureTest(unittest.TestCase):
    """compose.secure.yaml, an override of compose.yaml (`-f compose.yaml -f compose.secure.yaml`)."""

    @classmethod
    def setUpClass(cls):
        with open(COMPOSE_SECURE) as f:
            cls.secure = yaml.safe_load(f)
        with open(COMPOSE) as f:
            cls.plain = yaml.safe_load(f)
        cls.dir = os.path.dirname(COMPOSE)
        cls.secrets = cls.secure['secrets']

    def secret_paths(self, name):
        """/run/secrets/<name> -> the secret's file, for the secrets of service `name`."""
        found = {}
        for secret in self.secure['services'][name].get('secrets', []):
            source = secret if isinstance(secret, str) else secret['source']
            target = secret.get('target', source) if isinstance(secret, dict) else source
            self.assertIn(source, self.secrets, f'{name}: secret {source} is not defined')
            found[os.path.join('/run/secrets', target)] = self.secrets[source]['file']
        return found

    def test_it_overrides_only_the_taskwire_services(self):
        self.assertEqual(set(self.secure['services']), {'scheduler', 'executor-1', 'executor-2'})
        self.assertLessEqual(set(self.secure['services']), set(self.plain['services']))

    def test_every_secret_and_mount_is_a_file_that_make_secrets_makes(self):
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, 'secrets')
            done = subprocess.run([MAKE_SECRETS, '--out', out], capture_output=True, text=True,
                                  timeout=60)
            self.assertEqual(done.returncode, 0, done.stderr)
            files = [s['file'] for s in self.secrets.values()]
            files += [v.split(':')[0] for service in self.secure['services'].values()
                      for v in service.get('volumes', [])]
            for file in files:
                self.assertTrue(file.startswith('./secrets/'), file)
                self.assertTrue(os.path.exists(os.path.join(out, file[len('./secrets/'):])), file)
        with open(os.path.join(self.dir, '.gitignore')) as f:
            self.assertIn('secrets/', f.read().split())

    def test_the_scheduler_serves_tls_with_an_access_file_it_can_see_change(self):
        scheduler = self.secure['services']['scheduler']
        env, secrets = scheduler['environment'], self.secret_paths('scheduler')
        for key, file in (('TASKWIRE_TLS_CERT', './secrets/scheduler.crt'),
                          ('TASKWIRE_TLS_KEY', './secrets/scheduler.key')):
            self.assertEqual(secrets.get(env.get(key)), file, key)
        # A directory mount: compose's one-file secrets miss edits that replace the file.
        mounts = {v.split(':')[1]: v.split(':')[0] for v in scheduler['volumes']}
        directory, _, name = env['TASKWIRE_AUTH_FILE'].rpartition('/')
        self.assertEqual(mounts.get(directory), './secrets/access')
        self.assertTrue(scheduler['volumes'][0].endswith(':ro'))
        check = scheduler['healthcheck']['test']
        self.assertEqual(check[:2], ['CMD', 'taskwire'])
        options = dict(zip(check[2::2], check[3::2]))
        self.assertIn(options['--tls-ca'], secrets)
        self.assertIn(options['--token-file'], secrets)
        self.assertEqual(options['--tls-server-name'], 'scheduler')

    def test_executors_verify_the_scheduler_and_send_their_token(self):
        for name in ('executor-1', 'executor-2'):
            with self.subTest(name):
                env, secrets = self.secure['services'][name]['environment'], self.secret_paths(name)
                self.assertEqual(secrets.get(env['TASKWIRE_TLS_CA']), './secrets/ca.crt')
                self.assertEqual(secrets.get(env['TASKWIRE_TOKEN_FILE']), './secrets/executor.token')
                self.assertNotIn('TASKWIRE_TOKEN', env)   # never the token itself
                self.assertEqual(set(secrets.values()), {'./secrets/ca.crt',
                                                        './secrets/executor.token'})
                # The plain file's scheduler address is the name in the server certificate.
                plain = self.plain['services'][name]['environment']
                self.assertEqual(plain['TASKWIRE_SCHEDULER'].split(':')[0], 'scheduler')

    def test_the_ca_key_is_mounted_nowhere(self):
        self.assertFalse([s for s in self.secrets.values() if 'ca.key' in s['file']])


if __name__ == '__main__':
    unittest.main()
