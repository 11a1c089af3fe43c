/**
 * docs/ARCHITECTURE.md stays a true map of the tree: every path its tree
 * names exists, and every folder of the code (the services' folders under
 * src/, each package, each web app, each test folder) and every page of
 * docs/ is named in it.
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { test } from "node:test";

const ROOT = resolve(import.meta.dirname, "../..");
/** Where a line's description starts: a name is what comes before it. */
const DESCRIPTION_COLUMN = 28;

/** The paths the tree block names, each resolved against the entries it is indented under. */
export function treePaths(markdown: string): string[] {
  const tree = /## The tree\n\n```\n([\s\S]*?)\n```/.exec(markdown)?.[1];
  if (tree === undefined) throw new Error("no tree block under '## The tree'");
  const parents: { indent: number; path: string }[] = [];
  const paths: string[] = [];
  for (const line of tree.split("\n")) {
    const indent = line.length - line.trimStart().length;
    if (line.trim() === "" || indent >= DESCRIPTION_COLUMN) continue;
    const name = line.trimStart().split(/\s{2,}|\s(?=\S)/)[0] ?? "";
    if (name === "" || !/^[.\w@-][\w./@-]*$/.test(name)) continue;
    while (parents.length > 0 && (parents[parents.length - 1]?.indent ?? 0) >= indent) parents.pop();
    const path = `${parents[parents.length - 1]?.path ?? ""}${name}`;
    paths.push(path);
    if (name.endsWith("/")) parents.push({ indent, path });
  }
  return paths;
}

/** The folders the map must name. */
function codeFolders(): string[] {
  const dirs = (path: string) =>
    readdirSync(join(ROOT, path), { withFileTypes: true })
      .filter((e) => e.isDirectory() && e.name !== "node_modules" && e.name !== "dist")
      .map((e) => `${path}/${e.name}/`);
  const groups = dirs("src");
  return [
    ...groups,
    ...groups.flatMap((g) => dirs(g.slice(0, -1))),
    ...dirs("packages"),
    ...dirs("web"),
    ...dirs("test"),
  ];
}

test("the tree treePaths reads: nesting by indentation, descriptions ignored", () => {
  const doc = [
    "## The tree",
    "",
    "```",
    "src/",
    "  core/                     what both use",
    "    db/                     one interface",
    "                            over two stores",
    "  collector/                a region",
    "bin/phonehome.ts            the CLI",
    "```",
  ].join("\n");
  assert.deepEqual(treePaths(doc), [
    "src/",
    "src/core/",
    "src/core/db/",
    "src/collector/",
    "bin/phonehome.ts",
  ]);
});

test("every path docs/ARCHITECTURE.md names exists, and it names every folder of the code and every page of docs/", () => {
  const named = treePaths(readFileSync(join(ROOT, "docs/ARCHITECTURE.md"), "utf8"));
  const missing = named.filter((p) => !existsSync(join(ROOT, p)));
  assert.deepEqual(missing, [], "the map names paths that do not exist");
  const wrongKind = named.filter((p) => p.endsWith("/") !== statSync(join(ROOT, p)).isDirectory());
  assert.deepEqual(wrongKind, [], "a file named as a folder or the reverse");
  const unnamed = codeFolders().filter((f) => !named.includes(f));
  assert.deepEqual(unnamed, [], "folders the map does not describe");
  const pages = readdirSync(join(ROOT, "docs"))
    .filter((f) => f.endsWith(".md"))
    .map((f) => `docs/${f}`);
  assert.deepEqual(
    pages.filter((p) => !named.includes(p)),
    [],
    "documentation pages the map does not list",
  );
});
