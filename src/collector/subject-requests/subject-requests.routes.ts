/**
 * Owners' rights, per region: `GET /v1/owner/data` (access export, paged:
 * its first page, with a signed access receipt when it names a request id),
 * `GET /v1/owner/data/records` (its following pages), `POST
 * /v1/owner/access-receipts` (the receipt alone, for the control plane),
 * `DELETE /v1/owner/data` (erasure, with a signed receipt) and
 * `GET /v1/receipt-key` (the key every receipt of the region verifies with);
 * and support's view of one device, `POST /v1/support/device-data`, for the
 * control plane.
 */
import { ReceiptKeyView } from "@phonehome/shared";
import { type DeviceTable, deviceRef, type StoredDevice } from "../device-data/index.ts";
import { appendAudit } from "../../core/audit-log/index.ts";
import { serviceTokenCheck } from "../../core/http/index.ts";
import { findDeviceNotices } from "../device-notices/index.ts";
import type { Retention } from "../../core/calendar/index.ts";
import { randomUUID } from "node:crypto";
import { Type as T } from "@sinclair/typebox";
import { findHeldConsents, type Notices, receiptKeySet } from "../consent/index.ts";
import type { Db } from "../../core/db/index.ts";
import type { Dictionary } from "../../core/dictionary/index.ts";
import type { App } from "../../core/http/index.ts";
import type { ReceiptKeys } from "../../core/keys/index.ts";
import type { OwnerAuthenticator } from "../../core/owners/index.ts";
import {
  AccessExport,
  OwnerExportPage,
  OwnerRecordsPage,
  presentAccessExport,
  presentRecords,
} from "./access.presenter.ts";
import { decodeExportCursor, encodeExportCursor } from "./export-cursor.ts";
import { PhoneHomeError } from "../../core/errors/index.ts";
import { presentSummary } from "./summary.presenter.ts";
import {
  REQUEST_ID_PATTERN,
  type SignedAccessReceipt,
  SignedAccessReceiptView,
  SignedErasureReceiptView,
} from "@phonehome/shared";
import {
  findHeldEventKeys,
  findHeldEventsPage,
  findHeldRecords,
  findHeldRecordsPage,
  issueAccessReceipt,
} from "./access.service.ts";
import { eraseHeldData } from "./erasure.service.ts";
import type { ServiceTokenSource } from "../../core/http/index.ts";

/** What the owner routes of a region need. */
export interface OwnerRouteDeps {
  db: Db;
  region: { id: string; storedIn: string };
  dictionary: Dictionary;
  /** The region's device tables: where an owner's records are found, and what an erasure does to each. */
  tables: readonly DeviceTable[];
  /** The region's pseudonymisation secret: diagnostics are stored under a pseudonym keyed with it. */
  pseudonymSecret: Uint8Array;
  notices: Notices;
  /** The region's receipt keys: erasure and access receipts are signed with the key consent receipts are. */
  receipts: ReceiptKeys;
  /** How long the receipts and records this writes are kept (`retention.records`). */
  recordsRetention: Retention;
  /** Checks owner tokens against the directory and this region's erasures (`erasureEpoch`). */
  owners: OwnerAuthenticator;
}

/** The device as the region's tables know it: its key, and the pseudonym its diagnostics are stored under. */
function storedDevice(deps: OwnerRouteDeps, deviceKey: string): StoredDevice {
  return { key: deviceKey, ref: deviceRef(deps.pseudonymSecret, deviceKey) };
}

/**
 * Support's view of one device (docs/operators.md): the access export of the
 * device the control plane names, for the operator and reason it names. The
 * opening is appended to this region's audit log before any data leaves.
 */
