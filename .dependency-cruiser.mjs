// The boundaries of the tree (docs/ARCHITECTURE.md, decision 46), checked by
// `npm run deps` and by `npm run lint`. Type-only imports count: a type that
// crosses a boundary couples the two sides as much as a value does.
/**
 * A package that imports nothing outside itself: not the server, the apps, the
 * tests or another package, but for the surface of a package in `uses`.
 */
function standsAlone(name, why, uses = []) {
  const surfaces = uses.map((u) => `^packages/${u}/src/index\\.ts$`);
  return {
    name: `${name}-stands-alone`,
    severity: "error",
    comment: `${why}: it imports nothing of the server, the apps or another package`,
    from: { path: `^packages/${name}/` },
    to: { path: `^(src|bin|web|test|bench|scripts|packages/(?!${name}/))`, pathNot: surfaces },
  };
}

/** Code under `from` imports nothing under `to`. */
function apart(name, from, to, comment) {
  return { name, severity: "error", comment, from: { path: from }, to: { path: to } };
}

/**
 * A folder of src/ is entered through its index.ts: code in another folder
 * imports nothing else of it (a module's own tests may).
 */
function throughIndex() {
  const comment = "a folder is entered through its index.ts";
  return [
    {
      name: "through-index",
      severity: "error",
      comment,
      from: { path: "^(src/[^/]+/[^/]+)/", pathNot: "\\.test\\.ts$" },
      to: { path: "^src/", pathNot: ["^$1/", "/index\\.ts$"] },
    },
    {
      name: "through-index",
      severity: "error",
      comment: `${comment} (the services' own files, e.g. src/collector/region.ts)`,
      from: { path: "^(src/[^/]+)/[^/]+$", pathNot: "\\.test\\.ts$" },
      to: { path: "^src/", pathNot: ["^$1/[^/]+$", "/index\\.ts$"] },
    },
  ];
}

/** @type {import('dependency-cruiser').IConfiguration} */
export default {
  forbidden: [
    {
      name: "no-cycle",
      severity: "error",
      comment: "no import cycle between files: each file can be read after the files it imports",
      from: {},
      to: { circular: true },
    },
    standsAlone("auditor", "the traffic auditor is its own package"),
    standsAlone("sdk", "the device SDK runs on devices", ["shared"]),
    {
      name: "sdk-uses-shared-types-only",
      severity: "error",
      comment:
        "the SDK reads the server's answers by the shared package's types; its runtime on a device stays free of the schemas",
      from: { path: "^packages/sdk/" },
      to: { path: "^packages/shared/", dependencyTypesNot: ["type-only"] },
    },
    standsAlone("shared", "the shapes both sides of a process boundary use are pure"),
    {
      name: "shared-is-pure",
      severity: "error",
      comment: "the shared package runs in the browser too: no Node.js module",
      from: { path: "^packages/shared/" },
      to: { dependencyTypes: ["core"] },
    },
    ...throughIndex(),
    {
      name: "server-uses-packages-by-name",
      severity: "error",
      comment:
        "the server reaches a package through its public surface (@phonehome/...), never into its files",
      from: { path: "^(src|bin)/" },
      to: { path: "^packages/[^/]+/(?!src/index\\.ts$)" },
    },
    apart(
      "core-serves-both",
      "^src/core/",
      "^src/(collector|control-plane|compose)/",
      "the core both services use imports neither",
    ),
    apart(
      "collector-apart",
      "^src/collector/",
      "^src/(control-plane|compose)/",
      "a region's collector imports nothing of the control plane: what crosses is a shape of the shared package",
    ),
    apart(
      "control-plane-apart",
      "^src/control-plane/",
      "^src/(collector|compose)/",
      "the control plane imports nothing of the collector, so it cannot hold a device payload",
    ),
    apart(
      "web-apps-apart",
      "^web/",
      "^(src|bin|packages/(?!shared/))",
      "the web apps import only the shared package and their own code",
    ),
    {
      name: "no-folder-cycle",
      severity: "error",
      comment: "no cycle between folders: each folder can be read after the folders it imports",
      scope: "folder",
      from: { path: "^src/" },
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "^(node_modules|web/dist|docs)/" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    // The workspace packages are reached by name (@phonehome/...), through their package.json
    // `exports`; without these the resolver leaves such an import unresolved and its edge unseen.
    enhancedResolveOptions: {
      exportsFields: ["exports"],
      conditionNames: ["import", "node", "default"],
      extensions: [".ts", ".tsx", ".js", ".mjs", ".json"],
    },
    combinedDependencies: false,
  },
};
