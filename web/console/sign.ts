/**
 * What the console does with keys and hashes, in the browser: a reviewer's
 * approval signed with the reviewer's own key (the PKCS #8 PEM file `phonehome
 * review key` made, never sent anywhere), and the audit log's chain checked.
 * The bytes signed and the text hashed come from the same pure modules the
 * control plane uses, in @phonehome/shared (approval-statement.ts,
 * audit-entry.ts).
 */
import {
  type ApprovalStatement,
  type AuditEntry,
  entryText,
  GENESIS,
  statementBytes,
} from "@phonehome/shared";

export { approvalStatement, type AuditEntry } from "@phonehome/shared";

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
  const signature = new Uint8Array(
    await crypto.subtle.sign({ name: "Ed25519" }, key, statementBytes(statement)),
  );
  return btoa(String.fromCharCode(...signature))
    .replace(/\+/g, "-")
    .replace(/\//g, "_")
    .replace(/=+$/, "");
}

/** SHA-256 of `text`, hex. */
async function sha256Hex(text: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
  return [...digest].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Walks the chain as `src/core/audit-log/chain.ts` does; answers the first entry that does not fit, or null. */
export async function firstBroken(
  entries: readonly AuditEntry[],
): Promise<{ seq: number; problem: string } | null> {
  let prev = GENESIS;
  let expected = 1;
  for (const e of entries) {
    if (e.seq !== expected) return { seq: e.seq, problem: `expected entry ${expected} here` };
    if (e.prevHash !== prev) return { seq: e.seq, problem: "does not follow the entry before it" };
    if ((await sha256Hex(entryText(e))) !== e.hash) {
      return { seq: e.seq, problem: "its contents do not match its hash" };
    }
    prev = e.hash;
    expected += 1;
  }
  return null;
}
