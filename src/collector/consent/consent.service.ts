/**
 * Consent decisions. A yes or no is recorded in the device's home region with
 * the notice version and language shown, the method and the time, and answered
 * with a receipt the region signs. A no erases, in the same transaction, the
 * diagnostics the consent had allowed; later batches are refused because the
 * collector finds no valid consent (`findValidConsent`).
 */
import { randomUUID } from "node:crypto";
import { type Config, regionOfMarket } from "../../core/config/index.ts";
import type { Db, Queryable } from "../../core/db/index.ts";
import { type DeviceTable, deviceRef } from "../device-data/index.ts";
import type { Retention } from "../../core/calendar/index.ts";
import type { DirectoryRecord } from "../../core/directory/index.ts";
import { PhoneHomeError } from "../../core/errors/index.ts";
import type { ReceiptKeys } from "../../core/keys/index.ts";
import {
  type ConsentDecision,
  type ConsentHistoryEntry,
  type ConsentMethod,
  findConsentHistory,
  findConsents,
  lockConsent,
  lockConsentKey,
  recordConsentDecision,
} from "./consent.repository.ts";
import type { Notice, Notices } from "./notices.ts";
import type { ConsentState, SignedReceipt } from "@phonehome/shared";
import { buildReceipt, signReceipt } from "./receipt.ts";

/** What consent needs from its region. */
export interface ConsentContext {
  db: Db;
  notices: Notices;
  region: { id: string; storedIn: string };
  policy: Config["policy"];
  /** The region's pseudonymisation secret: diagnostics are stored under `deviceRef(secret, key)`. */
  pseudonymSecret: Uint8Array;
  /** The region's device tables: a "no" erases, from each table storing a collection the notice covers, the device's rows. */
  tables: readonly DeviceTable[];
  /** The region's receipt keys: a receipt is signed with the one in force. */
  receipts: ReceiptKeys;
  /** How long a decision is kept as proof once a later one replaces it (`retention.records`). */
  recordsRetention: Retention;
}

/** Deletes the device's rows of `collections` from every table that stores one of them; answers how many went. */
async function withdrawCollections(
  ctx: ConsentContext,
  tx: Queryable,
  deviceKey: string,
  collections: readonly string[],
): Promise<number> {
  const device = { key: deviceKey, ref: deviceRef(ctx.pseudonymSecret, deviceKey) };
  let erased = 0;
  for (const table of ctx.tables) {
    if (table.withdraw && table.holds === "collected" && collections.some((c) => table.stores(c))) {
      erased += await table.withdraw(tx, device, collections);
    }
  }
  return erased;
}

/** An owner's decision as the route received it. */
export interface DecisionRequest {
  granted: boolean;
  noticeVersion: number;
  language: string;
  method: ConsentMethod;
}

/** The current notice of a purpose in the language asked for (default: English, else the first available). */
export function currentNotice(notices: Notices, purpose: string, language?: string): Notice {
  const version = notices.currentVersion(purpose);
  if (version === undefined) throw unknownPurpose(purpose);
  const languages = notices.languages(purpose, version);
  const chosen = language ?? (languages.includes("en") ? "en" : languages[0]);
  const notice = chosen === undefined ? undefined : notices.get(purpose, version, chosen);
  if (!notice) {
    throw new PhoneHomeError(
      "notice.not_found",
      `notice ${purpose} v${version} is available in ${languages.join(", ")}, not ${language}`,
      { path: "/querystring/lang" },
    );
  }
  return notice;
}

/** One notice text; throws `consent.purpose_unknown` or `notice.not_found`. */
export function noticeText(notices: Notices, purpose: string, version: number, language: string): Notice {
  if (notices.currentVersion(purpose) === undefined) throw unknownPurpose(purpose);
  const notice = notices.get(purpose, version, language);
  if (!notice) {
    throw new PhoneHomeError(
      "notice.not_found",
      `purpose ${purpose} has no notice v${version} in ${language}`,
    );
  }
  return notice;
}

/**
 * Records an owner's decision for their device and answers the signed
 * receipt. The checks come first (purpose, home region, current notice
 * version, language), so a refused decision changes nothing. A no erases the
 * device's diagnostics in this region in the same transaction.
 */
