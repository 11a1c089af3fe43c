/** The digest a receipt gives of the records it counts. */
import { createHash } from "node:crypto";

/**
 * SHA-256 over one line per row's key: `collection`, then the key fields,
 * tab-separated, each line ending in `\n`, the lines sorted byte-wise. The
 * key fields are those the access export shows, so an owner who kept an
 * earlier export can recompute it.
 */
export function keysDigest(collection: string, keys: readonly (readonly string[])[]): string {
  const lines = keys.map((k) => `${[collection, ...k].join("\t")}\n`);
  // Keys are ASCII (uuids, key ids, ISO times), so code-unit order is byte order.
  lines.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const hash = createHash("sha256");
  for (const line of lines) hash.update(line);
  return hash.digest("hex");
}

/** A receipt's entry of deleted rows: their count and the digest of their keys. */
export function deletedEntry(collection: string, keys: readonly (readonly string[])[]) {
  return { collection, count: keys.length, sha256: keysDigest(collection, keys) };
}
