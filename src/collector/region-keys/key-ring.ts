/**
 * A replica's view of its region's keys: the published keys of the store,
 * their private halves unwrapped once, the descriptor in force and the root
 * chain of this data directory's fleet trust. Every replica reloads it every
 * `reloadMs` (`keys.reloadSeconds`), and when an envelope names a key it does
 * not know (such reloads start at most once a second), so a replica opens
 * with a new key within a second of its publication and announces it within
 * `reloadMs` of it (plus one read of the store).
 */
import { setTimeout as sleep } from "node:timers/promises";
import { type RegionKeyValidity, sealingKey } from "@phonehome/sdk";
import type { RecipientKey } from "../../core/crypto/index.ts";
import type { Db } from "../../core/db/index.ts";
import {
  loadFleetTrust,
  type ReceiptKeys,
  receiptSignerOf,
  recipientOf,
  type RegionSigningKey,
  unwrapPrivateKey,
} from "../../core/keys/index.ts";
import type { Logger } from "../../core/log/index.ts";
import { currentDescriptor, listRegionKeys, type StoredKey } from "./region-keys.repository.ts";

/** A seal key a replica can open with. */
export interface SealKey {
  kid: string;
  publicKey: string;
  recipient: RecipientKey;
  notBefore: Date;
  notAfter: Date;
}

/** A receipt key, published forever. */
export interface ReceiptKey {
  signer: RegionSigningKey;
  notBefore: Date;
}

/** What the intake learns of the key an envelope names. */
export type SealKeyLookup =
  { kind: "open"; key: SealKey } | { kind: "ended"; key: SealKey } | { kind: "unknown" };

/** The set of keys a replica uses, as loaded. */
interface Loaded {
  seal: Map<string, SealKey>;
  receipts: ReceiptKey[];
  descriptor: string | null;
  rootChain: string[];
  loadedAt: number;
}

/** The least time between two reloads asked for by unknown key ids, in milliseconds. */
export const MIN_RELOAD_INTERVAL_MS = 1000;

/** A region's keys as one replica uses them. */
export class RegionKeyRing {
  readonly #db: Db;
  readonly #region: string;
  readonly #dataDir: string;
  readonly #secret: Buffer;
  readonly #logger: Logger;
  readonly #clock: () => Date;
  #loaded: Loaded = { seal: new Map(), receipts: [], descriptor: null, rootChain: [], loadedAt: 0 };
  #reloading: Promise<void> | undefined;
  #lastOnDemand = 0;
  #timer: NodeJS.Timeout | undefined;
  /** Called after each reload that changed the set (metrics, logs). */
  onChange: ((ring: RegionKeyRing) => void) | undefined;

  constructor(options: {
    db: Db;
    region: string;
    dataDir: string;
    wrapSecret: Buffer;
    logger: Logger;
    clock?: () => Date;
  }) {
    this.#db = options.db;
    this.#region = options.region;
    this.#dataDir = options.dataDir;
    this.#secret = options.wrapSecret;
    this.#logger = options.logger;
    this.#clock = options.clock ?? (() => new Date());
  }