export function registerSupportAccessRoute(
  app: App,
  deps: OwnerRouteDeps & { serviceToken: ServiceTokenSource },
): void {
  app.post(
    "/v1/support/device-data",
    {
      onRequest: serviceTokenCheck(deps.serviceToken),
      schema: {
        tags: ["support"],
        summary: "Everything this region holds about one device, for a support operator's stated reason",
        description:
          "Called by the control plane for `POST /v1/devices/{serial}/data-access`; the opening (who, which device, " +
          "why) is in this region's audit log before the answer is sent. Requires the service token.",
        security: [{ serviceToken: [] }],
        body: T.Object(
          {
            device: T.String({ maxLength: 64, description: "the device's key id" }),
            operator: T.String({ pattern: "^[a-z][a-z0-9._-]{1,63}$" }),
            reason: T.String({ minLength: 10, maxLength: 2000 }),
          },
          { additionalProperties: false },
        ),
        response: { 200: AccessExport, 400: T.Ref("ErrorResponse"), 401: T.Ref("ErrorResponse") },
      },
    },
    async (request) => {
      const { device, operator, reason } = request.body;
      const [records, consents, notices] = await Promise.all([
        findHeldRecords(deps.db, deps, storedDevice(deps, device)),
        findHeldConsents(deps, device),
        findDeviceNotices(deps.db, device),
      ]);
      const data = presentAccessExport(deps.region, device, records, consents, notices, new Date());
      await deps.db.transaction((tx) =>
        appendAudit(tx, {
          actor: `operator:${operator}`,
          action: "device_data.opened",
          subject: device,
          reason,
          detail: {
            records: data.records.length,
            consents: data.consents.consents.length,
            via: "control-plane",
          },
        }),
      );
      return data;
    },
  );
}

/** Diagnostics events per page of an owner's export: when the request names no `limit`, and at most. */
export const EXPORT_PAGE = { defaultEvents: 1000, maxEvents: 5000 } as const;

const LimitQuery = T.Optional(
  T.String({
    pattern: "^[1-9][0-9]{0,3}$",
    description: `diagnostics events in this page, 1-${EXPORT_PAGE.maxEvents} (default ${EXPORT_PAGE.defaultEvents})`,
  }),
);

function pageLimit(limit: string | undefined): number {
  if (limit === undefined) return EXPORT_PAGE.defaultEvents;
  const n = Number(limit);
  if (n > EXPORT_PAGE.maxEvents) {
    throw new PhoneHomeError(
      "request.invalid",
      `limit is at most ${EXPORT_PAGE.maxEvents} diagnostics events a page`,
      { path: "/querystring/limit" },
    );
  }
  return n;
}

/**
 * The first page of everything this region holds about the device an owner
 * token proves (at most `limit` diagnostics events, and the cursor of the
 * rest); with a request id, also the signed access receipt of the whole
 * export, recorded: it counts every event held, not only this page's.
 */
async function accessExport(
  deps: OwnerRouteDeps,
  authorization: string | undefined,
  options: { requestId?: string | undefined; limit: number },
): Promise<{ data: OwnerExportPage; signed: SignedAccessReceipt | null }> {
  const owner = await deps.owners(authorization);
  const device = owner.device.deviceKey;
  const [page, consents, notices] = await Promise.all([
    findHeldRecordsPage(deps.db, deps, storedDevice(deps, device), options.limit),
    findHeldConsents(deps, device),
    findDeviceNotices(deps.db, device),
  ]);
  const data = {
    ...presentAccessExport(deps.region, device, page.records, consents, notices, new Date()),
    next: page.next === null ? null : encodeExportCursor(deps.pseudonymSecret, device, page.next),
  };
  if (options.requestId === undefined) return { data, signed: null };
  const eventKeys = await findHeldEventKeys(deps.db, deps, storedDevice(deps, device));
  const signed = await issueAccessReceipt(deps, owner, data, options.requestId, undefined, eventKeys);
  return { data, signed };
}

const RequestIdQuery = (description: string) =>
  T.Object(
    { requestId: T.Optional(T.String({ pattern: REQUEST_ID_PATTERN, description })) },
    { additionalProperties: false },
  );

