/**
 * The region keys a device with fleet roots trusts: the last region
 * descriptor it verified under its roots, kept in the client's state
 * directory (`region.json`: the descriptor and root chain as published,
 * verified again when read), and the key it seals to now.
 *
 * A descriptor replaces the one kept only when it was issued later
 * (`issuedAt`): a man in the middle replaying an older, validly signed
 * descriptor cannot take the device back to a key the region has since
 * dropped. Once a descriptor signed by a root the chain leads to has been
 * kept, a descriptor signed by a root before it in the chain is refused: a
 * root the fleet rolled away from cannot take the device back. Before any
 * descriptor has been verified the device seals to the key it was provisioned
 * with. A legacy identity (no roots) always seals to that key.
 */
import { mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { decodeProtectedHeader } from "jose";
import {
  type RegionDescriptorStatement,
  type RegionKeyValidity,
  type RootKey,
  sealingKey,
  verifyRegionDescriptor,
  verifyRootChain,
} from "./descriptor.ts";
import { SdkError } from "./errors.ts";
import { writeFileAtomic } from "./files.ts";
import type { RegionDescriptor, VerifiedAnnouncement } from "./region.ts";

/** How far ahead of the device's clock a descriptor's `issuedAt` may be (clocks drift; a day is generous). */
const MAX_ISSUED_AHEAD_MS = 86_400_000;
/** The file in the state directory that keeps the last verified region descriptor. */
export const REGION_FILE = "region.json";

/** A region key to seal to. */
export type SealTo = Pick<RegionKeyValidity, "kid" | "publicKey">;

/** What a region trust needs: where it keeps its file, the home region, the roots, the clock. */
export interface RegionTrustOptions {
  dir: string;
  home: RegionDescriptor;
  /** The identity's fleet roots; undefined for a legacy identity. */
  roots: readonly RootKey[] | undefined;
  now: () => number;
  onCorrupt: (file: string, reason: string) => void;
}

/** The last verified descriptor of the home region, and the key to seal to. */
export class RegionTrust {
  private readonly options: RegionTrustOptions;
  private statement: RegionDescriptorStatement | undefined;
  // The root that signed the kept descriptor: the device does not go back to a root before it.
  private signer: string | undefined;
  private loaded: Promise<void> | undefined;
  private tail: Promise<unknown> = Promise.resolve();

  constructor(options: RegionTrustOptions) {
    this.options = options;
  }

  /** The statement in use (the last verified), once read; undefined before any or for a legacy identity. */
  async current(): Promise<RegionDescriptorStatement | undefined> {
    await (this.loaded ??= this.load());
    return this.statement;
  }

  /**
   * The key to seal to now: of the statement in use, the key in force that started last; when none is in
   * force (the device was away longer than the keys it knows), the one that started last, which the next
   * verified descriptor replaces before it is sent (its message is sealed again). The provisioned key
   * before any descriptor was verified, and always for a legacy identity.
   */
  async sealTo(): Promise<SealTo> {
    const statement = await this.current();
    const { home } = this.options;
    if (statement === undefined) return { kid: home.kid, publicKey: home.publicKey };
    const now = this.options.now();
    try {
      return sealingKey(statement, new Date(now));
    } catch {
      const started = statement.keys
        .filter((k) => Date.parse(k.notBefore) <= now)
        .sort((a, b) => Date.parse(b.notBefore) - Date.parse(a.notBefore))[0];
      return started ?? { kid: home.kid, publicKey: home.publicKey };
    }
  }

  /**
   * Takes a descriptor verified at the endpoint check: kept (atomically, before it is used) when issued
   * after the one in use, otherwise ignored. Returns the statement in use afterwards. Throws
   * `sdk.descriptor_invalid` when it is signed by a root that comes, in its chain, before the root of the
   * kept descriptor (or its chain does not lead to that root at all).
   */
  accept(verified: VerifiedAnnouncement): Promise<RegionDescriptorStatement> {
    const run = this.tail.then(async () => {
      const kept = await this.current();
      // A descriptor from the future would be kept over every real one issued before that date.
      if (Date.parse(verified.statement.issuedAt) > this.options.now() + MAX_ISSUED_AHEAD_MS) {
        throw new SdkError(
          "sdk.descriptor_invalid",
          `the region descriptor was issued at ${verified.statement.issuedAt}, more than a day after this device's time`,
        );
      }
      const signer = signerOf(verified.descriptor);
      if (this.signer !== undefined && signer !== this.signer) {
        const order = (await verifyRootChain(this.options.roots ?? [], verified.rootChain)).map((r) => r.kid);
        const pinned = order.indexOf(this.signer);
        if (pinned === -1 || order.lastIndexOf(signer) < pinned) {
          throw new SdkError(
            "sdk.descriptor_invalid",
            `the region descriptor is signed by ${signer}, but this device has moved on to root ${this.signer} (a root rollover) and ${signer} does not come after it`,
          );
        }
      }
      if (kept !== undefined && Date.parse(verified.statement.issuedAt) <= Date.parse(kept.issuedAt)) {
        return kept;
      }
      const file = { descriptor: verified.descriptor, rootChain: verified.rootChain };
      await mkdir(this.options.dir, { recursive: true, mode: 0o700 });
      await writeFileAtomic(join(this.options.dir, REGION_FILE), `${JSON.stringify(file)}\n`);
      this.statement = verified.statement;
      this.signer = signer;
      return verified.statement;
    });
    this.tail = run.catch(() => {});
    return run;
  }

  /**
   * Whether the region no longer opens what was sealed to `kid`, by the statement in use: a key it does not
   * list (it lists every key that has not ended) or whose `notAfter` has passed. False when there is no
   * statement: the collector's answer will say.
   */
  async ended(kid: string): Promise<boolean> {
    const statement = await this.current();
    if (statement === undefined) return false;
    const key = statement.keys.find((k) => k.kid === kid);
    return key === undefined || Date.parse(key.notAfter) <= this.options.now();
  }

  /** Reads the kept descriptor and verifies it again; an unreadable or unverifiable file is reported and ignored. */
  private async load(): Promise<void> {
    const { roots, home, dir } = this.options;
    if (roots === undefined) return;
    let text: string;
    try {
      text = await readFile(join(dir, REGION_FILE), "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
      throw err;
    }
    try {
      const kept = JSON.parse(text) as { descriptor?: unknown; rootChain?: unknown };
      const chain = Array.isArray(kept.rootChain) ? kept.rootChain : [];
      const statement = await verifyRegionDescriptor(kept.descriptor, roots, chain);
      if (statement.region !== home.region || statement.storedIn !== home.storedIn) {
        throw new Error(`a descriptor of region ${statement.region}, not ${home.region}`);
      }
      this.statement = statement;
      this.signer = signerOf(kept.descriptor as string);
    } catch (err) {
      // Changed on disk, or kept under other roots: not trusted; the next verified descriptor replaces it.
      this.options.onCorrupt(REGION_FILE, err instanceof Error ? err.message : String(err));
    }
  }
}

/** The root that signed a (verified) descriptor: its protected header's `kid`. */
function signerOf(jws: string): string {
  return String(decodeProtectedHeader(jws).kid);
}
