/**
 * Group commit: many requests share one transaction, and each is answered only
 * after that transaction has committed. While one flush is in flight, new work
 * queues up and goes in the next one, so batches grow with load by themselves.
 *
 * One item cannot fail the others: when a shared transaction fails for a
 * reason of its own (not a store that cannot be reached), the batch is split in
 * halves and each half committed on its own, down to the item that fails,
 * which alone is answered with its error (docs/decisions/0025).
 */
import { type Db, isStoreUnavailable, type Queryable } from "../../core/db/index.ts";

/** Writes a batch inside an open transaction; returns one result per item, in order. */
export type FlushFn<T, R> = (tx: Queryable, items: readonly T[]) => Promise<R[]>;

/** Sizes of a group commit. */
export interface GroupCommitOptions {
  /** Most items in one transaction. */
  maxBatch: number;
  /** How long the first item of a batch waits for company, in milliseconds. */
  maxDelayMs: number;
  /**
   * Transactions in flight at once (default 1). More than one lets a server
   * store overlap one batch's commit with the next batch's statements.
   */
  maxInFlight?: number;
}

interface Pending<T, R> {
  item: T;
  resolve: (value: R) => void;
  reject: (reason: unknown) => void;
}

/** Batches submitted items into shared transactions; `submit` resolves after commit. */
export class GroupCommitter<T, R> {
  readonly #db: Db;
  readonly #flush: FlushFn<T, R>;
  readonly #options: GroupCommitOptions;
  #queue: Pending<T, R>[] = [];
  #timer: NodeJS.Timeout | undefined;
  readonly #inFlight = new Set<Promise<void>>();
  #closed = false;
  /** Called after each commit with the batch, its results and how long it took (metrics). */
  onCommit: ((items: readonly T[], results: readonly R[], seconds: number) => void) | undefined;
  /**
   * Called when one item, committed on its own, still fails for a reason other than the
   * store being unreachable: the item the others were kept from (logs, metrics).
   */
  onItemFailed: ((item: T, error: unknown) => void) | undefined;

  constructor(db: Db, flush: FlushFn<T, R>, options: GroupCommitOptions) {
    this.#db = db;
    this.#flush = flush;
    this.#options = options;
  }

  /** Items queued for a transaction that has not begun yet: grows when the store falls behind. */
  get waiting(): number {
    return this.#queue.length;
  }

  /** Queues one item; resolves with its result once the transaction that carries it has committed. */
  submit(item: T): Promise<R> {
    if (this.#closed) return Promise.reject(new Error("group committer is closed"));
    return new Promise<R>((resolve, reject) => {
      this.#queue.push({ item, resolve, reject });
      this.#schedule();
    });
  }

  /** Flushes what is queued and refuses new work. */
  async close(): Promise<void> {
    this.#closed = true;
    while (this.#queue.length > 0 || this.#inFlight.size > 0) {
      if (this.#inFlight.size > 0) await Promise.all(this.#inFlight);
      else this.#run();
    }
  }

  #schedule(): void {
    if (this.#queue.length >= this.#options.maxBatch || this.#options.maxDelayMs === 0) {
      this.#run();
    } else if (this.#timer === undefined) {
      this.#timer = setTimeout(() => this.#run(), this.#options.maxDelayMs);
    }
  }

  #run(): void {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    const slots = this.#options.maxInFlight ?? 1;
    // With every slot busy, the next flush to finish picks the queue up.
    while (this.#inFlight.size < slots && this.#queue.length > 0) {
      const batch = this.#queue.splice(0, this.#options.maxBatch);
      const flight: Promise<void> = this.#commit(batch).finally(() => {
        this.#inFlight.delete(flight);
        // Work that arrived during the flush has already waited: send it now.
        if (this.#queue.length > 0) this.#run();
      });
      this.#inFlight.add(flight);
    }
  }

  /**
   * Commits `batch` in one transaction and answers each item. When the
   * transaction fails for a reason of its own, each half is committed on its
   * own (bisection: one bad item among n costs about 2·log2(n) more
   * transactions, and the half without it is answered after one), until the
   * item that fails is alone; a store that cannot be reached fails the whole
   * batch at once, as trying again item by item could only pile load on it.
   */
  async #commit(batch: Pending<T, R>[]): Promise<void> {
    const started = performance.now();
    let results: R[];
    try {
      results = await this.#db.transaction(async (tx) => {
        const out = await this.#flush(
          tx,
          batch.map((p) => p.item),
        );
        // Throwing here rolls the batch back: nobody is answered for work the flush did not account for.
        if (out.length !== batch.length) {
          throw new Error(`a flush of ${batch.length} items answered ${out.length} results`);
        }
        return out;
      });
    } catch (error) {
      if (batch.length > 1 && !isStoreUnavailable(error)) {
        const half = Math.ceil(batch.length / 2);
        await this.#commit(batch.slice(0, half));
        await this.#commit(batch.slice(half));
        return;
      }
      const [only] = batch;
      if (batch.length === 1 && only && !isStoreUnavailable(error)) this.#report(only.item, error);
      for (const p of batch) p.reject(error);
      return;
    }
    try {
      this.onCommit?.(
        batch.map((p) => p.item),
        results,
        (performance.now() - started) / 1000,
      );
    } catch {
      // The batch is committed: a failing metrics callback must neither leave its
      // callers unanswered nor reject the in-flight promise nobody awaits.
    }
    batch.forEach((p, i) => {
      p.resolve(results[i] as R);
    });
  }

  #report(item: T, error: unknown): void {
    try {
      this.onItemFailed?.(item, error);
    } catch {
      // As with onCommit: a failing callback must not keep the item from its answer.
    }
  }
}
