// Offline schema check of the Kubernetes manifests (no cluster needed; `kubectl apply --dry-run=client` needs one):
//   npm install --prefix /tmp/k8s-schemas kubernetes-models @kubernetes-models/keda yaml
//   kubectl kustomize deploy/kubernetes > /tmp/syncworker.yaml
//   NODE_PATH=/tmp/k8s-schemas/node_modules node deploy/kubernetes/validate-schemas.cjs /tmp/syncworker.yaml deploy/kubernetes/secret.example.yaml
// Validates each object against the JSON schema of its apiVersion and kind (Kubernetes core and KEDA).
const fs = require('fs');
const YAML = require('yaml');
const core = require('kubernetes-models');
const keda = require('@kubernetes-models/keda');
const files = process.argv.slice(2);
let failures = 0, count = 0;
for (const file of files) {
  for (const doc of YAML.parseAllDocuments(fs.readFileSync(file, 'utf8'))) {
    const obj = doc.toJSON();
    if (!obj) continue;
    const [group, version] = obj.apiVersion.includes('/') ? obj.apiVersion.split('/') : ['', obj.apiVersion];
    let mod;
    if (group === 'keda.sh') mod = require(`@kubernetes-models/keda/keda.sh/${version}`);
    else if (group === '') mod = require(`kubernetes-models/${version}`);
    else mod = require(`kubernetes-models/${group}/${version}`);
    const Cls = mod[obj.kind];
    if (!Cls) { console.log(`NO MODEL ${obj.apiVersion} ${obj.kind}`); failures++; continue; }
    try { new Cls(obj).validate(); count++; console.log(`ok   ${obj.kind}/${obj.metadata.name}`); }
    catch (e) { failures++; console.log(`FAIL ${obj.kind}/${obj.metadata.name}: ${e.message}`); }
  }
}
console.log(`${count} valid, ${failures} failed`);
process.exit(failures ? 1 : 0);
