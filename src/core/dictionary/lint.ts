/**
 * The dictionary's rules. Each file is first checked against its schema
 * (shape, unknown keys, bounds); a file that passes is then checked against
 * the taxonomy, the configuration's regions and the other files. Every problem
 * is collected with a path `<file>:<JSON pointer>`, so one run lists them all.
 */
import { createHash } from "node:crypto";
import { Ajv, type ErrorObject } from "ajv";
import canonicalize from "canonicalize";
import { addCalendarFormats } from "../calendar/index.ts";
import type { Problem } from "../errors/index.ts";
import {
  type ApprovalVerdict,
  judgeApproval,
  publicKeyOf,
  type ReviewerKey,
  type Reviewers,
  type ReviewersFile,
  ReviewersFileSchema,
} from "./approval.ts";
import type { ReadResult, SourceFile } from "./source.ts";
import { isPositive, outlasts, parseRetention } from "../calendar/index.ts";
import {
  type CollectionFile,
  CollectionFileSchema,
  type FieldDeclaration,
  type FieldType,
} from "./schema.ts";
import { isDataCategory, isDataUse, narrows } from "./taxonomy.ts";

/** What the rules need to know from outside the dictionary. */
export interface LintOptions {
  /** Ids of the regions the configuration declares. */
  regions: readonly string[];
  /** "Today", for the approval-date check; defaults to now. */
  now?: Date;
}

/** A file that passed its schema check, with its typed contents and whether its approval holds. */
export interface CheckedFile {
  source: SourceFile;
  doc: CollectionFile;
  approval: ApprovalVerdict;
}

/**
 * The outcome of a lint. Errors block loading; refusals (a version whose
 * approval record does not approve it) fail `registry check` but not a
 * service's start: collectors load the version and refuse its data, so one
 * broken approval does not stop every other collection. Warnings fail nothing.
 */
export interface LintReport {
  errors: Problem[];
  refusals: Problem[];
  warnings: Problem[];
  /** The files whose shape is valid (all of them when there are no errors). */
  checked: CheckedFile[];
  stats: { collections: number; versions: number; fields: number };
}

const ajv = addCalendarFormats(new Ajv({ allErrors: true, strict: true, verbose: true }));
const validateFile = ajv.compile<CollectionFile>(CollectionFileSchema);
const validateReviewers = ajv.compile<ReviewersFile>(ReviewersFileSchema);

/** Which bounds each field type accepts. */
const BOUNDS_BY_TYPE: Readonly<Record<FieldType, readonly string[]>> = {
  string: ["minLength", "maxLength", "pattern", "enum"],
  integer: ["minimum", "maximum", "enum", "step"],
  number: ["minimum", "maximum", "enum", "step"],
  boolean: [],
  timestamp: [],
};
const ALL_BOUNDS = ["minLength", "maxLength", "pattern", "minimum", "maximum", "enum", "step"] as const;

/**
 * What an approval pins: SHA-256 of the RFC 8785 canonical JSON of the
 * version as written, without its approval record — so that neither key
 * order, YAML layout nor comments change it, and any change of meaning does.
 */
export function versionDigest(doc: CollectionFile): string {
  const { approval: _, ...content } = doc;
  return createHash("sha256")
    .update(canonicalize(content) ?? "")
    .digest("hex");
}

