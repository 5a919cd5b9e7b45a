"""The Kubernetes manifests: `kubectl kustomize` renders k8s/base and every overlay, kubectl
can read every rendering as objects, every rendered object passes the Kubernetes schemas
offline (validate_k8s.js over the npm package kubernetes-models and the CRD packages,
unknown fields included), and the invariants of docs/deploy.md hold: those of every
install, of the secure overlays, of the HA overlays (three schedulers on PostgreSQL) and
of the KEDA overlays (executors scaled from the queue depth).

No cluster is needed. KUBECTL names the kubectl (default: the one on PATH; a fresh Debian 12
has kubernetes-client 1.20 with kustomize v2, newer machines kustomize v5: the manifests
render with both). KUBECTL_V2 names a kubectl 1.20 (kustomize v2) as well: every
kustomization must render the same with it (CMake's deploy_kubectl_v2 unpacks Debian's
kubernetes-client into the build tree). NODE_PATH names the node_modules that `npm ci`
filled (CMake sets it).
"""

import copy
import glob
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import unittest

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_ROOT = os.path.abspath(os.path.join(HERE, '..', '..'))
K8S = os.path.join(SOURCE_ROOT, 'k8s')
KUBECTL = os.environ.get('KUBECTL', shutil.which('kubectl') or 'kubectl')
KUBECTL_V2 = os.environ.get('KUBECTL_V2', '')
NODE = os.environ.get('NODE', shutil.which('node') or shutil.which('nodejs') or 'node')
VALIDATOR = os.path.join(HERE, 'validate_k8s.js')
OPERATOR = os.path.join(K8S, 'overlays', 'prometheus-operator')
ALERTS = os.path.join(SOURCE_ROOT, 'deploy', 'prometheus', 'alerts.yml')
DASHBOARD = os.path.join(SOURCE_ROOT, 'deploy', 'grafana', 'dashboards', 'taskwire.json')
DEFAULT_DRAIN_GRACE = 30.0   # taskwire-executor --drain-grace default (docs/operations.md)
DEFAULT_MAX_WAITING = 1_000_000  # taskwire-scheduler --max-waiting-tasks default
# What a full backlog costs the scheduler (docs/deploy.md, "Memory"): per waiting task with a
# small payload, including the extra of a restart that loads them all, plus the process.
BACKLOG_BYTES_PER_TASK = 1229     # ~1.2 KiB
PROCESS_BYTES = 64 << 20


def kustomizations():
    """'base' and 'overlays/<name>' for every directory with a kustomization.yaml."""
    dirs = ['base'] + sorted(os.path.relpath(os.path.dirname(p), K8S) for p in
                             glob.glob(os.path.join(K8S, 'overlays', '*', 'kustomization.yaml')))
    return dirs


_rendered = {}


def parse_rendering(text, what):
    """The objects of a `kubectl kustomize` output. kustomize v2 renders `$patch: delete`
    as an empty document `{}`, which kubectl rejects ("Object 'Kind' is missing in '{}'"):
    an overlay must leave objects out by not including them (k8s/base is made of parts for
    that), never delete them."""
    objects = [o for o in yaml.safe_load_all(text) if o is not None]
    shapeless = [o for o in objects if not isinstance(o, dict) or 'kind' not in o]
    if shapeless:
        raise AssertionError(f'{what} renders documents without a kind, which kubectl '
                             f'cannot apply: {shapeless}')
    return objects


