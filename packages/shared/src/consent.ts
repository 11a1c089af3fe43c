/**
 * Consent as it leaves a region: notices, consent receipts (ISO/IEC TS 27560,
 * Kantara consent receipt), an owner's decisions and the receipt key. The
 * region writes them, the portal and the SDK read them.
 */
import { type Static, Type as T } from "@sinclair/typebox";

/** The receipt format a region writes; a verifier checks it before reading further. */
export const RECEIPT_VERSION = "phonehome.consent-receipt.v1";
/** The JWS `typ` of a signed consent receipt. */
export const RECEIPT_JWS_TYPE = "phonehome-consent-receipt+jws";

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

/** A language tag as notices and decisions name it: BCP 47, e.g. `en`, `nb`, `pt-BR`. */
export const LANGUAGE_PATTERN = "^[a-z]{2,3}(-[A-Za-z0-9]{2,8}){0,2}$";

/** Where an owner decided. */
export const CONSENT_METHODS = ["device-settings", "setup-wizard", "portal"] as const;
export type ConsentMethod = (typeof CONSENT_METHODS)[number];

/** An owner's decision as a region records it (`PUT /v1/owner/consents/{purpose}`). */
export const ConsentDecisionView = T.Object(
  {
    granted: T.Boolean({ description: "yes (true) or no (false); a no after a yes withdraws" }),
    noticeVersion: T.Integer({ minimum: 1, maximum: 999_999, description: "the notice version shown" }),
    language: T.String({ pattern: LANGUAGE_PATTERN, maxLength: 21, description: "BCP 47 tag, e.g. en, nb" }),
    method: T.Union(
      CONSENT_METHODS.map((m) => T.Literal(m)),
      { description: "where the owner decided" },
    ),
  },
  { additionalProperties: false },
);
export type ConsentDecisionBody = Static<typeof ConsentDecisionView>;

/** What happened (ISO/IEC TS 27560 consent states). */
export const ConsentStateView = T.Union([T.Literal("given"), T.Literal("refused"), T.Literal("withdrawn")]);
export type ConsentState = Static<typeof ConsentStateView>;

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
        state: ConsentStateView,
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

/** A decision in force, as an owner reads it. */
export const DecisionView = T.Object(
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

/** `GET /v1/owner/consents`: what a region holds of the device's consents, and where the device decides. */
export const DeviceConsentsView = T.Object({
  ...OwnerConsentsView.properties,
  homeRegion: T.String({ description: "the region of the device's market: decide there" }),
});

/**
 * Every receipt-signing key the region ever used, public halves, as a JWK Set
 * (RFC 7517), oldest first: a receipt signed before a rotation still verifies.
 */
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
          notBefore: T.Optional(
            T.String({
              format: "date-time",
              description:
                "from when the region signed with this key (a JWK member of this profile; receipt keys never end)",
            }),
          ),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);

export type Notice = Static<typeof NoticeView>;
export type CurrentNotice = Static<typeof CurrentNoticeView>;
export type ConsentReceipt = Static<typeof ConsentReceiptView>;
export type SignedReceipt = Static<typeof SignedReceiptView>;
export type OwnerConsents = Static<typeof OwnerConsentsView>;
export type DeviceConsents = Static<typeof DeviceConsentsView>;
export type ReceiptKeySet = Static<typeof ReceiptKeyView>;
