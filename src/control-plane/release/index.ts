/** Builds and the release gate: SBOMs, the package policy, the gate's rules, releases. This file is the folder's only public surface. */
export { buildSbom } from "./build-sbom.ts";
export { type BuildManifestRecord, findBuildManifest } from "./builds.repository.ts";
export { FIXED_BUILD, INCIDENT_BUILD } from "./examples.ts";
export { loadPackagePolicy, type PackagePolicy } from "./policy.ts";
export { register } from "./release.command.ts";
export { registerReleaseRoutes } from "./release.routes.ts";