export async function decideConsent(
  ctx: ConsentContext,
  owner: { device: DirectoryRecord; tokenId: string },
  purpose: string,
  request: DecisionRequest,
  clock: () => Date = () => new Date(),
): Promise<SignedReceipt> {
  const current = ctx.notices.currentVersion(purpose);
  if (current === undefined) throw unknownPurpose(purpose);
  const home = regionOfMarket({ policy: ctx.policy }, owner.device.market);
  if (home !== ctx.region.id) {
    // Recording it here would put the device's personal data in a region it does not belong to.
    throw new PhoneHomeError(
      "consent.wrong_region",
      `devices sold in ${owner.device.market} belong to region ${home}, not ${ctx.region.id}; record the decision there`,
    );
  }
  if (request.noticeVersion !== current) {
    throw new PhoneHomeError(
      "consent.notice_outdated",
      `the current notice of ${purpose} is v${current}, not v${request.noticeVersion}: show the owner v${current} and send its version`,
      { path: "/body/noticeVersion" },
    );
  }
  const notice = ctx.notices.get(purpose, current, request.language);
  if (!notice) {
    throw new PhoneHomeError(
      "consent.language_unavailable",
      `notice ${purpose} v${current} is available in ${ctx.notices.languages(purpose, current).join(", ")}, not ${request.language}`,
      { path: "/body/language" },
    );
  }
  const deviceKey = owner.device.deviceKey;
  return ctx.db.transaction(async (tx) => {
    await lockConsentKey(tx, deviceKey, purpose);
    const previous = await lockConsent(tx, deviceKey, purpose);
    // Read after the lock, and never before the decision it replaces: decisions on one device and
    // purpose are then ordered in time as they were committed, and the history reads in that order.
    const now = new Date(Math.max(clock().getTime(), (previous?.decidedAt.getTime() ?? 0) + 1));
    const state: ConsentState = request.granted ? "given" : previous?.granted ? "withdrawn" : "refused";
    let erased: number | undefined;
    if (!request.granted) {
      // Only a purpose that allows collections can have stored anything: its "no" erases, from each
      // table that stores one of them, the device's rows.
      erased = await withdrawCollections(ctx, tx, deviceKey, notice.scope.collections);
    }
    const receiptId = randomUUID();
    const key = ctx.receipts.current();
    const signed = await signReceipt(
      buildReceipt({
        receiptId,
        notice,
        deviceKey,
        state,
        granted: request.granted,
        method: request.method,
        decidedAt: now,
        ownerTokenId: owner.tokenId,
        region: ctx.region,
        signingKid: key.kid,
        erasedDiagnosticsEvents: erased,
      }),
      key,
    );
    await recordConsentDecision(
      tx,
      {
        deviceKey,
        purpose,
        granted: request.granted,
        noticeVersion: current,
        language: request.language,
        method: request.method,
        decidedAt: now,
        receiptId,
        receipt: signed.receipt,
        jws: signed.jws,
      },
      ctx.recordsRetention.expiresAt(now),
    );
    return signed;
  });
}

/** A decision in force, and whether it allows collecting now. */
export interface DecisionInForce extends ConsentDecision {
  /** The purpose's current notice version. */
  currentNoticeVersion: number | undefined;
  /** True for a yes whose notice version still covers the current notice. */
  valid: boolean;
}

/** Everything this region holds about a device's consents: decisions in force and the full history with receipts. */
export interface HeldConsents {
  decisions: DecisionInForce[];
  history: ConsentHistoryEntry[];
}

/**
 * A device's consents as this region holds them. Besides `GET /v1/owner/consents`,
 * the access export can include this as the consent part of what is held.
 */
export async function findHeldConsents(
  ctx: Pick<ConsentContext, "db" | "notices">,
  deviceKey: string,
): Promise<HeldConsents> {
  const [decisions, history] = await Promise.all([
    findConsents(ctx.db, deviceKey),
    findConsentHistory(ctx.db, deviceKey),
  ]);
  return {
    decisions: decisions.map((d) => ({
      ...d,
      currentNoticeVersion: ctx.notices.currentVersion(d.purpose),
      valid: d.granted && ctx.notices.covers(d.purpose, d.noticeVersion),
    })),
    history,
  };
}

function unknownPurpose(purpose: string): PhoneHomeError {
  return new PhoneHomeError("consent.purpose_unknown", `no notice is published for purpose ${purpose}`, {
    path: "/params/purpose",
  });
}
