/**
 * A region's ingest ledger and misrouting alerts, as its collector answers
 * them to the control plane (service token): counts by minute, outcome,
 * reason, batch, build and market. They name no device.
 */
import { type Static, Type as T } from "@sinclair/typebox";
import { StringEnum } from "./string-enum.ts";

/** What became of a message: stored, replayed (stored before) or refused. */
const Outcome = StringEnum(["stored", "replayed", "refused"], { description: "stored, replayed or refused" });

/** One row of a region's ledger: a minute's count for one outcome, reason, collection, batch, build and market. */
export const LedgerRowView = T.Object({
  minute: T.String({ format: "date-time" }),
  outcome: Outcome,
  reason: T.String(),
  collection: T.String(),
  schemaVersion: T.Integer(),
  batch: T.String(),
  build: T.String(),
  market: T.String(),
  count: T.Integer(),
});
/** One row of the ledger: a minute's count. */
export type LedgerMinute = Static<typeof LedgerRowView>;

/** What the ledger counted for some batches and builds in a time window, summed over the minutes. */
export const LedgerTotalView = T.Object({
  outcome: Outcome,
  reason: T.String(),
  collection: T.String(),
  batch: T.String(),
  build: T.String(),
  market: T.String(),
  count: T.Integer(),
});
/** One total of the ledger. */
export type LedgerTotal = Static<typeof LedgerTotalView>;

/** A misrouting alert: devices of another region's market reached this collector. */
export const MisroutingAlertView = T.Object({
  batch: T.String(),
  build: T.String(),
  market: T.String(),
  expectedRegion: T.String(),
  claimedRegion: T.String(),
  firstSeen: T.String({ format: "date-time" }),
  lastSeen: T.String({ format: "date-time" }),
  count: T.Integer(),
});
/** A misrouting alert. */
export type MisroutingAlert = Static<typeof MisroutingAlertView>;

/** A row of every region's ledger gathered on the control plane: a region's row, named by its region. */
export const GatheredLedgerRowView = T.Object({ region: T.String(), ...LedgerRowView.properties });

/** `GET /v1/ledger` on the control plane: every region's ledger since a time; a region that did not answer is named. */
export const GatheredLedgerView = T.Object({
  since: T.String({ format: "date-time" }),
  rows: T.Array(GatheredLedgerRowView),
  truncated: T.Array(T.String()),
  missing: T.Array(T.Object({ region: T.String(), reason: T.String() })),
});
export type GatheredLedger = Static<typeof GatheredLedgerView>;
