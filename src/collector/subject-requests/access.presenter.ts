/** The access export: the shape in which an owner receives what a region holds about the device. */
import { type Static, Type as T } from "@sinclair/typebox";
import { parseInstant } from "../../core/calendar/index.ts";
import { type HeldConsents, OwnerConsentsView, presentOwnerConsents } from "../consent/index.ts";
import { AccessReceiptView, DeviceNoticeView, type HeldEntry } from "@phonehome/shared";
import { type HeldRecord, keysDigest } from "../device-data/index.ts";

const FieldView = T.Object({
  name: T.String(),
  value: T.Unknown({ description: "as stored, after the declared transform" }),
  description: T.String(),
  dataCategory: T.String({ description: "fideslang data category" }),
  purpose: T.String({ description: "fideslang data use" }),
  legalBasis: T.String({ description: "GDPR Art. 6 basis" }),
  retention: T.String({ description: "ISO 8601 duration" }),
  transform: T.String({
    description: "keep, pseudonymise or coarsen: how the value was minimised before storage",
  }),
});

const RecordView = T.Object({
  collection: T.String(),
  schemaVersion: T.Integer(),
  description: T.String(),
  purpose: T.String(),
  legalBasis: T.String(),
  storedAt: T.String({ format: "date-time" }),
  expiresAt: T.String({ format: "date-time", description: "when the record is deleted at the latest" }),
  facts: T.Record(T.String(), T.String()),
  fields: T.Array(FieldView),
});

/** The export of one region. */
export const AccessExport = T.Object({
  region: T.String(),
  storedIn: T.String({ description: "ISO 3166-1 alpha-2 country where this region stores data" }),
  device: T.String({ description: "the device's key id" }),
  generatedAt: T.String({ format: "date-time" }),
  records: T.Array(RecordView),
  consents: T.Omit(OwnerConsentsView, ["region", "device"], {
    description:
      "consent decisions in force and every receipt; kept as proof of consent (GDPR Art. 7(1)): the decision in force while it is, a replaced one for `retention.records` after the decision that replaced it",
  }),
  notices: T.Array(
    T.Object({
      ...DeviceNoticeView.properties,
      deliveredAt: T.Union([T.String({ format: "date-time" }), T.Null()], {
        description: "when the device first got it at a check-in; null while it waits",
      }),
      expiresAt: T.String({ format: "date-time" }),
    }),
    {
      description:
        "notices of incidents sent to the device, kept with their delivery as proof the owner was told (a legal obligation) for `retention.records` after they were sent",
    },
  ),
  receipt: T.Optional(AccessReceiptView),
  jws: T.Optional(
    T.String({ description: "with `?requestId=`: the receipt as a compact JWS (EdDSA); trust its payload" }),
  ),
});
export type AccessExport = Static<typeof AccessExport>;

const Next = T.Union([T.String(), T.Null()], {
  description:
    "the cursor of the next page of diagnostics events (`GET /v1/owner/data/records?cursor=…`); null when this page ends the export",
});

/** The first page of an owner's export: every record but the diagnostics events past `limit`, and the cursor of the rest. */
export const OwnerExportPage = T.Object({ ...AccessExport.properties, next: Next });
export type OwnerExportPage = Static<typeof OwnerExportPage>;

/** A following page of an owner's export: the next diagnostics events. */
export const OwnerRecordsPage = T.Object({
  region: T.String(),
  device: T.String({ description: "the device's key id" }),
  generatedAt: T.String({ format: "date-time" }),
  records: T.Array(RecordView),
  next: Next,
});
export type OwnerRecordsPage = Static<typeof OwnerRecordsPage>;

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
