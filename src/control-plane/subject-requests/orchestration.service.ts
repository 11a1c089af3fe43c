/**
 * Subject requests across regions, run by the control plane: an owner's
 * erasure or access request is carried out in every configured region (including those
 * that should hold nothing about the device), with the owner's own token; each
 * region's signed receipt is verified with the key that region publishes, and
 * only the receipts are stored. The data never passes through here: an
 * access export goes from each region straight to the owner.
 */
import { appendAudit } from "../../core/audit-log/index.ts";
import { randomUUID } from "node:crypto";
import { compactVerify, createLocalJWKSet, type JSONWebKeySet } from "jose";
import type { Db } from "../../core/db/index.ts";
import { PhoneHomeError } from "../../core/errors/index.ts";
import {
  ACCESS_RECEIPT_JWS_TYPE,
  ACCESS_RECEIPT_VERSION,
  ERASURE_RECEIPT_JWS_TYPE,
  ERASURE_RECEIPT_VERSION,
} from "@phonehome/shared";
import { type ErasureEpoch, erasureEpochOf, type OwnerContext } from "../../core/owners/index.ts";
import {
  findDeviceErasureRequests,
  findSubjectRequest,
  findSubjectRequestReceipts,
  insertSubjectRequest,
  insertSubjectRequestReceipts,
  listSubjectRequests,
  type StoredReceipt,
  type SubjectRequestKind,
  type SubjectRequestRow,
  updateSubjectRequestOutcome,
} from "./subject-requests.repository.ts";

/** The owner asking: the device their token proved, and the token (its id and when it was minted). */
export type RequestingOwner = Pick<OwnerContext, "tokenId" | "issuedAt"> & { device: { deviceKey: string } };

/**
 * The erasure epoch of a device on the control plane: owner tokens minted
 * before its last erasure request are refused here, as in each region.
 */
export async function requestedErasureEpoch(db: Db, deviceKey: string): Promise<ErasureEpoch | null> {
  return erasureEpochOf(await findDeviceErasureRequests(db, deviceKey));
}

/** A region the control plane carries requests out in. */
export interface RegionEndpoint {
  id: string;
  /** The collector's base URL. */
  url: string;
}

/** What orchestration needs from the control plane. */
export interface OrchestrationContext {
  db: Db;
  /** Every configured region, with the URL it answers at now. */
  regions: () => RegionEndpoint[];
  /** How long to wait for one region, in milliseconds. */
  timeoutMs?: number;
}

/** A request with its stored receipts. */
export interface SubjectRequestState {
  request: SubjectRequestRow;
  receipts: StoredReceipt[];
}

/** What a region answered, or why it did not count. */
type RegionOutcome = { region: string; receipt: StoredReceipt } | { region: string; failure: string };

const DEFAULT_TIMEOUT_MS = 10_000;

/** Why a fetch failed, in words an operator can act on (the cause of Node's "fetch failed"). */
function reasonOf(error: unknown): string {
  const e = error as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e?.name === "TimeoutError") return "no answer in time";
  const cause = e?.cause?.code ?? e?.cause?.message;
  return `unreachable: ${e?.message ?? String(error)}${cause ? ` (${cause})` : ""}`;
}

/** How each kind of request is carried out in a region, and what its receipt must be. */
const KINDS: Record<SubjectRequestKind, { method: string; path: string; typ: string; version: string }> = {
  erasure: {
    method: "DELETE",
    path: "/v1/owner/data",
    typ: ERASURE_RECEIPT_JWS_TYPE,
    version: ERASURE_RECEIPT_VERSION,
  },
  access: {
    method: "POST",
    path: "/v1/owner/access-receipts",
    typ: ACCESS_RECEIPT_JWS_TYPE,
    version: ACCESS_RECEIPT_VERSION,
  },
};

/** The fields every region receipt has, whatever the kind: what the control plane checks. */
interface ReceiptHead {
  version: string;
  requestId: string;
  region: string;
  deviceKeyId: string;
}

