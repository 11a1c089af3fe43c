/**
 * `npm run deps`: the shape of the import graph, from dependency-cruiser's
 * reading of it (type-only imports included, tests left out): cycles between
 * files and between folders, imports that go around a folder's `index.ts`, and
 * the boundary rules of .dependency-cruiser.mjs. Exits 1 when a rule marked
 * `error` is broken, or when an import of a workspace package by name was not
 * resolved to its files (its edge would escape every rule); `npm run lint`
 * runs it.
 *
 *   npm run deps [-- --json | --verbose]
 */
import { spawnSync } from "node:child_process";

interface Module {
  source: string;
  dependencies: { module: string; resolved: string; coreModule: boolean; couldNotResolve: boolean }[];
}
interface Violation {
  from: string;
  to: string;
  rule: { name: string; severity: string };
}
interface CruiseResult {
  modules: Module[];
  summary: { violations: Violation[]; error: number; warn: number };
}

/** The files through which a folder (or a package: src/, and test/ for its testing helpers) is entered. */
const SURFACES = ["index.ts", "src/index.ts", "test/index.ts"];

/** Where the services' code is grouped one level deeper (src/<group>/<folder>). */
const GROUPS = new Set(["src/collector", "src/control-plane", "src/core", "src/compose"]);

/** The folder a module belongs to: src/<folder>, src/<group>/<folder>, packages/<name>, web/<app>; null outside. */
export function folderOf(path: string): string | null {
  const parts = path.split("/");
  if (parts[0] === "src" && parts.length >= 3) {
    const first = `src/${parts[1]}`;
    if (GROUPS.has(first)) return parts.length >= 4 ? `${first}/${parts[2]}` : first;
    return first;
  }
  if ((parts[0] === "packages" || parts[0] === "web") && parts.length >= 3) return `${parts[0]}/${parts[1]}`;
  if (parts[0] === "src" || parts[0] === "bin") return parts[0];
  return null;
}

/** The strongly connected components of more than one node (Tarjan), each sorted. */
export function cycles(edges: ReadonlyMap<string, ReadonlySet<string>>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  let next = 0;
  const nodes = new Set<string>([...edges.keys(), ...[...edges.values()].flatMap((s) => [...s])]);
  // Iterative, so a deep graph cannot overflow the call stack.
  for (const root of nodes) {
    if (index.has(root)) continue;
    const work: { node: string; children: string[]; at: number }[] = [];
    const enter = (node: string) => {
      index.set(node, next);
      low.set(node, next);
      next++;
      stack.push(node);
      onStack.add(node);
      work.push({ node, children: [...(edges.get(node) ?? [])], at: 0 });
    };
    enter(root);
    while (work.length > 0) {
      const top = work[work.length - 1];
      if (top === undefined) break;
      if (top.at < top.children.length) {
        const child = top.children[top.at++] as string;
        if (!index.has(child)) enter(child);
        else if (onStack.has(child))
          low.set(top.node, Math.min(low.get(top.node) ?? 0, index.get(child) ?? 0));
        continue;
      }
      work.pop();
      const parent = work[work.length - 1];
      if (parent !== undefined) {
        low.set(parent.node, Math.min(low.get(parent.node) ?? 0, low.get(top.node) ?? 0));
      }
      if (low.get(top.node) === index.get(top.node)) {
        const component: string[] = [];
        for (;;) {
          const n = stack.pop() as string;
          onStack.delete(n);
          component.push(n);
          if (n === top.node) break;
        }
        if (component.length > 1) found.push(component.sort());
      }
    }
  }
  return found.sort((a, b) => b.length - a.length || (a[0] ?? "").localeCompare(b[0] ?? ""));
}

