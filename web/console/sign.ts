/**
 * A reviewer's approval, signed in the browser with the reviewer's own key
 * (the PKCS #8 PEM file `phonehome review key` made), never sent anywhere:
 * Ed25519 over the RFC 8785 canonical JSON of the approval statement, exactly
 * as `src/dictionary/approval.ts` verifies it.
 */
import canonicalize from "canonicalize";

/** What a reviewer signs (src/dictionary/approval.ts, `ApprovalStatement`). */
export interface ApprovalStatement {
  type: "phonehome.approval/1";
  collection: string;
  version: number;
  sha256: string;
  author: string;
  reviewer: string;
  date: string;
  reference: string;
  expires: string | null;
}

/** The signature (base64url) of `statement` with the Ed25519 private key in `pem`. */
export async function signStatement(statement: ApprovalStatement, pem: string): Promise<string> {
  const body = pem.replace(/-----(BEGIN|END) PRIVATE KEY-----/g, "").replace(/\s+/g, "");
  let der: Uint8Array<ArrayBuffer>;
  try {
    der = Uint8Array.from(atob(body), (c) => c.charCodeAt(0));
  } catch {
    throw new Error("the key file is not a PEM private key");
  }
  const key = await crypto.subtle.importKey("pkcs8", der, { name: "Ed25519" }, false, ["sign"]).catch(() => {
    throw new Error("the key file is not an Ed25519 private key (make one with `npx phonehome review key`)");
  });
  const bytes = new TextEncoder().encode(canonicalize(statement) ?? "");
  const signature = new Uint8Array(await crypto.subtle.sign({ name: "Ed25519" }, key, bytes));
  return btoa(String.fromCharCode(...signature))
    .replace(/\+/g, "-")
    .replace(/\//g, "_")
    .replace(/=+$/, "");
}

/** SHA-256 of `text`, hex. */
export async function sha256Hex(text: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
  return [...digest].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** An audit-log entry as the API answers it. */
export interface AuditEntry {
  seq: number;
  at: string;
  actor: string;
  action: string;
  subject: string;
  reason: string | null;
  detail: Record<string, unknown>;
  prevHash: string;
  hash: string;
}

/**
 * Walks the chain as `src/audit/chain.ts` does: each entry's hash is SHA-256
 * of the canonical JSON of its contents and the previous hash. Answers the
 * first entry that does not fit, or null.
 */
export async function firstBroken(
  entries: readonly AuditEntry[],
): Promise<{ seq: number; problem: string } | null> {
  let prev = "0".repeat(64);
  let expected = 1;
  for (const e of entries) {
    if (e.seq !== expected) return { seq: e.seq, problem: `expected entry ${expected} here` };
    if (e.prevHash !== prev) return { seq: e.seq, problem: "does not follow the entry before it" };
    const text = canonicalize({
      seq: e.seq,
      at: e.at,
      actor: e.actor,
      action: e.action,
      subject: e.subject,
      reason: e.reason,
      detail: e.detail,
      prev: e.prevHash,
    });
    if ((await sha256Hex(text ?? "")) !== e.hash)
      return { seq: e.seq, problem: "its contents do not match its hash" };
    prev = e.hash;
    expected += 1;
  }
  return null;
}
