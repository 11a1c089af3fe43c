/**
 * The erasure receipt: what a region found about a device, what it deleted
 * (counts and a SHA-256 over the deleted rows' keys) and what it kept, with
 * the reason, the legal basis and until when. Counts, digests and dates only:
 * no field value of any row. The region signs it (JWS compact, EdDSA) with the
 * key consent receipts are signed with (`GET /v1/receipt-key`).
 */
import {
  type DeletedEntry,
  ERASURE_RECEIPT_VERSION,
  type ErasureReceipt,
  type KeptEntry,
} from "@phonehome/shared";

/** What a receipt is built from. */
export interface ErasureFacts {
  requestId: string;
  region: { id: string; storedIn: string };
  deviceKeyId: string;
  erasedAt: Date;
  signingKid: string;
  ownerTokenId: string;
  deleted: DeletedEntry[];
  kept: KeptEntry[];
}

/** Shapes the receipt of an erasure. */
export function presentErasureReceipt(facts: ErasureFacts): ErasureReceipt {
  const count = (entries: { count: number }[]) => entries.reduce((n, e) => n + e.count, 0);
  return {
    version: ERASURE_RECEIPT_VERSION,
    requestId: facts.requestId,
    region: facts.region.id,
    storedIn: facts.region.storedIn,
    deviceKeyId: facts.deviceKeyId,
    erasedAt: facts.erasedAt.toISOString(),
    issuer: { region: facts.region.id, kid: facts.signingKid, alg: "EdDSA" },
    ownerTokenId: facts.ownerTokenId,
    found: count(facts.deleted) + count(facts.kept),
    deleted: facts.deleted,
    kept: facts.kept,
  };
}
