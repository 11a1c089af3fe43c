/**
 * The service token rotates with an overlap (docs/operations.md, "Rotating
 * the service token"; docs/decisions/0058). Two files in the data directory:
 *
 * - `secrets/service-token`: the token this machine's services present (as
 *   before rotation existed);
 * - `secrets/service-tokens.json`: the other tokens they accept, each until
 *   an instant (a previous token during its overlap) or without end (a
 *   staged token, not presented yet), and the fingerprints of the tokens
 *   presented before (`replaced`: so that the store's record of the
 *   fingerprint follows a rotation; a fingerprint reveals nothing).
 *
 * A running process re-reads both files every `RELOAD_MS` and on SIGHUP. A
 * rotation writes the accepted set first and the presented token last, each
 * file whole (written aside, synced, renamed), so a process never presents a
 * token the others do not accept yet — on one machine because the command
 * waits two reload periods between the writes, across machines because the
 * procedure copies the accepted set everywhere first.
 */
import { randomBytes } from "node:crypto";
import { readFileSync, renameSync } from "node:fs";
import { join } from "node:path";
import { matchesAny, type ServiceTokens, tokenDigest } from "../http/index.ts";
import { secretFingerprint } from "./fingerprints.ts";
import { readOrCreate, writeAside } from "./files.ts";

/** How often a running process re-reads the token files, in milliseconds. */
export const RELOAD_MS = 5000;

/** A token accepted beside the presented one: until an instant (RFC 3339), or without end (`null`: staged). */
export interface AcceptedToken {
  token: string;
  until: string | null;
}

/** What the two files say. */
export interface TokenFiles {
  current: string;
  accepted: AcceptedToken[];
  /** Fingerprints of the tokens this directory presented before, oldest first. */
  replaced: string[];
}

// Enough history for any store to catch up, however many rotations it slept through; a line each.
const MAX_REPLACED = 100;

const currentFile = (dataDir: string) => join(dataDir, "secrets", "service-token");
const acceptedFile = (dataDir: string) => join(dataDir, "secrets", "service-tokens.json");