/** The URL at which a region serves an access request's export to the owner (never fetched here). */
export function exportUrl(region: RegionEndpoint, requestId: string): string {
  return `${region.url.replace(/\/+$/, "")}/v1/owner/data?requestId=${encodeURIComponent(requestId)}`;
}

/** Asks one region to carry a request out, and verifies its receipt against the key the region publishes. */
async function carryOutInRegion(
  kind: SubjectRequestKind,
  region: RegionEndpoint,
  authorization: string,
  requestId: string,
  deviceKey: string,
  timeoutMs: number,
): Promise<RegionOutcome> {
  const base = region.url.replace(/\/+$/, "");
  let answer: { status: number; body: unknown };
  let keySet: unknown;
  try {
    const signal = AbortSignal.timeout(timeoutMs);
    const response = await fetch(`${base}${KINDS[kind].path}?requestId=${encodeURIComponent(requestId)}`, {
      method: KINDS[kind].method,
      headers: { authorization },
      signal,
    });
    answer = { status: response.status, body: await response.json().catch(() => null) };
    if (answer.status === 200) keySet = await (await fetch(`${base}/v1/receipt-key`, { signal })).json();
  } catch (error) {
    return { region: region.id, failure: reasonOf(error) };
  }
  if (answer.status !== 200) {
    const error = (answer.body as { error?: { code?: string; message?: string } } | null)?.error;
    return {
      region: region.id,
      failure: `answered ${answer.status}${error?.code ? ` ${error.code}` : ""}${error?.message ? `: ${error.message}` : ""}`,
    };
  }
  const jws = (answer.body as { jws?: unknown } | null)?.jws;
  if (typeof jws !== "string") return { region: region.id, failure: "answered no signed receipt" };
  let receipt: ReceiptHead;
  try {
    const { payload, protectedHeader } = await compactVerify(
      jws,
      createLocalJWKSet(keySet as JSONWebKeySet),
      {
        algorithms: ["EdDSA"],
      },
    );
    if (protectedHeader.typ !== KINDS[kind].typ) throw new Error(`typ ${protectedHeader.typ}`);
    receipt = JSON.parse(new TextDecoder().decode(payload)) as ReceiptHead;
  } catch {
    return { region: region.id, failure: "its receipt does not verify with the key the region publishes" };
  }
  // A valid signature on someone else's receipt proves nothing about this request.
  if (
    receipt.version !== KINDS[kind].version ||
    receipt.region !== region.id ||
    receipt.requestId !== requestId ||
    receipt.deviceKeyId !== deviceKey
  ) {
    return { region: region.id, failure: "its receipt is about another region, request or device" };
  }
  return {
    region: region.id,
    receipt: { requestId, region: region.id, receivedAt: new Date(), receipt, jws },
  };
}

/**
 * Carries out an owner's erasure request in every configured region and
 * stores the verified receipts. With a `requestId` already recorded for this
 * device, it retries: only the regions whose receipt is missing are asked
 * again (a region that already erased answers its first receipt). Throws
 * `subject_request.incomplete`, naming each region, when a receipt is still
 * missing (the request stays recorded and can be retried), and
 * `subject_request.conflict` when the id belongs to another device's request.
 */
export async function requestErasure(
  ctx: OrchestrationContext,
  owner: RequestingOwner,
  authorization: string,
  requestId: string = randomUUID(),
  clock: () => Date = () => new Date(),
): Promise<SubjectRequestState> {
  return carryOut(ctx, "erasure", owner, authorization, requestId, clock);
}

/**
 * Carries out an owner's access request in every configured region: each
 * region answers a signed receipt of what it holds (counts and key digests,
 * never the data), and only the receipts are stored. The owner fetches each
 * export from the region itself (`exportUrl`). Retries, incompleteness and
 * conflicts as for `requestErasure`.
 */
export async function requestAccess(
  ctx: OrchestrationContext,
  owner: RequestingOwner,
  authorization: string,
  requestId: string = randomUUID(),
  clock: () => Date = () => new Date(),
): Promise<SubjectRequestState> {
  return carryOut(ctx, "access", owner, authorization, requestId, clock);
}

