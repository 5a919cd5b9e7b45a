"""The Kubernetes manifests: `kubectl kustomize` renders k8s/base and every overlay, every
rendered object passes the Kubernetes schemas offline (validate_k8s.js over the npm package
kubernetes-models, unknown fields included), and the invariants of docs/deploy.md hold.

No cluster is needed. KUBECTL names the kubectl (default: the one on PATH; a fresh Debian 12
has kubernetes-client 1.20 with kustomize v2, newer machines kustomize v5: the manifests
render with both). NODE_PATH names the node_modules that `npm ci` filled (CMake sets it).
"""

import copy
import glob
import json
import os
import shutil
import subprocess
import sys
import unittest

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_ROOT = os.path.abspath(os.path.join(HERE, '..', '..'))
K8S = os.path.join(SOURCE_ROOT, 'k8s')
KUBECTL = os.environ.get('KUBECTL', shutil.which('kubectl') or 'kubectl')
NODE = os.environ.get('NODE', shutil.which('node') or shutil.which('nodejs') or 'node')
VALIDATOR = os.path.join(HERE, 'validate_k8s.js')
DEFAULT_DRAIN_GRACE = 30.0   # taskwire-executor --drain-grace default (docs/operations.md)


def kustomizations():
    """'base' and 'overlays/<name>' for every directory with a kustomization.yaml."""
    dirs = ['base'] + sorted(os.path.relpath(os.path.dirname(p), K8S) for p in
                             glob.glob(os.path.join(K8S, 'overlays', '*', 'kustomization.yaml')))
    return dirs


_rendered = {}


def render(name):
    if name not in _rendered:
        done = subprocess.run([KUBECTL, 'kustomize', os.path.join(K8S, name)],
                              capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise AssertionError(f'kubectl kustomize {name} failed ({done.returncode}):\n'
                                 f'{done.stderr}')
        _rendered[name] = [o for o in yaml.safe_load_all(done.stdout) if o]
    return copy.deepcopy(_rendered[name])


def require_schemas(test):
    """Skips `test` when kubernetes-models is not installed: deploy_npm_ci reports a registry
    it could not reach as skipped (a machine without the npm registry, or whose TLS proxy
    node does not trust); every other check here still runs."""
    paths = [p for p in os.environ.get('NODE_PATH', '').split(os.pathsep) if p]
    if not any(os.path.isdir(os.path.join(p, 'kubernetes-models')) for p in paths):
        test.skipTest('kubernetes-models not installed (see deploy_npm_ci): schema check skipped')


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


def matches(selector, labels):
    return all(labels.get(k) == v for k, v in selector.get('matchLabels', {}).items())


def container_problems(where, pod_spec, container):
    problems = []
    name = f'{where} container {container["name"]}'
    ports = {p.get('name'): p['containerPort'] for p in container.get('ports', [])}
    for port in ('grpc', 'metrics'):
        if port not in ports:
            problems.append(f'{name}: no port named {port}')
    for probe_name in ('livenessProbe', 'readinessProbe'):
        probe = container.get(probe_name)
        if not probe or 'grpc' not in probe:
            problems.append(f'{name}: {probe_name} is not a native gRPC probe')
        elif probe['grpc'].get('port') != ports.get('grpc'):
            problems.append(f'{name}: {probe_name} probes port {probe["grpc"].get("port")}, '
                            f'not the grpc port {ports.get("grpc")}')
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


def problems_of(objects, expect_service_monitor):
    """Every broken invariant of one rendered kustomization, as readable strings."""
    problems = []
    namespaces = [o['metadata']['name'] for o in by_kind(objects, 'Namespace')]
    if len(namespaces) != 1:
        problems.append(f'expected one Namespace, got {namespaces}')
    for o in objects:
        if o['kind'] != 'Namespace' and o['metadata'].get('namespace') not in namespaces:
            problems.append(f'{o["kind"]} {o["metadata"]["name"]} is outside the namespace')

    workloads = by_kind(objects, 'StatefulSet') + by_kind(objects, 'Deployment')
    for w in workloads:
        where = f'{w["kind"]} {w["metadata"]["name"]}'
        pod = w['spec']['template']['spec']
        for c in pod.get('initContainers', []) + pod['containers']:
            problems += container_problems(where, pod, c)

    scheduler = one(objects, 'StatefulSet', 'taskwire-scheduler')
    if scheduler is None:
        problems.append('no StatefulSet taskwire-scheduler')
    else:
        spec = scheduler['spec']
        if spec.get('replicas') != 1:
            problems.append(f'scheduler replicas {spec.get("replicas")}, must be 1 (one store writer)')
        claims = [t['metadata']['name'] for t in spec.get('volumeClaimTemplates', [])]
        mounts = [m['name'] for c in spec['template']['spec']['containers']
                  for m in c.get('volumeMounts', [])]
        if not claims or not set(claims) <= set(mounts):
            problems.append(f'scheduler claims {claims} not all mounted ({mounts})')
        if one(objects, 'Service', spec.get('serviceName')) is None:
            problems.append(f'scheduler serviceName {spec.get("serviceName")} has no Service')
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
        hpas = [h for h in by_kind(objects, 'HorizontalPodAutoscaler')
                if h['spec']['scaleTargetRef'] == {'apiVersion': 'apps/v1', 'kind': 'Deployment',
                                                   'name': 'taskwire-executor'}]
        if len(hpas) != 1:
            problems.append('no HorizontalPodAutoscaler targets the executor Deployment')
        if not any(matches(p['spec']['selector'], labels)
                   for p in by_kind(objects, 'PodDisruptionBudget')):
            problems.append('no PodDisruptionBudget selects the executor pods')

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
            with self.subTest(name):
                code, output = validate_schemas(render(name))
                self.assertEqual(code, 0, f'{name}:\n{output}')
                self.assertEqual(output.count('\nok ') + output.startswith('ok '),
                                 len(render(name)), output)

    def test_invariants_hold_in_base_and_overlays(self):
        for name in kustomizations():
            with self.subTest(name):
                problems = problems_of(render(name), name == 'overlays/prometheus-operator')
                self.assertFalse(problems, f'{name}:\n' + '\n'.join(problems))


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
        self.assertIn('no PodDisruptionBudget', broken(
            lambda o: o.remove(by_kind(o, 'PodDisruptionBudget')[0])))

        def root_allowed(objects):
            executor_pod(objects).pop('securityContext')
            executor_pod(objects)['containers'][0]['securityContext'].pop('runAsNonRoot')
        self.assertIn('runAsNonRoot is not set', broken(root_allowed))
        self.assertIn('runs as uid 0', broken(root_allowed))


if __name__ == '__main__':
    unittest.main()