/** Reads both files (the presented token created at a first start); throws on a damaged accepted file. */
export function readTokenFiles(dataDir: string): TokenFiles {
  const current = readOrCreate(currentFile(dataDir), newServiceToken).trim();
  tokenDigest(current);
  let text: string;
  try {
    text = readFileSync(acceptedFile(dataDir), "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return { current, accepted: [], replaced: [] };
    throw error;
  }
  const parsed = JSON.parse(text) as { accepted?: unknown; replaced?: unknown };
  const accepted = Array.isArray(parsed.accepted) ? parsed.accepted : null;
  const replaced = parsed.replaced === undefined ? [] : parsed.replaced;
  const valid = (t: unknown): t is AcceptedToken =>
    typeof t === "object" &&
    t !== null &&
    typeof (t as AcceptedToken).token === "string" &&
    (t as AcceptedToken).token.length >= 16 &&
    ((t as AcceptedToken).until === null || Number.isFinite(Date.parse(String((t as AcceptedToken).until))));
  if (
    accepted === null ||
    !accepted.every(valid) ||
    !Array.isArray(replaced) ||
    !replaced.every((f) => typeof f === "string")
  ) {
    throw new Error(`${acceptedFile(dataDir)} is not a list of accepted service tokens`);
  }
  return { current, accepted, replaced: replaced as string[] };
}

/** The tokens accepted at `now`: the presented one, the staged ones and those whose overlap has not ended. */
export function acceptedAt(files: TokenFiles, now: number): string[] {
  return [
    files.current,
    ...files.accepted.filter((t) => t.until === null || Date.parse(t.until) > now).map((t) => t.token),
  ];
}

/**
 * The service-token fingerprints a replica reports at start: its presented
 * token's, those the store may hold without this replica being foreign to it
 * (every token it accepts: a replica not yet switched to a staged token, or
 * switched before this one), and those it supersedes (every previous token:
 * the store's record moves on to the presented one).
 */
export function serviceTokenFingerprint(files: TokenFiles, now = Date.now()) {
  return {
    name: "service-token",
    fingerprint: secretFingerprint(files.current),
    accepts: acceptedAt(files, now).map((t) => secretFingerprint(t)),
    replaces: [
      ...files.replaced,
      ...files.accepted.filter((t) => t.until !== null).map((t) => secretFingerprint(t.token)),
    ],
  };
}

/** A process's tokens, re-read from its data directory; `close` stops the re-reading. */
export interface ServiceTokenFiles extends ServiceTokens {
  /** Re-reads both files now (a damaged file leaves the last good state in force, and is returned). */
  reload(): Error | null;
  /** What the files said at the last good read. */
  files(): TokenFiles;
}

const open = new Map<string, ServiceTokenFiles>();
let hangUp = false;

/**
 * The service tokens of `dataDir` for this process: one reader per data
 * directory, re-read every `RELOAD_MS` (the timer keeps no process alive) and
 * on SIGHUP. Throws at the first read when a file is damaged.
 */
export function serviceTokens(dataDir: string): ServiceTokenFiles {
  const known = open.get(dataDir);
  if (known !== undefined) return known;
  let files = readTokenFiles(dataDir);
  let digests = { at: 0, list: [] as Buffer[] };
  const tokens: ServiceTokenFiles = {
    current: () => files.current,
    accepts(presented) {
      const now = Date.now();
      // The accepted set changes when a file does or an overlap ends: recompute at most once a second.
      // (An overlap ending inside that second is honoured at the next: a previous token lives ≤ 1 s longer.)
      if (now - digests.at > 1000) digests = { at: now, list: acceptedAt(files, now).map(tokenDigest) };
      return matchesAny(digests.list, presented);
    },
    reload() {
      try {
        files = readTokenFiles(dataDir);
        digests = { at: 0, list: [] };
        return null;
      } catch (error) {
        return error as Error;
      }
    },
    files: () => files,
  };
  setInterval(() => tokens.reload(), RELOAD_MS).unref();
  if (!hangUp) {
    hangUp = true;
    process.on("SIGHUP", () => {
      for (const t of open.values()) t.reload();
    });
  }
  open.set(dataDir, tokens);
  return tokens;
}

/** Writes a file whole: aside, synced, then renamed over the old one (a reader sees the old or the new). */
function replaceFile(path: string, content: string): void {
  renameSync(writeAside(path, content), path);
}

function writeAccepted(dataDir: string, accepted: AcceptedToken[], replaced: string[]): void {
  replaceFile(
    acceptedFile(dataDir),
    `${JSON.stringify({ accepted, replaced: replaced.slice(-MAX_REPLACED) }, null, 2)}\n`,
  );
}

/** A new service token: 32 random bytes, base64url. */
export function newServiceToken(): string {
  return randomBytes(32).toString("base64url");
}

/**
 * Stages `token`: accepted from now on, presented by nobody yet. Returns the
 * staged token's fingerprint; a token staged already is kept instead
 * (running it twice stages one).
 */
export function stageServiceToken(
  dataDir: string,
  token = newServiceToken(),
): { staged: string; created: boolean } {
  const files = readTokenFiles(dataDir);
  // A staged token that is already the presented one is what a promotion cut short left: not staged.
  const staged = files.accepted.find((t) => t.until === null && t.token !== files.current);
  if (staged !== undefined) return { staged: secretFingerprint(staged.token), created: false };
  tokenDigest(token);
  writeAccepted(dataDir, [...files.accepted, { token, until: null }], files.replaced);
  return { staged: secretFingerprint(token), created: true };
}

/** What a rotation did, by fingerprint (never a token). */
export interface Rotation {
  previous: string;
  current: string;
  until: string;
}

/**
 * Makes the staged token the presented one, the previous token accepted until
 * `now + overlapMs`. Writes the accepted set first, then the presented token;
 * a previous token whose overlap has ended is dropped (its fingerprint stays
 * in `replaced`). Throws when no token is staged (`stageServiceToken` first).
 */
export function promoteServiceToken(dataDir: string, overlapMs: number, now = new Date()): Rotation {
  const files = readTokenFiles(dataDir);
  const staged = files.accepted.find((t) => t.until === null);
  if (staged === undefined) throw new Error("no staged service token: stage one first");
  if (staged.token === files.current) {
    // A promotion cut short after the switch: only the staged entry is left to drop.
    writeAccepted(
      dataDir,
      files.accepted.filter((t) => t !== staged),
      files.replaced,
    );
    const previous = files.accepted.filter((t) => t.until !== null).at(-1);
    return {
      previous: previous === undefined ? "" : secretFingerprint(previous.token),
      current: secretFingerprint(staged.token),
      until: previous?.until ?? now.toISOString(),
    };
  }
  const until = new Date(now.getTime() + overlapMs).toISOString();
  const kept = files.accepted.filter((t) => t.until !== null && Date.parse(t.until) > now.getTime());
  const previous = { token: files.current, until };
  const replaced = [...files.replaced, secretFingerprint(files.current)];
  // The staged token stays accepted until it is the presented one: a reader between the two writes
  // (or a crash between them) still accepts it, so machines that already switched are not refused.
  writeAccepted(dataDir, [...kept, previous, staged], replaced);
  replaceFile(currentFile(dataDir), staged.token);
  writeAccepted(dataDir, [...kept, previous], replaced);
  return { previous: secretFingerprint(files.current), current: secretFingerprint(staged.token), until };
}
