/**
 * Every replica of a service must hold the same keys and secrets: a region's
 * collectors seal, sign and pseudonymise with them, and the services call
 * each other with the service token. Keys are generated at a first start, so
 * a replica started on a fresh data directory would quietly make its own. The
 * store remembers the fingerprints the first replica started with; a replica
 * whose fingerprints differ refuses to start and says which.
 */
import { createHash } from "node:crypto";
import type { Queryable } from "../db/index.ts";
import { PhoneHomeError } from "../errors/index.ts";

/**
 * A key or secret by name, and its fingerprint (a key id, or
 * `secretFingerprint`). A secret that rotates (the service token) also names
 * the fingerprints the store may hold without this replica being foreign
 * (`accepts`: the others it accepts during a rotation), and those its own
 * supersedes (`replaces`: the store's record moves on to `fingerprint`).
 */
export interface KeyFingerprint {
  name: string;
  fingerprint: string;
  accepts?: readonly string[];
  replaces?: readonly string[];
}

/** A secret's fingerprint: a hash that tells two secrets apart and reveals nothing of either. */
export function secretFingerprint(secret: string | Uint8Array): string {
  return `sha256:${createHash("sha256").update("phonehome key fingerprint\u0000").update(secret).digest("hex").slice(0, 32)}`;
}

/**
 * Records the fingerprints not yet known to the store, moves a record this
 * replica's rotation superseded on to its own, and compares the rest;
 * `keys.differ` naming each that differs and where the keys live.
 */
export async function checkKeyFingerprints(
  db: Queryable,
  mine: readonly KeyFingerprint[],
  dataDir: string,
): Promise<void> {
  for (const k of mine) {
    if (k.replaces === undefined || k.replaces.length === 0) continue;
    await db.query(
      `UPDATE key_fingerprints SET fingerprint = $2, recorded_at = now() WHERE name = $1 AND fingerprint = ANY($3::text[])`,
      [k.name, k.fingerprint, k.replaces],
    );
  }
  await db.query(
    `INSERT INTO key_fingerprints (name, fingerprint)
     SELECT name, fingerprint FROM jsonb_to_recordset($1::jsonb) AS k(name text, fingerprint text)
     ON CONFLICT (name) DO NOTHING`,
    [JSON.stringify(mine.map((k) => ({ name: k.name, fingerprint: k.fingerprint })))],
  );
  const { rows } = await db.query<KeyFingerprint>(
    `SELECT name, fingerprint FROM key_fingerprints WHERE name = ANY($1::text[])`,
    [mine.map((k) => k.name)],
  );
  const recorded = new Map(rows.map((r) => [r.name, r.fingerprint]));
  const differ = mine.filter((k) => {
    const theirs = recorded.get(k.name);
    return theirs !== k.fingerprint && !(theirs !== undefined && (k.accepts ?? []).includes(theirs));
  });
  if (differ.length === 0) return;
  throw new PhoneHomeError(
    "keys.differ",
    `this replica's keys are not the ones its store was started with (${differ.map((k) => k.name).join(", ")}): copy keys/ and secrets/ of ${dataDir} from a running replica of the service`,
    {
      problems: differ.map((k) => ({
        path: k.name,
        message: `is ${k.fingerprint} here, ${recorded.get(k.name) ?? "unknown"} in the store`,
      })),
    },
  );
}