async function carryOut(
  ctx: OrchestrationContext,
  kind: SubjectRequestKind,
  owner: RequestingOwner,
  authorization: string,
  requestId: string,
  clock: () => Date,
): Promise<SubjectRequestState> {
  const deviceKey = owner.device.deviceKey;
  await insertSubjectRequest(ctx.db, {
    id: requestId,
    kind,
    deviceKey,
    requestedAt: clock(),
    ownerToken: { id: owner.tokenId, issuedAt: owner.issuedAt },
  });
  const request = await findSubjectRequest(ctx.db, requestId);
  if (!request || request.deviceKey !== deviceKey || request.kind !== kind) {
    throw new PhoneHomeError(
      "subject_request.conflict",
      `request id ${requestId} belongs to another request; use a new request id`,
      { path: "/body/requestId" },
    );
  }
  const have = new Set((await findSubjectRequestReceipts(ctx.db, [requestId])).map((r) => r.region));
  const regions = ctx.regions();
  const outcomes = await Promise.all(
    regions
      .filter((r) => !have.has(r.id))
      .map((r) =>
        carryOutInRegion(kind, r, authorization, requestId, deviceKey, ctx.timeoutMs ?? DEFAULT_TIMEOUT_MS),
      ),
  );
  const failures: Record<string, string> = {};
  const receipts: StoredReceipt[] = [];
  for (const o of outcomes) {
    if ("failure" in o) failures[o.region] = o.failure;
    else receipts.push(o.receipt);
  }
  const now = clock();
  const complete = Object.keys(failures).length === 0;
  await ctx.db.transaction(async (tx) => {
    await insertSubjectRequestReceipts(tx, receipts);
    await updateSubjectRequestOutcome(tx, requestId, {
      failures,
      completedAt: complete ? now : null,
      at: now,
    });
    await appendAudit(
      tx,
      {
        actor: `owner:${deviceKey}`,
        action: `subject_request.${kind}`,
        subject: requestId,
        reason: null,
        detail: { receipts: receipts.map((r) => r.region).sort(), missing: Object.keys(failures).sort() },
      },
      now,
    );
  });
  if (!complete) {
    const named = Object.keys(failures).sort();
    throw new PhoneHomeError(
      "subject_request.incomplete",
      `${kind} request ${requestId} is incomplete: no receipt from region ${named.join(", ")}; ` +
        "the other regions' receipts are stored; retry with the same requestId",
      { problems: named.map((region) => ({ path: `/regions/${region}`, message: failures[region] ?? "" })) },
    );
  }
  const state = await findSubjectRequestState(ctx.db, requestId, deviceKey);
  if (!state) throw new Error(`request ${requestId} vanished`);
  return state;
}

/** A device's own request with its receipts, or null (also for another device's request: its existence is not told). */
export async function findSubjectRequestState(
  db: Db,
  requestId: string,
  deviceKey: string,
): Promise<SubjectRequestState | null> {
  const request = await findSubjectRequest(db, requestId);
  if (!request || request.deviceKey !== deviceKey) return null;
  return { request, receipts: await findSubjectRequestReceipts(db, [requestId]) };
}

/** Every request with its receipts, in order of arrival, a page at a time (for the operator). */
export async function* allSubjectRequests(db: Db, pageSize = 500): AsyncGenerator<SubjectRequestState> {
  let after: { requestedAt: Date; id: string } | null = null;
  for (;;) {
    const page = await listSubjectRequests(db, after, pageSize);
    const receipts = await findSubjectRequestReceipts(
      db,
      page.map((r) => r.id),
    );
    for (const request of page) {
      yield { request, receipts: receipts.filter((r) => r.requestId === request.id) };
    }
    const last = page.at(-1);
    if (!last || page.length < pageSize) return;
    after = { requestedAt: last.requestedAt, id: last.id };
  }
}