/** Checks what `readDictionaryFiles` read; its problems are reported first. */
export function lintFiles(read: ReadResult, options: LintOptions): LintReport {
  const errors: Problem[] = [...read.problems];
  const refusals: Problem[] = [];
  const warnings: Problem[] = [];
  const valid: { source: SourceFile; doc: CollectionFile }[] = [];
  for (const source of read.files) {
    if (validateFile(source.document)) {
      valid.push({ source, doc: source.document });
    } else {
      errors.push(...schemaProblems(source.label, validateFile.errors ?? []));
    }
  }
  const reviewers = lintReviewers(read.reviewers, errors);
  const verdicts = new Map<SourceFile, ApprovalVerdict>();

  const seen = new Map<string, string>();
  for (const { source, doc } of valid) {
    const at = (pointer: string) => located(source.label, pointer);
    const error = (pointer: string, message: string) => errors.push({ path: at(pointer), message });
    const warn = (pointer: string, message: string) => warnings.push({ path: at(pointer), message });

    // The file's place names its collection and version, so a reviewer reading
    // `activation/v2.yaml` reads what the collectors will enforce for activation v2.
    if (source.folder !== doc.collection) {
      error("/collection", `declares collection ${doc.collection} but is filed under ${source.folder}/`);
    }
    const named = /^v([1-9][0-9]*)\.yaml$/.exec(source.name);
    if (!named) {
      error("", `file name ${source.name} does not follow v<N>.yaml`);
    } else if (Number(named[1]) !== doc.version) {
      error("/version", `declares version ${doc.version} but the file is named ${source.name}`);
    }
    const key = `${doc.collection}@${doc.version}`;
    const first = seen.get(key);
    if (first !== undefined) {
      error("/version", `${doc.collection} v${doc.version} is also declared by ${first}`);
    } else {
      seen.set(key, source.label);
    }

    if (!isDataUse(doc.purpose)) error("/purpose", `undeclared data use ${doc.purpose}`);
    doc.regions.forEach((region, i) => {
      if (!options.regions.includes(region)) {
        error(
          `/regions/${i}`,
          `region ${region} is not in the configuration (${options.regions.join(", ")})`,
        );
      }
    });
    const collectionRetention = doc.retention === undefined ? undefined : parseRetention(doc.retention);
    if (collectionRetention && !isPositive(collectionRetention)) {
      error("/retention", "retention must be longer than zero");
    }

    const verdict = judgeApproval(doc.collection, doc.version, doc.approval, versionDigest(doc), reviewers);
    verdicts.set(source, verdict);
    if (doc.approval === undefined) {
      warn("/approval", "no approval record: collectors refuse this version until a reviewer approves it");
    } else {
      if (!verdict.approved) {
        refusals.push({
          path: at(verdict.at),
          message: `collectors refuse this version: ${verdict.why}`,
        });
      }
      const today = (options.now ?? new Date()).getTime();
      if (Date.parse(doc.approval.date) > today) {
        warn("/approval/date", `approval date ${doc.approval.date} lies in the future`);
      }
      const expires = doc.approval.expires;
      if (expires !== undefined && expires < doc.approval.date) {
        error(
          "/approval/expires",
          `the approval would end (${expires}) before it was given (${doc.approval.date})`,
        );
      } else if (expires !== undefined && today >= Date.parse(expires) + 86_400_000) {
        warn(
          "/approval/expires",
          `the approval ran out on ${expires}: collectors refuse this version until a review renews it`,
        );
      } else if (expires !== undefined && Date.parse(expires) - today < 30 * 86_400_000) {
        warn("/approval/expires", `the approval runs out on ${expires}: have it reviewed again before then`);
      }
    }

    for (const [name, field] of Object.entries(doc.fields)) {
      lintField(`/fields/${escapePointer(name)}`, field, doc, { error, warn }, collectionRetention);
    }
  }

  const checked: CheckedFile[] = valid.map((v) => ({
    ...v,
    approval: verdicts.get(v.source) ?? { approved: false, why: "it was not checked", at: "/approval" },
  }));
  return {
    errors,
    refusals,
    warnings,
    checked,
    stats: {
      collections: new Set(checked.map((c) => c.doc.collection)).size,
      versions: checked.length,
      fields: checked.reduce((n, c) => n + Object.keys(c.doc.fields).length, 0),
    },
  };
}

