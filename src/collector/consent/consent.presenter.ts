/** The shapes in which consent leaves the region: notices, receipts, an owner's decisions, the receipt key. */
import type { CurrentNotice, Notice as NoticeShape, OwnerConsents } from "@phonehome/shared";
import type { Notice, Notices } from "./notices.ts";
import type { DecisionInForce, HeldConsents } from "./consent.service.ts";

/** Shapes one notice text. */
export function presentNotice(notice: Notice): NoticeShape {
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
export function presentCurrentNotice(notices: Notices, notice: Notice): CurrentNotice {
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
): OwnerConsents {
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
