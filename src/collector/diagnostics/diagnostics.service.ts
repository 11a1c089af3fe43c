/**
 * Diagnostics: batches of events from devices whose owner said yes to the
 * collection's purpose. The batch passes the same intake as an activation;
 * then every event is validated and transformed, and the region's writer
 * stores the batch only if the consent still holds inside the transaction
 * that stores it (so a withdrawal committed a moment earlier wins).
 */
import type { Envelope } from "@phonehome/sdk";
import { Ajv } from "ajv";
import { addCalendarFormats } from "../../core/calendar/index.ts";
import { PhoneHomeError } from "../../core/errors/index.ts";
import { admitRecord, type IntakeContext, openEnvelope, writeThrough } from "../ingest/index.ts";
import { DiagnosticsBatch } from "./diagnostics.schema.ts";
import { deviceRef } from "../device-data/index.ts";
import type { DiagnosticsRow } from "./diagnostics.repository.ts";
import { diagnosticsWrites } from "./diagnostics.table.ts";

const checkBatch = addCalendarFormats(new Ajv({ allErrors: false, strict: false })).compile<DiagnosticsBatch>(
  DiagnosticsBatch,
);

/** What the device is told: how many events were stored, how many were already stored, how many had expired. */
export interface DiagnosticsOutcome {
  stored: number;
  duplicates: number;
  expired: number;
}

/** Checks, consents, stores (after commit) and answers one diagnostics envelope. */
export async function receiveDiagnostics(
  ctx: IntakeContext,
  envelope: Envelope,
  now = new Date(),
): Promise<DiagnosticsOutcome> {
  // Only consent-based collections come this way; an activation sent here is a mistake, not a
  // diagnostics batch. An unknown collection or version passes on, to be refused by name later.
  const endpoint = {
    label: "collections based on consent",
    takes: (name: string, version: number) => {
      const declared = ctx.dictionary.get(name, version);
      return declared === undefined || declared.legalBasis === "consent";
    },
  };
  const opened = await openEnvelope(ctx, envelope, endpoint, now);
  if (!checkBatch(opened.payload)) {
    const issue = checkBatch.errors?.[0];
    const extra = (issue?.params as { additionalProperty?: string } | undefined)?.additionalProperty;
    const path = `/payload${issue?.instancePath ?? ""}${extra === undefined ? "" : `/${extra}`}`;
    const code = extra === undefined ? "payload.invalid" : "payload.undeclared_field";
    return opened.refuse(code, `${path} ${issue?.message ?? "is invalid"}`, path);
  }
  const purposes = ctx.consentPolicy(opened.collection.name);
  if (purposes === null) {
    return opened.refuse(
      "consent.required",
      `no notice asks for consent to ${opened.collection.name}`,
      "/collection",
    );
  }
  const ref = deviceRef(ctx.pseudonymSecret, opened.device.deviceKey);
  const rows: Omit<DiagnosticsRow, "consentReceipt">[] = [];
  let expired = 0;
  for (const [i, event] of opened.payload.events.entries()) {
    const { data } = await admitRecord(ctx, opened, event.data, `/payload/events/${i}/data`);
    const occurredAt = new Date(event.at);
    if (occurredAt.getTime() - now.getTime() > ctx.maxClockSkewSeconds * 1000) {
      return opened.refuse(
        "payload.invalid",
        `event ${event.id} happened in the future`,
        `/payload/events/${i}/at`,
      );
    }
    const expiresAt = opened.collection.expiresAt(occurredAt);
    if (expiresAt <= now) {
      expired += 1; // past its retention already: storing it would only be deleting it later
      continue;
    }
    rows.push({
      deviceRef: ref,
      eventId: event.id,
      collection: opened.collection.name,
      schemaVersion: opened.collection.version,
      occurredAt,
      expiresAt,
      data,
    });
  }
  const { result } = await writeThrough(
    ctx.writer,
    diagnosticsWrites,
    { deviceKey: opened.device.deviceKey, purpose: opened.collection.name, noticeVersions: purposes, rows },
    opened.ledger,
  );
  if (!result.consented) {
    throw new PhoneHomeError(
      "consent.required",
      `the owner has not said yes to ${opened.collection.name} (or has withdrawn); nothing was stored`,
      { path: "/collection" },
    );
  }
  return { stored: result.stored, duplicates: rows.length - result.stored, expired };
}