  /** Reads the key set from the store (and the root chain from the data directory). */
  async reload(): Promise<void> {
    const [rows, descriptor, trust] = await Promise.all([
      listRegionKeys(this.#db),
      currentDescriptor(this.#db),
      loadFleetTrust(this.#dataDir),
    ]);
    const before = this.#loaded;
    const seal = new Map<string, SealKey>();
    const receipts: ReceiptKey[] = [];
    for (const row of rows.filter((r) => r.status === "published")) {
      if (row.purpose === "seal") seal.set(row.kid, before.seal.get(row.kid) ?? this.#sealKey(row));
      else receipts.push(this.#receiptKey(row, before.receipts));
    }
    // A key's end may move (a rotation shortens the previous key): take it from the row, not the cache.
    for (const row of rows) {
      const key = seal.get(row.kid);
      if (row.purpose === "seal" && key && row.notAfter)
        seal.set(row.kid, { ...key, notAfter: row.notAfter });
    }
    receipts.sort((a, b) => a.notBefore.getTime() - b.notBefore.getTime());
    this.#loaded = {
      seal,
      receipts,
      descriptor: descriptor?.jws ?? null,
      rootChain: trust.chain,
      loadedAt: Date.now(),
    };
    const changed =
      before.descriptor !== this.#loaded.descriptor ||
      before.seal.size !== seal.size ||
      before.receipts.length !== receipts.length;
    if (changed && before.loadedAt !== 0) {
      this.#logger.info(
        { region: this.#region, seal: [...seal.keys()], receipts: receipts.map((r) => r.signer.kid) },
        "region keys reloaded: the set changed",
      );
    }
    if (changed) this.onChange?.(this);
  }

  #sealKey(row: StoredKey): SealKey {
    const privateKey = unwrapPrivateKey(
      this.#secret,
      { region: this.#region, purpose: "seal", kid: row.kid },
      row.sealedPrivate,
    );
    return {
      kid: row.kid,
      publicKey: row.publicKey,
      recipient: recipientOf({ kid: row.kid, publicKey: row.publicKey, privateKey }),
      notBefore: row.notBefore,
      notAfter: row.notAfter ?? row.notBefore,
    };
  }

  #receiptKey(row: StoredKey, known: readonly ReceiptKey[]): ReceiptKey {
    const cached = known.find((k) => k.signer.kid === row.kid);
    if (cached) return cached;
    const privateKey = unwrapPrivateKey(
      this.#secret,
      { region: this.#region, purpose: "receipts", kid: row.kid },
      row.sealedPrivate,
    );
    return {
      signer: receiptSignerOf({ kid: row.kid, publicKey: row.publicKey, privateKey }),
      notBefore: row.notBefore,
    };
  }

  /** Starts the periodic reload; a failed reload is logged and the set in use kept. */
  start(reloadMs: number): void {
    this.#timer = setInterval(() => {
      this.reload().catch((error: unknown) =>
        this.#logger.warn(
          { err: error, region: this.#region },
          "could not reload the region's keys; keeping the set in use",
        ),
      );
    }, reloadMs);
    this.#timer.unref();
  }

  /** Stops the periodic reload. */
  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
  }

  /** The published seal keys that have not ended, as a descriptor lists them. */
  liveKeys(now = this.#clock()): RegionKeyValidity[] {
    return [...this.#loaded.seal.values()]
      .filter((k) => k.notAfter.getTime() > now.getTime())
      .sort((a, b) => a.notBefore.getTime() - b.notBefore.getTime())
      .map((k) => ({
        kid: k.kid,
        publicKey: k.publicKey,
        notBefore: k.notBefore.toISOString(),
        notAfter: k.notAfter.toISOString(),
      }));
  }

  /** Of the keys in force now (`notBefore` ≤ now < `notAfter`), the one that started last; undefined when none is. */
  keyInForce(now = this.#clock()): RegionKeyValidity | undefined {
    const keys = this.liveKeys(now).filter((k) => Date.parse(k.notBefore) <= now.getTime());
    return keys.length === 0
      ? undefined
      : sealingKey({ region: this.#region, storedIn: "", url: "", keys, issuedAt: "" }, now);
  }

  /**
   * The key devices seal to now (`sealingKey`: of the keys in force, the one
   * that started last). When none is in force — every key ended without a
   * rotation, which `phonehome_region_key_rotation_due` warned of for the
   * whole overlap — the newest key, so that `GET /v1/region` still answers;
   * envelopes sealed to an ended key are refused with `envelope.key_expired`.
   */
  sealingKey(now = this.#clock()): RegionKeyValidity {
    const inForce = this.keyInForce(now);
    if (inForce !== undefined) return inForce;
    const newest = [...this.#loaded.seal.values()]
      .sort((a, b) => a.notBefore.getTime() - b.notBefore.getTime())
      .at(-1);
    if (newest === undefined) throw new Error(`region ${this.#region} has no seal key`);
    return {
      kid: newest.kid,
      publicKey: newest.publicKey,
      notBefore: newest.notBefore.toISOString(),
      notAfter: newest.notAfter.toISOString(),
    };
  }

  /** Id of the key devices seal to now. */
  get kid(): string {
    return this.sealingKey().kid;
  }

  /** Raw X25519 public key (base64url) of the key devices seal to now. */
  get publicKey(): string {
    return this.sealingKey().publicKey;
  }

  /** The key an envelope names: open (published, not ended), ended, or unknown to this replica. */
  lookup(kid: string, now = this.#clock()): SealKeyLookup {
    const key = this.#loaded.seal.get(kid);
    if (key === undefined) return { kind: "unknown" };
    return key.notAfter.getTime() > now.getTime() ? { kind: "open", key } : { kind: "ended", key };
  }

  /**
   * Reloads because an envelope named a key this replica does not know (it may
   * have just been published by another replica). Callers share one reload;
   * such reloads start at most once per `MIN_RELOAD_INTERVAL_MS` (a caller
   * within that time waits for the next), so unknown kids cannot make a
   * replica hammer the store, and a key just published opens within a second.
   */
  async reloadForUnknown(): Promise<void> {
    if (this.#reloading) return this.#reloading;
    const wait = Math.max(0, this.#lastOnDemand + MIN_RELOAD_INTERVAL_MS - Date.now());
    this.#reloading = (async () => {
      if (wait > 0) await sleep(wait);
      this.#lastOnDemand = Date.now();
      await this.reload();
    })().finally(() => {
      this.#reloading = undefined;
    });
    return this.#reloading;
  }

  /** The receipt key in force: of the published ones started by now, the last. */
  receiptKey(now = this.#clock()): RegionSigningKey {
    const inForce = this.#loaded.receipts.filter((k) => k.notBefore.getTime() <= now.getTime());
    const key = inForce.at(-1) ?? this.#loaded.receipts[0];
    if (key === undefined) throw new Error(`region ${this.#region} has no receipt key`);
    return key.signer;
  }

  /** The receipt keys as receipts are signed and published with. */
  readonly receipts: ReceiptKeys = { current: () => this.receiptKey(), all: () => this.receiptKeys() };

  /** Every receipt key the region ever used, oldest first: old receipts keep verifying. */
  receiptKeys(): { key: RegionSigningKey; notBefore: Date }[] {
    return this.#loaded.receipts.map((k) => ({ key: k.signer, notBefore: k.notBefore }));
  }

  /** The signed descriptor in force (compact JWS), or null before the first. */
  get descriptor(): string | null {
    return this.#loaded.descriptor;
  }

  /** The rollover links from the factory roots to the root in use. */
  get rootChain(): string[] {
    return this.#loaded.rootChain;
  }

  /** When the set in use was read, in milliseconds since the epoch. */
  get loadedAt(): number {
    return this.#loaded.loadedAt;
  }
}
