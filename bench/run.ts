/**
 * `npm run bench`: phonehome measured against a baseline measured in the
 * same run, on the same machine. Eight suites (`--suite`, default all but owner):
 *
 * - `activations` (`bench/activations.ts`): activations per second through the
 *   collector's real HTTP stack, as ratios against a bare Fastify route
 *   answering the same requests and against a floor that does only what a
 *   first activation cannot avoid (schema, signature, seal, validation; no
 *   storage, no look-ups);
 * - `diagnostics` (`bench/diagnostics.ts`): diagnostics events per second into
 *   PostgreSQL through `POST /v1/diagnostics` (100 events per sealed
 *   envelope), as a ratio against a `COPY` of the same rows into the same table;
 * - `isolation` (`bench/isolation.ts`): what one item the store refuses costs
 *   the 255 real ones of its group commit, bisected (as the writer does) or
 *   retried one by one, as ratios against the same batch without it;
 * - `auditor` (`bench/auditor.ts`): MB/s of `phonehome audit` over a generated
 *   capture of mixed traffic, as a ratio against `tshark` listing the same
 *   capture's HTTP requests. It needs tshark, not PostgreSQL;
 * - `audit` (`bench/audit.ts`): appends and head reads of the audit log at a
 *   million entries, as a ratio against the same at ten;
 * - `owner` (`bench/owner.ts`, only when named: it fills ten million rows
 *   first): 16 owners' access and erasure on a full region, as a ratio against
 *   an empty one, and against the 100 ms target;
 * - `memory` (`bench/memory.ts`): resident memory of each service against its
 *   budget, as a ratio against a bare Fastify process;
 * - `workers` (`bench/workers.ts`): activations per second through `serve
 *   --workers 2` as a ratio against `serve --workers 1`, side by side on one
 *   store, neither pinned.
 *
 * Each server under test runs in its own child process (`bench/server.ts`),
 * pinned to one core with `taskset` where available, with this process (which
 * generates the load with autocannon, `bench/load.ts`) and a local PostgreSQL
 * kept to the other cores (`bench/pin.ts`). Rounds alternate between the
 * measured side and its baselines, so that a burst of other work on the
 * machine falls on all of them.
 *
 * Only the suites that need it (all but auditor) ask for PostgreSQL.
 *
 * Options: --suite activations|diagnostics|isolation|auditor|audit|owner|memory|workers (comma-separated for
 * several)|all, --duration S (measured seconds per side, default 10), --warmup
 * S (default 2), --rounds N (default 3), --concurrency N (default 32),
 * --devices N (activations sealed), --envelopes N (diagnostics envelopes
 * sealed), --capture-mb N (the auditor's capture, default 200), --quick (2 s,
 * one round, a 20 MB capture: a smoke run), --audit-entries N (default
 * 1,000,000), --owner-rows N (10,000,000), --owner-audit N (1,000,000),
 * --owner-events N (300), --memory-load S (20), --postgres URL, --no-pin,
 * --cpu-prof DIR (profile the phonehome servers and `phonehome audit`).
 * See docs/benchmarks.md.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { availableParallelism, cpus, loadavg, release, tmpdir } from "node:os";
import { join } from "node:path";
import { runActivations } from "./activations.ts";
import { runWorkers } from "./workers.ts";
import { runAudit } from "./audit.ts";
import { runAuditor } from "./auditor.ts";
import { runDiagnostics } from "./diagnostics.ts";
import { runIsolation } from "./isolation.ts";
import { runMemory } from "./memory.ts";
import { runOwner } from "./owner.ts";
import {
  POSTGRES_SUITES,
  pinnedCpu,
  type Suite,
  type SuiteContext,
  settingsFromArgv,
  withPg,
} from "./harness.ts";
import { placeAroundServer } from "./pin.ts";

const AUTOCANNON_VERSION = (createRequire(import.meta.url)("autocannon/package.json") as { version: string })
  .version;

async function main(): Promise<number> {
  const settings = settingsFromArgv(process.argv.slice(2));
  const cpu = pinnedCpu(settings);
  const pgSuites = settings.suites.filter((s) => POSTGRES_SUITES.has(s));
  const pgVersion =
    pgSuites.length === 0
      ? null
      : await withPg(settings.postgres, async (c) => {
          const r = await c.query<{ server_version: string }>("SHOW server_version");
          return r.rows[0]?.server_version ?? "?";
        }).catch((error: unknown) => {
          throw new Error(
            `the ${pgSuites.join(" and ")} suite${pgSuites.length > 1 ? "s need" : " needs"} PostgreSQL at ` +
              `${settings.postgres} (--postgres URL): ${(error as Error).message}`,
          );
        });

  const ctx: SuiteContext = {
    settings,
    cpu,
    tag: randomBytes(4).toString("hex"),
    workDir: mkdtempSync(join(tmpdir(), "phonehome-bench-")),
    servers: [],
    schemas: [],
  };
  // Read before this process is pinned to fewer cores.
  const cores = availableParallelism();
  const placement =
    cpu === null ? null : placeAroundServer(cpu, cores, pgVersion === null ? null : settings.postgres);
  const cleanup = async () => {
    placement?.restore();
    await Promise.allSettled(ctx.servers.map((s) => s.stop()));
    if (ctx.schemas.length > 0) {
      await withPg(settings.postgres, async (c) => {
        // Names come from a fixed pattern (`bench_<hex tag>_...`); identifiers cannot be bound.
        for (const schema of ctx.schemas) await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      }).catch((error: unknown) =>
        console.error(`could not drop the bench schemas: ${(error as Error).message}`),
      );
    }
    rmSync(ctx.workDir, { recursive: true, force: true });
  };
  // Ctrl-C or a kill still puts PostgreSQL's CPU masks back and drops the schemas.
  process.once("SIGINT", () => void cleanup().then(() => process.exit(130)));
  process.once("SIGTERM", () => void cleanup().then(() => process.exit(143)));

  try {
    const duration = settings.durationMs / 1000;
    console.log(`phonehome bench: ${settings.suites.join(", ")}`);
    console.log(
      `machine:  ${cpus()[0]?.model ?? "unknown cpu"}, ${cores} cores, Node ${process.version}, ` +
        `${process.platform} ${release()}${pgVersion === null ? "" : `, PostgreSQL ${pgVersion}`}; ` +
        `load average ${loadavg()
          .map((l) => l.toFixed(2))
          .join(" ")} before the run`,
    );
    if (settings.suites.some((s) => s === "activations" || s === "diagnostics")) {
      // The load suites' settings; the others print their own.
      console.log(
        `settings: ${duration} s measured per side in ${settings.rounds} alternating round(s), after ` +
          `${settings.warmupMs / 1000} s warm-up each; ${settings.concurrency} keep-alive connections, ` +
          `one request in flight on each (autocannon ${AUTOCANNON_VERSION}); ` +
          `servers ${cpu === null ? "not pinned" : `pinned to cpu ${cpu} (taskset); ${placement?.describe}`}`,
      );
    } else if (placement !== null) {
      console.log(`pinning:  ${placement.describe}`);
    }
    const suites: Record<Suite, (ctx: SuiteContext) => Promise<boolean>> = {
      activations: runActivations,
      diagnostics: runDiagnostics,
      isolation: runIsolation,
      auditor: runAuditor,
      audit: runAudit,
      owner: runOwner,
      memory: runMemory,
      workers: runWorkers,
    };
    let valid = true;
    for (const suite of settings.suites) {
      console.log("");
      const ok = await suites[suite](ctx);
      valid &&= ok;
    }
    return valid ? 0 : 1;
  } finally {
    await cleanup();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    process.exit(1);
  },
);
