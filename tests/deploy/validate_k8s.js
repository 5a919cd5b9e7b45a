// Validates Kubernetes objects offline against the OpenAPI schemas packaged by the npm
// package kubernetes-models (and @kubernetes-models/prometheus-operator for the
// ServiceMonitor and PrometheusRule, @kubernetes-models/cert-manager for the Certificate
// and Issuer, @kubernetes-models/keda for the ScaledObject: KEDA 2.10's CRD). Input: a
// JSON array of objects on stdin (test_k8s.py converts the rendered YAML). Prints one line
// per object; exits 1 if any object is invalid, has a field the schema does not know, or
// is of a kind it has no schema for. NODE_PATH must name the node_modules that `npm ci`
// filled.
//
// The packaged schemas allow unknown fields, so a typo such as `readinessprobe` would pass.
// The validators are compiled code that reads every field their schema names (and iterates
// maps such as labels), so the object is wrapped in a Proxy that records what was read:
// a field never read is unknown to the schema.
'use strict';

// A deep Proxy of `value` that adds "path/key" to `seen` for every property read.
function watched(value, path, seen) {
  if (value === null || typeof value !== 'object') return value;
  return new Proxy(value, {
    get(target, key, receiver) {
      const child = Reflect.get(target, key, receiver);
      if (typeof key !== 'string' || !Object.prototype.hasOwnProperty.call(target, key)) {
        return child;
      }
      seen.add(`${path}/${key}`);
      return watched(child, `${path}/${key}`, seen);
    },
  });
}

// Paths of `value` that were never read.
function unread(value, path, seen, out) {
  if (value === null || typeof value !== 'object') return out;
  for (const key of Object.keys(value)) {
    const child = `${path}/${key}`;
    if (!seen.has(child)) out.push(child);
    else unread(value[key], child, seen, out);
  }
  return out;
}

// API groups of custom resources, and the npm package with their schemas.
const CRD_PACKAGES = {
  'monitoring.coreos.com': '@kubernetes-models/prometheus-operator',
  'cert-manager.io': '@kubernetes-models/cert-manager',
  'keda.sh': '@kubernetes-models/keda',
};

function modelFor(apiVersion, kind) {
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
  const crdPackage = CRD_PACKAGES[group];
  const modules = crdPackage
    ? [`${crdPackage}/${group}/${version}`]
    : [group ? `kubernetes-models/${group}/${version}` : `kubernetes-models/${version}`];
  for (const name of modules) {
    try {
      const model = require(name)[kind];
      if (model) return model;
    } catch (e) {
      if (e.code !== 'MODULE_NOT_FOUND' && e.code !== 'ERR_PACKAGE_PATH_NOT_EXPORTED') throw e;
    }
  }
  return null;
}

const objects = JSON.parse(require('fs').readFileSync(0, 'utf8'));
let failures = 0;
for (const object of objects) {
  const name = `${object.apiVersion} ${object.kind} ${object.metadata && object.metadata.name}`;
  const Model = modelFor(object.apiVersion, object.kind);
  if (!Model) {
    console.log(`NO SCHEMA ${name}`);
    failures++;
    continue;
  }
  try {
    const model = new Model(object);
    model.validate();
    const seen = new Set();
    Model.prototype.validate.call(watched(model, '', seen));
    const unknown = unread(model, '', seen, []);
    if (unknown.length) throw new Error(`fields unknown to the schema: ${unknown.join(', ')}`);
    console.log(`ok ${name}`);
  } catch (e) {
    console.log(`INVALID ${name}: ${e.message}`);
    failures++;
  }
}
process.exit(failures ? 1 : 0);
