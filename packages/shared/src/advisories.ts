/**
 * Advisories as the API shows them: the problem, the variants it affects, and
 * per lineage the build that fixes it; the public lookup of a build, and the
 * adoption of a fix.
 */
import { type Static, Type as T } from "@sinclair/typebox";

/** An advisory as the API shows it. */
export const AdvisoryView = T.Object({
  id: T.String(),
  title: T.String(),
  description: T.String(),
  affects: T.Array(T.Object({ model: T.String(), variant: T.String() })),
  fixes: T.Array(
    T.Object({ lineage: T.String(), build: T.String(), releasedAt: T.String({ format: "date-time" }) }),
    { description: "per lineage, the build that fixes the problem" },
  ),
  publishedAt: T.String({ format: "date-time" }),
});
/** An advisory as the API shows it. */
export type Advisory = Static<typeof AdvisoryView>;

/** `GET /v1/lookup/{build}`: is a build fixed, per advisory that affects it. */
export const LookupView = T.Object({
  build: T.String(),
  status: T.String({ description: "fixed, not fixed, not affected, or unknown build" }),
  advisories: T.Array(
    T.Object({
      advisory: AdvisoryView,
      status: T.String({ description: "fixed, not fixed or not affected" }),
      fixedIn: T.Union([T.String(), T.Null()], { description: "the fixing build of this build's lineage" }),
    }),
  ),
});

/** `GET /v1/adoption?advisory=`: how many devices run a fixing build, per day, batch and market, from every region. */
export const AdoptionReportView = T.Object({
  advisory: T.String(),
  since: T.String(),
  regions: T.Object({
    answered: T.Array(T.String()),
    missing: T.Array(T.Object({ region: T.String(), reason: T.String() })),
  }),
  days: T.Array(
    T.Object({
      day: T.String(),
      batch: T.String(),
      market: T.String(),
      devices: T.Integer({ description: "devices active that day (an update check)" }),
      fixed: T.Integer({ description: "of them, on a build the advisory counts as fixed" }),
      share: T.Number({ description: "fixed / devices" }),
    }),
  ),
  builds: T.Array(T.Object({ day: T.String(), build: T.String(), devices: T.Integer(), status: T.String() })),
});

export type Lookup = Static<typeof LookupView>;
export type AdoptionReport = Static<typeof AdoptionReportView>;
