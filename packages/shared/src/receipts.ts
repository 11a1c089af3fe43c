/**
 * The receipts of owners' requests, as a region signs them and the control
 * plane, the portal and the owner verify them: an access receipt (what the
 * export held, per collection a count and a SHA-256 over the rows' keys) and
 * an erasure receipt (what was deleted and what was kept, why and until
 * when). Counts, digests and dates only: no field value.
 */
import { type Static, Type as T } from "@sinclair/typebox";

/** A request id: a UUID, any case (handled lowercase). */
export const REQUEST_ID_PATTERN =
  "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$";
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

/** The receipt format this code writes; a verifier checks it before reading further. */
export const ERASURE_RECEIPT_VERSION = "phonehome.erasure-receipt.v1";
/** The JWS `typ` of a signed erasure receipt. */
export const ERASURE_RECEIPT_JWS_TYPE = "phonehome-erasure-receipt+jws";

/** One collection the erasure deleted from. */
export const DeletedView = T.Object({
  collection: T.String({ description: "the store table: diagnostics_events, activations" }),
  count: T.Integer({ minimum: 0, description: "rows deleted" }),
  sha256: T.String({
    pattern: "^[0-9a-f]{64}$",
    description:
      "SHA-256 over one line per deleted row's key, sorted byte-wise (docs/owners.md); of the empty string when none",
  }),
});

/** One collection the erasure kept, and why. */
export const KeptView = T.Object({
  collection: T.String({ description: "the store table: activations, consents, consent_history" }),
  count: T.Integer({ minimum: 0, description: "rows kept" }),
  reason: T.String({ description: "why the owner's request does not erase them" }),
  legalBasis: T.String({ description: "GDPR basis for keeping them: contract, legal_obligation" }),
  until: T.Union([T.String({ format: "date-time" }), T.Null()], {
    description: "when they are deleted at the latest; null when nothing is kept or no end date is set",
  }),
});

/** The receipt's payload, as signed. */
export const ErasureReceiptView = T.Object({
  version: T.Literal(ERASURE_RECEIPT_VERSION),
  requestId: T.String({ format: "uuid" }),
  region: T.String(),
  storedIn: T.String({ description: "ISO 3166-1 alpha-2 country where this region stores data" }),
  deviceKeyId: T.String({ description: "the device the owner token proved" }),
  erasedAt: T.String({ format: "date-time" }),
  issuer: T.Object({ region: T.String(), kid: T.String(), alg: T.Literal("EdDSA") }),
  ownerTokenId: T.String({ description: "the `jti` of the owner token that carried the request" }),
  found: T.Integer({ minimum: 0, description: "rows held about the device: deleted plus kept" }),
  deleted: T.Array(DeletedView),
  kept: T.Array(KeptView),
});
/** An erasure receipt. */
export type ErasureReceipt = Static<typeof ErasureReceiptView>;
/** One deleted collection of a receipt. */
export type DeletedEntry = Static<typeof DeletedView>;
/** One kept collection of a receipt. */
export type KeptEntry = Static<typeof KeptView>;

/** A receipt and its signed form, as a region answers `DELETE /v1/owner/data`. */
export const SignedErasureReceiptView = T.Object({
  receipt: ErasureReceiptView,
  jws: T.String({ description: "the receipt as a compact JWS (EdDSA); trust its payload, not `receipt`" }),
});
/** A receipt and its signed form. */
export type SignedErasureReceipt = Static<typeof SignedErasureReceiptView>;

/** A subject request and the receipts the regions signed for it. */
export const SubjectRequestView = T.Object({
  requestId: T.String({ format: "uuid" }),
  kind: T.Union([T.Literal("erasure"), T.Literal("access")]),
  status: T.Union([T.Literal("complete"), T.Literal("incomplete")]),
  requestedAt: T.String({ format: "date-time" }),
  completedAt: T.Union([T.String({ format: "date-time" }), T.Null()], {
    description: "when the last region's receipt arrived",
  }),
  receipts: T.Array(
    T.Object({
      region: T.String(),
      receivedAt: T.String({ format: "date-time" }),
      receipt: T.Union([ErasureReceiptView, AccessReceiptView]),
      jws: T.String({
        description: "the region's signed receipt; verify it with that region's `/v1/receipt-key`",
      }),
    }),
  ),
  missing: T.Array(T.Object({ region: T.String(), reason: T.String() }), {
    description: "regions whose receipt is still missing, and why (retry the request)",
  }),
  exports: T.Optional(
    T.Array(T.Object({ region: T.String(), url: T.String({ format: "uri" }) }), {
      description:
        "access requests: where to fetch each region's export, with the owner token, straight from the region " +
        "(`GET /v1/owner/data?requestId=…`); the control plane never fetches it",
    }),
  ),
});
/** A subject request as shown to its owner. */
export type SubjectRequest = Static<typeof SubjectRequestView>;
