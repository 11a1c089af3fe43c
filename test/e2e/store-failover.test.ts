/**
 * The store fails over under load. A region's and the control plane's stores
 * live on a PostgreSQL primary with a synchronous standby (streaming
 * replication set up by the test with initdb and pg_basebackup); the services
 * name both hosts in one URL and ask for the writable one. While a fleet of
 * SDK devices activates, consents and sends diagnostics, the primary is
 * stopped in immediate mode (a crash) and, a few seconds later, the standby
 * promoted. Meanwhile `/readyz` says not ready and devices get `503` with
 * `Retry-After`, never a `500`; afterwards the services write to the new
 * primary without a restart, nothing acknowledged is lost, nothing is stored
 * twice, and the devices' queues deliver the rest.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { buildConfig } from "../../src/core/config/index.ts";
import { openDb, type StoreConfig } from "../../src/core/db/index.ts";
import { importFleet } from "../../src/control-plane/fleet/index.ts";
import { loadFleetTrust, loadPseudonymSecret } from "../../src/core/keys/index.ts";
import { buildEnvelope } from "../helpers/envelopes.ts";
import { oneBatchFactoryFile } from "../helpers/fleet.ts";
import { type PgPair, startPgPair } from "../helpers/pg-cluster.ts";
import {
  BIN,
  freePort,
  type ServiceProcess,
  startCollector,
  startService,
  stopService,
} from "../helpers/processes.ts";
import { checkFleet, drive, makeFleet } from "../helpers/sdk-fleet.ts";

const DEVICES = 400;
const EVENTS_PER_DEVICE = 2;
/** How long the store has no primary: from the primary's crash to the standby's promotion. */
const NO_PRIMARY_MS = 4000;

