/**
 * The access receipt: what a region found about a device when its owner asked
 * for access — per collection a count and a SHA-256 over the keys of the
 * records the access export shows — and when. Counts, digests and dates only:
 * no field value. The region signs it (JWS compact, EdDSA) with the key every
 * receipt of the region is signed with (`GET /v1/receipt-key`).
 */
import { type Static, Type as T } from "@sinclair/typebox";

/** The receipt format this code writes; a verifier checks it before reading further. */
export const ACCESS_RECEIPT_VERSION = "phonehome.access-receipt.v1";
/** The JWS `typ` of a signed access receipt. */
export const ACCESS_RECEIPT_JWS_TYPE = "phonehome-access-receipt+jws";

/** One collection the region holds rows of (or not: every collection is listed). */
export const HeldView = T.Object({
  collection: T.String({
    description: "the store table: diagnostics_events, activations, consents, consent_history",
  }),
  count: T.Integer({ minimum: 0, description: "rows held" }),
  sha256: T.String({
    pattern: "^[0-9a-f]{64}$",
    description:
      "SHA-256 over one line per row's key as the export shows it, sorted byte-wise (docs/owners.md); of the empty string when none",
  }),
});

/** The receipt's payload, as signed. */
export const AccessReceiptView = T.Object({
  version: T.Literal(ACCESS_RECEIPT_VERSION),
  requestId: T.String({ format: "uuid" }),
  region: T.String(),
  storedIn: T.String({ description: "ISO 3166-1 alpha-2 country where this region stores data" }),
  deviceKeyId: T.String({ description: "the device the owner token proved" }),
  accessedAt: T.String({ format: "date-time" }),
  issuer: T.Object({ region: T.String(), kid: T.String(), alg: T.Literal("EdDSA") }),
  ownerTokenId: T.String({ description: "the `jti` of the owner token that carried the request" }),
  found: T.Integer({ minimum: 0, description: "rows held about the device, in every collection" }),
  held: T.Array(HeldView),
});
/** An access receipt. */
export type AccessReceipt = Static<typeof AccessReceiptView>;
/** One collection of an access receipt. */
export type HeldEntry = Static<typeof HeldView>;

/** A receipt and its signed form, as a region answers `POST /v1/owner/access-receipts`. */
export const SignedAccessReceiptView = T.Object({
  receipt: AccessReceiptView,
  jws: T.String({ description: "the receipt as a compact JWS (EdDSA); trust its payload, not `receipt`" }),
});
/** A receipt and its signed form. */
export type SignedAccessReceipt = Static<typeof SignedAccessReceiptView>;

/** What a receipt is built from. */
export interface AccessFacts {
  requestId: string;
  region: { id: string; storedIn: string };
  deviceKeyId: string;
  accessedAt: Date;
  signingKid: string;
  ownerTokenId: string;
  held: HeldEntry[];
}

/** Shapes the receipt of an access request. */
export function presentAccessReceipt(facts: AccessFacts): AccessReceipt {
  return {
    version: ACCESS_RECEIPT_VERSION,
    requestId: facts.requestId,
    region: facts.region.id,
    storedIn: facts.region.storedIn,
    deviceKeyId: facts.deviceKeyId,
    accessedAt: facts.accessedAt.toISOString(),
    issuer: { region: facts.region.id, kid: facts.signingKid, alg: "EdDSA" },
    ownerTokenId: facts.ownerTokenId,
    found: facts.held.reduce((n, e) => n + e.count, 0),
    held: facts.held,
  };
}
