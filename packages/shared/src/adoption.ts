/**
 * Adoption, as a region's collector answers it (`GET /v1/adoption`) and the
 * control plane gathers it: the devices active each day by batch, market and
 * build, as counts that name no device.
 */
import { type Static, Type as T } from "@sinclair/typebox";

/** A date, `YYYY-MM-DD`. */
export const DAY = "^\\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\\d|3[01])$";

/** The rows a region answers. */
export const AdoptionRows = T.Array(
  T.Object({
    day: T.String({ description: "UTC date" }),
    batch: T.String(),
    market: T.String(),
    build: T.String(),
    devices: T.Integer({ description: "devices whose update checks that day reported this build" }),
  }),
);
/** One row of adoption. */
export type AdoptionRow = Static<typeof AdoptionRows>[number];
