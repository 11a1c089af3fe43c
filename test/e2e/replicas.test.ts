/**
 * The production shape under fire: three collector replicas of region
 * `global` and two control-plane replicas, each a `phonehome serve` process on
 * a PostgreSQL cluster of the test's own, behind a real HAProxy (round robin,
 * health-checked on `/readyz`). A fleet of 1,000 SDK devices activates,
 * consents and sends diagnostics through the balancer while a replica is
 * SIGKILLed every few seconds and started again. Afterwards: every record a
 * device was told was stored is stored exactly once, the ingest ledger's
 * counts equal the stored rows, each leased job ran once per period, and
 * exactly one replica of each service holds each lease.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, type TestContext, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { buildConfig } from "../../src/core/config/index.ts";
import { openDb, type Queryable, type StoreConfig } from "../../src/core/db/index.ts";
import { listJobRuns } from "../../src/core/leases/index.ts";
import { importFleet } from "../../src/control-plane/fleet/index.ts";
import { loadFleetTrust, loadPseudonymSecret, loadServiceToken } from "../../src/core/keys/index.ts";
import { oneBatchFactoryFile } from "../helpers/fleet.ts";
import { type Balancer, startHaproxy } from "../helpers/haproxy.ts";
import { type PgCluster, startPgCluster } from "../helpers/pg-cluster.ts";
import { freePort, startService, Supervised } from "../helpers/processes.ts";
import { checkFleet, drive, type FleetDevice, makeFleet } from "../helpers/sdk-fleet.ts";

const DEVICES = 1000;
const EVENTS_PER_DEVICE = 2;
const KILLS = 12;
const KILL_EVERY_MS = 3000;
/** Periods of the leased jobs in this test, and the lease's time to live. */
// A takeover (the lease's time and a tick) fits well inside a period also on a machine this loaded.
const SWEEP_S = 8;
const ANCHOR_S = 9;
const LEASE_S = 3;

/**
 * Each job's periods, from its first recorded run to its last, follow one
 * another without a gap and each ran to its end once (the primary key makes
 * two rows of one period impossible; `attempts` above 1 is a run a killed
 * holder left unfinished and the next holder ran again). A job whose period
 * is shorter than the test has at least one run.
 */
async function assertOncePerPeriod(
  t: TestContext,
  db: Queryable,
  periods: Record<string, number>,
  startedAt: number,
): Promise<void> {
  for (const [job, seconds] of Object.entries(periods)) {
    const runs = await listJobRuns(db, job);
    const starts = runs.map((r) => r.periodStart.getTime());
    t.diagnostic(
      `${job}: ${runs.length} periods run by ${new Set(runs.map((r) => r.holder)).size} holders; taken over mid-run: ${runs.filter((r) => r.attempts > 1).length}`,
    );
    if ((Date.now() - startedAt) / 1000 > seconds * 2) assert.ok(runs.length >= 1, `${job} ran`);
    assert.deepEqual(
      starts.slice(1).map((s, i) => s - (starts[i] ?? 0)),
      starts.slice(1).map(() => seconds * 1000),
      `${job}: one run per period, none skipped`,
    );
    // The last period's run may still be under way; every earlier one finished.
    assert.ok(
      runs.slice(0, -1).every((r) => r.finished),
      `${job}: every run finished`,
    );
  }
}