function lintField(
  base: string,
  field: FieldDeclaration,
  doc: CollectionFile,
  report: {
    error: (pointer: string, message: string) => void;
    warn: (pointer: string, message: string) => void;
  },
  collectionRetention: ReturnType<typeof parseRetention> | undefined,
): void {
  const { error, warn } = report;

  if (!isDataCategory(field.dataCategory)) {
    error(`${base}/dataCategory`, `undeclared data category ${field.dataCategory}`);
  }
  if (field.purpose !== undefined) {
    if (!isDataUse(field.purpose)) {
      error(`${base}/purpose`, `undeclared data use ${field.purpose}`);
    } else if (!narrows(field.purpose, doc.purpose)) {
      // A field may serve a narrower purpose than its collection, never another one.
      error(`${base}/purpose`, `${field.purpose} does not narrow the collection's purpose ${doc.purpose}`);
    }
  }

  if (field.retention === undefined) {
    if (collectionRetention === undefined) {
      error(`${base}/retention`, "no retention: declare one on the field or on the collection");
    }
  } else {
    const own = parseRetention(field.retention);
    if (own && !isPositive(own)) {
      error(`${base}/retention`, "retention must be longer than zero");
    } else if (own && collectionRetention && outlasts(own, collectionRetention)) {
      error(`${base}/retention`, `${field.retention} outlasts the collection's retention ${doc.retention}`);
    }
  }

  if (field.sensitivity === 4 && (field.necessity ?? "").trim() === "") {
    error(`${base}/necessity`, "a sensitivity-4 field must state why the purpose cannot be met without it");
  }

  (field.regions ?? []).forEach((region, i) => {
    if (!doc.regions.includes(region)) {
      error(
        `${base}/regions/${i}`,
        `allowed in region ${region}, where the collection is not (${doc.regions.join(", ")})`,
      );
    }
  });

  const accepted = BOUNDS_BY_TYPE[field.type];
  for (const bound of ALL_BOUNDS) {
    if (field[bound] !== undefined && !accepted.includes(bound)) {
      error(`${base}/${bound}`, `${bound} does not apply to a ${field.type} field`);
    }
  }
  if (field.type === "string") {
    if (field.maxLength === undefined && field.enum === undefined) {
      error(
        `${base}/maxLength`,
        "a string field needs maxLength or enum: unbounded text invites more than the purpose needs",
      );
    }
    if (field.minLength !== undefined && field.maxLength !== undefined && field.minLength > field.maxLength) {
      error(`${base}/minLength`, `minLength ${field.minLength} exceeds maxLength ${field.maxLength}`);
    }
    if (field.pattern !== undefined) {
      try {
        // Ajv compiles patterns with the `u` flag; check them the same way.
        new RegExp(field.pattern, "u");
      } catch (e) {
        error(`${base}/pattern`, `not a valid regular expression: ${(e as Error).message}`);
      }
    }
    field.enum?.forEach((value, i) => {
      if (typeof value !== "string") error(`${base}/enum/${i}`, "a string field's enum holds strings");
    });
  }
  if (field.type === "integer" || field.type === "number") {
    if ((field.minimum === undefined || field.maximum === undefined) && field.enum === undefined) {
      error(
        `${base}/${field.minimum === undefined ? "minimum" : "maximum"}`,
        `a ${field.type} field needs minimum and maximum, or enum`,
      );
    }
    if (field.minimum !== undefined && field.maximum !== undefined && field.minimum > field.maximum) {
      error(`${base}/minimum`, `minimum ${field.minimum} exceeds maximum ${field.maximum}`);
    }
    const integral = field.type === "integer";
    field.enum?.forEach((value, i) => {
      if (typeof value !== "number" || (integral && !Number.isInteger(value))) {
        error(
          `${base}/enum/${i}`,
          `an ${field.type} field's enum holds ${integral ? "integers" : "numbers"}`,
        );
      }
    });
    if (integral && field.step !== undefined && !Number.isInteger(field.step)) {
      error(`${base}/step`, "an integer field coarsens to an integer step");
    }
  }

  switch (field.transform) {
    case "coarsen":
      if (field.type === "string" || field.type === "boolean") {
        error(`${base}/transform`, `a ${field.type} field cannot be coarsened; use pseudonymise or drop`);
      } else if (field.type !== "timestamp" && field.step === undefined) {
        error(`${base}/step`, `coarsening a ${field.type} field needs a step (the bucket width)`);
      }
      break;
    case "pseudonymise":
      if (field.type !== "string" && field.type !== "integer") {
        error(
          `${base}/transform`,
          `a ${field.type} field cannot be pseudonymised; only identifiers (string, integer) can`,
        );
      }
      break;
    case "keep":
      if (field.sensitivity === 4) {
        warn(`${base}/transform`, "a sensitivity-4 field is kept in clear; consider pseudonymise");
      }
      break;
    case "drop":
      break;
  }
  if (field.step !== undefined && field.transform !== "coarsen" && accepted.includes("step")) {
    error(`${base}/step`, "step is used only by transform coarsen");
  }
}

