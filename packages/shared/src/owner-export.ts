/**
 * An owner's export: what one region holds about a device, each record with
 * its fields and what each is for, the consents and the notices, paged over
 * the diagnostics events. The region writes it; the portal and the owner's
 * tools read it.
 */
import { type Static, Type as T } from "@sinclair/typebox";
import { OwnerConsentsView } from "./consent.ts";
import { DeviceNoticeView } from "./device-notices.ts";
import { AccessReceiptView } from "./receipts.ts";

/** One field of a record, with what it is, what for, on which basis and for how long. */
export const ExportFieldView = T.Object({
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

/** One stored record. */
export const ExportRecordView = T.Object({
  collection: T.String(),
  schemaVersion: T.Integer(),
  description: T.String(),
  purpose: T.String(),
  legalBasis: T.String(),
  storedAt: T.String({ format: "date-time" }),
  expiresAt: T.String({ format: "date-time", description: "when the record is deleted at the latest" }),
  facts: T.Record(T.String(), T.String()),
  fields: T.Array(ExportFieldView),
});

/** The export of one region. */
export const AccessExport = T.Object({
  region: T.String(),
  storedIn: T.String({ description: "ISO 3166-1 alpha-2 country where this region stores data" }),
  device: T.String({ description: "the device's key id" }),
  generatedAt: T.String({ format: "date-time" }),
  records: T.Array(ExportRecordView),
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
  records: T.Array(ExportRecordView),
  next: Next,
});
export type OwnerRecordsPage = Static<typeof OwnerRecordsPage>;

export type ExportField = Static<typeof ExportFieldView>;
export type ExportRecord = Static<typeof ExportRecordView>;