/** Registers the owner routes of a region's collector. */
export function registerSubjectRequestRoutes(app: App, deps: OwnerRouteDeps): void {
  app.get(
    "/v1/owner/data",
    {
      schema: {
        tags: ["owner"],
        summary: "Everything this region holds about the device, with purpose, legal basis and retention",
        description:
          "Authenticated with an owner token (`Authorization: Bearer <token>`, minted by the device with the " +
          "SDK's `mintOwnerToken`). Every region answers, including those that should hold nothing about the " +
          "device: an empty `records` there is the proof. The export comes straight from the region that holds the data. " +
          "With `requestId` (the one `POST /v1/subject-requests/access` answered, or your own), the region also records " +
          "an access receipt — per collection the count and a SHA-256 over the keys of the records shown, and when — " +
          "and returns it signed in `receipt` and `jws`. The export pages: this answer holds the activation, the last " +
          "reported build, the consents, the notices and the first `limit` diagnostics events (in event-id order); " +
          "`next` is the cursor of the following events (`GET /v1/owner/data/records`), null when there are no more.",
        security: [{ ownerToken: [] }],
        querystring: T.Object(
          {
            requestId: T.Optional(
              T.String({
                pattern: REQUEST_ID_PATTERN,
                description:
                  "a UUID naming the access request: the first page then carries the signed receipt of the whole export",
              }),
            ),
            limit: LimitQuery,
          },
          { additionalProperties: false },
        ),
        response: {
          200: OwnerExportPage,
          400: T.Ref("ErrorResponse"),
          401: T.Ref("ErrorResponse"),
          403: T.Ref("ErrorResponse"),
          409: T.Ref("ErrorResponse"),
        },
      },
    },
    async (request) => {
      const { data, signed } = await accessExport(deps, request.headers.authorization, {
        requestId: request.query.requestId?.toLowerCase(),
        limit: pageLimit(request.query.limit),
      });
      return signed ? { ...data, receipt: signed.receipt, jws: signed.jws } : data;
    },
  );

  app.get(
    "/v1/owner/data/records",
    {
      schema: {
        tags: ["owner"],
        summary: "The next page of the device's diagnostics events in its owner's export",
        description:
          "Authenticated with an owner token, checked as for `GET /v1/owner/data`. `cursor` is the `next` of the " +
          "previous page; it is bound to the device (and the region) it was given for, so another device's token " +
          "cannot use it, and a changed or foreign cursor is refused with `owner.cursor_invalid`. Events come in " +
          "event-id order, each exactly once; `next` is null on the last page.",
        security: [{ ownerToken: [] }],
        querystring: T.Object(
          {
            cursor: T.String({
              minLength: 1,
              maxLength: 512,
              description: "the `next` of the previous page",
            }),
            limit: LimitQuery,
          },
          { additionalProperties: false },
        ),
        response: {
          200: OwnerRecordsPage,
          400: T.Ref("ErrorResponse"),
          401: T.Ref("ErrorResponse"),
          403: T.Ref("ErrorResponse"),
        },
      },
    },
    async (request) => {
      const owner = await deps.owners(request.headers.authorization);
      const device = owner.device.deviceKey;
      const after = decodeExportCursor(deps.pseudonymSecret, device, request.query.cursor);
      const page = await findHeldEventsPage(
        deps.db,
        deps,
        storedDevice(deps, device),
        after,
        pageLimit(request.query.limit),
      );
      return {
        region: deps.region.id,
        device,
        generatedAt: new Date().toISOString(),
        records: presentRecords(page.records),
        next: page.next === null ? null : encodeExportCursor(deps.pseudonymSecret, device, page.next),
      };
    },
  );

  app.post(
    "/v1/owner/access-receipts",
    {
      schema: {
        tags: ["owner"],
        summary: "The signed receipt of an access request, without the data",
        description:
          "Authenticated with an owner token. Makes the same export as `GET /v1/owner/data` but answers only its " +
          "access receipt (counts per collection and SHA-256 digests over the records' keys, and when), recorded and " +
          "signed by the region: what the control plane asks every region for, so that it never sees the data. A " +
          "region that holds nothing about the device answers counts of 0.",
        security: [{ ownerToken: [] }],
        querystring: RequestIdQuery("a UUID naming the access request; one is made when absent"),
        response: {
          200: SignedAccessReceiptView,
          400: T.Ref("ErrorResponse"),
          401: T.Ref("ErrorResponse"),
          403: T.Ref("ErrorResponse"),
          409: T.Ref("ErrorResponse"),
        },
      },
    },
    async (request) => {
      // The receipt counts every event from their keys: the export itself needs none of them.
      const { signed } = await accessExport(deps, request.headers.authorization, {
        requestId: request.query.requestId?.toLowerCase() ?? randomUUID(),
        limit: 1,
      });
      if (!signed) throw new Error("an access receipt was asked for and not issued");
      return signed;
    },
  );

  app.get(
    "/v1/owner/summary",
    {
      schema: {
        tags: ["owner"],
        summary: "The same as /v1/owner/data, as a summary in plain language (Markdown)",
        description:
          "Made from the access export, so the two cannot disagree: per collection, why it is held, on which " +
          "legal basis, until when, and which fields in which form; then the consents.",
        security: [{ ownerToken: [] }],
        response: {
          200: T.Object({
            region: T.String(),
            storedIn: T.String(),
            summary: T.String({ description: "Markdown" }),
          }),
          401: T.Ref("ErrorResponse"),
          403: T.Ref("ErrorResponse"),
        },
      },
    },
    async (request) => {
      const owner = await deps.owners(request.headers.authorization);
      const device = owner.device.deviceKey;
      const [records, consents, notices] = await Promise.all([
        findHeldRecords(deps.db, deps, storedDevice(deps, device)),
        findHeldConsents(deps, device),
        findDeviceNotices(deps.db, device),
      ]);
      const data = presentAccessExport(deps.region, device, records, consents, notices, new Date());
      return { region: data.region, storedIn: data.storedIn, summary: presentSummary(data) };
    },
  );

  app.delete(
    "/v1/owner/data",
    {
      schema: {
        tags: ["owner"],
        summary: "Erase what this region may erase about the device; answers a receipt the region signs",
        description:
          "Authenticated with an owner token. In one transaction: deletes every diagnostics event of the device " +
          "(and an activation whose retention has run out), keeps the warranty record until its retention ends " +
          "and the consent decisions and history as proof of consent, and records the erasure. The receipt " +
          "counts what was deleted (with a SHA-256 over the deleted rows' keys) and what was kept, why, on which " +
          "legal basis and until when. Every region answers; one that holds nothing answers counts of 0. With " +
          "`requestId`, a repeated request answers the receipt it got the first time and erases nothing more.",
        security: [{ ownerToken: [] }],
        querystring: T.Object(
          {
            requestId: T.Optional(
              T.String({
                pattern: REQUEST_ID_PATTERN,
                description: "a UUID naming the request, for retries; one is made when absent",
              }),
            ),
          },
          { additionalProperties: false },
        ),
        response: {
          200: SignedErasureReceiptView,
          400: T.Ref("ErrorResponse"),
          401: T.Ref("ErrorResponse"),
          403: T.Ref("ErrorResponse"),
          409: T.Ref("ErrorResponse"),
        },
      },
    },
    async (request) => {
      const requestId = request.query.requestId?.toLowerCase();
      // The token an erasure was asked with may ask it again (a retry answers the same receipt).
      const owner = await deps.owners(request.headers.authorization, { repeating: requestId });
      return eraseHeldData(deps, owner, requestId);
    },
  );

  app.get(
    "/v1/receipt-key",
    {
      schema: {
        tags: ["owner", "consent"],
        summary: "The key every receipt of this region verifies with (consent, access and erasure receipts)",
        description:
          "Public. Every Ed25519 key the region ever signed receipts with, as a JWK Set; a receipt's JWS names its key by `kid`. " +
          "The same key set as `GET /v1/receipt-keys` and `GET /v1/consent/receipt-key`.",
        response: { 200: ReceiptKeyView },
      },
    },
    async () => ({ region: deps.region.id, ...receiptKeySet(deps.receipts) }),
  );
}
