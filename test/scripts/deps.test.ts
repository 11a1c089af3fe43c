/**
 * `npm run deps` and the boundary rules of .dependency-cruiser.mjs: the cycle
 * finder and the folder map on their own, and the real dependency-cruiser
 * with the repository's configuration over small trees written for the test,
 * each breaking one rule.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { after, test } from "node:test";
import { cycles, folderOf } from "../../scripts/deps.ts";

const ROOT = resolve(import.meta.dirname, "../..");

test("cycles finds every strongly connected component of more than one node, and nothing in a DAG", () => {
  const edges = new Map<string, Set<string>>([
    ["a", new Set(["b"])],
    ["b", new Set(["c"])],
    ["c", new Set(["a", "d"])],
    ["d", new Set(["e"])],
    ["e", new Set(["d"])],
    ["f", new Set(["a"])],
  ]);
  assert.deepEqual(cycles(edges), [
    ["a", "b", "c"],
    ["d", "e"],
  ]);
  assert.deepEqual(
    cycles(
      new Map([
        ["x", new Set(["y"])],
        ["y", new Set(["z"])],
      ]),
    ),
    [],
  );
  // A chain far deeper than the call stack would allow a recursive walk.
  const chain = new Map<string, Set<string>>();
  for (let i = 0; i < 200_000; i++) chain.set(`n${i}`, new Set([`n${i + 1}`]));
  chain.set("n200000", new Set(["n0"]));
  assert.equal(cycles(chain)[0]?.length, 200_001);
});

test("folderOf names a module's folder: a feature, a grouped feature, a package, a web app", () => {
  assert.equal(folderOf("src/ingest/intake.ts"), "src/ingest");
  assert.equal(folderOf("src/collector/ingest/intake.ts"), "src/collector/ingest");
  assert.equal(folderOf("src/core/db/index.ts"), "src/core/db");
  assert.equal(folderOf("packages/auditor/src/capture/read.ts"), "packages/auditor");
  assert.equal(folderOf("web/portal/main.tsx"), "web/portal");
  assert.equal(folderOf("bin/phonehome.ts"), "bin");
  assert.equal(folderOf("test/helpers/system.ts"), null);
});

/** Runs dependency-cruiser with the repository's configuration over `files` (path → source) in a fresh tree. */
function cruiseTree(files: Record<string, string>): { status: number | null; out: string } {
  const dir = mkdtempSync(join(tmpdir(), "phonehome-deps-"));
  after(() => rmSync(dir, { recursive: true, force: true }));
  copyFileSync(join(ROOT, ".dependency-cruiser.mjs"), join(dir, ".dependency-cruiser.mjs"));
  writeFileSync(
    join(dir, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: { module: "nodenext", allowImportingTsExtensions: true, noEmit: true },
    }),
  );
  for (const [path, source] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), source);
  }
  const r = spawnSync(
    process.execPath,
    [
      join(ROOT, "node_modules/dependency-cruiser/bin/dependency-cruiser.mjs"),
      "--config",
      ".dependency-cruiser.mjs",
      ...new Set(Object.keys(files).map((path) => path.split("/")[0] as string)),
    ],
    { cwd: dir, encoding: "utf8" },
  );
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

/** Asserts that `from` importing `to` (a file of its own) breaks `rule`. */
function assertBreaks(from: string, to: string, rule: string): void {
  const depth = from.split("/").length - 1;
  const r = cruiseTree({
    [from]: `import { x } from "${"../".repeat(depth)}${to}";\nexport const y = x;\n`,
    [to]: "export const x = 1;\n",
  });
  assert.notEqual(r.status, 0, `${from} → ${to}`);
  assert.match(r.out, new RegExp(`error ${rule}:`), `${from} → ${to}`);
}

test("the boundary rules pass a tree that keeps them", () => {
  const r = cruiseTree({
    "src/a/index.ts": 'export { b } from "../b/index.ts";\n',
    "src/b/index.ts": "export const b = 1;\n",
    "packages/auditor/src/index.ts": 'export { x } from "./x.ts";\n',
    "packages/auditor/src/x.ts": "export const x = 1;\n",
  });
  assert.equal(r.status, 0, r.out);
});

test("an import cycle between files is an error", () => {
  const r = cruiseTree({
    "src/a/one.ts": 'import { two } from "./two.ts";\nexport const one = two;\n',
    "src/a/two.ts": 'import type { one } from "./one.ts";\nexport const two: typeof one | 1 = 1;\n',
  });
  assert.notEqual(r.status, 0);
  assert.match(r.out, /error no-cycle: src\/a\/one\.ts → \s*src\/a\/two\.ts/);
});

test("the auditor importing anything of the server is an error", () => {
  const r = cruiseTree({
    "packages/auditor/src/index.ts":
      'import { config } from "../../../src/config/index.ts";\nexport const c = config;\n',
    "src/config/index.ts": "export const config = 1;\n",
  });
  assert.notEqual(r.status, 0);
  assert.match(
    r.out,
    /error auditor-stands-alone: packages\/auditor\/src\/index\.ts → \s*src\/config\/index\.ts/,
  );
});

test("the SDK importing anything of the server is an error", () => {
  const r = cruiseTree({
    "packages/sdk/src/index.ts": 'import { e } from "../../../src/errors/index.ts";\nexport const x = e;\n',
    "src/errors/index.ts": "export const e = 1;\n",
  });
  assert.notEqual(r.status, 0);
  assert.match(r.out, /error sdk-stands-alone/);
});

