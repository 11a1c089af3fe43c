/**
 * The access receipt: what a region found about a device when its owner asked
 * for access — per collection a count and a SHA-256 over the keys of the
 * records the access export shows — and when. Counts, digests and dates only:
 * no field value. The region signs it (JWS compact, EdDSA) with the key every
 * receipt of the region is signed with (`GET /v1/receipt-key`).
 */
import { ACCESS_RECEIPT_VERSION, type AccessReceipt, type HeldEntry } from "@phonehome/shared";

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
