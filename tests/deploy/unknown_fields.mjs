// Strict field check of Kubernetes objects: every field of an object must be one its kind declares.
// The schema check (ajv, in validate_manifests.mjs) lets unknown fields through, as the API server's
// default does, but `kubectl apply --validate=strict` and server-side apply refuse them, and a misspelt
// field (`tolerationz`, `resourcez`) silently does nothing. The declared fields come from the TypeScript
// declarations (.d.ts) that kubernetes-models and @kubernetes-models/* generate from the same OpenAPI
// schemas: interfaces, inline object types, arrays, maps and unions.
//
//   import { unknownFields } from "./unknown_fields.mjs";
//   unknownFields(nodeModulesDir, "kubernetes-models/apps/v1", "Deployment", object)  // ["/spec/replicaz", ...]
//   (null when the kind has no declaration to check against)
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";

// ---- a small parser for the subset of TypeScript that the generated declarations use ----------------

function tokenize(text) {
  const source = text.replace(/\/\*[\s\S]*?\*\//g, " ").replace(/\/\/[^\n]*/g, " ");
  const tokens = [];
  const pattern = /\s*("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|[A-Za-z_$][\w$]*|\d+(?:\.\d+)?|=>|[{}()<>\[\];:,|&?=.*])/gy;
  let match;
  while ((match = pattern.exec(source)) !== null) tokens.push(match[1]);
  return tokens;
}

// A type: {kind: "object", members: Map(name -> type), index: type|null} | {kind: "array", of} |
// {kind: "union", of: [...]} | {kind: "ref", name} | {kind: "leaf"}.
class TypeParser {
  constructor(tokens, at) {
    this.tokens = tokens;
    this.at = at;
  }
  peek() { return this.tokens[this.at]; }
  next() { return this.tokens[this.at++]; }
  expect(token) {
    const got = this.next();
    if (got !== token) throw new Error(`expected ${token}, got ${got}`);
  }
  type() {
    const alternatives = [this.primary()];
    while (this.peek() === "|" || this.peek() === "&") {
      this.next();
      alternatives.push(this.primary());
    }
    return alternatives.length === 1 ? alternatives[0] : { kind: "union", of: alternatives };
  }
  primary() {
    if (this.peek() === "|") this.next();  // a leading `|`
    const token = this.next();
    let type;
    if (token === "{") {
      type = this.objectBody();
    } else if (token === "(") {
      type = this.type();
      this.expect(")");
    } else if (token === "Array" && this.peek() === "<") {
      this.next();
      type = { kind: "array", of: this.type() };
      this.expect(">");
    } else if (/^[A-Za-z_$]/.test(token) && !["string", "number", "boolean", "any", "unknown", "object", "null",
                                               "undefined", "true", "false", "never"].includes(token)) {
      type = { kind: "ref", name: token };
      if (this.peek() === "<") {  // a generic we do not follow
        let depth = 0;
        do {
          const t = this.next();
          depth += t === "<" ? 1 : t === ">" ? -1 : 0;
        } while (depth > 0);
        type = { kind: "leaf" };
      }
    } else {
      type = { kind: "leaf" };  // a primitive or a literal
    }
    while (this.peek() === "[" && this.tokens[this.at + 1] === "]") {
      this.at += 2;
      type = { kind: "array", of: type };
    }
    return type;
  }
  // After `{`: members up to the matching `}`.
  objectBody() {
    const members = new Map();
    let index = null;
    while (this.peek() !== "}") {
      if (this.peek() === "[") {  // [key: string]: T
        this.next();
        this.next();
        this.expect(":");
        this.next();
        this.expect("]");
        this.expect(":");
        index = this.type();
      } else {
        const name = this.next().replace(/^["']|["']$/g, "");
        if (this.peek() === "?") this.next();
        this.expect(":");
        members.set(name, this.type());
      }
      if (this.peek() === ";" || this.peek() === ",") this.next();
    }
    this.expect("}");
    return { kind: "object", members, index };
  }
}

// One declaration file: its imports (local name -> [module, exported name]), its interfaces and type
// aliases (name -> type), and its re-exports (exported name -> local name).
function parseModule(file) {
  const tokens = tokenize(readFileSync(file, "utf8"));
  const imports = new Map();
  const declared = new Map();
  const exported = new Map();
  for (let at = 0; at < tokens.length; at++) {
    if (tokens[at] === "import" && tokens[at + 1] === "{") {
      let i = at + 2;
      const names = [];
      while (tokens[i] !== "}") {
        const original = tokens[i];
        let local = original;
        if (tokens[i + 1] === "as") {
          local = tokens[i + 2];
          i += 2;
        }
        names.push([local, original]);
        i++;
        if (tokens[i] === ",") i++;
      }
      const from = tokens[i + 2].slice(1, -1);
      for (const [local, original] of names) imports.set(local, [from, original]);
      at = i + 2;
    } else if (tokens[at] === "interface") {
      const name = tokens[at + 1];
      let i = at + 2;
      const extendsTypeMeta = tokens[i] === "extends" && tokens[i + 1] === "TypeMeta";
      while (tokens[i] !== "{") i++;
      const parser = new TypeParser(tokens, i + 1);
      const body = parser.objectBody();
      if (extendsTypeMeta) {
        body.members.set("apiVersion", { kind: "leaf" });
        body.members.set("kind", { kind: "leaf" });
      }
      declared.set(name, body);
      at = parser.at - 1;
    } else if (tokens[at] === "type" && tokens[at + 2] === "=") {
      const parser = new TypeParser(tokens, at + 3);
      declared.set(tokens[at + 1], parser.type());
      at = parser.at - 1;
    } else if (tokens[at] === "export" && tokens[at + 1] === "{") {
      let i = at + 2;
      while (tokens[i] !== "}") {
        const local = tokens[i];
        let name = local;
        if (tokens[i + 1] === "as") {
          name = tokens[i + 2];
          i += 2;
        }
        exported.set(name, local);
        i++;
        if (tokens[i] === ",") i++;
      }
      at = i;
    }
  }
  return { file, imports, declared, exported };
}

// ---- the walk ------------------------------------------------------------------------------------------

export class DeclaredFields {
  constructor(nodeModules) {
    this.nodeModules = nodeModules;
    this.modules = new Map();
  }

  load(file) {
    if (!this.modules.has(file)) this.modules.set(file, existsSync(file) ? parseModule(file) : null);
    return this.modules.get(file);
  }

  // The module file a specifier names, seen from `from` (a .d.ts file).
  resolve(specifier, from) {
    const base = specifier.startsWith(".") ? path.resolve(path.dirname(from), specifier)
                                           : path.join(this.nodeModules, specifier);
    for (const candidate of [`${base}.d.ts`, path.join(base, "index.d.ts")]) {
      if (existsSync(candidate)) return candidate;
    }
    return null;
  }

  // The type named `name` in `module`, following imports and re-exports; null if unknown.
  lookup(module, name, depth = 0) {
    if (module === null || depth > 8) return null;
    if (module.declared.has(name)) return { module, type: module.declared.get(name) };
    if (module.exported.has(name) && module.exported.get(name) !== name) {
      return this.lookup(module, module.exported.get(name), depth + 1);
    }
    if (module.imports.has(name)) {
      const [specifier, original] = module.imports.get(name);
      const file = this.resolve(specifier, module.file);
      return file ? this.lookup(this.load(file), original, depth + 1) : null;
    }
    return null;
  }

  // Unknown fields of `value` against `type` (declared in `module`), as JSON pointers appended to `out`.
  walk(value, type, module, where, out) {
    if (value === null || value === undefined || type === null) return;
    if (type.kind === "ref") {
      const found = this.lookup(module, type.name);
      if (found !== null) this.walk(value, found.type, found.module, where, out);
      return;
    }
    if (type.kind === "array") {
      if (Array.isArray(value)) value.forEach((item, i) => this.walk(item, type.of, module, `${where}/${i}`, out));
      return;
    }
    if (type.kind === "union") {
      // Objects are checked against the union's object-like alternatives: a field none of them has is unknown.
      if (typeof value !== "object" || Array.isArray(value)) return;
      const objects = type.of.map((t) => (t.kind === "ref" ? this.lookup(module, t.name) : { module, type: t }))
        .filter((found) => found !== null && found.type.kind === "object");
      if (objects.length === 0) return;
      const fits = objects.find((found) => Object.keys(value).every((k) => found.type.members.has(k) ||
                                                                            found.type.index !== null));
      const chosen = fits ?? objects[0];
      this.walk(value, chosen.type, chosen.module, where, out);
      return;
    }
    if (type.kind !== "object" || typeof value !== "object" || Array.isArray(value)) return;
    for (const [key, field] of Object.entries(value)) {
      const pointer = `${where}/${key.replace(/~/g, "~0").replace(/\//g, "~1")}`;
      if (type.members.has(key)) {
        this.walk(field, type.members.get(key), module, pointer, out);
      } else if (type.index !== null) {
        this.walk(field, type.index, module, pointer, out);
      } else {
        out.push(pointer);
      }
    }
  }

  // Unknown fields of `object`, of `kind` in the package directory `modulePath` (e.g.
  // "kubernetes-models/apps/v1"); null if there is no declaration of that kind to check against.
  unknownFields(modulePath, kind, object) {
    const file = path.join(this.nodeModules, modulePath, `${kind}.d.ts`);
    const module = this.load(file);
    if (module === null) return null;
    const found = this.lookup(module, `I${kind}`);
    if (found === null || found.type.kind !== "object") return null;
    const out = [];
    this.walk(object, found.type, found.module, "", out);
    return out;
  }
}