def render(name, kubectl=None):
    kubectl = kubectl or KUBECTL
    if (kubectl, name) not in _rendered:
        done = subprocess.run([kubectl, 'kustomize', os.path.join(K8S, name)],
                              capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise AssertionError(f'{kubectl} kustomize {name} failed ({done.returncode}):\n'
                                 f'{done.stderr}')
        _rendered[(kubectl, name)] = parse_rendering(done.stdout, f'{kubectl} kustomize {name}')
    return copy.deepcopy(_rendered[(kubectl, name)])


def comparable(objects):
    """`objects` as text to compare two renderings: objects sorted, lists of named items
    (env, volumes, ports) sorted by name (kustomize v2 and v5 merge them in different
    orders), the generated ConfigMap's name hash dropped (they hash differently)."""
    def ordered(value):
        if isinstance(value, dict):
            return {k: ordered(v) for k, v in value.items()}
        if isinstance(value, list):
            items = [ordered(v) for v in value]
            if all(isinstance(v, dict) and 'name' in v for v in items):
                items.sort(key=lambda v: str(v['name']))
            return items
        return value
    text = json.dumps(sorted((ordered(o) for o in objects),
                             key=lambda o: (o['kind'], o['metadata']['name'])),
                      sort_keys=True, indent=1)
    return re.sub(r'(taskwire-executor-config)-[a-z0-9]{10}', r'\1', text)


def require_schemas(test):
    """Skips `test` when kubernetes-models is not installed: deploy_npm_ci reports a registry
    it could not reach as skipped (a machine without the npm registry, or whose TLS proxy
    node does not trust); every other check here still runs."""
    paths = [p for p in os.environ.get('NODE_PATH', '').split(os.pathsep) if p]
    if not any(os.path.isdir(os.path.join(p, 'kubernetes-models')) for p in paths):
        test.skipTest('kubernetes-models not installed (see deploy_npm_ci): schema check skipped')


# API groups of custom resources and the npm package with their schemas (as in
# validate_k8s.js, which fails on an object it has no schema for).
CRD_PACKAGES = {
    'monitoring.coreos.com': '@kubernetes-models/prometheus-operator',
    'cert-manager.io': '@kubernetes-models/cert-manager',
    'keda.sh': '@kubernetes-models/keda',
}


def schema_missing(o):
    """Why `o` cannot be checked against a schema ('' when it can): its CRD's npm package is
    not in NODE_PATH (node_modules installed from an older package-lock.json; the deploy_npm_ci
    test installs the current one)."""
    group = o['apiVersion'].rpartition('/')[0]
    package = CRD_PACKAGES.get(group)
    paths = [p for p in os.environ.get('NODE_PATH', '').split(os.pathsep) if p]
    if package and not any(os.path.isdir(os.path.join(p, package)) for p in paths):
        return (f'{o["kind"]} ({group}): {package} is not installed in NODE_PATH, so its '
                f'schema is not checked (run deploy_npm_ci)')
    return ''


def validate_schemas(objects):
    """(exit code, output) of validate_k8s.js over `objects`."""
    done = subprocess.run([NODE, VALIDATOR], input=json.dumps(objects), capture_output=True,
                          text=True, timeout=120)
    return done.returncode, done.stdout + done.stderr


# --------------------------------------------------------------------------------------
# Invariants


def by_kind(objects, kind):
    return [o for o in objects if o['kind'] == kind]


def one(objects, kind, name):
    found = [o for o in objects if o['kind'] == kind and o['metadata']['name'] == name]
    return found[0] if len(found) == 1 else None


def env_value(container, name):
    for env in container.get('env', []):
        if env['name'] == name:
            return env.get('value')
    return None


def setting(container, flag, env):
    """The value of `--flag` in the container's args (`--flag=V` or `--flag V`), else of
    the environment variable `env` (every taskwire flag has one)."""
    args = container.get('args', []) + container.get('command', [])[1:]
    for i, arg in enumerate(args):
        if arg.startswith(flag + '='):
            return arg[len(flag) + 1:]
        if arg == flag and i + 1 < len(args):
            return args[i + 1]
    return env_value(container, env)


def matches(selector, labels):
    return all(labels.get(k) == v for k, v in selector.get('matchLabels', {}).items())


def quantity_bytes(quantity):
    """A Kubernetes memory quantity ('2Gi', '512Mi', '1G', '1000') in bytes."""
    units = {'Ki': 1 << 10, 'Mi': 1 << 20, 'Gi': 1 << 30, 'Ti': 1 << 40,
             'k': 10**3, 'M': 10**6, 'G': 10**9, 'T': 10**12}
    number, unit = re.fullmatch(r'([0-9.]+)([A-Za-z]*)', str(quantity)).groups()
    return int(float(number) * units.get(unit, 1))


def container_problems(where, pod_spec, container):
    problems = []
    name = f'{where} container {container["name"]}'
    ports = {p.get('name'): p['containerPort'] for p in container.get('ports', [])}
    for port in ('grpc', 'metrics'):
        if port not in ports:
            problems.append(f'{name}: no port named {port}')
    # With a plaintext health listener (the port named "health", for a TLS gRPC port) the
    # probes go there; otherwise to the grpc port.
    probe_port_name = 'health' if 'health' in ports else 'grpc'
    if 'health' in ports:
        listen = setting(container, '--health-listen', 'TASKWIRE_HEALTH_LISTEN') or ''
        if listen.rpartition(':')[2] != str(ports['health']):
            problems.append(f'{name}: --health-listen {listen!r} is not the health port '
                            f'{ports["health"]}')
    for probe_name in ('startupProbe', 'livenessProbe', 'readinessProbe'):
        probe = container.get(probe_name)
        if probe_name == 'startupProbe' and not probe:
            continue
        if not probe or 'grpc' not in probe:
            problems.append(f'{name}: {probe_name} is not a native gRPC probe')
        elif probe['grpc'].get('port') != ports.get(probe_port_name):
            problems.append(f'{name}: {probe_name} probes port {probe["grpc"].get("port")}, '
                            f'not the {probe_port_name} port {ports.get(probe_port_name)}')
    pod_sc = pod_spec.get('securityContext', {})
    sc = container.get('securityContext', {})
    if not (sc.get('runAsNonRoot') or pod_sc.get('runAsNonRoot')):
        problems.append(f'{name}: runAsNonRoot is not set')
    if (sc.get('runAsUser', pod_sc.get('runAsUser')) or 0) == 0:
        problems.append(f'{name}: runs as uid 0 or an unknown uid')
    if sc.get('readOnlyRootFilesystem') is not True:
        problems.append(f'{name}: root filesystem is writable')
    if sc.get('allowPrivilegeEscalation') is not False:
        problems.append(f'{name}: allowPrivilegeEscalation is not false')
    caps = sc.get('capabilities', {})
    if 'ALL' not in caps.get('drop', []) or caps.get('add'):
        problems.append(f'{name}: capabilities are not all dropped')
    resources = container.get('resources', {})
    for kind, key in (('requests', 'cpu'), ('requests', 'memory'), ('limits', 'memory')):
        if key not in resources.get(kind, {}):
            problems.append(f'{name}: resources.{kind}.{key} is not set')
    return problems


def identity_problems(where, pod_spec, objects):
    """Each pod runs as a ServiceAccount of its own that mounts no API token."""
    problems = []
    account = pod_spec.get('serviceAccountName')
    service_account = one(objects, 'ServiceAccount', account) if account else None
    if service_account is None:
        problems.append(f'{where}: serviceAccountName {account} names no rendered ServiceAccount')
    elif service_account.get('automountServiceAccountToken') is not False:
        problems.append(f'{where}: ServiceAccount {account} automounts its token')
    if pod_spec.get('automountServiceAccountToken') is not False:
        problems.append(f'{where}: the pod automounts a service account token')
    return problems


# What the secure overlays expect of the rendered objects.
SECURE = 'secure'              # TLS, tokens, NetworkPolicies (k8s/overlays/secure)
CERT_MANAGER = 'cert-manager'  # cert-manager writes the TLS Secrets
MTLS = 'mtls'                  # client certificates required
EXPECTED = {
    'overlays/secure': {SECURE},
    'overlays/secure-cert-manager': {SECURE, CERT_MANAGER},
    'overlays/secure-mtls': {SECURE, CERT_MANAGER, MTLS},
}
DNS_PORT = 53


def secret_mounts(pod_spec, container):
    """mountPath -> Secret name for the container's Secret volumes."""
    secrets = {v['name']: v['secret']['secretName'] for v in pod_spec.get('volumes', [])
               if 'secret' in v}
    return {m['mountPath'].rstrip('/'): secrets[m['name']]
            for m in container.get('volumeMounts', []) if m['name'] in secrets}


def secret_of(path, mounts):
    """The Secret that holds the file `path`, or None."""
    return mounts.get(os.path.dirname(path or '')) if path else None


def file_setting_problems(where, pod_spec, container, flags):
    """Each (flag, env) of `flags` is set and names a file in a mounted Secret; returns
    (problems, {flag: Secret name})."""
    problems, secrets = [], {}
    mounts = secret_mounts(pod_spec, container)
    for flag, env in flags:
        path = setting(container, flag, env)
        if not path:
            problems.append(f'{where}: no {flag} ({env})')
        elif secret_of(path, mounts) is None:
            problems.append(f'{where}: {flag} {path} is not in a mounted Secret ({mounts})')
        else:
            secrets[flag] = secret_of(path, mounts)
    return problems, secrets


def peer_selects(peer, labels, same_namespace=True):
    """Whether a NetworkPolicy peer admits pods with `labels` in the policy's namespace."""
    if 'podSelector' not in peer or ('namespaceSelector' in peer) == same_namespace:
        return False
    return matches(peer['podSelector'], labels)


def is_client_peer(peer):
    return peer.get('podSelector', {}).get('matchLabels', {}).get('taskwire.io/client') == 'true'


def is_prometheus_peer(peer):
    """Prometheus pods: a non-empty namespace selector and a non-empty pod selector."""
    return bool(peer.get('namespaceSelector', {}).get('matchLabels') and
                peer.get('podSelector', {}).get('matchLabels'))


def rules_for(policies, labels, direction, port):
    """The rules of `direction` ('ingress' or 'egress') of the policies that select pods with
    `labels`, that cover TCP or UDP `port`."""
    found = []
    for policy in policies:
        if not matches(policy['spec']['podSelector'], labels):
            continue
        for rule in policy['spec'].get(direction) or []:
            if not rule.get('ports') or any(p.get('port') == port for p in rule['ports']):
                found.append(rule)
    return found


def network_problems(objects):
    problems = []
    policies = by_kind(objects, 'NetworkPolicy')
    deny = [p for p in policies if p['spec']['podSelector'] == {} and
            set(p['spec'].get('policyTypes', [])) == {'Ingress', 'Egress'} and
            not p['spec'].get('ingress') and not p['spec'].get('egress')]
    if not deny:
        problems.append('no default-deny NetworkPolicy (every pod, Ingress and Egress, no rule)')

    workloads = {w['metadata']['name']: w for w in
                 by_kind(objects, 'StatefulSet') + by_kind(objects, 'Deployment')}
    pod_labels = {name: w['spec']['template']['metadata']['labels'] for name, w in workloads.items()}
    for policy in policies:
        selector = policy['spec']['podSelector']
        if selector and not is_client_peer(policy['spec']) and not any(
                matches(selector, labels) for labels in pod_labels.values()):
            problems.append(f'NetworkPolicy {policy["metadata"]["name"]} selects no taskwire pod')

    def ports_of(name):
        containers = workloads[name]['spec']['template']['spec']['containers']
        return {p.get('name'): p['containerPort'] for c in containers for p in c.get('ports', [])}

    scheduler, executor = pod_labels.get('taskwire-scheduler'), pod_labels.get('taskwire-executor')
    if scheduler is None or executor is None:
        return problems + ['no scheduler or executor pods to check the NetworkPolicies against']
    scheduler_ports, executor_ports = ports_of('taskwire-scheduler'), ports_of('taskwire-executor')

    grpc = scheduler_ports['grpc']
    grpc_rules = rules_for(policies, scheduler, 'ingress', grpc)
    peers = [peer for rule in grpc_rules for peer in rule.get('from') or [{'anyone': True}]]
    strangers = [peer for peer in peers
                 if not (peer_selects(peer, executor) or is_client_peer(peer))]
    if strangers:
        problems.append(f'the scheduler gRPC port {grpc} admits more than executors and '
                        f'clients: {strangers} (a rule without "from" admits anyone)')
    if not any(peer_selects(peer, executor) for peer in peers):
        problems.append(f'executors may not reach the scheduler gRPC port {grpc}')
    if not any(is_client_peer(peer) for peer in peers):
        problems.append(f'no client (taskwire.io/client: "true") may reach the scheduler gRPC port')

    for name, labels, ports in (('scheduler', scheduler, scheduler_ports),
                                ('executor', executor, executor_ports)):
        metrics_peers = [peer for rule in rules_for(policies, labels, 'ingress', ports['metrics'])
                         for peer in rule.get('from') or [{'anyone': True}]]
        if not metrics_peers or not all(is_prometheus_peer(p) for p in metrics_peers):
            problems.append(f'the {name} metrics port {ports["metrics"]} is not open to exactly '
                            f'Prometheus (namespace and pod selector): {metrics_peers}')
        probe_port = ports.get('health', ports['grpc'])
        if not rules_for(policies, labels, 'ingress', probe_port):
            problems.append(f'no NetworkPolicy lets kubelet probe the {name} on {probe_port}')

    for name, labels in (('executor', executor), ('client', {'taskwire.io/client': 'true'})):
        scheduler_rules = rules_for(policies, labels, 'egress', grpc)
        if not any(peer_selects(peer, scheduler) for rule in scheduler_rules
                   for peer in rule.get('to', [])):
            problems.append(f'{name} pods may not reach the scheduler on {grpc}')
        if not rules_for(policies, labels, 'egress', DNS_PORT):
            problems.append(f'{name} pods may not reach DNS')
        open_rules = [rule for policy in policies
                      if matches(policy['spec']['podSelector'], labels)
                      for rule in policy['spec'].get('egress') or []
                      if not rule.get('to') and not rule.get('ports')]
        if open_rules:
            problems.append(f'{name} pods may reach anything (an egress rule with neither '
                            f'"to" nor "ports")')
    return problems


def secure_problems(objects, expected):
    """Every broken invariant of a secure overlay (EXPECTED), as readable strings."""
    problems = network_problems(objects)
    scheduler = one(objects, 'StatefulSet', 'taskwire-scheduler')
    executor = one(objects, 'Deployment', 'taskwire-executor')
    if scheduler is None or executor is None:
        return problems + ['no scheduler StatefulSet or executor Deployment']
    scheduler_pod = scheduler['spec']['template']['spec']
    executor_pod = executor['spec']['template']['spec']
    scheduler_container = scheduler_pod['containers'][0]
    executor_container = executor_pod['containers'][0]

    flags = [('--tls-cert', 'TASKWIRE_TLS_CERT'), ('--tls-key', 'TASKWIRE_TLS_KEY'),
             ('--auth-file', 'TASKWIRE_AUTH_FILE')]
    if MTLS in expected:
        flags.append(('--tls-client-ca', 'TASKWIRE_TLS_CLIENT_CA'))
    found, scheduler_secrets = file_setting_problems(
        'scheduler', scheduler_pod, scheduler_container, flags)
    problems += found
    if 'health' not in {p.get('name') for p in scheduler_container.get('ports', [])}:
        problems.append('scheduler: no health port: kubelet probes cannot reach a TLS port')

    flags = [('--tls-ca', 'TASKWIRE_TLS_CA'), ('--token-file', 'TASKWIRE_TOKEN_FILE')]
    if MTLS in expected:
        flags += [('--tls-cert', 'TASKWIRE_TLS_CERT'), ('--tls-key', 'TASKWIRE_TLS_KEY')]
    found, executor_secrets = file_setting_problems(
        'executor', executor_pod, executor_container, flags)
    problems += found
    if setting(executor_container, '--token', 'TASKWIRE_TOKEN'):
        problems.append('executor: the token is in the pod spec (--token); use --token-file')
    if executor_pod.get('securityContext', {}).get('fsGroup') is None:
        problems.append('executor: no fsGroup: it cannot read its 0440 Secret files')

    certificates = by_kind(objects, 'Certificate')
    if CERT_MANAGER not in expected:
        return problems
    written = {c['spec']['secretName']: c for c in certificates}
    for who, secrets in (('scheduler', scheduler_secrets), ('executor', executor_secrets)):
        tls_secret = secrets.get('--tls-cert') or secrets.get('--tls-ca')
        if tls_secret not in written:
            problems.append(f'{who}: its TLS Secret {tls_secret} is written by no Certificate '
                            f'(they write {sorted(written)})')
    server = written.get(scheduler_secrets.get('--tls-cert'))
    dialed = (env_value(executor_container, 'TASKWIRE_SCHEDULER') or '').rpartition(':')[0]
    if server and dialed not in server['spec'].get('dnsNames', []):
        problems.append(f'the scheduler certificate names {server["spec"].get("dnsNames")}, '
                        f'not {dialed!r}, which executors dial')
    for certificate in certificates:
        ref = certificate['spec']['issuerRef']
        if ref.get('kind', 'Issuer') == 'Issuer' and one(objects, 'Issuer', ref['name']) is None:
            problems.append(f'Certificate {certificate["metadata"]["name"]}: no Issuer {ref["name"]}')
    return problems


# The recommended labels (kubernetes.io/docs/concepts/overview/working-with-objects/
# common-labels): on every object and pod template. Selectors keep only the name, as they
# always had: a workload's selector is immutable, and version changes with every release.
RECOMMENDED_LABELS = ('app.kubernetes.io/name', 'app.kubernetes.io/part-of',
                      'app.kubernetes.io/instance', 'app.kubernetes.io/version')
COMPONENTS = {'taskwire-scheduler': 'scheduler', 'taskwire-executor': 'executor'}
SPREAD_KEYS = {'topology.kubernetes.io/zone', 'kubernetes.io/hostname'}


def release_version():
    """The version the manifests are of: the base's image tag (one for both images)."""
    tags = {image.rpartition(':')[2] for image in base_images().values()}
    return tags.pop() if len(tags) == 1 else f'(the base\'s images have tags {sorted(tags)})'


def label_problems(objects):
    problems = []
    version = release_version()

    def check(where, labels):
        for key in RECOMMENDED_LABELS:
            if key not in labels:
                problems.append(f'{where}: no label {key}')
        if labels.get('app.kubernetes.io/part-of', 'taskwire') != 'taskwire':
            problems.append(f'{where}: part-of {labels["app.kubernetes.io/part-of"]}')
        if labels.get('app.kubernetes.io/version', version) != version:
            problems.append(f'{where}: version {labels["app.kubernetes.io/version"]}, the '
                            f'images are {version}')
        component = COMPONENTS.get(labels.get('app.kubernetes.io/name'))
        if component and labels.get('app.kubernetes.io/component') != component:
            problems.append(f'{where}: component {labels.get("app.kubernetes.io/component")}, '
                            f'not {component}')

    for o in objects:
        where = f'{o["kind"]} {o["metadata"]["name"]}'
        check(where, o['metadata'].get('labels', {}))
        template = o.get('spec', {}).get('template')
        if template:
            check(f'{where} pod template', template['metadata'].get('labels', {}))
        selectors = []
        if o['kind'] in ('StatefulSet', 'Deployment', 'PodDisruptionBudget'):
            selectors.append(o['spec']['selector'].get('matchLabels', {}))
        if o['kind'] == 'Service':
            selectors.append(o['spec'].get('selector', {}))
        for selector in selectors:
            if set(selector) != {'app.kubernetes.io/name'}:
                problems.append(f'{where}: selector {selector} is not the name alone (selectors '
                                f'are immutable; version changes every release)')
    return problems


def spread_problems(pod, labels):
    """Executors spread over zones and nodes, as a preference."""
    problems = []
    constraints = pod.get('topologySpreadConstraints', [])
    keys = {c['topologyKey'] for c in constraints}
    if keys != SPREAD_KEYS:
        problems.append(f'executor spreads over {sorted(keys)}, not {sorted(SPREAD_KEYS)}')
    for c in constraints:
        if c.get('whenUnsatisfiable') != 'ScheduleAnyway':
            problems.append(f'executor spread over {c["topologyKey"]} is '
                            f'{c.get("whenUnsatisfiable")}: pods could stay Pending')
        if not matches(c.get('labelSelector', {}), labels) or not c.get('labelSelector'):
            problems.append(f'executor spread over {c["topologyKey"]} does not select its pods')
    return problems


def scheduler_workload(objects):
    """The scheduler's StatefulSet (k8s/base) or Deployment (k8s/overlays/ha), if exactly
    one of them is rendered."""
    found = [o for o in by_kind(objects, 'StatefulSet') + by_kind(objects, 'Deployment')
             if o['metadata']['name'] == 'taskwire-scheduler']
    return found[0] if len(found) == 1 else None


def store_of(container):
    return setting(container, '--store', 'TASKWIRE_STORE') or 'sqlite'


def scale_target(autoscaler):
    """(kind, name) an HPA or a KEDA ScaledObject scales (KEDA's default kind: Deployment)."""
    ref = autoscaler['spec']['scaleTargetRef']
    return ref.get('kind', 'Deployment'), ref['name']


def autoscalers_of(objects, kind, name):
    """The HPAs and ScaledObjects that scale `kind` `name` (apps/v1)."""
    return [a for a in by_kind(objects, 'HorizontalPodAutoscaler') + by_kind(objects, 'ScaledObject')
            if scale_target(a) == (kind, name) and
            a['spec']['scaleTargetRef'].get('apiVersion', 'apps/v1') == 'apps/v1']


def problems_of(objects, expect_service_monitor):
    """Every broken invariant of one rendered kustomization, as readable strings."""
    problems = []
    namespaces = [o['metadata']['name'] for o in by_kind(objects, 'Namespace')]
    if len(namespaces) != 1:
        problems.append(f'expected one Namespace, got {namespaces}')
    for o in objects:
        if o['kind'] != 'Namespace' and o['metadata'].get('namespace') not in namespaces:
            problems.append(f'{o["kind"]} {o["metadata"]["name"]} is outside the namespace')

    problems += label_problems(objects)
    workloads = by_kind(objects, 'StatefulSet') + by_kind(objects, 'Deployment')
    for w in workloads:
        where = f'{w["kind"]} {w["metadata"]["name"]}'
        pod = w['spec']['template']['spec']
        for c in pod.get('initContainers', []) + pod['containers']:
            problems += container_problems(where, pod, c)
        problems += identity_problems(where, pod, objects)
    for secret in by_kind(objects, 'Secret'):
        if secret.get('data') or secret.get('stringData'):
            problems.append(f'Secret {secret["metadata"]["name"]} carries data: credentials '
                            f'do not belong in git (docs/security.md)')

    scheduler = scheduler_workload(objects)
    if scheduler is None:
        problems.append('no StatefulSet or Deployment taskwire-scheduler (one of them)')
    else:
        spec = scheduler['spec']
        container = spec['template']['spec']['containers'][0]
        if store_of(container) != 'postgres':
            # SQLite (or memory): one writer, its store on the StatefulSet's volume. With
            # PostgreSQL several schedulers share the database: ha_problems checks them.
            if scheduler['kind'] != 'StatefulSet':
                problems.append(f'scheduler is a {scheduler["kind"]} with the '
                                f'{store_of(container)} store: its volume needs a StatefulSet')
            if spec.get('replicas') != 1:
                problems.append(f'scheduler replicas {spec.get("replicas")}, must be 1 (one '
                                f'store writer)')
            claims = [t['metadata']['name'] for t in spec.get('volumeClaimTemplates', [])]
            mounts = [m['name'] for c in spec['template']['spec']['containers']
                      for m in c.get('volumeMounts', [])]
            if not claims or not set(claims) <= set(mounts):
                problems.append(f'scheduler claims {claims} not all mounted ({mounts})')
            if one(objects, 'Service', spec.get('serviceName')) is None:
                problems.append(f'scheduler serviceName {spec.get("serviceName")} has no Service')
        waiting = int(setting(container, '--max-waiting-tasks', 'TASKWIRE_MAX_WAITING_TASKS') or
                      DEFAULT_MAX_WAITING)
        limit = container.get('resources', {}).get('limits', {}).get('memory')
        needed = PROCESS_BYTES + waiting * BACKLOG_BYTES_PER_TASK
        if limit and quantity_bytes(limit) < needed:
            problems.append(f'scheduler memory limit {limit} cannot hold a full backlog of '
                            f'{waiting} waiting tasks (~{needed >> 20} MiB): an OOM kill '
                            f'would reload it and be killed again')
        service = one(objects, 'Service', 'taskwire-scheduler')
        names = {p.get('name') for p in service['spec']['ports']} if service else set()
        if not {'grpc', 'metrics'} <= names:
            problems.append(f'Service taskwire-scheduler ports {names} lack grpc/metrics')

    executor = one(objects, 'Deployment', 'taskwire-executor')
    if executor is None:
        problems.append('no Deployment taskwire-executor')
    else:
        pod = executor['spec']['template']['spec']
        labels = executor['spec']['template']['metadata']['labels']
        container = pod['containers'][0]
        drain = float(env_value(container, 'TASKWIRE_DRAIN_GRACE') or DEFAULT_DRAIN_GRACE)
        grace = pod.get('terminationGracePeriodSeconds', 30)
        if not grace > drain:
            problems.append(f'executor terminationGracePeriodSeconds {grace} is not longer '
                            f'than its drain grace {drain}')
        readiness = container.get('readinessProbe', {}).get('grpc', {})
        if readiness.get('service') != 'ready':
            problems.append('executor readiness does not ask for service "ready" (off while draining)')
        config_maps = {v['configMap']['name'] for v in pod.get('volumes', []) if 'configMap' in v}
        existing = {o['metadata']['name'] for o in by_kind(objects, 'ConfigMap')}
        if not config_maps or not config_maps <= existing:
            problems.append(f'executor mounts ConfigMaps {config_maps}, rendered: {existing}')
        autoscalers = [f'{a["kind"]} {a["metadata"]["name"]}'
                       for a in autoscalers_of(objects, 'Deployment', 'taskwire-executor')]
        if len(autoscalers) != 1:
            problems.append(f'{len(autoscalers)} autoscalers target the executor Deployment '
                            f'{autoscalers}: exactly one must (two overwrite each other\'s '
                            f'count)')
        problems += spread_problems(pod, labels)
        budgets = [p for p in by_kind(objects, 'PodDisruptionBudget')
                   if matches(p['spec']['selector'], labels)]
        if not budgets:
            problems.append('no PodDisruptionBudget selects the executor pods')
        for budget in budgets:
            # Executors are unready while the scheduler is down; with the default policy
            # their budget would block every node drain then.
            if budget['spec'].get('unhealthyPodEvictionPolicy') != 'AlwaysAllow':
                problems.append(f'PodDisruptionBudget {budget["metadata"]["name"]}: '
                                f'unhealthyPodEvictionPolicy is not AlwaysAllow (unready '
                                f'executors would block node drains)')

    for autoscaler in by_kind(objects, 'HorizontalPodAutoscaler') + by_kind(objects, 'ScaledObject'):
        kind, name = scale_target(autoscaler)
        target = one(objects, kind, name)
        where = f'{autoscaler["kind"]} {autoscaler["metadata"]["name"]}'
        if target is None:
            problems.append(f'{where} scales {kind} {name}, which is not rendered')
        elif 'replicas' in target['spec']:
            problems.append(f'{kind} {name} sets replicas {target["spec"]["replicas"]} although '
                            f'{where} scales it: every apply would reset the count')

    monitors = by_kind(objects, 'ServiceMonitor')
    if not expect_service_monitor:
        if monitors:
            problems.append('a ServiceMonitor in the base: it belongs in an overlay')
        for w in workloads:
            annotations = w['spec']['template']['metadata'].get('annotations', {})
            ports = [p['containerPort'] for c in w['spec']['template']['spec']['containers']
                     for p in c.get('ports', []) if p.get('name') == 'metrics']
            if (annotations.get('prometheus.io/scrape') != 'true' or
                    annotations.get('prometheus.io/port') != str(ports[0] if ports else None)):
                problems.append(f'{w["metadata"]["name"]}: prometheus.io annotations missing or '
                                f'not on the metrics port {ports}')
    else:
        if len(monitors) != 1:
            problems.append(f'expected one ServiceMonitor, got {len(monitors)}')
        else:
            monitor = monitors[0]['spec']
            ports = {e['port'] for e in monitor['endpoints']}
            scraped = {s['metadata']['name'] for s in by_kind(objects, 'Service')
                       if matches(monitor['selector'], s['metadata'].get('labels', {}))
                       and ports & {p.get('name') for p in s['spec']['ports']}}
            if scraped != {'taskwire-scheduler', 'taskwire-executor'}:
                problems.append(f'ServiceMonitor scrapes services {scraped}')
    return problems


# --------------------------------------------------------------------------------------
# High availability (k8s/overlays/ha) and autoscaling by KEDA (k8s/overlays/autoscaling),
# and the overlay that has both. The contract of issue 15 (docs/operations.md): with
# --store=postgres every scheduler takes part in leader election; health service ""
# is SERVING on every running scheduler, "taskwire.v1.Scheduler" on the leader only;
# --keda-listen serves KEDA's external-scaler interface.

HA = {'overlays/ha', 'overlays/ha-autoscaling'}
KEDA = {'overlays/autoscaling', 'overlays/ha-autoscaling'}
HA_REPLICAS = 3
LEADER_SERVICE = 'taskwire.v1.Scheduler'


def probe_service(container, probe):
    """The health service a gRPC probe asks for ('' when none), or None without one."""
    grpc = (container.get(probe) or {}).get('grpc')
    return None if grpc is None else grpc.get('service', '')


def port_of(address):
    return address.rpartition(':')[2]


def ha_problems(objects):
    """Every broken invariant of the HA overlays, as readable strings."""
    problems = []
    scheduler = scheduler_workload(objects)
    if scheduler is None:
        return ['no scheduler workload']
    where = f'{scheduler["kind"]} taskwire-scheduler'
    spec = scheduler['spec']
    pod = spec['template']['spec']
    labels = spec['template']['metadata']['labels']
    container = pod['containers'][0]
    namespace = scheduler['metadata'].get('namespace')
    ports = {p.get('name'): p['containerPort'] for p in container.get('ports', [])}
    env = [e['name'] for e in container.get('env', [])]

    # Three replicas, no volume, a rollout that does not wait for readiness.
    if scheduler['kind'] != 'Deployment':
        problems.append(f'{where}: a StatefulSet waits for Ready pods, and standbys never are')
    if spec.get('replicas') != HA_REPLICAS:
        problems.append(f'{where}: replicas {spec.get("replicas")}, not {HA_REPLICAS}')
    if spec.get('strategy', {}).get('type', 'RollingUpdate') != 'Recreate':
        problems.append(f'{where}: strategy {spec.get("strategy")}: a rolling update waits for '
                        f'new pods to turn Ready, which standbys never do')
    if spec.get('volumeClaimTemplates'):
        problems.append(f'{where}: volumeClaimTemplates (the state is in PostgreSQL)')
    kept = [v['name'] for v in pod.get('volumes', []) if set(v) - {'name'} != {'emptyDir'}]
    if kept:
        problems.append(f'{where}: volumes {kept} other than emptyDir (no store on a volume)')
    if 'TASKWIRE_DATA_DIR' in env:
        problems.append(f'{where}: TASKWIRE_DATA_DIR set (the SQLite store\'s directory)')

    # The store, its URL from a Secret, the lease, the advertised address.
    if store_of(container) != 'postgres':
        problems.append(f'{where}: store {store_of(container)}, not postgres')
    url = [e for e in container.get('env', []) if e['name'] == 'TASKWIRE_POSTGRES_URL']
    ref = url[0].get('valueFrom', {}).get('secretKeyRef') if url else None
    if not ref or 'value' in url[0] or not ref.get('name') or not ref.get('key'):
        problems.append(f'{where}: TASKWIRE_POSTGRES_URL is not taken from a Secret '
                        f'(secretKeyRef): {url}')
    if any(a.split('=')[0] == '--postgres-url'
           for a in container.get('args', []) + container.get('command', [])):
        problems.append(f'{where}: --postgres-url in the args: the password would be in git')
    lease = env_value(container, 'TASKWIRE_LEADER_LEASE')
    if not (lease and re.fullmatch(r'[0-9]+(\.[0-9]+)?', lease) and float(lease) > 0):
        problems.append(f'{where}: TASKWIRE_LEADER_LEASE {lease!r} is not a number of seconds')
    pod_ip = [e for e in container.get('env', []) if e['name'] == 'POD_IP']
    advertise = env_value(container, 'TASKWIRE_ADVERTISE')
    if not pod_ip or pod_ip[0].get('valueFrom', {}).get('fieldRef', {}).get(
            'fieldPath') != 'status.podIP':
        problems.append(f'{where}: no POD_IP from the downward API (status.podIP)')
    elif advertise != f'$(POD_IP):{ports.get("grpc")}':
        problems.append(f'{where}: TASKWIRE_ADVERTISE {advertise!r}, not '
                        f'"$(POD_IP):{ports.get("grpc")}"')
    elif env.index('POD_IP') > env.index('TASKWIRE_ADVERTISE'):
        problems.append(f'{where}: POD_IP comes after TASKWIRE_ADVERTISE, so $(POD_IP) is '
                        f'not expanded (Kubernetes expands variables defined earlier only)')

    # Readiness = leader; liveness (and startup) = alive, which standbys are.
    if probe_service(container, 'readinessProbe') != LEADER_SERVICE:
        problems.append(f'{where}: readiness asks for service '
                        f'{probe_service(container, "readinessProbe")!r}, not '
                        f'{LEADER_SERVICE!r} (leader only)')
    for probe in ('livenessProbe', 'startupProbe'):
        if probe_service(container, probe) not in ('', None):
            problems.append(f'{where}: {probe} asks for service '
                            f'{probe_service(container, probe)!r}: standbys would be restarted')

    # Disruption budget and spreading.
    budgets = [b for b in by_kind(objects, 'PodDisruptionBudget')
               if matches(b['spec']['selector'], labels)]
    if len(budgets) != 1:
        problems.append(f'{len(budgets)} PodDisruptionBudgets select the scheduler pods')
    for budget in budgets:
        b = budget['spec']
        if b.get('maxUnavailable') != 1 or 'minAvailable' in b:
            problems.append(f'PodDisruptionBudget {budget["metadata"]["name"]}: '
                            f'{ {k: b.get(k) for k in ("minAvailable", "maxUnavailable")} }, '
                            f'not maxUnavailable 1 (the leader is never evicted by a drain)')
        if b.get('unhealthyPodEvictionPolicy') != 'AlwaysAllow':
            problems.append(f'PodDisruptionBudget {budget["metadata"]["name"]}: '
                            f'unhealthyPodEvictionPolicy is not AlwaysAllow (standbys are '
                            f'unready: no scheduler pod could ever be evicted)')
    anti = pod.get('affinity', {}).get('podAntiAffinity', {})
    terms = [t.get('podAffinityTerm', t) for key in (
        'preferredDuringSchedulingIgnoredDuringExecution',
        'requiredDuringSchedulingIgnoredDuringExecution') for t in anti.get(key, [])]
    if not any(t.get('topologyKey') == 'kubernetes.io/hostname' and
               t.get('labelSelector', {}).get('matchLabels') and
               matches(t['labelSelector'], labels) for t in terms):
        problems.append(f'{where}: no pod anti-affinity over kubernetes.io/hostname that '
                        f'selects the scheduler pods')

    # Services: the ClusterIP one routes to Ready pods (the leader); the headless one
    # publishes every pod for clients that health-check them; executors dial it.
    headless = [svc for svc in by_kind(objects, 'Service')
                if svc['spec'].get('clusterIP') == 'None' and
                matches({'matchLabels': svc['spec'].get('selector', {})}, labels) and
                svc['spec'].get('selector')]
    if len(headless) != 1:
        problems.append(f'{len(headless)} headless Services select the scheduler pods')
    else:
        svc = headless[0]
        if svc['spec'].get('publishNotReadyAddresses') is not True:
            problems.append(f'Service {svc["metadata"]["name"]}: publishNotReadyAddresses is '
                            f'not true: standbys would be missing from DNS')
        grpc_ports = [p['port'] for p in svc['spec'].get('ports', [])
                      if p.get('targetPort') in ('grpc', ports.get('grpc'))]
        expected = (f'dns:///{svc["metadata"]["name"]}.{namespace}.svc:'
                    f'{grpc_ports[0] if grpc_ports else "?"}')
        executor = one(objects, 'Deployment', 'taskwire-executor')
        dialed = env_value(executor['spec']['template']['spec']['containers'][0],
                           'TASKWIRE_SCHEDULER') if executor else None
        if dialed != expected:
            problems.append(f'executors dial {dialed!r}, not {expected!r}')
    return problems


def keda_problems(objects):
    """Every broken invariant of the KEDA overlays, as readable strings."""
    problems = []
    target = ('Deployment', 'taskwire-executor')
    scaled = [a for a in autoscalers_of(objects, *target) if a['kind'] == 'ScaledObject']
    hpas = [a['metadata']['name'] for a in autoscalers_of(objects, *target)
            if a['kind'] == 'HorizontalPodAutoscaler']
    if hpas:
        problems.append(f'HorizontalPodAutoscalers {hpas} target the executor Deployment '
                        f'beside KEDA')
    if len(scaled) != 1:
        return problems + [f'{len(scaled)} ScaledObjects target the executor Deployment']
    so = scaled[0]['spec']
    if so.get('minReplicaCount') != 0:
        problems.append(f'ScaledObject: minReplicaCount {so.get("minReplicaCount")}, not 0')
    if not isinstance(so.get('maxReplicaCount'), int) or so['maxReplicaCount'] < 1:
        problems.append(f'ScaledObject: maxReplicaCount {so.get("maxReplicaCount")}')
    if so.get('cooldownPeriod') is None:
        problems.append('ScaledObject: no cooldownPeriod')
    triggers = so.get('triggers', [])
    if [t.get('type') for t in triggers] != ['external']:
        return problems + [f'ScaledObject: triggers {[t.get("type") for t in triggers]}, '
                           f'not one external trigger']
    meta = triggers[0].get('metadata', {})

    executor = one(objects, *target)['spec']['template']['spec']['containers'][0]
    queues = (setting(executor, '--queues', 'TASKWIRE_QUEUES') or 'default').split(',')
    if meta.get('queue') not in queues:
        problems.append(f'ScaledObject: queue {meta.get("queue")!r} is not one the executors '
                        f'serve ({queues})')
    if meta.get('activationTasks') != '0':
        problems.append(f'ScaledObject: activationTasks {meta.get("activationTasks")!r}, not '
                        f'"0" (a waiting task must bring an executor from zero)')
    per_replica = meta.get('tasksPerReplica')
    if per_replica is not None and not (isinstance(per_replica, str) and
                                        per_replica.isdigit() and int(per_replica) > 0):
        problems.append(f'ScaledObject: tasksPerReplica {per_replica!r} is not a positive '
                        f'integer string')

    # scalerAddress -> a Service port of this namespace -> the scheduler's keda port ->
    # its --keda-listen.
    found = re.fullmatch(r'([a-z0-9-]+)\.([a-z0-9-]+)\.svc:([0-9]+)',
                         str(meta.get('scalerAddress')))
    scheduler = scheduler_workload(objects)
    if not found or scheduler is None:
        return problems + [f'ScaledObject: scalerAddress {meta.get("scalerAddress")!r} is not '
                           f'SERVICE.NAMESPACE.svc:PORT']
    name, namespace, port = found.group(1), found.group(2), int(found.group(3))
    service = one(objects, 'Service', name)
    container = scheduler['spec']['template']['spec']['containers'][0]
    container_ports = {p.get('name'): p['containerPort'] for p in container.get('ports', [])}
    if service is None or service['metadata'].get('namespace') != namespace:
        return problems + [f'ScaledObject: no Service {name} in namespace {namespace}']
    if not matches({'matchLabels': service['spec'].get('selector', {})},
                   scheduler['spec']['template']['metadata']['labels']):
        problems.append(f'Service {name} does not select the scheduler pods')
    service_port = [p for p in service['spec'].get('ports', []) if p['port'] == port]
    if not service_port:
        return problems + [f'Service {name} has no port {port} (scalerAddress)']
    target_port = service_port[0].get('targetPort', port)
    target_port = container_ports.get(target_port, target_port)
    listen = setting(container, '--keda-listen', 'TASKWIRE_KEDA_LISTEN') or ''
    if target_port not in container_ports.values():
        problems.append(f'Service {name} port {port} targets {target_port}, which the '
                        f'scheduler container does not declare')
    if port_of(listen) != str(target_port):
        problems.append(f'scheduler --keda-listen {listen!r} is not the port {target_port} '
                        f'that KEDA reaches through Service {name}:{port}')
    return problems


# --------------------------------------------------------------------------------------
# Images: the base's manifests name placeholders (taskwire-scheduler, taskwire-executor);
# the base's `images:` block is the one place that turns them into registry names and tags.

# What an overlay runs instead of the base's images, by placeholder.
IMAGE_OVERRIDES = {
    'overlays/dev': {'taskwire-scheduler': 'taskwire-scheduler:dev',
                     'taskwire-executor': 'taskwire-executor:dev'},
}


PLACEHOLDERS = ('taskwire-scheduler', 'taskwire-executor')


def image_blocks():
    """kustomization directory (relative to k8s/) -> {placeholder: 'newName:newTag'}, for
    every kustomization whose `images:` block maps a placeholder: the parts of the base
    that hold a workload, and an overlay's own workload (k8s/overlays/ha/scheduler).
    Entries that rename the base's names (k8s/overlays/dev) are not placeholders."""
    blocks = {}
    for path in sorted(glob.glob(os.path.join(K8S, '**', 'kustomization.yaml'), recursive=True)):
        with open(path) as f:
            images = yaml.safe_load(f).get('images', [])
        mapped = {i['name']: f'{i.get("newName", i["name"])}:{i["newTag"]}' for i in images
                  if i['name'] in PLACEHOLDERS}
        if mapped:
            blocks[os.path.relpath(os.path.dirname(path), K8S)] = mapped
    return blocks


def base_images():
    """placeholder -> 'newName:newTag', from the `images:` blocks of the base's parts
    (k8s/base/core names the executor, k8s/base/scheduler the scheduler)."""
    images = {}
    for where, mapped in image_blocks().items():
        if where.startswith('base' + os.sep):
            images.update(mapped)
    return images


def pod_containers(objects):
    """(workload name, container) -> container, for every container of every pod template.
    Keyed by name, not kind: k8s/overlays/ha runs the scheduler as a Deployment where the
    base has a StatefulSet, and the same image."""
    found = {}
    for o in objects:
        pod = o.get('spec', {}).get('template', {}).get('spec')
        for c in (pod.get('initContainers', []) + pod.get('containers', [])) if pod else []:
            found[(o['metadata']['name'], c['name'])] = c
    return found


def placeholder_images():
    """(workload name, container) -> the image as the base's manifests write it."""
    objects = []
    for path in sorted(glob.glob(os.path.join(K8S, 'base', '**', '*.yaml'), recursive=True)):
        with open(path) as f:
            objects += [o for o in yaml.safe_load_all(f) if o]
    return {key: c['image'] for key, c in pod_containers(objects).items()}


def expected_images(name):
    """(workload name, container) -> the image kustomization `name` must render."""
    images = base_images()
    images.update(IMAGE_OVERRIDES.get(name, {}))
    return {key: images.get(placeholder, f'{placeholder} (not in the images: block)')
            for key, placeholder in placeholder_images().items()}


def image_problems(name, objects):
    rendered = {key: c['image'] for key, c in pod_containers(objects).items()}
    expected = expected_images(name)
    return [f'{workload} container {container}: image {rendered.get(key)}, '
            f'expected {expected.get(key)}'
            for key in sorted(set(rendered) | set(expected))
            for workload, container in [key]
            if rendered.get(key) != expected.get(key)]


# --------------------------------------------------------------------------------------
# Tests


class KustomizeTest(unittest.TestCase):
    def test_base_and_every_overlay_render(self):
        names = kustomizations()
        self.assertIn('overlays/prometheus-operator', names)
        for name in names:
            with self.subTest(name):
                self.assertTrue(render(name))

    def test_every_rendered_object_passes_the_schemas(self):
        require_schemas(self)
        for name in kustomizations():
            objects = render(name)
            unchecked = [o for o in objects if schema_missing(o)]
            for o in unchecked:
                with self.subTest(name, object=f'{o["kind"]} {o["metadata"]["name"]}'):
                    self.skipTest(schema_missing(o))
            objects = [o for o in objects if o not in unchecked]
            with self.subTest(name):
                code, output = validate_schemas(objects)
                self.assertEqual(code, 0, f'{name}:\n{output}')
                self.assertEqual(output.count('\nok ') + output.startswith('ok '),
                                 len(objects), output)

    def test_invariants_hold_in_base_and_overlays(self):
        for name in kustomizations():
            with self.subTest(name):
                problems = problems_of(render(name), name == 'overlays/prometheus-operator')
                if name in EXPECTED:
                    problems += secure_problems(render(name), EXPECTED[name])
                if name in HA:
                    problems += ha_problems(render(name))
                if name in KEDA:
                    problems += keda_problems(render(name))
                self.assertFalse(problems, f'{name}:\n' + '\n'.join(problems))

    def test_every_secure_overlay_is_checked_as_one(self):
        secure = {n for n in kustomizations() if n.startswith('overlays/secure')}
        self.assertEqual(secure, set(EXPECTED))

    def test_every_ha_and_keda_overlay_is_checked_as_one(self):
        postgres, scaled = set(), set()
        for name in kustomizations():
            scheduler = scheduler_workload(render(name))
            if scheduler and store_of(scheduler['spec']['template']['spec']['containers'][0]) \
                    == 'postgres':
                postgres.add(name)
            if by_kind(render(name), 'ScaledObject'):
                scaled.add(name)
        self.assertEqual(postgres, HA)
        self.assertEqual(scaled, KEDA)

    def check_kubectl_reads(self, kubectl):
        # What `kubectl apply -k` would read, without a cluster: `annotate --local` parses
        # every document into an object (and refuses one without a kind, as apply does).
        for name in kustomizations():
            with self.subTest(name):
                rendered = subprocess.run([kubectl, 'kustomize', os.path.join(K8S, name)],
                                          capture_output=True, text=True, timeout=60)
                self.assertEqual(rendered.returncode, 0, rendered.stderr)
                done = subprocess.run([kubectl, 'annotate', '--local', '-f', '-',
                                       'taskwire.io/check=1', '-o', 'name'],
                                      input=rendered.stdout, capture_output=True, text=True,
                                      timeout=60)
                self.assertEqual(done.returncode, 0, done.stderr)
                self.assertEqual(len(done.stdout.split()), len(render(name, kubectl)),
                                 done.stdout)

    def test_kubectl_reads_every_rendering(self):
        self.check_kubectl_reads(KUBECTL)

    def test_kubectl_reads_every_rendering_with_kustomize_v2(self):
        have_kubectl_v2(self)
        self.check_kubectl_reads(KUBECTL_V2)

    def test_kustomize_v2_renders_the_same(self):
        if not KUBECTL_V2 or not os.access(KUBECTL_V2, os.X_OK):
            self.skipTest('KUBECTL_V2 names no kubectl 1.20 (see deploy_kubectl_v2): the '
                          'kustomize v2 rendering is not checked')
        for name in kustomizations():
            with self.subTest(name):
                self.assertEqual(comparable(render(name, KUBECTL_V2)), comparable(render(name)))


class ImagesTest(unittest.TestCase):
    def test_the_base_manifests_name_placeholders_that_the_images_block_maps(self):
        placeholders = set(placeholder_images().values())
        self.assertEqual(placeholders, set(PLACEHOLDERS))
        self.assertLessEqual(placeholders, set(base_images()))
        for placeholder, image in base_images().items():
            self.assertRegex(image, r'^[a-z0-9.-]+(/[a-z0-9._-]+)+:[A-Za-z0-9._-]+$', placeholder)
        for overrides in IMAGE_OVERRIDES.values():
            self.assertLessEqual(set(overrides), placeholders)

    def test_every_images_block_names_the_same_image_for_a_placeholder(self):
        # A release changes every block's newTag; one left behind would deploy the old image.
        blocks = image_blocks()
        self.assertIn(os.path.join('base', 'core'), blocks)
        self.assertIn(os.path.join('base', 'scheduler'), blocks)
        for where, mapped in blocks.items():
            for placeholder, image in mapped.items():
                self.assertEqual(image, base_images()[placeholder], f'k8s/{where}')

    def test_the_docs_override_the_names_the_base_gives(self):
        # docs/deploy.md shows an overlay's `images:`: its entries must name the base's
        # newName, or they match nothing.
        with open(os.path.join(SOURCE_ROOT, 'docs', 'deploy.md')) as f:
            named = re.findall(r'- name: (\S+)[^\n]*\n\s+newName:', f.read())
        self.assertTrue(named)
        new_names = {image.rpartition(':')[0] for image in base_images().values()}
        self.assertLessEqual(set(named), new_names)

    def check_images(self, kubectl):
        for name in kustomizations():
            with self.subTest(name):
                problems = image_problems(name, render(name, kubectl))
                self.assertFalse(problems, f'{kubectl} kustomize {name}:\n' + '\n'.join(problems))

    def test_every_container_runs_the_expected_image(self):
        self.check_images(KUBECTL)

    def test_every_container_runs_the_expected_image_with_kustomize_v2(self):
        if not KUBECTL_V2 or not os.access(KUBECTL_V2, os.X_OK):
            self.skipTest('KUBECTL_V2 names no kubectl 1.20 (see deploy_kubectl_v2)')
        self.check_images(KUBECTL_V2)

    def test_an_overlay_left_with_the_base_tags_is_caught(self):
        # An overlay's `images:` matches the base's newName; one that names the placeholder
        # matches nothing and the base's tag is rendered (the dev overlay's old mistake).
        objects = render('overlays/dev')
        for container in pod_containers(objects).values():
            container['image'] = base_images()[container['image'].split(':')[0]]
        self.assertIn('expected taskwire-scheduler:dev',
                      '\n'.join(image_problems('overlays/dev', objects)))


def have_kubectl_v2(test):
    if not KUBECTL_V2 or not os.access(KUBECTL_V2, os.X_OK):
        test.skipTest('KUBECTL_V2 names no kubectl 1.20 (see deploy_kubectl_v2)')


def scheduler_container(objects):
    return scheduler_workload(objects)['spec']['template']['spec']['containers'][0]


def without_keda(o):
    """`o` without what the KEDA overlays add to the scheduler and its Service."""
    o = copy.deepcopy(o)
    if o['metadata']['name'] == 'taskwire-scheduler' and o['kind'] in ('StatefulSet',
                                                                         'Deployment'):
        c = o['spec']['template']['spec']['containers'][0]
        c['env'] = [e for e in c['env'] if e['name'] != 'TASKWIRE_KEDA_LISTEN']
        c['ports'] = [p for p in c['ports'] if p.get('name') != 'keda']
    if (o['kind'], o['metadata']['name']) == ('Service', 'taskwire-scheduler'):
        o['spec']['ports'] = [p for p in o['spec']['ports'] if p.get('name') != 'keda']
    return o


class HighAvailabilityAndAutoscalingTest(unittest.TestCase):
    """k8s/overlays/ha, k8s/overlays/autoscaling and k8s/overlays/ha-autoscaling (issue 15).
    KustomizeTest checks their invariants with the current kubectl; here with kustomize
    v2 too (its merge order of env decides whether $(POD_IP) expands), that the combined
    overlay is exactly the two together, and that the HA scheduler does not drift from
    the base's."""

    def check_invariants(self, kubectl):
        for name in sorted(HA | KEDA):
            with self.subTest(name):
                objects = render(name, kubectl)
                problems = problems_of(objects, expect_service_monitor=False)
                problems += ha_problems(objects) if name in HA else []
                problems += keda_problems(objects) if name in KEDA else []
                self.assertFalse(problems, f'{kubectl} kustomize {name}:\n' + '\n'.join(problems))

    def test_invariants_hold_with_kustomize_v2(self):
        have_kubectl_v2(self)
        self.check_invariants(KUBECTL_V2)

    def check_combined(self, kubectl):
        ha = render('overlays/ha', kubectl)
        autoscaling = render('overlays/autoscaling', kubectl)
        both = render('overlays/ha-autoscaling', kubectl)

        def key(o):
            return o['kind'], o['metadata']['name']
        expected = {key(o): o for o in ha if o['kind'] != 'HorizontalPodAutoscaler'}
        expected[('ScaledObject', 'taskwire-executor')] = one(
            autoscaling, 'ScaledObject', 'taskwire-executor')
        got = {key(o): without_keda(o) for o in both}
        self.assertEqual(sorted(got), sorted(expected))
        for k in got:
            self.assertEqual(comparable([got[k]]), comparable([expected[k]]), k)
        # What KEDA adds is what the autoscaling overlay adds to the base's scheduler.
        added = scheduler_container(autoscaling), scheduler_container(both)
        for container in added:
            self.assertEqual(env_value(container, 'TASKWIRE_KEDA_LISTEN'),
                             env_value(added[0], 'TASKWIRE_KEDA_LISTEN'))
            self.assertIn({'name': 'keda', 'containerPort': 7073}, container['ports'])
        self.assertEqual(one(both, 'Service', 'taskwire-scheduler'),
                         one(autoscaling, 'Service', 'taskwire-scheduler'))

    def test_ha_autoscaling_is_ha_and_autoscaling_together(self):
        self.check_combined(KUBECTL)

    def test_ha_autoscaling_is_ha_and_autoscaling_together_with_kustomize_v2(self):
        have_kubectl_v2(self)
        self.check_combined(KUBECTL_V2)

    def test_the_ha_scheduler_runs_as_the_base_one_but_for_the_store(self):
        base = one(render('base'), 'StatefulSet', 'taskwire-scheduler')
        ha = one(render('overlays/ha'), 'Deployment', 'taskwire-scheduler')
        self.assertEqual(base['metadata']['labels'], ha['metadata']['labels'])
        self.assertEqual(base['spec']['template']['metadata'], ha['spec']['template']['metadata'])
        base_pod, ha_pod = base['spec']['template']['spec'], ha['spec']['template']['spec']
        for field in ('serviceAccountName', 'automountServiceAccountToken',
                      'terminationGracePeriodSeconds'):
            self.assertEqual(base_pod.get(field), ha_pod.get(field), field)
        security = dict(base_pod['securityContext'])
        security.pop('fsGroup')     # for the volume the HA scheduler has not
        self.assertEqual(security, ha_pod['securityContext'])
        base_c, ha_c = base_pod['containers'][0], ha_pod['containers'][0]
        for field in ('image', 'resources', 'securityContext', 'ports', 'livenessProbe',
                      'startupProbe'):
            self.assertEqual(base_c.get(field), ha_c.get(field), field)
        self.assertEqual(base_c['readinessProbe']['grpc']['port'],
                         ha_c['readinessProbe']['grpc']['port'])
        for env in base_c['env']:
            if env['name'] not in ('TASKWIRE_STORE', 'TASKWIRE_DATA_DIR'):
                self.assertEqual(env.get('value'), env_value(ha_c, env['name']), env['name'])

    def test_the_checks_catch_each_kind_of_mistake(self):
        def broken(mutate, overlay='overlays/ha-autoscaling'):
            objects = render(overlay)
            mutate(objects)
            return '\n'.join(problems_of(objects, expect_service_monitor=False) +
                             ha_problems(objects) + keda_problems(objects))

        self.assertEqual(broken(lambda o: None), '')

        def scheduler(objects):
            return one(objects, 'Deployment', 'taskwire-scheduler')

        def container(objects):
            return scheduler(objects)['spec']['template']['spec']['containers'][0]

        def set_env(objects, name, **value):
            for e in container(objects)['env']:
                if e['name'] == name:
                    e.clear()
                    e.update(name=name, **value)

        def drop_env(c, name):
            c['env'] = [e for e in c['env'] if e['name'] != name]

        self.assertIn('replicas 1, not 3', broken(
            lambda o: scheduler(o)['spec'].update(replicas=1)))
        self.assertIn('a rolling update waits', broken(
            lambda o: scheduler(o)['spec'].pop('strategy')))
        self.assertIn("volumes ['data'] other than emptyDir", broken(
            lambda o: scheduler(o)['spec']['template']['spec']['volumes'].append(
                {'name': 'data', 'persistentVolumeClaim': {'claimName': 'x'}})))
        self.assertIn('store sqlite, not postgres', broken(
            lambda o: set_env(o, 'TASKWIRE_STORE', value='sqlite')))
        self.assertIn('TASKWIRE_POSTGRES_URL is not taken from a Secret', broken(
            lambda o: set_env(o, 'TASKWIRE_POSTGRES_URL', value='postgresql://u:pw@db/t')))
        self.assertIn('--postgres-url in the args', broken(
            lambda o: container(o).update(args=['--postgres-url=postgresql://u:pw@db/t'])))
        self.assertIn('TASKWIRE_LEADER_LEASE None', broken(
            lambda o: drop_env(container(o), 'TASKWIRE_LEADER_LEASE')))
        self.assertIn('TASKWIRE_ADVERTISE \'$(POD_IP)\'', broken(
            lambda o: set_env(o, 'TASKWIRE_ADVERTISE', value='$(POD_IP)')))

        def pod_ip_last(objects):
            env = container(objects)['env']
            env.append(env.pop([e['name'] for e in env].index('POD_IP')))
        self.assertIn('$(POD_IP) is not expanded', broken(pod_ip_last))
        self.assertIn("readiness asks for service ''", broken(
            lambda o: container(o)['readinessProbe']['grpc'].pop('service')))
        self.assertIn('livenessProbe asks for service', broken(
            lambda o: container(o)['livenessProbe']['grpc'].update(service=LEADER_SERVICE)))
        self.assertIn('0 PodDisruptionBudgets select the scheduler pods', broken(
            lambda o: o.remove(one(o, 'PodDisruptionBudget', 'taskwire-scheduler'))))
        self.assertIn('not maxUnavailable 1', broken(
            lambda o: one(o, 'PodDisruptionBudget', 'taskwire-scheduler')['spec'].update(
                maxUnavailable=None, minAvailable=2)))
        self.assertIn('no scheduler pod could ever be evicted', broken(
            lambda o: one(o, 'PodDisruptionBudget', 'taskwire-scheduler')['spec'].pop(
                'unhealthyPodEvictionPolicy')))
        self.assertIn('no pod anti-affinity over kubernetes.io/hostname', broken(
            lambda o: scheduler(o)['spec']['template']['spec'].pop('affinity')))
        self.assertIn('publishNotReadyAddresses is not true', broken(
            lambda o: one(o, 'Service', 'taskwire-scheduler-headless')['spec'].pop(
                'publishNotReadyAddresses')))

        def executors_dial_the_service(objects):
            executor = one(objects, 'Deployment', 'taskwire-executor')
            for e in executor['spec']['template']['spec']['containers'][0]['env']:
                if e['name'] == 'TASKWIRE_SCHEDULER':
                    e['value'] = 'taskwire-scheduler:7070'
        self.assertIn("executors dial 'taskwire-scheduler:7070', not "
                      "'dns:///taskwire-scheduler-headless.taskwire.svc:7070'",
                      broken(executors_dial_the_service))

        # KEDA
        def scaled(objects):
            return one(objects, 'ScaledObject', 'taskwire-executor')['spec']

        def trigger(objects):
            return scaled(objects)['triggers'][0]['metadata']

        hpa = one(render('base'), 'HorizontalPodAutoscaler', 'taskwire-executor')
        self.assertIn("HorizontalPodAutoscalers ['taskwire-executor'] target the executor "
                      "Deployment beside KEDA", broken(lambda o: o.append(hpa)))
        self.assertIn('2 autoscalers target the executor Deployment',
                      broken(lambda o: o.append(hpa)))
        self.assertIn('0 ScaledObjects target the executor Deployment', broken(
            lambda o: scaled(o)['scaleTargetRef'].update(name='taskwire-executors')))
        self.assertIn('minReplicaCount 1, not 0', broken(
            lambda o: scaled(o).update(minReplicaCount=1)))
        self.assertIn("queue 'bulk' is not one the executors serve", broken(
            lambda o: trigger(o).update(queue='bulk')))
        self.assertIn("activationTasks '5'", broken(
            lambda o: trigger(o).update(activationTasks='5')))
        self.assertIn("tasksPerReplica 8 is not a positive integer string", broken(
            lambda o: trigger(o).update(tasksPerReplica=8)))
        self.assertIn('Service taskwire-scheduler has no port 7074', broken(
            lambda o: trigger(o).update(scalerAddress='taskwire-scheduler.taskwire.svc:7074')))
        self.assertIn('no Service taskwire-scheduler in namespace default', broken(
            lambda o: trigger(o).update(scalerAddress='taskwire-scheduler.default.svc:7073')))
        self.assertIn("--keda-listen '' is not the port 7073", broken(
            lambda o: drop_env(container(o), 'TASKWIRE_KEDA_LISTEN')))
        self.assertIn('Service taskwire-scheduler port 7073 targets keda, which the scheduler '
                      'container does not declare', broken(
                          lambda o: container(o).update(ports=[
                              p for p in container(o)['ports'] if p['name'] != 'keda'])))
        self.assertIn('sets replicas 2 although ScaledObject taskwire-executor scales it',
                      broken(lambda o: one(o, 'Deployment', 'taskwire-executor')['spec'].update(
                          replicas=2)))
        # The base with the SQLite store must stay a StatefulSet of one.
        self.assertIn('scheduler is a Deployment with the sqlite store', broken(
            lambda o: set_env(o, 'TASKWIRE_STORE', value='sqlite')))


def load_generator():
    """k8s/overlays/prometheus-operator/generate.py as a module."""
    spec = importlib.util.spec_from_file_location('generate', os.path.join(OPERATOR, 'generate.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class OperatorOverlayTest(unittest.TestCase):
    """The prometheus-operator overlay ships deploy/prometheus/alerts.yml and the Grafana
    dashboard through files generate.py writes; they must never drift from their sources."""

    def test_the_generated_files_are_what_generate_py_writes_now(self):
        done = subprocess.run([sys.executable, '-B', os.path.join(OPERATOR, 'generate.py'),
                               '--check'], capture_output=True, text=True, timeout=60)
        self.assertEqual(done.returncode, 0, f'{done.stdout}{done.stderr}')

    def check_rendering(self, kubectl):
        objects = render('overlays/prometheus-operator', kubectl)
        with open(ALERTS) as f:
            groups = yaml.safe_load(f)
        with open(DASHBOARD) as f:
            dashboard = f.read()
        rules = by_kind(objects, 'PrometheusRule')
        self.assertEqual(len(rules), 1, [o['metadata']['name'] for o in rules])
        self.assertEqual(rules[0]['spec'], groups)   # every group, alert and expression
        alerts = {r['alert'] for g in rules[0]['spec']['groups'] for r in g['rules']
                  if 'alert' in r}
        self.assertTrue(alerts and alerts == {r['alert'] for g in groups['groups']
                                              for r in g['rules'] if 'alert' in r}, alerts)
        boards = [o for o in by_kind(objects, 'ConfigMap')
                  if o['metadata'].get('labels', {}).get('grafana_dashboard') == '1']
        self.assertEqual(len(boards), 1, boards)
        self.assertEqual(list(boards[0]['data']), ['taskwire.json'])
        self.assertEqual(boards[0]['data']['taskwire.json'], dashboard)
        release = load_generator().RELEASE
        for o in by_kind(objects, 'ServiceMonitor') + rules:
            self.assertEqual(o['metadata']['labels'].get('release'), release,
                             f'{o["kind"]} {o["metadata"]["name"]}')

    def test_the_overlay_renders_every_alert_and_the_dashboard(self):
        self.check_rendering(KUBECTL)

    def test_the_overlay_renders_every_alert_and_the_dashboard_with_kustomize_v2(self):
        if not KUBECTL_V2 or not os.access(KUBECTL_V2, os.X_OK):
            self.skipTest('KUBECTL_V2 names no kubectl 1.20 (see deploy_kubectl_v2)')
        self.check_rendering(KUBECTL_V2)

    def test_the_generator_embeds_any_text_exactly(self):
        generate = load_generator()
        for text in ['{"a": 1}', '{\n  "a": 1\n}\n', '{\n  "a": 1\n}\n\n', '{\n   \n}\n',
                     '{\n\t"a": "\u00e9"\n}\n', '  {"a": 1}\n', '{"a": "x #y: z"}\n']:
            with self.subTest(text=text):
                config_map = yaml.safe_load(generate.dashboard_config_map(text, '1.0'))
                self.assertEqual(config_map['data']['taskwire.json'], text)
        rules = ('# a comment\ngroups:\n  - name: g\n    rules:\n      - alert: A\n'
                 '        expr: |\n          up\n\n          \n            == 0\n'
                 '        for: 1m\n')
        rule = yaml.safe_load(generate.prometheus_rule(rules, '1.0'))
        self.assertEqual(rule['spec'], yaml.safe_load(rules))

    def test_the_generator_refuses_a_rule_file_it_cannot_indent(self):
        generate = load_generator()
        for text in ['---\ngroups: []\n', 'groups: []\nother: 1\n', 'groups:\n\t- name: g\n',
                     '{"groups": []}\n']:
            with self.subTest(text=text):
                with self.assertRaises(generate.SourceError):
                    generate.prometheus_rule(text, '1.0')


class CheckersCatchMistakesTest(unittest.TestCase):
    """The checks above must be able to fail: break a rendered base on purpose."""

    def test_schema_validation_rejects_a_misspelled_field_and_a_wrong_type(self):
        require_schemas(self)
        objects = render('base')
        executor = one(objects, 'Deployment', 'taskwire-executor')
        container = executor['spec']['template']['spec']['containers'][0]
        container['readinessprobe'] = container.pop('readinessProbe')
        code, output = validate_schemas([executor])
        self.assertEqual(code, 1, output)
        self.assertIn('containers/0/readinessprobe', output)
        executor['spec']['replicas'] = 'two'
        self.assertIn('must be integer', validate_schemas([executor])[1])

    def test_an_empty_document_in_a_rendering_is_caught(self):
        self.assertEqual(len(parse_rendering('kind: A\n---\n---\nkind: B\n', 'x')), 2)
        with self.assertRaisesRegex(AssertionError, 'without a kind'):
            parse_rendering('kind: A\n---\n{}\n---\nkind: B\n', 'x')

    def test_invariants_catch_each_kind_of_mistake(self):
        def broken(mutate):
            objects = render('base')
            mutate(objects)
            return '\n'.join(problems_of(objects, expect_service_monitor=False))

        def executor_pod(objects):
            return one(objects, 'Deployment', 'taskwire-executor')['spec']['template']['spec']

        def scheduler_container(objects):
            return one(objects, 'StatefulSet', 'taskwire-scheduler')[
                'spec']['template']['spec']['containers'][0]

        self.assertIn('livenessProbe is not a native gRPC probe',
                      broken(lambda o: scheduler_container(o).pop('livenessProbe')))
        self.assertIn('root filesystem is writable', broken(
            lambda o: scheduler_container(o)['securityContext'].pop('readOnlyRootFilesystem')))
        self.assertIn('capabilities are not all dropped', broken(
            lambda o: scheduler_container(o)['securityContext']['capabilities'].update(
                add=['NET_ADMIN'])))
        self.assertIn('resources.limits.memory', broken(
            lambda o: scheduler_container(o)['resources'].pop('limits')))
        self.assertIn('no port named metrics', broken(
            lambda o: scheduler_container(o)['ports'][1].update(name='prom')))
        self.assertIn('is not longer than its drain grace', broken(
            lambda o: executor_pod(o).update(terminationGracePeriodSeconds=30)))
        self.assertIn('replicas 3', broken(
            lambda o: one(o, 'StatefulSet', 'taskwire-scheduler')['spec'].update(replicas=3)))
        self.assertIn('Deployment taskwire-executor sets replicas 2 although', broken(
            lambda o: one(o, 'Deployment', 'taskwire-executor')['spec'].update(replicas=2)))
        self.assertIn('unhealthyPodEvictionPolicy is not AlwaysAllow', broken(
            lambda o: by_kind(o, 'PodDisruptionBudget')[0]['spec'].pop(
                'unhealthyPodEvictionPolicy')))
        self.assertIn('Service taskwire-executor: no label app.kubernetes.io/instance', broken(
            lambda o: one(o, 'Service', 'taskwire-executor')['metadata']['labels'].pop(
                'app.kubernetes.io/instance')))
        self.assertIn('StatefulSet taskwire-scheduler pod template: no label '
                      'app.kubernetes.io/version', broken(
                          lambda o: one(o, 'StatefulSet', 'taskwire-scheduler')['spec'][
                              'template']['metadata']['labels'].pop('app.kubernetes.io/version')))
        self.assertIn('HorizontalPodAutoscaler taskwire-executor: component None', broken(
            lambda o: by_kind(o, 'HorizontalPodAutoscaler')[0]['metadata']['labels'].pop(
                'app.kubernetes.io/component')))
        self.assertIn('selector', broken(
            lambda o: one(o, 'Deployment', 'taskwire-executor')['spec']['selector'][
                'matchLabels'].update({'app.kubernetes.io/version': '0.1.0'})))
        self.assertIn("executor spreads over ['kubernetes.io/hostname']", broken(
            lambda o: executor_pod(o)['topologySpreadConstraints'].pop(0)))
        self.assertIn('pods could stay Pending', broken(
            lambda o: executor_pod(o)['topologySpreadConstraints'][1].update(
                whenUnsatisfiable='DoNotSchedule')))
        self.assertIn('cannot hold a full backlog of 1000000 waiting tasks', broken(
            lambda o: scheduler_container(o)['resources']['limits'].update(memory='1Gi')))
        self.assertIn('no PodDisruptionBudget', broken(
            lambda o: o.remove(by_kind(o, 'PodDisruptionBudget')[0])))

        def root_allowed(objects):
            executor_pod(objects).pop('securityContext')
            executor_pod(objects)['containers'][0]['securityContext'].pop('runAsNonRoot')
        self.assertIn('runAsNonRoot is not set', broken(root_allowed))
        self.assertIn('runs as uid 0', broken(root_allowed))
        self.assertIn('the pod automounts a service account token', broken(
            lambda o: executor_pod(o).update(automountServiceAccountToken=True)))
        self.assertIn('ServiceAccount taskwire-scheduler automounts its token', broken(
            lambda o: one(o, 'ServiceAccount', 'taskwire-scheduler').pop(
                'automountServiceAccountToken')))
        self.assertIn('serviceAccountName None names no rendered ServiceAccount', broken(
            lambda o: executor_pod(o).pop('serviceAccountName')))
        self.assertIn('Secret leaked carries data', broken(lambda o: o.append(
            {'apiVersion': 'v1', 'kind': 'Secret', 'data': {'token': 'c2VjcmV0'},
             'metadata': {'name': 'leaked', 'namespace': 'taskwire'}})))

    def test_secure_invariants_catch_each_kind_of_mistake(self):
        def broken(mutate, overlay='overlays/secure-mtls'):
            objects = render(overlay)
            mutate(objects)
            return '\n'.join(problems_of(objects, expect_service_monitor=False) +
                             secure_problems(objects, EXPECTED[overlay]))

        self.assertEqual(broken(lambda o: None), '')

        def pod(objects, kind, name):
            return one(objects, kind, name)['spec']['template']['spec']

        def scheduler(objects):
            return pod(objects, 'StatefulSet', 'taskwire-scheduler')['containers'][0]

        def executor(objects):
            return pod(objects, 'Deployment', 'taskwire-executor')['containers'][0]

        def drop_env(container, name):
            container['env'] = [e for e in container['env'] if e['name'] != name]

        def policy(objects, name):
            return one(objects, 'NetworkPolicy', name)['spec']

        self.assertIn('scheduler: no --auth-file (TASKWIRE_AUTH_FILE)', broken(
            lambda o: drop_env(scheduler(o), 'TASKWIRE_AUTH_FILE')))

        def auth_file_as_arg(objects):
            drop_env(scheduler(objects), 'TASKWIRE_AUTH_FILE')
            scheduler(objects)['args'] = ['--auth-file', '/tmp/access.textproto']
        self.assertIn('--auth-file /tmp/access.textproto is not in a mounted Secret',
                      broken(auth_file_as_arg))
        self.assertIn('scheduler: no --tls-client-ca', broken(
            lambda o: drop_env(scheduler(o), 'TASKWIRE_TLS_CLIENT_CA')))
        self.assertIn('executor: no --token-file', broken(
            lambda o: drop_env(executor(o), 'TASKWIRE_TOKEN_FILE')))
        self.assertIn('readinessProbe probes port 7070, not the health port 7072', broken(
            lambda o: scheduler(o)['readinessProbe']['grpc'].update(port=7070)))
        self.assertIn('is not the health port 7072', broken(
            lambda o: drop_env(scheduler(o), 'TASKWIRE_HEALTH_LISTEN')))
        self.assertIn('no default-deny NetworkPolicy', broken(
            lambda o: o.remove(one(o, 'NetworkPolicy', 'taskwire-default-deny'))))
        self.assertIn('gRPC port 7070 admits more than executors and clients', broken(
            lambda o: policy(o, 'taskwire-scheduler-ingress')['ingress'].append(
                {'ports': [{'protocol': 'TCP', 'port': 7070}]})))
        self.assertIn('gRPC port 7070 admits more than executors and clients', broken(
            lambda o: policy(o, 'taskwire-scheduler-ingress')['ingress'][2].pop('ports')))
        self.assertIn('executors may not reach the scheduler gRPC port', broken(
            lambda o: policy(o, 'taskwire-scheduler-ingress')['ingress'][0]['from'].pop(0)))
        self.assertIn('the executor metrics port 9465 is not open to exactly Prometheus', broken(
            lambda o: policy(o, 'taskwire-executor-ingress')['ingress'][0].pop('from')))
        self.assertIn('no NetworkPolicy lets kubelet probe the scheduler on 7072', broken(
            lambda o: policy(o, 'taskwire-scheduler-ingress')['ingress'].pop(2)))
        self.assertIn('executor pods may not reach the scheduler', broken(
            lambda o: policy(o, 'taskwire-executor-egress')['egress'].pop(1)))
        self.assertIn('executor pods may reach anything', broken(
            lambda o: policy(o, 'taskwire-executor-egress-allowed')['egress'].append({})))
        self.assertIn('selects no taskwire pod', broken(
            lambda o: policy(o, 'taskwire-executor-egress')['podSelector'].update(
                matchLabels={'app.kubernetes.io/name': 'taskwire-exector'})))
        self.assertIn('its TLS Secret taskwire-scheduler-tls is written by no Certificate', broken(
            lambda o: one(o, 'Certificate', 'taskwire-scheduler')['spec'].update(
                secretName='taskwire-tls')))
        self.assertIn("not 'taskwire-scheduler', which executors dial", broken(
            lambda o: one(o, 'Certificate', 'taskwire-scheduler')['spec']['dnsNames'].pop(0)))
        self.assertIn('no Issuer taskwire-ca', broken(
            lambda o: o.remove(one(o, 'Issuer', 'taskwire-ca'))))


if __name__ == '__main__':
    unittest.main()
