/**
 * The sign-in throttle (docs/operators.md). Failed sign-ins are counted in the
 * control plane's store, so that every replica sees the same counts, in a
 * sliding window, three ways: for one username from one address, from one
 * address whatever the username, and for one username from every address. An
 * attempt that finds a count at its limit is refused with
 * `auth.sign_in_throttled` and `Retry-After` before its password is verified
 * (Argon2id is the expensive part), and is not counted itself: the refusal
 * ends when the oldest failures leave the window, whatever is sent meanwhile.
 *
 * One address cannot lock anyone else out: its failures for a username stop
 * at the pair's limit, well below the username's own, so an operator signing
 * in from elsewhere is refused only when many addresses together have failed
 * for that username (a guessing attack spread out, which the username's limit
 * is there to stop).
 */
import { createHash } from "node:crypto";
import { isIPv4, isIPv6 } from "node:net";
import type { SignInConfig } from "../../core/config/index.ts";
import type { Db } from "../../core/db/index.ts";
import { PhoneHomeError } from "../../core/errors/index.ts";
import {
  insertSignInAttempt,
  lockSignInAdmission,
  recentSignInAttempts,
  type SignInAttempt,
} from "./operators.repository.ts";

/** Which count a limit applies to. */
export type ThrottleScope = "account-and-address" | "address" | "account";

/** A recent attempt, and what it shares with the one being judged. */
interface Recent {
  sameAccount: boolean;
  sameAddress: boolean;
  at: Date;
}

const SCOPES: readonly {
  scope: ThrottleScope;
  limit: (limits: SignInConfig) => number;
  counts: (r: Recent) => boolean;
  words: string;
}[] = [
  {
    scope: "account-and-address",
    limit: (l) => l.perAccountAndAddress,
    counts: (r) => r.sameAccount && r.sameAddress,
    words: "for this username from your address",
  },
  { scope: "address", limit: (l) => l.perAddress, counts: (r) => r.sameAddress, words: "from your address" },
  { scope: "account", limit: (l) => l.perAccount, counts: (r) => r.sameAccount, words: "for this username" },
];

/** An attempt let through to the password check: recorded as a failure until it succeeds. */
export interface AdmittedSignIn {
  id: number;
  attempt: Omit<SignInAttempt, "at">;
  /** The counts this attempt brings to their limit if it fails: a lockout, for the audit log. */
  locks: { scope: ThrottleScope; failures: number; until: string }[];
}

/**
 * The key an address is counted under: an IPv4 address as it is (also when
 * written IPv4-mapped), an IPv6 address as its /64, the block one subscriber
 * gets, so that hopping between its addresses gains nothing.
 */
export function addressKey(ip: string): string {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(ip)?.[1];
  if (mapped !== undefined && isIPv4(mapped)) return mapped;
  if (!isIPv6(ip)) return ip.slice(0, 64) || "unknown";
  const [head = "", tail = ""] = ip.toLowerCase().split("::");
  const left = head === "" ? [] : head.split(":");
  const right = tail === "" ? [] : tail.split(":");
  const groups = ip.includes("::")
    ? [...left, ...Array<string>(8 - left.length - right.length).fill("0"), ...right]
    : left;
  return `${groups
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ""))
    .join(":")}::/64`;
}

/** The SHA-256 a username is counted under: the throttle keeps no username as typed. */
export function accountKey(username: string): string {
  return createHash("sha256").update(username).digest("hex");
}

/** "40 seconds", "14 minutes": how long to wait, rounded up. */
function waitInWords(seconds: number): string {
  if (seconds < 90) return `${seconds} second${seconds === 1 ? "" : "s"}`;
  const minutes = Math.ceil(seconds / 60);
  return `${minutes} minutes`;
}

/**
 * The first count at its limit, with when it drops below it (the newest
 * `limit`-th failure leaving the window), or null when every count is below.
 */
function firstAtLimit(
  recent: readonly Recent[],
  limits: SignInConfig,
): { words: string; retryAt: Date } | null {
  let found: { words: string; retryAt: Date } | null = null;
  for (const s of SCOPES) {
    const limit = s.limit(limits);
    const counted = recent.filter(s.counts);
    const freeing = counted[limit - 1];
    if (freeing === undefined) continue;
    const retryAt = new Date(freeing.at.getTime() + limits.windowSeconds * 1000);
    if (found === null || retryAt > found.retryAt) found = { words: s.words, retryAt };
  }
  return found;
}

/**
 * Lets a sign-in attempt through to the password check, recording it as a
 * failure until `clearSignInAttempts` says otherwise; or refuses it with
 * `auth.sign_in_throttled` (and the seconds to wait) when a count is at its
 * limit. Counting and recording are one step across replicas, so attempts
 * sent at once cannot all slip under a limit.
 */
export async function admitSignIn(
  db: Db,
  limits: SignInConfig,
  client: { username: string; address: string },
  now: Date,
): Promise<AdmittedSignIn> {
  const attempt = { accountSha256: accountKey(client.username), address: addressKey(client.address) };
  const since = new Date(now.getTime() - limits.windowSeconds * 1000);
  // Every count's rows fit in this many; a count at its limit needs no more.
  const enough = limits.perAccountAndAddress + limits.perAddress + limits.perAccount;
  const refuseIfAtLimit = (recent: readonly Recent[]) => {
    const atLimit = firstAtLimit(recent, limits);
    if (atLimit === null) return;
    const seconds = Math.max(1, Math.ceil((atLimit.retryAt.getTime() - now.getTime()) / 1000));
    throw new PhoneHomeError(
      "auth.sign_in_throttled",
      `too many failed sign-ins ${atLimit.words}: try again in ${waitInWords(seconds)}`,
      { retryAfterSeconds: seconds },
    );
  };
  // A throttled attempt costs one read and takes no lock.
  refuseIfAtLimit(await recentSignInAttempts(db, attempt, since, enough));
  return db.transaction(async (tx) => {
    await lockSignInAdmission(tx);
    const recent = await recentSignInAttempts(tx, attempt, since, enough);
    refuseIfAtLimit(recent);
    const id = await insertSignInAttempt(tx, { ...attempt, at: now }, since);
    const locks = SCOPES.flatMap((s) => {
      const counted = recent.filter(s.counts);
      if (counted.length + 1 !== s.limit(limits)) return [];
      // Locked until the oldest of the failures at the limit leaves the window.
      const oldest = counted.at(-1)?.at ?? now;
      const until = new Date(oldest.getTime() + limits.windowSeconds * 1000).toISOString();
      return [{ scope: s.scope, failures: counted.length + 1, until }];
    });
    return { id, attempt, locks };
  });
}