test("the SDK takes types from the shared package's surface, and nothing else of it", () => {
  const shared = {
    "packages/shared/src/index.ts": 'export { V, type T } from "./v.ts";\n',
    "packages/shared/src/v.ts": "export const V = 1;\nexport type T = number;\n",
  };
  const types = cruiseTree({
    ...shared,
    "packages/sdk/src/index.ts":
      'import type { T } from "../../shared/src/index.ts";\nexport const x: T = 1;\n',
  });
  assert.equal(types.status, 0, types.out);
  const value = cruiseTree({
    ...shared,
    "packages/sdk/src/index.ts": 'import { V } from "../../shared/src/index.ts";\nexport const x = V;\n',
  });
  assert.notEqual(value.status, 0);
  assert.match(value.out, /error sdk-uses-shared-types-only/);
  const inner = cruiseTree({
    ...shared,
    "packages/sdk/src/index.ts": 'import type { T } from "../../shared/src/v.ts";\nexport const x: T = 1;\n',
  });
  assert.notEqual(inner.status, 0);
  assert.match(inner.out, /error sdk-stands-alone/);
});

test("the server reaching into a package's files rather than its surface is an error", () => {
  const r = cruiseTree({
    "src/cmd/index.ts": 'import { x } from "../../packages/auditor/src/x.ts";\nexport const y = x;\n',
    "packages/auditor/src/x.ts": "export const x = 1;\n",
    "packages/auditor/src/index.ts": 'export { x } from "./x.ts";\n',
  });
  assert.notEqual(r.status, 0);
  assert.match(r.out, /error server-uses-packages-by-name/);
});

test("the services stay apart: collector and control plane never import each other, the core neither", () => {
  assertBreaks("src/collector/ingest/index.ts", "src/control-plane/fleet/index.ts", "collector-apart");
  assertBreaks("src/control-plane/fleet/index.ts", "src/collector/ingest/index.ts", "control-plane-apart");
  assertBreaks("src/core/db/index.ts", "src/collector/ingest/index.ts", "core-serves-both");
  assertBreaks("web/console/main.ts", "src/core/db/index.ts", "web-apps-apart");
  // A web app takes no package but the shared one: not the SDK, not the traffic auditor.
  assertBreaks("web/portal/main.ts", "packages/auditor/src/index.ts", "web-apps-apart");
  assertBreaks("web/console/main.ts", "packages/sdk/src/index.ts", "web-apps-apart");
  const shared = cruiseTree({
    "web/portal/main.ts": 'import { x } from "../../packages/shared/src/index.ts";\nexport const y = x;\n',
    "packages/shared/src/index.ts": "export const x = 1;\n",
  });
  assert.equal(shared.status, 0, shared.out);
});

test("a folder of src/ is entered through its index.ts; its own files and tests may reach further", () => {
  const ok = cruiseTree({
    "src/core/db/index.ts": 'export { x } from "./x.ts";\n',
    "src/core/db/x.ts": 'import { y } from "./y.ts";\nexport const x = y;\n',
    "src/core/db/y.ts": "export const y = 1;\n",
    "src/core/errors/index.ts": 'import { x } from "../db/index.ts";\nexport const e = x;\n',
    "src/core/errors/errors.test.ts": 'import { y } from "../db/y.ts";\nexport const t = y;\n',
    "src/collector/ingest/intake.ts": 'import { a } from "../activation/index.ts";\nexport const i = a;\n',
    "src/collector/activation/index.ts": "export const a = 1;\n",
  });
  assert.equal(ok.status, 0, ok.out);
  assertBreaks("src/core/errors/index.ts", "src/core/db/y.ts", "through-index");
  assertBreaks("src/collector/region.ts", "src/collector/ingest/intake.ts", "through-index");
  assertBreaks("src/collector/ingest/intake.ts", "src/core/db/y.ts", "through-index");
  // No folder is excepted: the collector's ingest reaches activation through its index too.
  assertBreaks(
    "src/collector/ingest/intake.ts",
    "src/collector/activation/activation.repository.ts",
    "through-index",
  );
  assertBreaks(
    "src/control-plane/fleet/fleet.service.ts",
    "src/control-plane/region-calls.ts",
    "through-index",
  );
});

test("a cycle between folders is an error of its own", () => {
  const r = cruiseTree({
    "src/collector/ingest/index.ts": 'export { w } from "./writer.ts";\n',
    "src/collector/ingest/writer.ts": 'import { a } from "../activation/index.ts";\nexport const w = a;\n',
    "src/collector/activation/index.ts":
      'export { a } from "./table.ts";\nexport { s } from "./service.ts";\n',
    "src/collector/activation/table.ts": "export const a = 1;\n",
    "src/collector/activation/service.ts": 'import { w } from "../ingest/index.ts";\nexport const s = w;\n',
  });
  assert.notEqual(r.status, 0, r.out);
  assert.match(r.out, /error no-folder-cycle: src\/collector\/ingest → \s+src\/collector\/activation/);
});

test("the shared package imports no Node.js module", () => {
  const r = cruiseTree({
    "packages/shared/src/index.ts":
      'import { createHash } from "node:crypto";\nexport const h = createHash;\n',
  });
  assert.notEqual(r.status, 0);
  assert.match(r.out, /error shared-is-pure/);
});

test("npm run deps on the repository: no file cycle and no broken boundary rule", () => {
  const r = spawnSync(process.execPath, [join(ROOT, "scripts/deps.ts")], { cwd: ROOT, encoding: "utf8" });
  assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
  assert.match(r.stdout, /^file cycles: 0$/m);
  assert.match(r.stdout, /^boundary rules broken: 0$/m);
  // Every import of a workspace package by name is followed, so the rules see its edge.
  assert.match(r.stdout, /^package imports not resolved: 0$/m);
  assert.match(r.stdout, /^imports across folders: \d+, of which around the folder's index\.ts: \d+$/m);
});
