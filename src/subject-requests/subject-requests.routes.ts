/**
 * Owners' rights, per region: `GET /v1/owner/data` (access export),
 * `DELETE /v1/owner/data` (erasure, with a signed receipt) and
 * `GET /v1/receipt-key` (the key every receipt of the region verifies with).
 */
import { Type as T } from "@sinclair/typebox";
import { findHeldConsents, type Notices, receiptKeySet } from "../consent/index.ts";
import type { Db } from "../db/index.ts";
import type { Dictionary } from "../dictionary/index.ts";
import type { DeviceDirectory } from "../directory/index.ts";
import type { App } from "../http/service.ts";
import type { RegionSigningKey } from "../keys/index.ts";
import { authenticateOwner } from "../owners/index.ts";
import { AccessExport, presentAccessExport } from "./access.presenter.ts";
import { presentSummary } from "./summary.presenter.ts";
import { findHeldRecords } from "./access.service.ts";
import { REQUEST_ID_PATTERN, SignedErasureReceiptView } from "./erasure.presenter.ts";
import { eraseHeldData } from "./erasure.service.ts";

/** What the owner routes of a region need. */
export interface OwnerRouteDeps {
  db: Db;
  region: { id: string; storedIn: string };
  dictionary: Dictionary;
  directory: DeviceDirectory;
  /** The region's pseudonymisation secret: diagnostics are stored under a pseudonym keyed with it. */
  pseudonymSecret: Uint8Array;
  notices: Notices;
  /** The region's signing key: erasure receipts are signed with the key consent receipts are. */
  signingKey: RegionSigningKey;
}

/** The region's receipt-signing key as a JWK Set: what `GET /v1/consent/receipt-key` answers too. */
const ReceiptKeySet = T.Object({
  region: T.String(),
  keys: T.Array(
    T.Object({
      kty: T.Literal("OKP"),
      crv: T.Literal("Ed25519"),
      x: T.String(),
      kid: T.String(),
      alg: T.Literal("EdDSA"),
      use: T.Literal("sig"),
    }),
  ),
});

/** Everything this region holds about the device an owner token proves. */
async function accessExport(deps: OwnerRouteDeps, authorization: string | undefined): Promise<AccessExport> {
  const owner = await authenticateOwner(deps.directory, authorization);
  const [records, consents] = await Promise.all([
    findHeldRecords(deps.db, deps.dictionary, owner.device.keyId, deps.pseudonymSecret),
    findHeldConsents(deps, owner.device.keyId),
  ]);
  return presentAccessExport(deps.region, owner.device.keyId, records, consents, new Date());
}

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
          "device: an empty `records` there is the proof. The export comes straight from the region that holds the data.",
        security: [{ ownerToken: [] }],
        response: { 200: AccessExport, 401: T.Ref("ErrorResponse") },
      },
    },
    async (request) => accessExport(deps, request.headers.authorization),
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
        },
      },
    },
    async (request) => {
      const data = await accessExport(deps, request.headers.authorization);
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
          409: T.Ref("ErrorResponse"),
        },
      },
    },
    async (request) => {
      const owner = await authenticateOwner(deps.directory, request.headers.authorization);
      return eraseHeldData(deps, owner, request.query.requestId?.toLowerCase());
    },
  );

  const keySet = { region: deps.region.id, ...receiptKeySet(deps.signingKey) };
  app.get(
    "/v1/receipt-key",
    {
      schema: {
        tags: ["owner", "consent"],
        summary: "The key every receipt of this region verifies with (consent and erasure receipts)",
        description:
          "Public. The region's Ed25519 signing key as a JWK Set; a receipt's JWS names it by `kid`. " +
          "The same key set as `GET /v1/consent/receipt-key`.",
        response: { 200: ReceiptKeySet },
      },
    },
    async () => keySet,
  );
}
