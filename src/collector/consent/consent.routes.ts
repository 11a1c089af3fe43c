/**
 * Consent over HTTP, per region: the notices (public), an owner's decision and
 * its signed receipt, an owner's decisions and history, and the key receipts
 * verify with.
 */
import {
  ConsentDecisionView,
  CurrentNoticeView,
  DeviceConsentsView,
  LANGUAGE_PATTERN,
  NoticeView,
  ReceiptKeyView,
  SignedReceiptView,
} from "@phonehome/shared";
import type { DeviceTable } from "../device-data/index.ts";
import { Type as T } from "@sinclair/typebox";
import { type Config, regionOfMarket } from "../../core/config/index.ts";
import type { Db } from "../../core/db/index.ts";
import type { IntakeContext } from "../ingest/index.ts";
import type { App } from "../../core/http/index.ts";
import type { ReceiptKeys } from "../../core/keys/index.ts";
import type { OwnerAuthenticator } from "../../core/owners/index.ts";
import { presentCurrentNotice, presentNotice, presentOwnerConsents } from "./consent.presenter.ts";
import {
  type ConsentContext,
  currentNotice,
  decideConsent,
  findHeldConsents,
  noticeText,
} from "./consent.service.ts";
import { loadNotices, type Notices, PURPOSE_PATTERN } from "./notices.ts";
import { receiptKeySet } from "./receipt.ts";

/** What the consent routes of a region need. */
export interface ConsentRouteDeps {
  config: Pick<Config, "dataDir" | "noticesDir" | "policy" | "retention">;
  db: Db;
  intake: Pick<IntakeContext, "region" | "pseudonymSecret" | "dictionary" | "directory">;
  /** Checks owner tokens against the directory and this region's erasures. */
  owners: OwnerAuthenticator;
  /** Notices already loaded (e.g. for the collector's consent policy); loaded from `config.noticesDir` when absent. */
  notices?: Notices;
  /** The region's device tables: a "no" erases from them what the "yes" allowed. */
  tables: readonly DeviceTable[];
  /** The region's receipt keys: receipts are signed with the one in force; all are published. */
  receipts: ReceiptKeys;
}

const Purpose = T.String({ pattern: PURPOSE_PATTERN, maxLength: 131, description: "e.g. uep.diagnostics" });
const Language = T.String({
  pattern: LANGUAGE_PATTERN,
  maxLength: 21,
  description: "BCP 47 tag, e.g. en, nb",
});
const Errors = { 400: T.Ref("ErrorResponse"), 404: T.Ref("ErrorResponse") };

/**
 * Loads the notices unless given (checked against the dictionary; throws
 * `notice.invalid`) and the region's signing key, and registers the consent
 * routes. Returns the notices the routes use.
 */
export function registerConsentRoutes(app: App, deps: ConsentRouteDeps): { notices: Notices } {
  const { config, db, intake } = deps;
  const notices = deps.notices ?? loadNotices(config.noticesDir, intake.dictionary);
  const ctx: ConsentContext = {
    db,
    notices,
    region: intake.region,
    policy: config.policy,
    pseudonymSecret: intake.pseudonymSecret,
    tables: deps.tables,
    receipts: deps.receipts,
    recordsRetention: config.retention.records,
  };

  app.get(
    "/v1/notices/:purpose",
    {
      schema: {
        tags: ["consent"],
        summary: "The current notice of a purpose",
        description:
          "Public. The version a decision must name, the languages it is available in, and its text " +
          "(in `lang`, else English, else the first language).",
        params: T.Object({ purpose: Purpose }, { additionalProperties: false }),
        querystring: T.Object({ lang: T.Optional(Language) }, { additionalProperties: false }),
        response: { 200: CurrentNoticeView, ...Errors },
      },
    },
    async (request) => {
      const notice = currentNotice(notices, request.params.purpose, request.query.lang);
      return presentCurrentNotice(notices, notice);
    },
  );

  app.get(
    "/v1/notices/:purpose/:version/:lang",
    {
      schema: {
        tags: ["consent"],
        summary: "One version of a notice in one language",
        description: "Public. Every version stays available: receipts name the version and its SHA-256.",
        params: T.Object(
          {
            purpose: Purpose,
            version: T.String({ pattern: "^[1-9][0-9]{0,5}$", description: "notice version, e.g. 1" }),
            lang: Language,
          },
          { additionalProperties: false },
        ),
        response: { 200: NoticeView, ...Errors },
      },
    },
    async (request) => {
      const { purpose, version, lang } = request.params;
      return presentNotice(noticeText(notices, purpose, Number(version), lang));
    },
  );

  app.put(
    "/v1/owner/consents/:purpose",
    {
      schema: {
        tags: ["consent", "owner"],
        summary: "Say yes or no to a purpose; answers the signed consent receipt",
        description:
          "Authenticated with an owner token; recorded in the device's home region only. The decision names " +
          "the current notice version and the language shown. A no erases, in the same transaction, the " +
          "device's diagnostics in this region; the receipt counts them.",
        security: [{ ownerToken: [] }],
        params: T.Object({ purpose: Purpose }, { additionalProperties: false }),
        body: ConsentDecisionView,
        response: {
          200: SignedReceiptView,
          ...Errors,
          401: T.Ref("ErrorResponse"),
          403: T.Ref("ErrorResponse"),
          409: T.Ref("ErrorResponse"),
        },
      },
    },
    async (request) => {
      const owner = await deps.owners(request.headers.authorization);
      return decideConsent(ctx, owner, request.params.purpose, request.body);
    },
  );

  app.get(
    "/v1/owner/consents",
    {
      schema: {
        tags: ["consent", "owner"],
        summary: "The device's decisions in force and every receipt",
        description:
          "Authenticated with an owner token. Every region answers; only the home region should hold anything. " +
          "`homeRegion` names the region where the device's decisions are recorded (that of its market).",
        security: [{ ownerToken: [] }],
        response: {
          200: DeviceConsentsView,
          401: T.Ref("ErrorResponse"),
          403: T.Ref("ErrorResponse"),
        },
      },
    },
    async (request) => {
      const owner = await deps.owners(request.headers.authorization);
      const held = await findHeldConsents(ctx, owner.device.deviceKey);
      return {
        ...presentOwnerConsents(intake.region, owner.device.deviceKey, held),
        homeRegion: regionOfMarket({ policy: config.policy }, owner.device.market),
      };
    },
  );

  app.get(
    "/v1/consent/receipt-key",
    {
      schema: {
        tags: ["consent"],
        summary: "The key consent receipts verify with",
        description:
          "Public. Every Ed25519 key the region ever signed receipts with, as a JWK Set (the same as `GET /v1/receipt-keys`); a receipt's JWS names its key by `kid`.",
        response: { 200: ReceiptKeyView },
      },
    },
    async () => ({ region: intake.region.id, ...receiptKeySet(deps.receipts) }),
  );

  return { notices };
}
