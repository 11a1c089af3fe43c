/**
 * How the control plane shows subject requests: to the owner (the request,
 * each region's receipt and its JWS) and to the operator (counts, digests,
 * dates; no device, no signature to parse).
 */
import {
  type AccessReceipt,
  type ErasureReceipt,
  type SubjectRequest,
  SubjectRequestView,
} from "@phonehome/shared";

export { SubjectRequestView };
import { exportUrl, type RegionEndpoint, type SubjectRequestState } from "./orchestration.service.ts";

/** Shapes a request for its owner; an access request names where each region's export is fetched. */
export function presentSubjectRequest(
  state: SubjectRequestState,
  regions: readonly RegionEndpoint[] = [],
): SubjectRequest {
  const { request, receipts } = state;
  const missing = Object.entries(request.failures)
    .filter(([region]) => !receipts.some((r) => r.region === region))
    .map(([region, reason]) => ({ region, reason }))
    .sort((a, b) => (a.region < b.region ? -1 : 1));
  return {
    requestId: request.id,
    kind: request.kind,
    status: request.completedAt ? "complete" : "incomplete",
    requestedAt: request.requestedAt.toISOString(),
    completedAt: request.completedAt?.toISOString() ?? null,
    receipts: receipts.map((r) => ({
      region: r.region,
      receivedAt: r.receivedAt.toISOString(),
      receipt: r.receipt as ErasureReceipt | AccessReceipt,
      jws: r.jws,
    })),
    missing,
    ...(request.kind === "access"
      ? { exports: regions.map((r) => ({ region: r.id, url: exportUrl(r, request.id) })) }
      : {}),
  };
}

/** A request as the operator's listing shows it: counts and digests only. */
export interface OperatorRequestView {
  requestId: string;
  kind: string;
  status: "complete" | "incomplete";
  requestedAt: string;
  completedAt: string | null;
  missing: { region: string; reason: string }[];
  receipts: (
    | {
        region: string;
        erasedAt: string;
        found: number;
        deleted: { collection: string; count: number; sha256: string }[];
        kept: { collection: string; count: number; legalBasis: string; until: string | null }[];
      }
    | {
        region: string;
        accessedAt: string;
        found: number;
        held: { collection: string; count: number; sha256: string }[];
      }
  )[];
}

/** Shapes a request for the operator: no device key, no signature, no reasons' prose. */
export function presentForOperator(state: SubjectRequestState): OperatorRequestView {
  const view = presentSubjectRequest(state);
  return {
    requestId: view.requestId,
    kind: view.kind,
    status: view.status,
    requestedAt: view.requestedAt,
    completedAt: view.completedAt,
    missing: view.missing,
    receipts: view.receipts.map(({ region, receipt }) =>
      "held" in receipt
        ? {
            region,
            accessedAt: receipt.accessedAt,
            found: receipt.found,
            held: receipt.held.map((h) => ({ collection: h.collection, count: h.count, sha256: h.sha256 })),
          }
        : {
            region,
            erasedAt: receipt.erasedAt,
            found: receipt.found,
            deleted: receipt.deleted.map((d) => ({
              collection: d.collection,
              count: d.count,
              sha256: d.sha256,
            })),
            kept: receipt.kept.map((k) => ({
              collection: k.collection,
              count: k.count,
              legalBasis: k.legalBasis,
              until: k.until,
            })),
          },
    ),
  };
}

/** The operator's listing as lines of text. */
export function formatSubjectRequests(views: readonly OperatorRequestView[]): string[] {
  if (views.length === 0) return ["no subject requests"];
  const lines: string[] = [];
  for (const v of views) {
    lines.push(
      `${v.kind} ${v.requestId} ${v.status}, requested ${v.requestedAt}` +
        (v.completedAt ? `, completed ${v.completedAt}` : ""),
    );
    for (const r of v.receipts) {
      if ("held" in r) {
        lines.push(`  ${r.region}: accessed ${r.accessedAt}, ${r.found} found`);
        for (const h of r.held) lines.push(`    held    ${h.collection} ${h.count} sha256 ${h.sha256}`);
        continue;
      }
      lines.push(`  ${r.region}: erased ${r.erasedAt}, ${r.found} found`);
      for (const d of r.deleted) lines.push(`    deleted ${d.collection} ${d.count} sha256 ${d.sha256}`);
      for (const k of r.kept) {
        lines.push(
          `    kept    ${k.collection} ${k.count} (${k.legalBasis}${k.until ? `, until ${k.until}` : ""})`,
        );
      }
    }
    for (const m of v.missing) lines.push(`  ${m.region}: no receipt (${m.reason})`);
  }
  return lines;
}