function cruise(): CruiseResult {
  const r = spawnSync(
    process.execPath,
    [
      "node_modules/dependency-cruiser/bin/dependency-cruiser.mjs",
      "--config",
      ".dependency-cruiser.mjs",
      "--exclude",
      "(\\.test\\.ts$|^test/|^bench/|^scripts/)",
      "--output-type",
      "json",
      "bin",
      "src",
      "packages",
      "web",
    ],
    { encoding: "utf8", maxBuffer: 256 * 1024 * 1024 },
  );
  if (r.status === null || r.stdout.trim() === "") {
    throw new Error(`dependency-cruiser failed: ${r.stderr || r.error?.message}`);
  }
  return JSON.parse(r.stdout) as CruiseResult;
}

function main(): number {
  const asJson = process.argv.includes("--json");
  const result = cruise();
  const files = new Map<string, Set<string>>();
  const folders = new Map<string, Set<string>>();
  let across = 0;
  const aroundIndex: string[] = [];
  // An import of a workspace package the resolver could not follow is an edge no rule sees.
  const unresolved: string[] = [];
  for (const m of result.modules) {
    for (const d of m.dependencies) {
      if (d.couldNotResolve && d.module.startsWith("@phonehome/"))
        unresolved.push(`${m.source} → ${d.module}`);
      if (d.coreModule || d.couldNotResolve || d.resolved.includes("node_modules/")) continue;
      (files.get(m.source) ?? files.set(m.source, new Set()).get(m.source))?.add(d.resolved);
      const from = folderOf(m.source);
      const to = folderOf(d.resolved);
      if (from === null || to === null || from === to) continue;
      (folders.get(from) ?? folders.set(from, new Set()).get(from))?.add(to);
      across++;
      if (!SURFACES.some((s) => d.resolved === `${to}/${s}`)) aroundIndex.push(`${m.source} → ${d.resolved}`);
    }
  }
  const fileCycles = cycles(files);
  const folderCycles = cycles(folders);
  const errors = result.summary.violations.filter((v) => v.rule.severity === "error");
  const warnings = new Map<string, string[]>();
  for (const v of result.summary.violations) {
    if (v.rule.severity !== "warn") continue;
    (warnings.get(v.rule.name) ?? warnings.set(v.rule.name, []).get(v.rule.name))?.push(
      `${v.from} → ${v.to}`,
    );
  }
  const figures = {
    modules: result.modules.length,
    fileCycles,
    folderCycles,
    importsAcrossFolders: across,
    aroundIndex: aroundIndex.length,
    unresolvedPackageImports: unresolved,
    ruleErrors: errors.map((v) => `${v.rule.name}: ${v.from} → ${v.to}`),
    ruleWarnings: Object.fromEntries(warnings),
  };
  if (asJson) {
    console.log(JSON.stringify(figures, null, 2));
  } else {
    console.log(`modules (tests, bench and scripts left out): ${figures.modules}`);
    console.log(`file cycles: ${fileCycles.length}`);
    for (const c of fileCycles) console.log(`  ${c.join(" ↔ ")}`);
    console.log(`folder cycles: ${folderCycles.length}`);
    for (const c of folderCycles) console.log(`  ${c.length} folders: ${c.join(", ")}`);
    console.log(
      `imports across folders: ${across}, of which around the folder's index.ts: ${aroundIndex.length}`,
    );
    if (process.argv.includes("--verbose")) for (const i of aroundIndex) console.log(`  ${i}`);
    console.log(`package imports not resolved: ${unresolved.length}`);
    for (const u of unresolved) console.log(`  ${u}`);
    console.log(`boundary rules broken: ${errors.length}`);
    for (const e of figures.ruleErrors) console.log(`  ${e}`);
    for (const [rule, imports] of warnings) {
      console.log(`warning, ${rule}: ${imports.length} imports`);
      if (process.argv.includes("--verbose")) for (const i of imports) console.log(`  ${i}`);
    }
  }
  return errors.length > 0 || unresolved.length > 0 ? 1 : 0;
}

if (import.meta.main) process.exitCode = main();
