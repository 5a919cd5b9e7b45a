"""Static checks of the container files (no Docker engine here): the Dockerfile's stages,
its runtime packages against the libraries the built binaries really link, and the compose
stack's wiring (services, ports, mounts, the Prometheus and Grafana configuration it uses),
and its secure variant (compose.secure.yaml: TLS and tokens from the files make-secrets.sh
makes).

The library check needs TASKWIRE_SCHEDULER_BIN and TASKWIRE_EXECUTOR_BIN (set by CMake) and
the apt package lists of the machine (`apt-cache depends`), as scripts/install-deps.sh
leaves them.

ImageEntrypointTest runs the real executor the way the image does: under the image's
ENTRYPOINT (tini) as PID 1 of a new PID namespace (`unshare --pid --fork --mount-proc`), and
checks that an orphaned grandchild of a process task is reaped, that SIGTERM reaches the
executor, and that the image's HEALTHCHECK commands pass. It needs /usr/bin/tini
(scripts/install-deps.sh installs it), unshare permission (root, or unprivileged user
namespaces) and TASKWIRE_CLI_BIN; it skips, saying why, where one is missing.
"""

import base64
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import time
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
# The gRPC port each image's health check asks, and the health service it names.
HEALTH = {'scheduler': ('7070', None), 'executor': ('7071', 'ready')}
INIT = '/usr/bin/tini'         # the images' PID 1 (Debian's package tini)
CLI_IN_IMAGE = '/usr/local/bin/taskwire'


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
                self.assertEqual(entrypoint(self.stages, target),
                                 [INIT, '--', f'taskwire-{target}'])

    def test_the_runtime_installs_tini_and_no_curl(self):
        # tini reaps orphans and forwards signals as PID 1; the health checks use the CLI,
        # so nothing needs curl (libcurl4 stays: the fetch task links it).
        installed = apt_installed(stage_chain(self.stages, 'runtime'))
        self.assertIn('tini', installed)
        self.assertNotIn('curl', installed)

    def test_health_checks_ask_the_grpc_health_service_with_the_cli(self):
        for target in ('scheduler', 'executor'):
            with self.subTest(target):
                check = health_check(self.stages, target)
                # env -i: the server's TASKWIRE_TLS_* and token settings are not the check's.
                self.assertEqual(check[:3], ['env', '-i', CLI_IN_IMAGE], check)
                options = check[3:]
                port, service = HEALTH[target]
                self.assertEqual(options[:2], ['--server', f'127.0.0.1:{port}'], check)
                self.assertEqual(options[2:4], ['--rpc-timeout', '3'], check)
                self.assertEqual(options[4:],
                                 ['health'] + (['--service', service] if service else []))
                copies = [a for i, a in stage_chain(self.stages, target) if i == 'COPY']
                self.assertTrue(any(a.split()[-1] == CLI_IN_IMAGE for a in copies), copies)

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


def entrypoint(stages, target):
    return [json.loads(a) for i, a in stage_chain(stages, target) if i == 'ENTRYPOINT'][-1]


def health_check(stages, target):
    """The exec-form command of the stage's last HEALTHCHECK."""
    check = [a for i, a in stage_chain(stages, target) if i == 'HEALTHCHECK'][-1]
    options, _, command = check.partition(' CMD ')
    return json.loads(command)


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

    def test_health_checks_need_nothing_but_the_cli(self):
        # The images hold no curl: a check is the taskwire CLI (the secure variant's
        # included), run directly or through env.
        with open(COMPOSE_SECURE) as f:
            secure = yaml.safe_load(f)['services']
        for name, service in list(self.services.items()) + list(secure.items()):
            test = service.get('healthcheck', {}).get('test')
            if test and name.startswith(('scheduler', 'executor')):
                with self.subTest(name):
                    self.assertEqual(test[0], 'CMD', test)
                    words = test[1:]
                    if words[:2] == ['env', '-i']:
                        words = words[2:]
                    self.assertIn(words[0], ('taskwire', CLI_IN_IMAGE), test)

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


# --------------------------------------------------------------------------------------
# The real executor under the image's entrypoint, as PID 1 of a PID namespace

