// Checks Kubernetes objects against the published models of their kind (npm packages from
// kubernetes-models, installed by `make test-deps`), two ways:
//   1. the model's JSON-schema validator: types, enums, required fields, patterns, lengths;
//   2. the model's TypeScript declaration, through the TypeScript compiler: its excess-property
//      check refuses fields the kind does not have, which the validator lets through (as a CRD's
//      structural schema would: the API server prunes them without a word).
//
// Usage: node tests/k8s_models.mjs PREFIX, then one JSON list of documents a line on stdin.
// PREFIX is the folder holding node_modules/. For each line read, prints one line: a JSON list
// with, for each document, the list of its faults (empty: valid). It serves until stdin ends, so
// the compiler is loaded, and the models' declarations parsed, once for all the checks of a run.
// Exit 0 whatever the verdicts; non-zero only if it cannot run.
import { createRequire } from "node:module";
import path from "node:path";
import readline from "node:readline";
import { pathToFileURL } from "node:url";

// "apiVersion kind" -> module of the model in its package, and the names it exports.
const MODELS = {
  "kustomize.toolkit.fluxcd.io/v1 Kustomization": {
    module: "@kubernetes-models/flux-cd/kustomize.toolkit.fluxcd.io/v1/Kustomization",
    model: "Kustomization",
    type: "IKustomization",
  },
  "argoproj.io/v1alpha1 ApplicationSet": {
    module: "@kubernetes-models/argo-cd/argoproj.io/v1alpha1/ApplicationSet",
    model: "ApplicationSet",
    type: "IApplicationSet",
  },
};

const prefix = path.resolve(process.argv[2]);
const require = createRequire(path.join(prefix, "package.json"));
const ts = require("typescript");
const file = path.join(prefix, "k8s-models-check.mts"); // never written: the host serves it
const options = {
  strict: true,
  noEmit: true,
  skipLibCheck: true,
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  target: ts.ScriptTarget.ES2022,
  lib: ["lib.es5.d.ts"], // the declarations need no more; the default libraries cost seconds
  types: [],
};
// The declarations and the library, parsed once: they are files on disk that no check changes.
const parsed = new Map();
let previous; // the last program, whose unchanged files the next one reuses

async function check(documents) {
  const faults = documents.map(() => []);
  const models = documents.map((doc, i) => {
    const model = MODELS[`${doc?.apiVersion} ${doc?.kind}`];
    if (!model) faults[i].push(`no model for apiVersion ${doc?.apiVersion}, kind ${doc?.kind}`);
    return model;
  });

  // 1. The validator. The packages export only "import" paths, so the file is imported by its
  // path (its own imports then resolve from PREFIX/node_modules).
  for (const [i, model] of models.entries()) {
    if (!model) continue;
    const file = path.join(prefix, "node_modules", `${model.module}.js`);
    const Model = (await import(pathToFileURL(file).href))[model.model];
    try {
      new Model(documents[i]).validate();
    } catch (error) {
      faults[i].push(String(error.message));
    }
  }

  // 2. The declarations: one in-memory module, each document a literal of its declared type. A
  // failed import would make the type `any` and pass everything: every diagnostic that is not
  // inside a document's literal is a fault of every document.
  const lines = [];
  const ranges = []; // [first line, last line, document index]
  for (const [i, model] of models.entries()) {
    if (model) lines.push(`import type { ${model.type} as T${i} } from "${model.module}";`);
  }
  for (const [i, model] of models.entries()) {
    if (!model) continue;
    const literal = `export const d${i}: T${i} = ${JSON.stringify(documents[i], null, 2)};`;
    ranges.push([lines.length, lines.length + literal.split("\n").length - 1, i]);
    lines.push(...literal.split("\n"));
  }
  const source = lines.join("\n");
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (name, language, ...rest) => {
    if (name === file) return ts.createSourceFile(name, source, language);
    if (!parsed.has(name)) parsed.set(name, getSourceFile(name, language, ...rest));
    return parsed.get(name);
  };
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (name) => name === file || fileExists(name);
  const program = ts.createProgram([file], options, host, previous);
  previous = program;
  for (const diagnostic of ts.getPreEmitDiagnostics(program)) {
    const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, " ");
    const line =
      diagnostic.file?.fileName === file
        ? diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start).line
        : -1;
    const range = ranges.find(([first, last]) => first <= line && line <= last);
    if (range) {
      faults[range[2]].push(`${lines[line].trim().replace(/[\s,:{[]+$/, "")}: ${message}`);
    } else {
      for (const list of faults) list.push(`TypeScript: ${message}`);
    }
  }

  return faults;
}

for await (const line of readline.createInterface({ input: process.stdin })) {
  process.stdout.write(`${JSON.stringify(await check(JSON.parse(line)))}\n`);
}
