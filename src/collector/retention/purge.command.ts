/**
 * `phonehome purge --region R [--dry-run] [--now ISO]`: what is past its
 * retention, and its removal. With `--collection C [--version N] [--field F]
 * --from ISO --to ISO --reason TEXT`, a surgical purge instead. Opens the
 * region's store directly; an embedded (PGlite) store must not be open in a
 * running collector, which the store lock reports.
 */
import type { DeviceTable } from "../device-data/index.ts";
import { userInfo } from "node:os";
import { type Command, InvalidArgumentError } from "commander";
import { wholeNumber } from "../../core/cli/index.ts";
import { progressReporter } from "../../core/cli/index.ts";
import { loadConfig } from "../../core/config/index.ts";
import { openDb } from "../../core/db/index.ts";
import { migrate } from "../../core/db/index.ts";
import { loadDictionary } from "../../core/dictionary/index.ts";
import { isPhoneHomeError, PhoneHomeError } from "../../core/errors/index.ts";
import { formatHeading, formatPlan, formatResult, toJson } from "./purge.presenter.ts";
import {
  checkSurgicalRequest,
  type PurgePlan,
  type PurgeResult,
  planPurge,
  planSurgicalPurge,
  runPurge,
  runSurgicalPurge,
  type SurgicalRequest,
} from "./purge.service.ts";

const INSTANT = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2}))?$/;

/** Parses an ISO 8601 instant (a date alone is midnight UTC). */
function instant(value: string): Date {
  const parsed = INSTANT.test(value) ? new Date(value) : new Date(Number.NaN);
  if (Number.isNaN(parsed.getTime())) {
    throw new InvalidArgumentError("must be an ISO 8601 instant, e.g. 2026-01-31T00:00:00Z or 2026-01-31");
  }
  return parsed;
}

function positive(value: string): number {
  const n = wholeNumber(value);
  if (n < 1) throw new InvalidArgumentError("must be at least 1");
  return n;
}

interface Options {
  region: string;
  dryRun?: boolean;
  now?: Date;
  collection?: string;
  version?: number;
  field?: string;
  from?: Date;
  to?: Date;
  reason?: string;
  chunkSize?: number;
  json?: boolean;
}

/** Registers `phonehome purge`; `tables` are the region's device tables (how each one's rows expire). */
export function register(program: Command, tables: readonly DeviceTable[]): void {
  program
    .command("purge")
    .description(
      "remove what is past its retention in one region (or, with --collection, a field or rows collected by mistake)",
    )
    .requiredOption("--region <id>", "the region whose store to purge")
    .option("--dry-run", "show and record what would be removed; remove nothing")
    .option("--now <iso>", "purge as of this instant instead of now (retention purge)", instant)
    .option("--collection <name>", "surgical purge: the collection collected by mistake")
    .option("--version <n>", "surgical purge: only this version of the collection", wholeNumber)
    .option("--field <name>", "surgical purge: remove only this field from the rows (default: whole rows)")
    .option("--from <iso>", "surgical purge: received at or after this instant", instant)
    .option("--to <iso>", "surgical purge: received before this instant", instant)
    .option("--reason <text>", "surgical purge: why; kept in the purge record")
    .option("--chunk-size <n>", "rows per statement (default 5000)", positive)
    .option("--json", "print the plan and the result as JSON")
    .action(async (options: Options) => {
      const config = loadConfig(program.opts<{ config?: string }>().config);
      const region = config.regions.find((r) => r.id === options.region);
      if (!region) {
        throw new PhoneHomeError("purge.invalid", `no region ${options.region} in the configuration`, {
          path: "--region",
          problems: config.regions.map((r) => ({ path: r.id, message: "is a configured region" })),
        });
      }
      const { dictionary } = loadDictionary(config.dictionaryDir, {
        regions: config.regions.map((r) => r.id),
      });
      const asked = surgicalRequest(options);
      // Checked before the store is opened: a mistyped field should not wait for (or on) a lock.
      const surgical = asked === undefined ? undefined : checkSurgicalRequest(dictionary, asked);
      const now = options.now ?? new Date();
      const dryRun = options.dryRun ?? false;
      const out = (lines: string[]) => {
        if (!options.json) process.stdout.write(`${lines.join("\n")}\n`);
      };

      const progress = progressReporter(process.stderr, "purge");
      const db = await openDb(region.store, `phonehome purge --region ${region.id}`).catch(
        (error: unknown) => {
          if (!isPhoneHomeError(error, "store.locked")) throw error;
          const route = surgical === undefined ? "retention" : "surgical";
          throw new PhoneHomeError(
            "store.locked",
            `${error.message}. While the collector runs, ask it: POST ${region.url}/v1/purges/${route} ` +
              "with the service token (docs/retention.md)",
            error.path === undefined ? {} : { path: error.path },
          );
        },
      );
      try {
        await migrate(db, "region");
        const plan: PurgePlan =
          surgical === undefined
            ? await planPurge(db, now, { dictionary, tables })
            : await planSurgicalPurge(db, now, surgical, { dictionary, tables });
        out([...formatHeading(region.id, plan, dryRun, surgical), ...formatPlan(plan)]);
        const run = {
          dictionary,
          tables,
          dryRun,
          actor: `cli:${userInfo().username}`,
          onProgress: progress.update,
          ...(options.chunkSize === undefined ? {} : { chunkSize: options.chunkSize }),
        };
        const result: PurgeResult =
          surgical === undefined
            ? await runPurge(db, now, run)
            : await runSurgicalPurge(db, now, surgical, run);
        progress.stop();
        out(formatResult(result));
        if (options.json)
          process.stdout.write(`${JSON.stringify(toJson(region.id, plan, result), null, 2)}\n`);
      } finally {
        progress.stop();
        await db.close();
      }
    });
}

/** The surgical request the options ask for, or undefined for a retention purge; throws `purge.invalid` on a mix. */
function surgicalRequest(options: Options): SurgicalRequest | undefined {
  const surgicalOnly = (["version", "field", "from", "to", "reason"] as const).filter(
    (name) => options[name] !== undefined,
  );
  if (options.collection === undefined) {
    if (surgicalOnly.length > 0) {
      throw new PhoneHomeError(
        "purge.invalid",
        `${surgicalOnly.map((n) => `--${n}`).join(", ")} belong to a surgical purge: name the collection with --collection`,
        { path: `--${surgicalOnly[0] ?? "collection"}` },
      );
    }
    return undefined;
  }
  const { from, to, reason } = options;
  if (from === undefined || to === undefined || reason === undefined) {
    const missing = (["from", "to", "reason"] as const).filter((name) => options[name] === undefined);
    throw new PhoneHomeError(
      "purge.invalid",
      `a surgical purge needs ${missing.map((n) => `--${n}`).join(", ")}: the window the data was received in, and why it goes`,
      { path: `--${missing[0] ?? "from"}` },
    );
  }
  if (options.now !== undefined) {
    throw new PhoneHomeError(
      "purge.invalid",
      "--now applies to a retention purge; a surgical purge names --from and --to",
      {
        path: "--now",
      },
    );
  }
  return { collection: options.collection, version: options.version, field: options.field, from, to, reason };
}
