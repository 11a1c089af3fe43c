/**
 * Signed approvals. A reviewer approves one collection version by signing a
 * statement — which version, the digest of what it says, who proposed it, who
 * approves it, when, until when, and the review it came from — with their own
 * Ed25519 key. Collectors, the release gate and the data map count a version
 * as approved only when that signature verifies against a key the dictionary's
 * `reviewers.yaml` lists for the reviewer, the digest is the version's, and
 * the reviewer is not the author. A revoked key (a `revoked` entry in
 * `reviewers.yaml`) still verifies the approvals the control plane recorded
 * before its revocation — the entry lists them — and nothing else
 * (docs/decisions/0058).
 */
import { createPrivateKey, createPublicKey, type KeyObject, sign, verify } from "node:crypto";
import { type Static, Type as T } from "@sinclair/typebox";
import type { Approval } from "./schema.ts";
import { type ApprovalStatement, approvalStatement, statementBytes } from "@phonehome/shared";

export { type ApprovalStatement, approvalStatement, statementBytes } from "@phonehome/shared";

/** Signs a statement with a reviewer's private key (PEM, PKCS #8); the signature as base64url. */
export function signStatement(statement: ApprovalStatement, privateKeyPem: string): string {
  const key = createPrivateKey(privateKeyPem);
  if (key.asymmetricKeyType !== "ed25519") throw new TypeError("a reviewer's key is an Ed25519 key");
  return sign(null, statementBytes(statement), key).toString("base64url");
}

/** A reviewer's public key as `reviewers.yaml` and the control plane hold it: the raw 32 bytes, base64url. */
export function publicKeyText(privateKeyPem: string): string {
  const jwk = createPublicKey(createPrivateKey(privateKeyPem)).export({ format: "jwk" });
  return String(jwk.x);
}

/** The key object for a public key in `publicKeyText` form; throws a TypeError when it is not one. */
export function publicKeyOf(text: string): KeyObject {
  if (!/^[A-Za-z0-9_-]{43}$/.test(text))
    throw new TypeError("not a base64url Ed25519 public key (43 characters)");
  return createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: text }, format: "jwk" });
}

/** True when `signature` (base64url) is `publicKey`'s signature of `statement`. */
export function verifyStatement(
  statement: ApprovalStatement,
  signature: string,
  publicKey: KeyObject,
): boolean {
  if (!/^[A-Za-z0-9_-]{86}$/.test(signature)) return false;
  return verify(null, statementBytes(statement), publicKey, Buffer.from(signature, "base64url"));
}

/** An approval the control plane recorded before a key's revocation: it keeps counting. */
export const KeptApprovalSchema = T.Object(
  {
    reference: T.String({ pattern: "^[A-Za-z0-9._-]{1,64}$" }),
    collection: T.String({ minLength: 1, maxLength: 200 }),
    version: T.Integer({ minimum: 1, maximum: 9999 }),
    signature: T.String({ pattern: "^[A-Za-z0-9_-]{86}$" }),
  },
  { additionalProperties: false },
);
/** One kept approval. */
export type KeptApproval = Static<typeof KeptApprovalSchema>;

/**
 * A key's revocation as `reviewers.yaml` records it: when (the control plane's
 * clock), why, and every approval the control plane had recorded with the key
 * before then. Verifiers accept the key's signature on those and on nothing else.
 */
export const RevocationSchema = T.Object(
  {
    at: T.String({ format: "date-time", maxLength: 40 }),
    reason: T.String({ minLength: 1, maxLength: 1000 }),
    kept: T.Array(KeptApprovalSchema, { maxItems: 10000 }),
  },
  { additionalProperties: false },
);
/** A key's revocation. */
export type Revocation = Static<typeof RevocationSchema>;

/** `reviewers.yaml`: the reviewers whose signatures count, each with a public key (a reviewer may have several). */
export const ReviewersFileSchema = T.Object(
  {
    reviewers: T.Array(
      T.Object(
        {
          username: T.String({ pattern: "^[a-z][a-z0-9._-]{1,63}$" }),
          name: T.String({ minLength: 1, maxLength: 200 }),
          publicKey: T.String({
            pattern: "^[A-Za-z0-9_-]{43}$",
            description: "the reviewer's Ed25519 public key: 32 bytes, base64url",
          }),
          added: T.Optional(T.String({ format: "date", maxLength: 10 })),
          revoked: T.Optional(RevocationSchema),
        },
        { additionalProperties: false },
      ),
      { maxItems: 1000 },
    ),
  },
  { additionalProperties: false },
);
/** The reviewers file, as written. */
export type ReviewersFile = Static<typeof ReviewersFileSchema>;

/** A reviewer's key as verifiers hold it: revoked, it counts only for the signatures kept. */
export interface ReviewerKey {
  key: KeyObject;
  revoked?: { at: string; reason: string; kept: ReadonlySet<string> };
}

/** Each reviewer's keys, by username. */
export type Reviewers = ReadonlyMap<string, readonly ReviewerKey[]>;

/** Why a version is, or is not, approved. */
export type ApprovalVerdict =
  | { approved: true }
  | { approved: false; why: string; /** the approval record's key it is about */ at: string };

/**
 * Whether `approval` approves the version whose digest is `digest`. Every
 * reason it does not is named, in the order a reader would check them.
 */
export function judgeApproval(
  collection: string,
  version: number,
  approval: Approval | undefined,
  digest: string,
  reviewers: Reviewers,
): ApprovalVerdict {
  if (approval === undefined) return { approved: false, why: "it has no approval record", at: "/approval" };
  if (approval.sha256 === undefined) {
    return {
      approved: false,
      why: `its approval does not pin what was approved (the version's digest is ${digest})`,
      at: "/approval/sha256",
    };
  }
  if (approval.sha256 !== digest) {
    return {
      approved: false,
      why: `it differs from what was approved (approved ${approval.sha256.slice(0, 12)}…, now ${digest.slice(0, 12)}…): a changed version needs a new review`,
      at: "/approval/sha256",
    };
  }
  if (approval.author === undefined || approval.signature === undefined) {
    return {
      approved: false,
      why: "its approval is not signed by a reviewer (it names no author or has no signature)",
      at: "/approval/signature",
    };
  }
  if (approval.author === approval.reviewer) {
    return {
      approved: false,
      why: `it is approved by its own author (${approval.author}): a reviewer who is not the author must approve it`,
      at: "/approval/author",
    };
  }
  const keys = reviewers.get(approval.reviewer);
  if (keys === undefined || keys.length === 0) {
    return {
      approved: false,
      why: `its reviewer ${approval.reviewer} is not among the dictionary's reviewers (reviewers.yaml)`,
      at: "/approval/reviewer",
    };
  }
  const statement = approvalStatement(collection, version, {
    ...approval,
    sha256: approval.sha256,
    author: approval.author,
  });
  const signature = approval.signature;
  const signers = keys.filter((k) => verifyStatement(statement, signature, k.key));
  if (signers.length === 0) {
    return {
      approved: false,
      why: `its approval's signature does not verify with ${approval.reviewer}'s key`,
      at: "/approval/signature",
    };
  }
  // A signature by a revoked key counts only when the control plane recorded it before the revocation.
  if (signers.some((k) => k.revoked === undefined || k.revoked.kept.has(signature)))
    return { approved: true };
  const revoked = signers[0]?.revoked;
  return {
    approved: false,
    why:
      `its approval is signed with a key of ${approval.reviewer} revoked at ${revoked?.at ?? "?"} (${revoked?.reason ?? "?"}), ` +
      "and is not among the approvals the control plane recorded before the revocation",
    at: "/approval/signature",
  };
}
