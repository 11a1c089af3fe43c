/**
 * Test helpers for the dictionary's own tests (not exported by the feature):
 * a valid collection document to break one rule at a time, and a throw-away
 * dictionary folder written as real YAML files.
 */
import { generateKeyPairSync } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { stringify } from "yaml";
import { approvalStatement, publicKeyText, signStatement } from "../../src/core/dictionary/approval.ts";
import { versionDigest } from "../../src/core/dictionary/lint.ts";
import type { CollectionFile } from "../../src/core/dictionary/index.ts";

/** The repository's shipped dictionary folder. */
export const SHIPPED_DICTIONARY = new URL("../../dictionary/", import.meta.url).pathname;

/** The regions of the default configuration. */
export const REGIONS = ["global", "cn"] as const;

/** A plain, mutable collection document. */
export type Doc = Record<string, unknown> & { fields: Record<string, Record<string, unknown>> };

/** A valid collection version (`sample` v1) with one field of each type and transform. */
export function sampleDoc(overrides: Record<string, unknown> = {}): Doc {
  return {
    collection: "sample",
    version: 1,
    description: "A collection for tests.",
    purpose: "essential.service.operations.support",
    legalBasis: "contract",
    regions: ["global", "cn"],
    retention: "P1Y",
    approval: { reviewer: TEST_REVIEWER.username, date: "2026-01-15", reference: "REV-1" },
    fields: {
      serial: {
        description: "serial",
        type: "string",
        maxLength: 20,
        pattern: "^[A-Z0-9]{8,20}$",
        dataCategory: "user.device.serial_number",
        sensitivity: 3,
        transform: "pseudonymise",
      },
      model: {
        description: "model",
        type: "string",
        maxLength: 16,
        dataCategory: "user.device",
        sensitivity: 1,
        transform: "keep",
      },
      seenAt: {
        description: "when",
        type: "timestamp",
        dataCategory: "system.operations",
        sensitivity: 2,
        transform: "coarsen",
      },
      battery: {
        description: "battery level, percent",
        type: "integer",
        minimum: 0,
        maximum: 100,
        step: 10,
        required: false,
        dataCategory: "user.device.telemetry",
        sensitivity: 1,
        transform: "coarsen",
      },
      charging: {
        description: "charging",
        type: "boolean",
        required: false,
        dataCategory: "user.device.telemetry",
        sensitivity: 1,
        transform: "drop",
      },
      cell: {
        description: "cell",
        type: "string",
        maxLength: 40,
        required: false,
        dataCategory: "user.location.precise.cell_id",
        sensitivity: 4,
        necessity: "a test needs it",
        regions: ["global"],
        transform: "pseudonymise",
      },
    },
    ...overrides,
  };
}

/** The reviewer of the tests' dictionaries: a key made for this test process, never written to the repository. */
export const TEST_REVIEWER = (() => {
  const pem = generateKeyPairSync("ed25519").privateKey.export({ format: "pem", type: "pkcs8" }).toString();
  return { username: "a.reviewer", name: "A. Reviewer", pem, publicKey: publicKeyText(pem) };
})();

/** The `reviewers.yaml` that lists `TEST_REVIEWER`. */
export const TEST_REVIEWERS_FILE = {
  reviewers: [{ username: "a.reviewer", name: "A. Reviewer", publicKey: TEST_REVIEWER.publicKey }],
};

/**
 * The document with its approval completed as a review would: pinned to the
 * document's digest (unless it pins one already), naming an author, and
 * signed by `TEST_REVIEWER` (or by `key`, a PKCS #8 PEM).
 */
export function signed(doc: Record<string, unknown>, key = TEST_REVIEWER.pem): Record<string, unknown> {
  const approval = doc.approval as Partial<Record<string, string>> | undefined;
  if (approval === undefined) return doc;
  const complete: Partial<Record<string, string>> & { author: string; sha256: string } = {
    author: "an.author",
    ...approval,
    sha256: approval.sha256 ?? versionDigest(doc as CollectionFile),
  };
  const statement = approvalStatement(String(doc.collection), Number(doc.version), {
    reviewer: complete.reviewer ?? "",
    author: complete.author,
    date: complete.date ?? "",
    reference: complete.reference ?? "",
    expires: complete.expires,
    sha256: complete.sha256,
  });
  return { ...doc, approval: { ...complete, signature: signStatement(statement, key) } };
}

/**
 * A temporary dictionary folder listing `TEST_REVIEWER` in its reviewers.yaml.
 * `write` puts a document (as YAML; its approval signed by `signed` unless
 * `{ sign: false }` or it carries a signature already) or raw text at a relative path.
 */
export function tempDictionary(): {
  dir: string;
  write(path: string, content: object | string, options?: { sign?: boolean }): string;
  cleanup(): void;
} {
  const dir = mkdtempSync(join(tmpdir(), "phonehome-dictionary-"));
  writeFileSync(join(dir, "reviewers.yaml"), stringify(TEST_REVIEWERS_FILE));
  return {
    dir,
    write(path: string, content: object | string, options: { sign?: boolean } = {}): string {
      const file = join(dir, path);
      mkdirSync(dirname(file), { recursive: true });
      const approval = typeof content === "string" ? undefined : (content as { approval?: object }).approval;
      const sign = options.sign !== false && approval !== undefined && !("signature" in approval);
      const document = sign ? signed(content as Record<string, unknown>) : content;
      writeFileSync(file, typeof document === "string" ? document : stringify(document));
      return file;
    },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** Answers to the review questionnaire for a proposal of activation, as an author would give them. */
export const REVIEW_ANSWERS = {
  purpose: "Starting and honouring the warranty.",
  lessData: "Without the serial and the day, no warranty claim can be checked.",
  categories: "Serial number (sensitivity 3, pseudonymised), model, variant, market, build, day.",
  retention: "Two years of warranty and a three-year limitation period after it.",
  access: "The warranty service and support, one device at a time, with a stated reason.",
  optOut: "None: the warranty is part of the sale (contract).",
  regions: "The device's home region only.",
  thirdParties: "None.",
};
