// Offline schema check of rendered Kubernetes manifests (no API server needed).
//
//   kubectl kustomize deploy/k8s/overlays/prod | node tests/deploy/validate_manifests.mjs TOOLS_DIR -
//   node tests/deploy/validate_manifests.mjs TOOLS_DIR rendered.yaml ...
//
// Every object is validated against the OpenAPI schema of its apiVersion and kind: Kubernetes' own
// (kubernetes-models), cert-manager's and the Prometheus Operator's CRDs (@kubernetes-models/*). An
// object whose kind has no schema fails: nothing is waved through. TOOLS_DIR is the directory whose
// node_modules holds those packages (tests/deploy/package.json lists the versions). Prints one line
// per problem, naming the document, the kind/name and the field; exits 1 if there is any. Then every field
// of every object must be one its kind declares (unknown_fields.mjs): a misspelt or misplaced field is a
// problem too, as `kubectl apply --validate=strict` would make it.
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import path from "node:path";
import { DeclaredFields } from "./unknown_fields.mjs";

const [toolsDir, ...inputs] = process.argv.slice(2);
if (!toolsDir || inputs.length === 0) {
  console.error("usage: validate_manifests.mjs TOOLS_DIR FILE|- ...");
  process.exit(2);
}
const require = createRequire(path.join(path.resolve(toolsDir), "package.json"));
let YAML;
try {
  YAML = require("yaml");
  require("kubernetes-models");
} catch (error) {
  console.error(`FAIL: node modules missing in ${toolsDir}/node_modules (${error.message.split("\n")[0]}); ` +
                `install them: npm install --prefix ${toolsDir} kubernetes-models@4.5.1 ` +
                "@kubernetes-models/cert-manager@4.4.4 @kubernetes-models/prometheus-operator@4.4.4 yaml@2.9.1");
  process.exit(1);
}

// apiVersion -> module holding its kinds.
function moduleFor(apiVersion) {
  const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : ["", apiVersion];
  if (group === "cert-manager.io") return `@kubernetes-models/cert-manager/${group}/${version}`;
  if (group === "monitoring.coreos.com") return `@kubernetes-models/prometheus-operator/${group}/${version}`;
  return group === "" ? `kubernetes-models/${version}` : `kubernetes-models/${group}/${version}`;
}

const declared = new DeclaredFields(path.join(path.resolve(toolsDir), "node_modules"));
let problems = 0;
let checked = 0;
for (const input of inputs) {
  const text = readFileSync(input === "-" ? 0 : input, "utf8");
  const documents = YAML.parseAllDocuments(text);
  documents.forEach((document, index) => {
    const where = `${input === "-" ? "stdin" : input} document ${index + 1}`;
    if (document.errors.length > 0) {
      problems++;
      console.log(`FAIL ${where}: YAML: ${document.errors[0].message}`);
      return;
    }
    const object = document.toJS();
    if (object === null || object === undefined) return;
    const name = `${object.kind}/${object.metadata?.name ?? "?"} (${object.apiVersion})`;
    let classes;
    try {
      classes = require(moduleFor(String(object.apiVersion)));
    } catch {
      problems++;
      console.log(`FAIL ${where}: ${name}: no schema for apiVersion ${object.apiVersion}`);
      return;
    }
    const Model = classes[object.kind];
    if (typeof Model !== "function") {
      problems++;
      console.log(`FAIL ${where}: ${name}: no schema for kind ${object.kind} in ${object.apiVersion}`);
      return;
    }
    checked++;
    try {
      new Model(object).validate();
    } catch (error) {
      problems++;
      const details = (error.errors ?? []).map((e) => `${e.instancePath || "/"} ${e.message}`);
      console.log(`FAIL ${where}: ${name}: ${details.length ? details.join("; ") : error.message}`);
    }
    const unknown = declared.unknownFields(moduleFor(String(object.apiVersion)), object.kind, object);
    if (unknown === null) {
      problems++;
      console.log(`FAIL ${where}: ${name}: no declaration of its fields to check them against`);
    } else if (unknown.length > 0) {
      problems++;
      console.log(`FAIL ${where}: ${name}: unknown field(s) ${unknown.join(", ")}`);
    }
  });
}
if (checked === 0 && problems === 0) {
  console.log("FAIL: no Kubernetes objects in the input");
  process.exit(1);
}
console.log(`${checked} object(s) checked, ${problems} problem(s)`);
process.exit(problems === 0 ? 0 : 1);
