/**
 * The identifier recognisers of the traffic auditor: decoded leaf text in,
 * validated identifier matches out (checksums, real country and network
 * codes, ranges, key context), plus the device's own known identifiers
 * (verbatim and hashed) and the redaction used for evidence.
 */
export { findIdentifiers } from "./find.ts";
export { knownIdentifiers, parseKnownIdentifiers, type KnownIdentifier } from "./known.ts";
export { isGloballyRoutable } from "./ip.ts";
export { redact } from "./redact.ts";
