/** The shapes in which consent leaves the region: notices, receipts, an owner's decisions, the receipt key. */
import { type Static, Type as T } from "@sinclair/typebox";
import type { Notice, Notices } from "./notices.ts";
import { RECEIPT_VERSION } from "./receipt.ts";
import type { DecisionInForce, HeldConsents } from "./consent.service.ts";

const Strings = (description: string) => T.Array(T.String(), { description });

const ScopeView = T.Object(
  {
    collections: Strings("dictionary collections a yes allows"),
    dataCategories: Strings("fideslang data categories, named exactly"),
    dataUses: Strings("fideslang data uses, named exactly"),
    retention: T.String({ description: "ISO 8601 duration data is kept at most" }),
  },
  { additionalProperties: false },
);

/** One notice text. */
export const NoticeView = T.Object(
  {
    purpose: T.String(),
    version: T.Integer(),
    language: T.String({ description: "BCP 47 language tag" }),
    title: T.String(),
    scope: ScopeView,
    controller: T.Object({ name: T.String(), contact: T.String() }, { additionalProperties: false }),
    withdraw: T.String({ description: "how to withdraw, in this language" }),
    text: T.String({ description: "the notice, Markdown" }),
    sha256: T.String({ description: "SHA-256 of the notice file, hex; receipts name it" }),
  },
  { additionalProperties: false },
);

/** A purpose's current notice, with the languages it is available in. */
export const CurrentNoticeView = T.Object(
  {
    purpose: T.String(),
    currentVersion: T.Integer({ description: "the version a decision must name" }),
    languages: Strings("languages the current version is available in"),
    notice: NoticeView,
  },
  { additionalProperties: false },
);

/** A consent receipt (ISO/IEC TS 27560, Kantara consent receipt). */
export const ConsentReceiptView = T.Object(
  {
    version: T.Literal(RECEIPT_VERSION),
    receiptId: T.String({ format: "uuid" }),
    issuedAt: T.String({ format: "date-time" }),
    issuer: T.Object(
      {
        region: T.String(),
        kid: T.String({ description: "the signing key; see GET /v1/consent/receipt-key" }),
        alg: T.Literal("EdDSA"),
      },
      { additionalProperties: false },
    ),
    controller: T.Object({ name: T.String(), contact: T.String() }, { additionalProperties: false }),
    principal: T.Object(
      { deviceKeyId: T.String({ description: "the device the owner holds" }) },
      { additionalProperties: false },
    ),
    notice: T.Object(
      {
        purpose: T.String(),
        version: T.Integer(),
        language: T.String(),
        title: T.String(),
        sha256: T.String({ description: "SHA-256 of the notice file shown, hex" }),
      },
      { additionalProperties: false },
    ),
    purposes: T.Array(
      T.Object(
        {
          purpose: T.String(),
          title: T.String(),
          legalBasis: T.Literal("consent"),
          collections: T.Array(T.String()),
          dataCategories: T.Array(T.String()),
          dataUses: T.Array(T.String()),
          retention: T.String(),
        },
        { additionalProperties: false },
      ),
    ),
    decision: T.Object(
      {
        state: T.Union([T.Literal("given"), T.Literal("refused"), T.Literal("withdrawn")]),
        granted: T.Boolean(),
        method: T.String(),
        decidedAt: T.String({ format: "date-time" }),
        ownerTokenId: T.String({ description: "jti of the owner token that carried the decision" }),
      },
      { additionalProperties: false },
    ),
    storage: T.Object(
      {
        region: T.String(),
        country: T.String({ description: "ISO 3166-1 alpha-2 country the region stores data in" }),
      },
      { additionalProperties: false },
    ),
    withdraw: T.String(),
    erased: T.Optional(
      T.Object(
        { diagnosticsEvents: T.Integer({ description: "diagnostics events erased in this region" }) },
        { additionalProperties: false, description: "on a no: what the consent had allowed and is now gone" },
      ),
    ),
  },
  { additionalProperties: false },
);