describe("the store fails over to its synchronous standby under load (PostgreSQL streaming replication)", () => {
  const dataDir = mkdtempSync(join(tmpdir(), "phonehome-failover-"));
  let pair: PgPair;
  let controlPlane: ServiceProcess | undefined;
  let collector: ServiceProcess | undefined;
  let collectorUrl: string;
  let controlPlaneUrl: string;
  let regionStore: StoreConfig;
  let controlStore: StoreConfig;
  const configFile = join(dataDir, "phonehome.json");

  before(async () => {
    pair = await startPgPair();
    const store = (schema: string) => ({
      url: pair.url,
      schema,
      poolSize: 5,
      connectTimeoutMs: 1000,
      statementTimeoutMs: 2000,
    });
    const [cpPort, regionPort] = [await freePort(), await freePort()];
    controlPlaneUrl = `http://127.0.0.1:${cpPort}`;
    collectorUrl = `http://127.0.0.1:${regionPort}`;
    const raw = {
      dataDir,
      logLevel: "warn",
      controlPlane: { listen: `127.0.0.1:${cpPort}`, url: controlPlaneUrl, store: store("cp") },
      regions: [
        { id: "global", storedIn: "SG", listen: `127.0.0.1:${regionPort}`, store: store("global") },
        { id: "cn", storedIn: "CN", listen: "127.0.0.1:0", store: { dataDir: join(dataDir, "cn-unused") } },
      ],
      ingest: { batchDelayMs: 2 },
    };
    writeFileSync(configFile, JSON.stringify(raw));
    const config = buildConfig(raw, dataDir);
    regionStore = config.regions[0]?.store as StoreConfig;
    controlStore = config.controlPlane.store;
    controlPlane = await startService(configFile, ["--control-plane"]);
    collector = await startCollector(configFile);
  });

  after(async () => {
    await stopService(collector);
    await stopService(controlPlane);
    await pair?.destroy();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test("primary crashed, standby promoted: 503 with Retry-After meanwhile, nothing lost or doubled, no restart", async (t) => {
    const announced = (await (await fetch(`${collectorUrl}/v1/region`)).json()) as {
      kid: string;
      publicKey: string;
    };
    const { devices, seen } = makeFleet({
      count: DEVICES,
      prefix: "FO",
      home: { region: "global", storedIn: "SG", url: collectorUrl, ...announced },
      roots: (await loadFleetTrust(dataDir)).roots,
      queueDir: join(dataDir, "queues"),
    });
    const cp = await openDb(controlStore);
    try {
      await importFleet(cp, buildConfig({ dataDir }, dataDir), {
        name: "failover.json",
        text: oneBatchFactoryFile(
          "B-FAILOVER-NO",
          devices.map((d) => d.identity),
        ),
      });
    } finally {
      await cp.close();
    }

    const fleetRun = drive(devices, EVENTS_PER_DEVICE, { concurrency: 16, until: Date.now() + 180_000 });
    // Under load: wait for a good share of the fleet's writes, then crash the primary.
    while (seen.acks.length < DEVICES / 2) await sleep(50);
    const crashedAt = performance.now();
    const acksBefore = seen.acks.length;
    await pair.primary.stop("immediate");
    t.diagnostic(`primary stopped (immediate) after ${acksBefore} acknowledged writes`);

    // No primary: not ready, and a write is refused as retryable, on both services.
    const probes: { path: string; status: number; retryAfter: string | null; code?: string }[] = [];
    const probe = async (url: string, init?: RequestInit) => {
      const response = await fetch(url, { ...init, signal: AbortSignal.timeout(20_000) });
      const body = (await response.json().catch(() => ({}))) as { error?: { code: string } };
      probes.push({
        path: new URL(url).pathname,
        status: response.status,
        retryAfter: response.headers.get("retry-after"),
        ...(body.error ? { code: body.error.code } : {}),
      });
    };
    while (performance.now() - crashedAt < NO_PRIMARY_MS) {
      await probe(`${collectorUrl}/readyz`);
      await probe(`${controlPlaneUrl}/readyz`);
      await probe(`${collectorUrl}/v1/activations`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(await buildEnvelope(devices[1]?.identity ?? assert.fail("no device"))),
      });
      await sleep(200);
    }
    await pair.promote();
    const promotedAt = performance.now();
    t.diagnostic(`standby promoted ${Math.round(promotedAt - crashedAt)} ms after the crash`);
    const withoutPrimary = probes.filter((p) => p.path === "/readyz" || p.status !== 201);
    assert.ok(probes.length >= 6, `probed ${probes.length} times`);
    for (const p of withoutPrimary) {
      assert.equal(p.status, 503, `${p.path} answered ${p.status} ${p.code ?? ""} without a primary`);
      assert.equal(p.retryAfter, "5", `${p.path}: Retry-After`);
    }

    // Both services come back on the new primary by themselves.
    for (const url of [`${collectorUrl}/readyz`, `${controlPlaneUrl}/readyz`]) {
      const deadline = Date.now() + 30_000;
      for (;;) {
        const r = await fetch(url);
        if (r.status === 200) break;
        assert.ok(Date.now() < deadline, `${url} ready again within 30 s of the promotion`);
        await sleep(100);
      }
    }
    t.diagnostic(`both ready ${Math.round(performance.now() - promotedAt)} ms after the promotion`);

    let open = await fleetRun;
    open = await drive(open, EVENTS_PER_DEVICE, { concurrency: 16, until: Date.now() + 60_000 });
    assert.equal(open.length, 0, "every device finished");
    for (const [name, service] of [
      ["collector", collector],
      ["control plane", controlPlane],
    ] as const) {
      assert.equal(service?.child.exitCode, null, `${name} still runs (never restarted)`);
    }
    assert.deepEqual(seen.serverErrors, [], "devices saw no 5xx but 503");
    assert.ok((seen.answers.get(503) ?? 0) > 0, "devices were told to come back later");

    // The longest time no write was acknowledged, across the failover.
    const acks = [...seen.acks].sort((a, b) => a - b);
    const lastBefore = acks.filter((a) => a <= crashedAt + 50).at(-1) ?? crashedAt;
    const firstAfter = acks.find((a) => a > promotedAt) ?? Number.NaN;
    const window = firstAfter - lastBefore;
    t.diagnostic(
      `no write acknowledged for ${Math.round(window)} ms (last before the crash to first after the promotion; the store had no primary for ${Math.round(promotedAt - crashedAt)} ms)`,
    );
    assert.ok(
      window < NO_PRIMARY_MS + 15_000,
      `devices stored again ${Math.round(window)} ms after the last acknowledgement`,
    );

    const region = await openDb(regionStore);
    try {
      const check = await checkFleet(region, loadPseudonymSecret(dataDir, "global"), devices);
      t.diagnostic(`store: ${JSON.stringify(check)}; answers ${JSON.stringify([...seen.answers])}`);
      assert.equal(check.lost, 0, "no acknowledged record lost");
      assert.equal(check.duplicated, 0, "no record stored twice");
      assert.equal(check.undelivered, 0);
      assert.equal(check.activations, DEVICES);
      assert.equal(check.events, (DEVICES / 2) * EVENTS_PER_DEVICE);
      const { rows } = await region.query<{ n: number }>(
        `SELECT coalesce(sum(count), 0)::integer AS n FROM ingest_ledger WHERE collection = 'activation' AND outcome = 'stored'`,
      );
      assert.equal(rows[0]?.n, DEVICES, "the ledger counts each activation once");
    } finally {
      await region.close();
    }

    // The same URL serves the tools: a backup finds the new primary, the old one still down.
    const out = join(dataDir, "global.backup");
    const backup = spawnSync(
      process.execPath,
      [BIN, "--config", configFile, "backup", "--region", "global", "--out", out],
      {
        encoding: "utf8",
        timeout: 120_000,
      },
    );
    assert.equal(backup.status, 0, backup.stderr);
    assert.match(backup.stdout, /activations\s+400\b/);
  });
});
