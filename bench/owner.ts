/**
 * The `owner` suite: an owner's access (`GET /v1/owner/data`) and erasure
 * (`DELETE /v1/owner/data`) through a real collector, on a region whose store
 * holds `--owner-rows` diagnostics events (default 10,000,000) of many devices
 * and `--owner-audit` audit entries (default 1,000,000), against the same
 * operations on a region whose store holds only the measured owners' own
 * events, both measured in this run in alternating rounds. 16 owners at a
 * time each ask for their own device's data, then erase it, with a request id
 * (so each also records its receipt and appends to the audit log). The
 * issue's target: p99 of each under 100 ms on the full region.
 *
 * The filler rows are written by SQL (`INSERT ... SELECT generate_series`) in
 * chunks, in time order: each chunk is a slice of the retention window, every
 * filler device reports in it, and the measured devices get their share of
 * events in the same chunk, so that their rows are spread over the table as
 * a device's events are in production (not stored side by side).
 */
import { randomUUID } from "node:crypto";
import { writeFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { type DeviceIdentity, mintOwnerToken } from "@phonehome/sdk";
import { type Db, openDb } from "../src/core/db/index.ts";
import { type DiagnosticsRow, insertDiagnosticsEvents } from "../src/collector/diagnostics/index.ts";
import { deviceRef } from "../src/collector/device-data/index.ts";
import { type DemoFleet, generateDemoFleet } from "../src/control-plane/fleet/index.ts";
import { loadPseudonymSecret } from "../src/core/keys/index.ts";
import { ensureDiagnosticsPartitions } from "../src/collector/retention/index.ts";
import { EXPORT_PAGE } from "../src/collector/subject-requests/subject-requests.routes.ts";
import { fillAuditLog, percentile } from "./audit.ts";
import { FILL_TIMEOUTS, type RunningServer, type SuiteContext, startPhonehome, table } from "./harness.ts";
import { postgresCpu, postgresCpuBetween, processCpuMs } from "./load.ts";

/** Owners asking at once: the figure. */
const CONCURRENT_OWNERS = 16;
/** The target for p99 of access and of erasure on the full region, in milliseconds. */
const TARGET_P99_MS = 100;
/** Chunks the filler is written in (each a slice of the 90-day retention window). */
const CHUNKS = 20;
const DAY_MS = 86_400_000;
/** uep.diagnostics v1 is kept 90 days: events expire from tomorrow to 90 days ahead. */
const WINDOW_DAYS = 89;

/** One side of the suite: a running system, its region store, and its owners. */
interface OwnerSide {
  name: "full" | "empty";
  server: RunningServer;
  db: Db;
  /** Devices per round (the first round is the unmeasured warm-up). */
  rounds: DeviceIdentity[][];
  access: number[];
  erasure: number[];
  problems: string[];
  /** CPU time used over the measured rounds: the server's process, PostgreSQL's, this load generator's (null: no /proc). */
  cpu: { server: number | null; postgres: number | null; load: number };
}

/** CPU time (ms) used so far by the server, by each PostgreSQL process and by this process. */
function cpuNow(side: OwnerSide): {
  server: number | null;
  postgres: Map<number, number> | null;
  load: number;
} {
  const own = process.cpuUsage();
  return {
    server: processCpuMs(side.server.ready.pid),
    postgres: postgresCpu(),
    load: (own.user + own.system) / 1000,
  };
}

/** Adds the CPU used between `before` and now to the side's measured total. */
function addCpu(side: OwnerSide, before: ReturnType<typeof cpuNow>): void {
  const after = cpuNow(side);
  const add = (total: number | null, a: number | null, b: number | null) =>
    total === null || a === null || b === null ? null : total + b - a;
  side.cpu = {
    server: add(side.cpu.server, before.server, after.server),
    postgres: add(side.cpu.postgres, 0, postgresCpuBetween(before.postgres, after.postgres)),
    load: side.cpu.load + after.load - before.load,
  };
}

/** What mintOwnerToken needs of a device: its key pair (the demo fleet's). */
function ownerOf(fleet: DemoFleet, serial: string): DeviceIdentity {
  const keys = fleet.keys[serial];
  if (!keys) throw new Error(`no keys for ${serial}`);
  // mintOwnerToken reads only keyId, privateKey and publicKey; the rest of an identity is not needed here.
  return keys as unknown as DeviceIdentity;
}

/** The measured devices' events for chunk `chunk`: `perChunk` each, in that chunk's slice of the window. */
function ownerRows(refs: readonly string[], perChunk: number, chunk: number): DiagnosticsRow[] {
  const rows: DiagnosticsRow[] = [];
  const base = Date.now() + DAY_MS + (chunk / CHUNKS) * WINDOW_DAYS * DAY_MS;
  for (const ref of refs) {
    for (let i = 0; i < perChunk; i++) {
      const expiresAt = new Date(base + Math.floor(Math.random() * (WINDOW_DAYS / CHUNKS) * DAY_MS));
      rows.push({
        deviceRef: ref,
        eventId: randomUUID(),
        collection: "uep.diagnostics",
        schemaVersion: 1,
        occurredAt: new Date(expiresAt.getTime() - 90 * DAY_MS),
        expiresAt,
        consentReceipt: randomUUID(),
        data: {
          build: "00WW_3_39B_SP03",
          batteryHealthPercent: 80 + i,
          batteryCycles: 120,
          crashCount: i % 3,
          anrCount: 0,
          thermalEvents: 1,
        },
      });
    }
  }
  return rows;
}

/**
 * Writes `rows` filler events for `rows / events` devices (`dr_<hex>` pseudonyms no
 * device has) in chunk `chunk` of CHUNKS: each device's share of events, expiring in
 * the chunk's slice of the window. `first` numbers the chunk's first row.
 */
async function fillChunk(
  db: Db,
  first: number,
  count: number,
  devices: number,
  chunk: number,
): Promise<void> {
  await db.query(
    `INSERT INTO diagnostics_events (device_ref, event_id, collection, schema_version, occurred_at, expires_at,
                                     consent_receipt, data)
     SELECT 'dr_' || substr(md5('d' || (g % $3)) || md5('e' || (g % $3)), 1, 43),
            md5('ev' || g)::uuid, 'uep.diagnostics', 1,
            t - interval '90 days', t, md5('c' || (g % $3))::uuid,
            jsonb_build_object('build', '00WW_3_39B_SP03', 'batteryHealthPercent', 80 + g % 20,
                               'batteryCycles', (g % 500) * 10, 'crashCount', g % 3, 'anrCount', g % 2,
                               'thermalEvents', g % 4)
       FROM generate_series($1::bigint, $2::bigint) AS g,
            LATERAL (SELECT now() + interval '1 day' + make_interval(secs => ($4::float8 + random() * $5::float8))) AS s(t)`,
    [
      first,
      first + count - 1,
      devices,
      (chunk / CHUNKS) * WINDOW_DAYS * 86_400,
      (WINDOW_DAYS / CHUNKS) * 86_400,
    ],
  );
}

/** Fills one side's store: the measured devices' events, the filler (full side) and the audit log, then VACUUM ANALYZE. */
async function fillStore(
  ctx: SuiteContext,
  side: OwnerSide,
  secret: Uint8Array,
  filler: number,
  audit: number,
): Promise<void> {
  const { ownerEvents } = ctx.settings;
  const refs = side.rounds.flat().map((d) => deviceRef(secret, d.keyId));
  await ensureDiagnosticsPartitions(side.db, new Date(), 5);
  const devices = Math.max(1, Math.round(filler / ownerEvents));
  const t0 = performance.now();
  let written = 0;
  for (let chunk = 0; chunk < CHUNKS; chunk++) {
    // The measured devices' events: ownerEvents each in all, spread over the chunks.
    const per = Math.floor(ownerEvents / CHUNKS) + (chunk < ownerEvents % CHUNKS ? 1 : 0);
    if (per > 0) await side.db.transaction((tx) => insertDiagnosticsEvents(tx, ownerRows(refs, per, chunk)));
    const count = Math.floor(filler / CHUNKS) + (chunk < filler % CHUNKS ? 1 : 0);
    if (count > 0) {
      await fillChunk(side.db, written, count, devices, chunk);
      written += count;
      console.log(
        `  ${side.name}: ${written.toLocaleString("en")} / ${filler.toLocaleString("en")} diagnostics rows ` +
          `(${((performance.now() - t0) / 1000).toFixed(0)} s)`,
      );
    }
  }
  if (audit > 0) {
    let last = 0;
    await fillAuditLog(side.db, audit, (done) => {
      if (performance.now() - last > 5000 || done === audit) {
        last = performance.now();
        console.log(
          `  ${side.name}: ${done.toLocaleString("en")} / ${audit.toLocaleString("en")} audit entries ` +
            `(${((performance.now() - t0) / 1000).toFixed(0)} s)`,
        );
      }
    });
  }
  await side.db.query("VACUUM ANALYZE diagnostics_events");
  console.log(`  ${side.name}: vacuumed and analysed (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
}

/** One owner: access then erasure of their own device, each timed; problems are recorded, not thrown. */
async function ownerAsks(ctx: SuiteContext, side: OwnerSide, device: DeviceIdentity, measured: boolean) {
  const base = side.server.ready.url;
  const token = await mintOwnerToken(device);
  const headers = { authorization: `Bearer ${token}` };
  const t0 = performance.now();
  const access = await fetch(new URL(`/v1/owner/data?requestId=${randomUUID()}`, base), { headers });
  const exported = (await access.json()) as { records?: { collection: string }[] };
  const t1 = performance.now();
  const erasure = await fetch(new URL(`/v1/owner/data?requestId=${randomUUID()}`, base), {
    method: "DELETE",
    headers,
  });
  const erased = (await erasure.json()) as {
    receipt?: { deleted?: { collection: string; count: number }[] };
  };
  const t2 = performance.now();
  const shown = exported.records?.filter((r) => r.collection === "uep.diagnostics").length ?? 0;
  const deleted = erased.receipt?.deleted?.find((d) => d.collection === "diagnostics_events")?.count ?? -1;
  const { ownerEvents } = ctx.settings;
  // The export pages: its first answer shows the first EXPORT_PAGE.defaultEvents events.
  if (access.status !== 200 || shown !== Math.min(ownerEvents, EXPORT_PAGE.defaultEvents)) {
    side.problems.push(`access ${access.status}: ${shown} events shown of ${ownerEvents}`);
  }
  if (erasure.status !== 200 || deleted !== ownerEvents) {
    side.problems.push(`erasure ${erasure.status}: ${deleted} events deleted of ${ownerEvents}`);
  }
  if (measured) {
    side.access.push(t1 - t0);
    side.erasure.push(t2 - t1);
  }
}

/** The plans of an access's read and an erasure's delete of one filler device, the delete rolled back. */
async function plans(db: Db): Promise<string[]> {
  const { rows } = await db.query<{ ref: string }>(
    "SELECT device_ref AS ref FROM diagnostics_events LIMIT 1",
  );
  const device = rows[0]?.ref ?? "dr_none";
  const out: string[] = [];
  const explain = async (label: string, sql: string) => {
    const lines: string[] = [];
    await db
      .transaction(async (tx) => {
        const plan = await tx.query<{ "QUERY PLAN": string }>(`EXPLAIN (ANALYZE, BUFFERS) ${sql}`, [device]);
        lines.push(...plan.rows.map((r) => r["QUERY PLAN"]));
        throw new Error("rollback");
      })
      .catch((error: unknown) => {
        if ((error as Error).message !== "rollback") throw error;
      });
    // The scans (which index, or a sequential scan of which partition), the top node's buffers and the time.
    const shown = lines.filter(
      (l, i) =>
        / Scan /.test(l) || /^(Planning|Execution) Time/.test(l.trim()) || (i === 1 && /Buffers/.test(l)),
    );
    out.push(`${label}:`, ...shown.map((l) => `  ${l.trim()}`));
  };
  await explain(
    "access first page (findDiagnosticsEventsPage) of a filler device",
    "SELECT * FROM diagnostics_events WHERE device_ref = $1 ORDER BY event_id, expires_at LIMIT 1001",
  );
  await explain(
    "access receipt's keys (findDiagnosticsEventKeys) of a filler device",
    "SELECT event_id, expires_at FROM diagnostics_events WHERE device_ref = $1 ORDER BY event_id, expires_at",
  );
  await explain(
    "erasure delete (eraseDiagnosticsEvents) of a filler device, rolled back",
    "DELETE FROM diagnostics_events WHERE device_ref = $1 RETURNING event_id::text, expires_at",
  );
  return out;
}

/**
 * Where the CPU of the measured rounds went, per owner (a token, an access and
 * an erasure), and the least time a round of CONCURRENT_OWNERS owners can take
 * on this machine: the server's share on its one core, the rest (PostgreSQL and
 * the load generator) on the others. While that floor is above the target, no
 * scheduling meets it here; only less work per request, or more cores, can.
 */
function cpuLines(sides: readonly OwnerSide[]): string[] {
  const cores = availableParallelism();
  const lines: string[] = [];
  for (const side of sides) {
    const owners = side.access.length;
    const { server, postgres, load } = side.cpu;
    if (owners === 0 || server === null || postgres === null) {
      lines.push(`cpu ${side.name}: not measured (no /proc)`);
      continue;
    }
    const per = (ms: number) => `${(ms / owners).toFixed(1)} ms`;
    const serverFloor = (CONCURRENT_OWNERS * server) / owners;
    const othersFloor = (CONCURRENT_OWNERS * (postgres + load)) / owners / Math.max(1, cores - 1);
    lines.push(
      `cpu ${side.name}, per owner: server ${per(server)}, PostgreSQL ${per(postgres)}, load generator ` +
        `${per(load)}; a round of ${CONCURRENT_OWNERS} needs at least ${Math.max(serverFloor, othersFloor).toFixed(0)} ms ` +
        `of this machine (server ${serverFloor.toFixed(0)} ms on its core, the rest ${othersFloor.toFixed(0)} ms on ` +
        `${Math.max(1, cores - 1)} other core(s))`,
    );
  }
  return lines;
}

/** Runs the suite; answers whether it is valid (every access and erasure answered what was stored). */
export async function runOwner(ctx: SuiteContext): Promise<boolean> {
  const { settings } = ctx;
  const rounds = settings.rounds;
  const perSide = CONCURRENT_OWNERS * (rounds + 1);
  console.log(
    `owner: ${CONCURRENT_OWNERS} owners at once, each GET then DELETE /v1/owner/data of their own device ` +
      `(${settings.ownerEvents} events each) with a request id, on a region holding ` +
      `${settings.ownerRows.toLocaleString("en")} diagnostics rows and ${settings.ownerAudit.toLocaleString("en")} ` +
      `audit entries ("full") and on one holding only the owners' events ("empty"); one warm-up round, then ` +
      `${rounds} round(s), the sides alternating`,
  );
  const fleet = generateDemoFleet({ devices: 2 * perSide, markets: ["NO"] });
  const factoryFile = join(ctx.workDir, "owner-factory.json");
  writeFileSync(factoryFile, JSON.stringify(fleet.factory));
  const owners = fleet.factory.devices.map((d) => ownerOf(fleet, d.serial));

  const sides: OwnerSide[] = [];
  try {
    for (const [i, name] of (["full", "empty"] as const).entries()) {
      const prefix = `own${name}_`;
      const { server, globalSchema } = await startPhonehome(ctx, prefix, factoryFile);
      const db = await openDb({
        kind: "postgres",
        url: settings.postgres,
        schema: globalSchema,
        poolSize: 2,
        timeouts: FILL_TIMEOUTS,
      });
      const mine = owners.slice(i * perSide, (i + 1) * perSide);
      sides.push({
        name,
        server,
        db,
        rounds: Array.from({ length: rounds + 1 }, (_, r) =>
          mine.slice(r * CONCURRENT_OWNERS, (r + 1) * CONCURRENT_OWNERS),
        ),
        access: [],
        erasure: [],
        problems: [],
        cpu: { server: 0, postgres: 0, load: 0 },
      });
      const secret = loadPseudonymSecret(join(ctx.workDir, `${prefix}data`), "global");
      const sideNow = sides[i];
      if (!sideNow) throw new Error("no side");
      await fillStore(
        ctx,
        sideNow,
        secret,
        name === "full" ? settings.ownerRows : 0,
        name === "full" ? settings.ownerAudit : 0,
      );
    }
    for (let round = 0; round <= rounds; round++) {
      const order = round % 2 === 0 ? sides : [...sides].reverse();
      for (const side of order) {
        const before = cpuNow(side);
        await Promise.all((side.rounds[round] ?? []).map((d) => ownerAsks(ctx, side, d, round > 0)));
        if (round > 0) addCpu(side, before);
      }
    }

    const f = (x: number) => `${x.toFixed(1)} ms`;
    const rows: string[][] = [];
    for (const op of ["access", "erasure"] as const) {
      for (const side of sides) {
        const xs = side[op];
        rows.push([
          `${op} ${side.name}`,
          String(xs.length),
          f(percentile(xs, 50)),
          f(percentile(xs, 99)),
          f(Math.max(...xs)),
        ]);
      }
    }
    const [full, empty] = sides as [OwnerSide, OwnerSide];
    const stored = await full.db.query<{ n: string }>(
      "SELECT reltuples::bigint::text AS n FROM pg_class WHERE relname = 'diagnostics_events_default' OR relname ~ '^diagnostics_events_[0-9]{6}$'",
    );
    const approx = stored.rows.reduce((sum, r) => sum + Number(r.n), 0);
    console.log(
      `full region: about ${approx.toLocaleString("en")} diagnostics rows left (planner's estimate)`,
    );
    for (const line of table(
      [
        ["operation", 16],
        ["samples", 8],
        ["p50", 10],
        ["p99", 10],
        ["max", 10],
      ],
      rows,
    )) {
      console.log(line);
    }
    const ratio = (op: "access" | "erasure", p: number) => percentile(full[op], p) / percentile(empty[op], p);
    console.log(
      `ratio full / empty: access p50 ${ratio("access", 50).toFixed(3)}, p99 ${ratio("access", 99).toFixed(3)}; ` +
        `erasure p50 ${ratio("erasure", 50).toFixed(3)}, p99 ${ratio("erasure", 99).toFixed(3)}`,
    );
    const p99 = { access: percentile(full.access, 99), erasure: percentile(full.erasure, 99) };
    const met = p99.access < TARGET_P99_MS && p99.erasure < TARGET_P99_MS;
    console.log(
      `target (p99 under ${TARGET_P99_MS} ms on the full region, ${full.access.length} samples each, so p99 is ` +
        `about the slowest): access ${f(p99.access)}, erasure ${f(p99.erasure)}: ${met ? "met" : "NOT MET"}`,
    );
    for (const line of cpuLines(sides)) console.log(line);
    for (const line of await plans(full.db)) console.log(line);
    const problems = sides.flatMap((s) => s.problems.map((p) => `${s.name}: ${p}`));
    if (problems.length > 0) {
      console.log(`INVALID: ${problems.length} answers wrong, e.g. ${problems.slice(0, 5).join("; ")}`);
      return false;
    }
    console.log(
      `valid: every access showed the owner's events and every erasure deleted all ${settings.ownerEvents}`,
    );
    return true;
  } finally {
    for (const side of sides) await side.db.close();
  }
}