/** A receipt and its compact JWS. */
export const SignedReceiptView = T.Object(
  {
    receipt: ConsentReceiptView,
    jws: T.String({ description: "compact JWS (EdDSA) whose payload is the receipt's JSON" }),
  },
  { additionalProperties: false },
);

const DecisionView = T.Object(
  {
    purpose: T.String(),
    granted: T.Boolean(),
    noticeVersion: T.Integer(),
    language: T.String(),
    method: T.String(),
    decidedAt: T.String({ format: "date-time" }),
    receiptId: T.String({ format: "uuid" }),
    currentNoticeVersion: T.Union([T.Integer(), T.Null()], {
      description: "null when the purpose has no notice any more",
    }),
    valid: T.Boolean({
      description: "a yes whose notice still covers the current notice: collection is allowed now",
    }),
  },
  { additionalProperties: false },
);

/** What a region holds about a device's consents. */
export const OwnerConsentsView = T.Object(
  {
    region: T.String(),
    device: T.String({ description: "the device's key id" }),
    consents: T.Array(DecisionView, { description: "the decision in force per purpose" }),
    history: T.Array(
      T.Object(
        {
          receipt: ConsentReceiptView,
          jws: T.String({ description: "compact JWS (EdDSA) whose payload is the receipt's JSON" }),
          keptUntil: T.Union([T.String({ format: "date-time" }), T.Null()], {
            description:
              "when this decision stops being kept as proof: null while it is in force; retention.records after the decision that replaced it",
          }),
        },
        { additionalProperties: false },
      ),
      { description: "every decision, oldest first, with its receipt" },
    ),
  },
  { additionalProperties: false },
);

/** The public half of the region's receipt-signing key, as a JWK Set. */
export const ReceiptKeyView = T.Object(
  {
    region: T.String(),
    keys: T.Array(
      T.Object(
        {
          kty: T.Literal("OKP"),
          crv: T.Literal("Ed25519"),
          x: T.String({ description: "raw public key, base64url" }),
          kid: T.String(),
          alg: T.Literal("EdDSA"),
          use: T.Literal("sig"),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);

/** Shapes one notice text. */
export function presentNotice(notice: Notice): Static<typeof NoticeView> {
  return {
    purpose: notice.purpose,
    version: notice.version,
    language: notice.language,
    title: notice.title,
    scope: {
      collections: [...notice.scope.collections],
      dataCategories: [...notice.scope.dataCategories],
      dataUses: [...notice.scope.dataUses],
      retention: notice.scope.retention,
    },
    controller: { ...notice.controller },
    withdraw: notice.withdraw,
    text: notice.text,
    sha256: notice.sha256,
  };
}

/** Shapes a purpose's current notice. */
export function presentCurrentNotice(notices: Notices, notice: Notice): Static<typeof CurrentNoticeView> {
  return {
    purpose: notice.purpose,
    currentVersion: notice.version,
    languages: [...notices.languages(notice.purpose, notice.version)],
    notice: presentNotice(notice),
  };
}

/** Shapes a device's consents for its owner. */
export function presentOwnerConsents(
  region: { id: string },
  device: string,
  held: HeldConsents,
): Static<typeof OwnerConsentsView> {
  return {
    region: region.id,
    device,
    consents: held.decisions.map((d: DecisionInForce) => ({
      purpose: d.purpose,
      granted: d.granted,
      noticeVersion: d.noticeVersion,
      language: d.language,
      method: d.method,
      decidedAt: d.decidedAt.toISOString(),
      receiptId: d.receiptId,
      currentNoticeVersion: d.currentNoticeVersion ?? null,
      valid: d.valid,
    })),
    history: held.history.map((h) => ({
      receipt: h.receipt,
      jws: h.jws,
      keptUntil: h.expiresAt ? h.expiresAt.toISOString() : null,
    })),
  };
}