# A process task whose child starts a grandchild that leaves the task's process group
# (setsid), prints its pid (as the namespace numbers it) and sleeps a second; the child exits
# at once, so the grandchild is orphaned to PID 1 and exits a second later. Absolute paths:
# a process task gets no PATH.
ORPHAN_CONFIG = """process_slots: 1
process_tasks {
  type: "orphan"
  argv: ["/bin/sh", "-c", "( /usr/bin/setsid /bin/sh -c 'echo $$; exec /bin/sleep 1 </dev/null >/dev/null 2>&1' & ) | /usr/bin/head -n 1"]
  timeout_seconds: 20
}
"""
ORPHAN_TIMEOUT = 10.0   # seconds for the grandchild to end (it sleeps 1 s) and be reaped
STOP_TIMEOUT = 20.0     # seconds for the executor to drain and exit after SIGTERM


def new_pid_namespace_prefix():
    """The unshare command that runs a program as PID 1 of a new PID namespace (with its own
    /proc), or (None, why) where this machine does not allow it."""
    errors = []
    for prefix in (['unshare', '--pid', '--fork', '--mount-proc', '--kill-child'],
                   ['unshare', '--user', '--map-root-user', '--pid', '--fork', '--mount-proc',
                    '--kill-child']):
        try:
            done = subprocess.run(prefix + ['/bin/true'], capture_output=True, text=True,
                                  timeout=30)
        except OSError as e:
            return None, f'unshare cannot run: {e}'
        if done.returncode == 0:
            return prefix, None
        errors.append(f'{" ".join(prefix)}: {done.stderr.strip()}')
    return None, 'unshare is not permitted here (' + '; '.join(errors) + ')'


def proc_status(pid):
    """The fields of /proc/PID/status, or None if the process is gone."""
    try:
        with open(f'/proc/{pid}/status') as f:
            return dict(line.rstrip('\n').split(':\t', 1) for line in f if ':\t' in line)
    except (FileNotFoundError, ProcessLookupError):
        return None


def children(pid):
    found = []
    for entry in os.listdir('/proc'):
        if entry.isdigit():
            status = proc_status(entry)
            if status and status.get('PPid') == str(pid):
                found.append(int(entry))
    return found


