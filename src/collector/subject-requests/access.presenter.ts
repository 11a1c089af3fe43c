/** The access export: the shape in which an owner receives what a region holds about the device. */
import { parseInstant } from "../../core/calendar/index.ts";
import { type HeldConsents, presentOwnerConsents } from "../consent/index.ts";
import { AccessExport, type HeldEntry, OwnerExportPage, OwnerRecordsPage } from "@phonehome/shared";

export { AccessExport, OwnerExportPage, OwnerRecordsPage };
import { type HeldRecord, keysDigest } from "../device-data/index.ts";

/** Shapes what a region holds about a device for its owner. */
export function presentAccessExport(
  region: { id: string; storedIn: string },
  device: string,
  records: readonly HeldRecord[],
  consents: HeldConsents,
  notices: AccessExport["notices"],
  now: Date,
): AccessExport {
  const { consents: decisions, history } = presentOwnerConsents(region, device, consents);
  return {
    region: region.id,
    storedIn: region.storedIn,
    device,
    generatedAt: now.toISOString(),
    consents: { consents: decisions, history },
    notices: [...notices],
    records: presentRecords(records),
  };
}

/**
 * A coarsened day stored by an earlier version (`…T00:00:00Z`) as every
 * instant of the export is written (ISO 8601, UTC, milliseconds); any other
 * value, an instant with its own offset or precision included, as stored.
 */
function instantText(value: unknown): unknown {
  if (typeof value !== "string" || !/^\d{4}-\d{2}-\d{2}T00:00:00Z$/.test(value)) return value;
  const instant = parseInstant(value);
  return instant === undefined ? value : instant.toISOString();
}

/** Shapes held records as the export shows them: each field with what it is for and how long it is kept. */
export function presentRecords(records: readonly HeldRecord[]): AccessExport["records"] {
  return records.map((r) => {
    const declared = new Map((r.collection?.fields ?? []).map((f) => [f.name, f]));
    return {
      collection: r.collectionName,
      schemaVersion: r.schemaVersion,
      description: r.collection?.description ?? "",
      purpose: r.collection?.purpose ?? "",
      legalBasis: r.collection?.legalBasis ?? "",
      storedAt: r.storedAt.toISOString(),
      expiresAt: r.expiresAt.toISOString(),
      facts: r.facts,
      fields: Object.entries(r.data).map(([name, value]) => {
        const f = declared.get(name);
        return {
          name,
          value: f?.type === "timestamp" ? instantText(value) : value,
          description: f?.description ?? "",
          dataCategory: f?.dataCategory ?? "",
          purpose: f?.purpose ?? "",
          legalBasis: f?.legalBasis ?? "",
          retention: f?.retention.duration ?? "",
          transform: f?.transform ?? "",
        };
      }),
    };
  });
}

/**
 * What an export holds, per store table, with the digest of its keys — the
 * same keys (and so the same digests) an erasure receipt uses for what it
 * deletes: `diagnostics_events` (event id, expiry), `activations` (device key
 * id, expiry), `consents` (purpose, receipt id), `consent_history` (receipt id),
 * `notice_deliveries` (notice id, expiry).
 * `generatedAt` is not part of it: two exports of the same rows agree.
 * `eventKeys` (event id, expiry) stands for the diagnostics events of `data`
 * when the export shows one page of them: the receipt counts every event held.
 */
export function heldInExport(data: AccessExport, eventKeys?: readonly (readonly string[])[]): HeldEntry[] {
  const events = data.records.filter((r) => r.facts.eventId !== undefined);
  const activations = data.records.filter((r) => r.collection === "activation");
  const builds = data.records.filter((r) => r.collection === "update.check");
  const entry = (collection: string, keys: readonly (readonly string[])[]): HeldEntry => ({
    collection,
    count: keys.length,
    sha256: keysDigest(collection, keys),
  });
  return [
    entry("diagnostics_events", eventKeys ?? events.map((r) => [String(r.facts.eventId), r.expiresAt])),
    entry(
      "activations",
      activations.map((r) => [data.device, r.expiresAt]),
    ),
    entry(
      "device_builds",
      builds.map((r) => [data.device, r.expiresAt]),
    ),
    entry(
      "consents",
      data.consents.consents.map((c) => [c.purpose, c.receiptId]),
    ),
    entry(
      "consent_history",
      data.consents.history.map((h) => [h.receipt.receiptId]),
    ),
    entry(
      "notice_deliveries",
      data.notices.map((n) => [n.id, n.expiresAt]),
    ),
  ];
}
