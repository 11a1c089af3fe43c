/**
 * What a reviewer signs when approving a collection version, and its bytes:
 * the RFC 8785 canonical JSON of the statement. Pure (no Node.js modules), so
 * that the console signs in the browser exactly what the dictionary's
 * `approval.ts` verifies.
 */
import canonicalize from "canonicalize";

/** What a reviewer signs. */
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

/** The statement an approval record makes about `collection` v`version`. */
export function approvalStatement(
  collection: string,
  version: number,
  approval: {
    reviewer: string;
    date: string;
    reference: string;
    expires?: string | null | undefined;
    sha256: string;
    author: string;
  },
): ApprovalStatement {
  return {
    type: "phonehome.approval/1",
    collection,
    version,
    sha256: approval.sha256,
    author: approval.author,
    reviewer: approval.reviewer,
    date: approval.date,
    reference: approval.reference,
    expires: approval.expires ?? null,
  };
}

/** The bytes that are signed: the statement's canonical JSON, UTF-8. */
export function statementBytes(statement: ApprovalStatement): Uint8Array<ArrayBuffer> {
  return new TextEncoder().encode(canonicalize(statement) ?? "");
}
