/**
 * Consent receipts, shaped after ISO/IEC TS 27560 (consent record information
 * structure) and the Kantara consent receipt: who the controller is, whose
 * consent, to which purposes and data, under which notice text, when, how,
 * where the data is stored and how to withdraw. The region signs each one
 * (JWS compact, EdDSA) with its receipt key in force, named by `kid`; every
 * receipt key the region used stays published (`GET /v1/receipt-keys`).
 */
import { type ReceiptKeys, type RegionSigningKey, signAsRegion } from "../../core/keys/index.ts";
import {
  type ConsentReceipt,
  type ConsentState,
  RECEIPT_JWS_TYPE,
  type ReceiptKeySet,
  RECEIPT_VERSION,
  type SignedReceipt,
} from "@phonehome/shared";
import type { Notice } from "./notices.ts";

/** What a receipt is built from. */
export interface ReceiptFacts {
  receiptId: string;
  notice: Notice;
  deviceKey: string;
  state: ConsentState;
  granted: boolean;
  method: string;
  decidedAt: Date;
  ownerTokenId: string;
  region: { id: string; storedIn: string };
  signingKid: string;
  erasedDiagnosticsEvents: number | undefined;
}

/** Builds the receipt of a decision. */
export function buildReceipt(facts: ReceiptFacts): ConsentReceipt {
  const { notice } = facts;
  const receipt: ConsentReceipt = {
    version: RECEIPT_VERSION,
    receiptId: facts.receiptId,
    issuedAt: facts.decidedAt.toISOString(),
    issuer: { region: facts.region.id, kid: facts.signingKid, alg: "EdDSA" },
    controller: { name: notice.controller.name, contact: notice.controller.contact },
    principal: { deviceKeyId: facts.deviceKey },
    notice: {
      purpose: notice.purpose,
      version: notice.version,
      language: notice.language,
      title: notice.title,
      sha256: notice.sha256,
    },
    purposes: [
      {
        purpose: notice.purpose,
        title: notice.title,
        legalBasis: "consent",
        collections: [...notice.scope.collections],
        dataCategories: [...notice.scope.dataCategories],
        dataUses: [...notice.scope.dataUses],
        retention: notice.scope.retention,
      },
    ],
    decision: {
      state: facts.state,
      granted: facts.granted,
      method: facts.method,
      decidedAt: facts.decidedAt.toISOString(),
      ownerTokenId: facts.ownerTokenId,
    },
    storage: { region: facts.region.id, country: facts.region.storedIn },
    withdraw: notice.withdraw,
  };
  if (facts.erasedDiagnosticsEvents !== undefined) {
    receipt.erased = { diagnosticsEvents: facts.erasedDiagnosticsEvents };
  }
  return receipt;
}

/** Signs a receipt as a compact JWS (EdDSA) whose payload is the receipt's JSON. */
export async function signReceipt(receipt: ConsentReceipt, key: RegionSigningKey): Promise<SignedReceipt> {
  return { receipt, jws: await signAsRegion(receipt, key, RECEIPT_JWS_TYPE) };
}

/** Every receipt key of the region, public halves, as a JWK Set (RFC 7517), oldest first. */
export function receiptKeySet(keys: ReceiptKeys): Pick<ReceiptKeySet, "keys"> {
  return {
    keys: keys.all().map(({ key, notBefore }) => ({
      kty: "OKP" as const,
      crv: "Ed25519" as const,
      x: key.publicKey,
      kid: key.kid,
      alg: "EdDSA" as const,
      use: "sig" as const,
      notBefore: notBefore.toISOString(),
    })),
  };
}