describe("replicas of a region and of the control plane behind HAProxy, killed one after another (PostgreSQL)", () => {
  const dataDir = mkdtempSync(join(tmpdir(), "phonehome-replicas-"));
  let cluster: PgCluster;
  let balancer: Balancer | undefined;
  const collectors: Supervised[] = [];
  const controlPlanes: Supervised[] = [];
  const ports = { collectors: [] as number[], controlPlanes: [] as number[] };
  let stores: { region: StoreConfig; control: StoreConfig };
  const log = (line: string) => process.stderr.write(`# ${line}\n`);

  before(async () => {
    cluster = await startPgCluster({ max_connections: "200" });
    const lb = { collector: await freePort(), controlPlane: await freePort() };
    for (let i = 0; i < 3; i++) ports.collectors.push(await freePort());
    for (let i = 0; i < 2; i++) ports.controlPlanes.push(await freePort());
    const store = (schema: string) => ({ url: cluster.url, schema, poolSize: 5 });
    /** One configuration per replica: the same but for the port it listens on. */
    const raw = (collectorPort: number, controlPlanePort: number) => ({
      dataDir,
      logLevel: "warn",
      controlPlane: {
        listen: `127.0.0.1:${controlPlanePort}`,
        url: `http://127.0.0.1:${lb.controlPlane}`,
        store: store("cp"),
      },
      regions: [
        {
          id: "global",
          storedIn: "SG",
          listen: `127.0.0.1:${collectorPort}`,
          url: `http://127.0.0.1:${lb.collector}`,
          store: store("global"),
        },
        { id: "cn", storedIn: "CN", listen: "127.0.0.1:0", store: { dataDir: join(dataDir, "cn-unused") } },
      ],
      ingest: { batchDelayMs: 2 },
      jobs: { leaseSeconds: LEASE_S },
      incidents: { sweepIntervalSeconds: SWEEP_S },
      audit: { anchorIntervalSeconds: ANCHOR_S },
      retention: { purgeIntervalMinutes: 1 },
    });
    const file = (name: string, collectorPort: number, controlPlanePort: number) => {
      const path = join(dataDir, `${name}.json`);
      writeFileSync(path, JSON.stringify(raw(collectorPort, controlPlanePort)));
      return path;
    };
    const config = buildConfig(raw(0, 0), dataDir);
    stores = { region: config.regions[0]?.store as StoreConfig, control: config.controlPlane.store };
    ports.controlPlanes.forEach((port, i) => {
      const f = file(`cp-${i + 1}`, 0, port);
      controlPlanes.push(
        new Supervised(`control plane ${i + 1}`, () => startService(f, ["--control-plane"]), log),
      );
    });
    ports.collectors.forEach((port, i) => {
      const f = file(`collector-${i + 1}`, port, 0);
      collectors.push(
        new Supervised(`collector ${i + 1}`, () => startService(f, ["--region", "global"]), log),
      );
    });
    // The first of each migrates its store; the others find it migrated (or wait on the migrations' lock).
    await Promise.all([...controlPlanes, ...collectors].map((s) => s.start()));
    balancer = await startHaproxy([
      {
        name: "collector",
        port: lb.collector,
        servers: ports.collectors.map((port, i) => ({ name: `c${i + 1}`, port })),
      },
      {
        name: "control-plane",
        port: lb.controlPlane,
        servers: ports.controlPlanes.map((port, i) => ({ name: `p${i + 1}`, port })),
      },
    ]);
  });

  after(async () => {
    await Promise.allSettled([...collectors, ...controlPlanes].map((s) => s.stop()));
    await balancer?.stop();
    await cluster?.destroy();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test("1,000 devices through the balancer while replicas are killed: nothing lost, nothing twice, jobs once per period", async (t) => {
    const collectorUrl = balancer?.url("collector") ?? "";
    const announced = (await (await fetch(`${collectorUrl}/v1/region`)).json()) as {
      kid: string;
      publicKey: string;
    };
    const { devices, seen } = makeFleet({
      count: DEVICES,
      prefix: "RK",
      home: { region: "global", storedIn: "SG", url: collectorUrl, ...announced },
      roots: (await loadFleetTrust(dataDir)).roots,
      queueDir: join(dataDir, "queues"),
    });
    const cp = await openDb(stores.control);
    try {
      await importFleet(cp, buildConfig({ dataDir }, dataDir), {
        name: "replicas.json",
        text: oneBatchFactoryFile(
          "B-REPLICAS-NO",
          devices.map((d) => d.identity),
        ),
      });
    } finally {
      await cp.close();
    }

    // Kills: a replica every few seconds, in turn over all five, each started again at once.
    const replicas = [...collectors, ...controlPlanes];
    const started = Date.now();
    let kills = 0;
    const killer = (async () => {
      while (kills < KILLS) {
        await sleep(KILL_EVERY_MS);
        const victim = replicas[(kills * 3) % replicas.length] as Supervised;
        await victim.kill();
        kills += 1;
        await victim.start();
      }
    })();
    const fleetRun = drive(devices, EVENTS_PER_DEVICE, { concurrency: 24, until: Date.now() + 240_000 });
    await killer;
    const killPhase = Date.now() - started;
    let open: FleetDevice[] = await fleetRun;
    // Whatever the kills left queued, the devices deliver now.
    open = await drive(open, EVENTS_PER_DEVICE, { concurrency: 24, until: Date.now() + 120_000 });
    t.diagnostic(
      `${kills} kills in ${Math.round(killPhase / 1000)} s; answers ${JSON.stringify([...seen.answers])}; network errors ${seen.networkErrors}; 5xx other than 503: ${seen.serverErrors.length}`,
    );
    assert.equal(
      open.length,
      0,
      `every device finished; open: ${open.map((d) => d.identity.serial).join(", ")}`,
    );
    assert.ok(kills >= 10);
    for (const s of replicas) assert.deepEqual(s.crashes, [], `${s.name} ended only when killed`);
    // A replica killed mid-request answers nothing: HAProxy says 502, the SDK keeps the record and retries.
    assert.deepEqual(
      seen.serverErrors.filter((e) => !e.endsWith(" 502")),
      [],
      "no 5xx but the balancer's 502 for a request cut by a kill",
    );

    const region = await openDb(stores.region);
    try {
      const check = await checkFleet(region, loadPseudonymSecret(dataDir, "global"), devices);
      t.diagnostic(`store: ${JSON.stringify(check)}`);
      assert.equal(check.lost, 0, "no acknowledged record lost");
      assert.equal(check.duplicated, 0, "no record stored twice");
      assert.equal(check.undelivered, 0);
      assert.equal(check.activations, DEVICES);
      assert.equal(check.events, (DEVICES / 2) * EVENTS_PER_DEVICE);
      // The ledger counts each message once as stored, in the transaction that stored it.
      const { rows } = await region.query<{ collection: string; outcome: string; n: number }>(
        `SELECT collection, outcome, sum(count)::integer AS n FROM ingest_ledger GROUP BY 1, 2 ORDER BY 1, 2`,
      );
      t.diagnostic(`ledger: ${JSON.stringify(rows)}`);
      const ledger = (collection: string, outcome: string) =>
        rows.find((r) => r.collection === collection && r.outcome === outcome)?.n ?? 0;
      assert.equal(ledger("activation", "stored"), check.activations, "ledger: activations stored = rows");
      assert.equal(
        ledger("uep.diagnostics", "stored"),
        check.batches,
        "ledger: batches stored = batches acknowledged",
      );
      const consents = await region.query<{ n: number }>(
        `SELECT count(*)::integer AS n FROM consent_history`,
      );
      assert.equal(consents.rows[0]?.n, DEVICES / 2, "one consent decision per device of the programme");
      await assertOncePerPeriod(t, region, { retention: 60 }, started);
    } finally {
      await region.close();
    }
    const control = await openDb(stores.control);
    try {
      await assertOncePerPeriod(
        t,
        control,
        { "incident-sweep": SWEEP_S, "audit-anchors": ANCHOR_S },
        started,
      );
    } finally {
      await control.close();
    }

    // Each lease is held by exactly one replica of its service, as each one's /metrics says.
    await sleep(LEASE_S * 1000 * 2);
    const token = loadServiceToken(dataDir);
    const held = async (replicaPorts: number[]) => {
      const sums = new Map<string, number>();
      for (const port of replicaPorts) {
        const text = await (
          await fetch(`http://127.0.0.1:${port}/metrics`, { headers: { authorization: `Bearer ${token}` } })
        ).text();
        for (const m of text.matchAll(/^phonehome_lease_held\{lease="([^"]+)"[^}]*\} (\d+)$/gm)) {
          sums.set(m[1] as string, (sums.get(m[1] as string) ?? 0) + Number(m[2]));
        }
      }
      return Object.fromEntries(sums);
    };
    assert.deepEqual(await held(ports.collectors), { retention: 1, "region-keys": 1 });
    assert.deepEqual(await held(ports.controlPlanes), { "incident-sweep": 1, "audit-anchors": 1 });
  });
});
