/** Builds as the control plane's release API shows them: the release gate's findings, and a build with its manifest. */
import { type Static, Type as T } from "@sinclair/typebox";

/** One reason the release gate blocks a build, as its report writes it. */
export const GateFindingView = T.Object({
  code: T.String({
    description:
      "component.not_allowed, endpoint.unapproved, endpoint.plaintext, collection.unapproved or collection.not_allowed",
  }),
  component: T.String(),
  version: T.Union([T.String(), T.Null()]),
  pointer: T.String({ description: "where the component is in the SBOM (JSON pointer)" }),
  message: T.String(),
  endpoint: T.Union([T.String(), T.Null()]),
  collection: T.Union([T.String(), T.Null()]),
});
/** One reason the release gate blocks a build, as its report writes it. */
export type GateFinding = Static<typeof GateFindingView>;

/** A build with its manifest, its release and whether the gate was overridden. */
export const ReleaseBuildView = T.Object({
  number: T.String(),
  model: T.String(),
  variant: T.String(),
  lineage: T.Union([T.String(), T.Null()], { description: "the branch this build's updates follow" }),
  releasedAt: T.Union([T.String({ format: "date-time" }), T.Null()]),
  manifest: T.Union([
    T.Object({
      sbomSha256: T.String(),
      checkedAt: T.String({ format: "date-time" }),
      passed: T.Boolean(),
      findings: T.Array(GateFindingView),
    }),
    T.Null(),
  ]),
  releaseForced: T.Union([T.Object({ reason: T.String(), findings: T.Integer() }), T.Null()], {
    description: "set when the build was released although the gate blocked it",
  }),
});
/** A build with its manifest, its release and whether the gate was overridden. */
export type ReleaseBuild = Static<typeof ReleaseBuildView>;
