/**
 * The data dictionary: every collection a device may send, each field with
 * its data category, purpose, legal basis, retention, sensitivity, allowed
 * regions and transform. Loaded and compiled once at start-up; collectors
 * validate and transform payloads with it and store nothing it does not declare.
 * This file is the feature's only public surface.
 */
export type {
  CompiledCollection,
  CompiledField,
  Dictionary,
  FieldValue,
  Payload,
  PayloadProblem,
  TransformContext,
  ValidationResult,
} from "./compile.ts";
export { compileDictionary } from "./compile.ts";
export type { CheckedFile, LintOptions, LintReport } from "./lint.ts";
export { lintFiles } from "./lint.ts";
export type { ReadResult, SourceFile } from "./source.ts";
export { lintDictionary, loadDictionary, readDictionaryFiles } from "./load.ts";
export type { Retention } from "../calendar/index.ts";
export { parseRetention } from "../calendar/index.ts";
export type { Approval, CollectionFile, FieldDeclaration, FieldType, Transform } from "./schema.ts";
export { FIELD_TYPES, TRANSFORMS } from "./schema.ts";
export type { LegalBasis, TaxonomyEntry } from "./taxonomy.ts";
export {
  DATA_CATEGORIES,
  DATA_USES,
  isDataCategory,
  isDataUse,
  LEGAL_BASES,
  SENSITIVITY,
} from "./taxonomy.ts";
export { PSEUDONYM_PREFIX, pseudonymise } from "./transform.ts";
export { approvalStatement, publicKeyOf, publicKeyText, signStatement, verifyStatement } from "./approval.ts";
export type { KeptApproval, Revocation } from "./approval.ts";
export { versionDigest } from "./lint.ts";
export { labelOf, REVIEWERS_FILE } from "./load.ts";
export { register } from "./registry.command.ts";
export { CollectionFileSchema, FieldSchema } from "./schema.ts";
