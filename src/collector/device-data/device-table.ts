/**
 * How a region's table that holds device data describes itself: its name,
 * how rows are written, found for an owner, erased, and expired. Each
 * collection's folder describes its own tables; the collector's list
 * (src/collector/device-tables.ts) hands them to the writer, the owner's
 * export, erasure, consent withdrawal and retention, so a new collection is
 * a change in its own folder and the list.
 */
import type { DeletedEntry, KeptEntry } from "@phonehome/shared";
import type { Retention } from "../../core/calendar/index.ts";
import type { Queryable } from "../../core/db/index.ts";
import type { Dictionary } from "../../core/dictionary/index.ts";
import type { HeldRecord } from "./held-record.ts";

/** The device a request is about: its key id, and the pseudonym its consent-based records are stored under. */
export interface StoredDevice {
  key: string;
  /** `deviceRef(pseudonymSecret, key)`: the only name diagnostics are stored under. */
  ref: string;
}

/** How one written item is answered and counted in the ledger. */
export interface Written<R> {
  result: R;
  outcome: "stored" | "replayed" | "refused";
  /** The ledger's reason: "stored", "replayed" or the refusal's error code. */
  reason: string;
}

/**
 * How items of one kind are written in the region writer's shared
 * transaction: `write` stores them all at once and answers each, in order.
 * Steps run in the order of the collector's list, so concurrent group commits
 * take their locks table by table in the same order.
 */
export interface WriteStep<I, R> {
  /** The kind of item, for metrics and logs (`activation`, `diagnostics`). */
  readonly kind: string;
  // A method, so that a step of any item type can be listed among the others.
  write(tx: Queryable, items: readonly I[]): Promise<Written<R>[]>;
}

/** A key column of the walk retention takes through a table; text compares byte-wise. */
export interface KeyColumn {
  column: string;
  type: "text" | "uuid" | "bigint";
}

/** How a table's rows expire: every row carries `expires_at`, and purges walk rows in (expiry, key) order. */
export interface Expiry {
  /** Key columns, in order. */
  keys: readonly KeyColumn[];
  /** SQL for the collection a row belongs to; null for proof records, which hold no collection. */
  collection: string | null;
  /**
   * The column a field's own retention counts from: the same instant the
   * row's `expires_at` was computed from. Null without fields.
   */
  fieldClock: string | null;
  /** True for the table stored in monthly partitions by expiry, dropped whole once past. */
  partitioned?: boolean;
}

/** An owner's records in a table, for the export, the summary and support's view. */
export interface OwnerRecords {
  all(q: Queryable, device: StoredDevice, dictionary: Dictionary): Promise<HeldRecord[]>;
}

/** A position in a paged table: the key columns of the last record a page held. */
export type PagePosition = { eventId: string; expiresAt: string };

/** The table an owner's export pages through (its records can be many). */
export interface PagedOwnerRecords extends OwnerRecords {
  page(
    q: Queryable,
    device: StoredDevice,
    dictionary: Dictionary,
    after: PagePosition | null,
    limit: number,
  ): Promise<{ records: HeldRecord[]; next: PagePosition | null }>;
  /** The keys of every record held, as the export shows them: what an access receipt digests. */
  keys(q: Queryable, device: StoredDevice): Promise<string[][]>;
}

/** What an erasure needs to decide and explain. */
export interface ErasureScope {
  device: StoredDevice;
  now: Date;
  dictionary: Dictionary;
  /** How long proof records are kept (`retention.records`). */
  recordsRetention: Retention;
}

/**
 * What erasing a device's rows gives the receipt: what went, and what stays
 * and why (a description may answer for its folder's other tables too, when
 * one statement must count them together).
 */
export interface ErasureOutcome {
  deleted: DeletedEntry[];
  kept: KeptEntry[];
}

/** One table of a region's store that holds device data, described once. */
export interface DeviceTable {
  /** The table's name in the region's store. */
  readonly name: string;
  /**
   * `collected`: records of dictionary collections, expiring by their
   * collection's retention. `proof`: records that prove what was done
   * (decisions, receipts, deliveries), expiring by `retention.records`.
   */
  readonly holds: "collected" | "proof";
  /** The dictionary collections whose records this table stores (collected tables only). */
  stores(collection: string): boolean;
  /** How it is written, when the region writer writes it. */
  readonly write?: WriteStep<unknown, unknown>;
  /** How an owner's records in it are found. */
  readonly owner?: OwnerRecords | PagedOwnerRecords;
  /** What an erasure does to a device's rows. Absent: the table is not part of an erasure's receipt. */
  erase?(tx: Queryable, scope: ErasureScope): Promise<ErasureOutcome>;
  /**
   * Deletes the device's rows a withdrawn consent allowed, the consent's notice
   * naming `collections`; answers how many went. (Diagnostics: every
   * diagnostics collection belongs to one purpose today, so all of the device's
   * events go.)
   */
  withdraw?(tx: Queryable, device: StoredDevice, collections: readonly string[]): Promise<number>;
  /** How its rows expire; null: they do not expire on their own (a decision in force). */
  readonly expiry: Expiry | null;
}