function schemaProblems(label: string, errors: ErrorObject[]): Problem[] {
  const problems: Problem[] = [];
  const seen = new Set<string>();
  const unions = errors.filter((e) => e.keyword === "anyOf");
  for (const e of errors) {
    // A union reports once per branch and once for itself; its own line says it best.
    const isBranch = unions.some(
      (u) => u !== e && u.instancePath === e.instancePath && e.schemaPath.startsWith(`${u.schemaPath}/`),
    );
    if (isBranch) continue;
    let pointer = e.instancePath;
    let message: string;
    if (e.keyword === "additionalProperties") {
      const key = String((e.params as { additionalProperty: string }).additionalProperty);
      pointer = `${pointer}/${escapePointer(key)}`;
      message =
        e.instancePath === "/fields"
          ? `field name ${key} is not lower camelCase letters and digits (at most 64)`
          : `unknown key ${key}`;
    } else if (e.keyword === "required") {
      const key = String((e.params as { missingProperty: string }).missingProperty);
      pointer = `${pointer}/${escapePointer(key)}`;
      message = "is required";
    } else if (e.keyword === "anyOf") {
      message = describeUnion(e.schema);
    } else if (e.keyword === "pattern" && typeof e.parentSchema?.description === "string") {
      // The regular expression itself helps nobody who wrote `5y`; the description says what is meant.
      message = `must be ${e.parentSchema.description}`;
    } else if (e.keyword === "type" && pointer === "") {
      message = "a collection file must be a YAML mapping";
    } else {
      message = e.message ?? "is invalid";
    }
    const path = located(label, pointer);
    if (seen.has(`${path}\n${message}`)) continue;
    seen.add(`${path}\n${message}`);
    problems.push({ path, message });
  }
  return problems;
}

function describeUnion(branches: unknown): string {
  if (!Array.isArray(branches)) return "is not one of the accepted forms";
  const consts = branches.map((b: { const?: unknown }) => b.const);
  if (consts.every((c) => c !== undefined)) return `must be one of ${consts.join(", ")}`;
  return `must be a ${branches.map((b: { type?: unknown }) => String(b.type)).join(" or ")}`;
}

/** A problem's path: the file, and the JSON pointer inside it when the problem is not the whole file. */
function located(label: string, pointer: string): string {
  return pointer === "" ? label : `${label}:${pointer}`;
}

/** Escapes a key for a JSON pointer (RFC 6901). */
export function escapePointer(key: string): string {
  return key.replaceAll("~", "~0").replaceAll("/", "~1");
}

/** Reads `reviewers.yaml` (when there is one) into each reviewer's keys; its problems are errors. */
function lintReviewers(source: SourceFile | undefined, errors: Problem[]): Reviewers {
  const reviewers = new Map<string, ReviewerKey[]>();
  if (source === undefined) return reviewers;
  if (!validateReviewers(source.document)) {
    errors.push(...schemaProblems(source.label, validateReviewers.errors ?? []));
    return reviewers;
  }
  source.document.reviewers.forEach((reviewer, i) => {
    try {
      const keys = reviewers.get(reviewer.username) ?? [];
      const revoked = reviewer.revoked;
      keys.push({
        key: publicKeyOf(reviewer.publicKey),
        ...(revoked === undefined
          ? {}
          : {
              revoked: {
                at: revoked.at,
                reason: revoked.reason,
                kept: new Set(revoked.kept.map((k) => k.signature)),
              },
            }),
      });
      reviewers.set(reviewer.username, keys);
    } catch (cause) {
      errors.push({
        path: located(source.label, `/reviewers/${i}/publicKey`),
        message: `not an Ed25519 public key: ${(cause as Error).message}`,
      });
    }
  });
  return reviewers;
}
