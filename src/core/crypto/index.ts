/**
 * Cryptography the collector does itself rather than through a library, each
 * piece pinned by its RFC's test vectors and by interop tests with the library
 * devices use (docs/decisions/0006).
 */
export { importRecipientKey, openBase, type RecipientKey } from "./hpke.ts";
export { importEd25519PublicKey } from "./keys.ts";
