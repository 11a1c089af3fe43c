/** An advisory as the API shows it: the problem, the variants it affects, and per lineage the build that fixes it. */
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