def wait_for(predicate, timeout, pause=0.02):
    """Polls `predicate` until it returns a true value or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(pause)   # polling /proc: there is no event to wait on


class ImageEntrypointTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        sys.path.insert(0, os.path.join(HERE, '..', 'e2e'))
        import harness  # noqa: E402 (needs grpc; only this class does)
        cls.harness = harness
        cls.prefix, cls.why_not = new_pid_namespace_prefix()

    def setUp(self):
        if self.prefix is None:
            self.skipTest(self.why_not)
        for path, what in ((self.harness.SCHEDULER_BIN, 'TASKWIRE_SCHEDULER_BIN'),
                           (self.harness.EXECUTOR_BIN, 'TASKWIRE_EXECUTOR_BIN')):
            if not os.path.isfile(path):
                self.fail(f'no binary at {path}: set {what} (CMake does)')
        self.cluster = self.harness.Cluster('image-entrypoint')
        self.addCleanup(self.cluster.remove)
        self.addCleanup(self.cluster.close)
        self.cluster.start_scheduler('--store', 'memory')
        self.config = os.path.join(self.cluster.dir, 'orphan.textproto')
        with open(self.config, 'w') as f:
            f.write(ORPHAN_CONFIG)

    def image_command(self, target):
        """The stage's ENTRYPOINT with the binary from the build tree."""
        command = entrypoint(parse_dockerfile(), target)
        if command[0] == INIT and not os.access(INIT, os.X_OK):
            self.skipTest(f'{INIT} is not installed here (scripts/install-deps.sh installs '
                          f'the package tini): the image\'s entrypoint cannot run')
        binary = {'taskwire-executor': self.harness.EXECUTOR_BIN,
                  'taskwire-scheduler': self.harness.SCHEDULER_BIN}
        return [binary.get(word, word) for word in command]

    def start_executor(self, command, executor_id):
        """Runs `command` + the executor's flags as PID 1 of a new PID namespace; returns
        (harness process of unshare, host pid of the namespace's PID 1)."""
        argv = self.prefix + command + [
            '--scheduler', self.cluster.address, '--id', executor_id, '--slots', '1',
            '--queues', 'default', '--config', self.config, '--drain-grace', '2',
            # No metrics listener: its exposer takes 2 s to stop.
            '--health-listen', '127.0.0.1:0', '--metrics-listen', '']
        process = self.harness.Process(f'executor-{executor_id}', argv, self.cluster.dir)
        # unshare ignores SIGTERM: the test stops the namespace's PID 1 itself.
        process.expect_exit = True
        self.cluster.executors[executor_id] = process
        self.addCleanup(self.stop, process)
        process.wait_ready()
        self.cluster.wait_executor_ready(executor_id)
        pid1 = wait_for(lambda: children(process.pid), 5.0)
        self.assertEqual(len(pid1 or []), 1, f'unshare {process.pid} has children {pid1}')
        self.assertEqual(proc_status(pid1[0])['NSpid'].split()[-1], '1')
        return process, pid1[0]

    def stop(self, process):
        """SIGTERM to the namespace's PID 1 and the exit code of unshare (its exit code),
        or None if it had to be killed."""
        if process.returncode is not None:
            return process.returncode
        for pid in children(process.pid):
            os.kill(pid, signal.SIGTERM)
        code = process.wait_exit(STOP_TIMEOUT)
        if code is None:
            process.kill()
        return code

    def orphan(self, pid1):
        """Runs the orphan task; returns the host pid of the grandchild it left behind
        (reparented to the namespace's PID 1)."""
        result = self.cluster.cli('--json', 'submit', 'orphan', '--wait')
        self.assertEqual(result.returncode, 0, str(result))
        task = result.json()
        self.assertEqual(task['state'], 'TASK_STATE_SUCCEEDED', str(result))
        inner = base64.b64decode(task['output']).decode().strip()
        self.assertRegex(inner, r'^\d+$', str(result))
        for pid in children(pid1):
            status = proc_status(pid)
            if status and status.get('NSpid', '').split()[-1] == inner:
                return pid
        self.fail(f'no child of PID 1 ({pid1}) has the pid {inner} in the namespace; '
                  f'its children: {[(p, proc_status(p)) for p in children(pid1)]}')

    def test_under_the_image_entrypoint_an_orphaned_grandchild_is_reaped(self):
        command = self.image_command('executor')
        self.assertEqual(command[0], INIT)
        _, pid1 = self.start_executor(command, 'with-init')
        grandchild = self.orphan(pid1)
        gone = wait_for(lambda: proc_status(grandchild) is None, ORPHAN_TIMEOUT)
        status = proc_status(grandchild)
        self.assertTrue(gone, f'the orphan {grandchild} is still there after '
                              f'{ORPHAN_TIMEOUT}s: {status and status.get("State")}')

    def test_without_an_init_the_executor_as_pid_1_leaves_a_zombie(self):
        # Why the images run tini, and proof that the check above can see a zombie: the
        # executor reaps its own children only, not the orphans PID 1 inherits.
        _, pid1 = self.start_executor([self.harness.EXECUTOR_BIN], 'without-init')
        grandchild = self.orphan(pid1)

        def state():
            status = proc_status(grandchild)
            return status and status['State'].startswith('Z') and status['State']
        self.assertTrue(wait_for(state, ORPHAN_TIMEOUT),
                        f'the orphan did not become a zombie: {proc_status(grandchild)}; if '
                        f'the executor now reaps orphans as PID 1, say so in the Dockerfile')

    def test_sigterm_to_pid_1_reaches_the_executor_which_drains_and_exits_0(self):
        process, _ = self.start_executor(self.image_command('executor'), 'stopped')
        self.assertEqual(self.stop(process), 0, process.log_tail())
        self.assertIn('drained', process.log_text())

    def test_the_image_health_checks_pass_against_the_live_servers(self):
        cli = self.harness.CLI_BIN
        process, _ = self.start_executor(self.image_command('executor'), 'health')
        addresses = {'scheduler': self.cluster.address, 'executor': process.ready['health']}
        for target in ('scheduler', 'executor'):
            with self.subTest(target):
                check = health_check(parse_dockerfile(), target)
                check = [cli if word == CLI_IN_IMAGE else word for word in check]
                check[check.index('--server') + 1] = addresses[target]
                done = subprocess.run(check, capture_output=True, text=True, timeout=30)
                self.assertEqual(done.returncode, 0, f'{check}: {done.stdout}{done.stderr}')
        check[check.index('--server') + 1] = '127.0.0.1:1'
        done = subprocess.run(check, capture_output=True, text=True, timeout=30)
        self.assertEqual(done.returncode, 3, f'{check} (nothing listens): {done.stderr}')


if __name__ == '__main__':
    unittest.main()
