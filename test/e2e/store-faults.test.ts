/**
 * The store fails under running services: a collector and a control plane run
 * as processes (`phonehome serve`) on a PostgreSQL cluster of the test's own,
 * while a fleet activates through the SDK. The cluster's connections are cut,
 * it is stopped (immediate and fast mode) and frozen (SIGSTOP). Through all of
 * it both processes stay up; a request the store cannot take is answered `503
 * service.unavailable` with `Retry-After` in bounded time; `/readyz` says "not
 * ready" in bounded time; and once the store is back, the devices' queues
 * deliver the rest: every acknowledged activation is stored, none twice.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, type TestContext, test } from "node:test";
import { createDeviceIdentity, type DeviceIdentity, isSdkError, PhoneHomeClient } from "@phonehome/sdk";
import { listActivations } from "../../src/collector/activation/activation.repository.ts";
import { buildConfig } from "../../src/core/config/index.ts";
import { openDb, type StoreConfig } from "../../src/core/db/index.ts";
import { loadFleetTrust } from "../../src/core/keys/index.ts";
import { importFleet } from "../../src/control-plane/fleet/index.ts";
import { buildEnvelope } from "../helpers/envelopes.ts";
import { oneBatchFactoryFile } from "../helpers/fleet.ts";
import { type PgCluster, startPgCluster } from "../helpers/pg-cluster.ts";
import {
  freePort,
  type ServiceProcess,
  startCollector,
  startService,
  stopService,
} from "../helpers/processes.ts";

const DEVICES = 240;
/** The store's statement timeout in this test; the driver waits 2 s more (src/db). */
const STATEMENT_MS = 1000;
const CONNECT_MS = 1000;

describe("the store fails under a running collector and control plane (PostgreSQL)", () => {
  const dataDir = mkdtempSync(join(tmpdir(), "phonehome-store-faults-"));
  let cluster: PgCluster;
  let controlPlane: ServiceProcess | undefined;
  let collector: ServiceProcess | undefined;
  let collectorUrl: string;
  let controlPlaneUrl: string;
  let regionStore: StoreConfig;
  let devices: DeviceIdentity[];
  const acknowledged = new Set<string>();

  const client = (d: DeviceIdentity) =>
    new PhoneHomeClient({
      identity: d,
      queueDir: join(dataDir, "queues", d.serial),
      // One attempt per call: a 503 leaves the activation queued at once, for a later flush.
      retry: { baseMs: 10, maxMs: 40, maxAttempts: 1 },
      requestTimeoutMs: 15_000,
    });

  const assertAlive = () => {
    for (const [name, service] of [
      ["control plane", controlPlane],
      ["collector", collector],
    ] as const) {
      assert.ok(service, `${name} started`);
      assert.equal(service.child.exitCode, null, `${name} is still running; stderr:\n${service.stderr()}`);
      assert.equal(service.child.signalCode, null, `${name} was not killed`);
    }
  };

  /** Activates `list` with 12 at a time; an activation that fails must fail as "offline" (still queued). */
  const activate = async (list: readonly DeviceIdentity[], during?: (done: number) => Promise<void>) => {
    let next = 0;
    let done = 0;
    const offline: string[] = [];
    const worker = async () => {
      while (next < list.length) {
        const device = list[next++] as DeviceIdentity;
        try {
          await client(device).activate();
          acknowledged.add(device.keyId);
        } catch (error) {
          assert.ok(isSdkError(error, "sdk.offline"), `${device.serial}: ${String(error)}`);
          offline.push(device.serial);
        }
        done += 1;
        await during?.(done);
      }
    };
    await Promise.all(Array.from({ length: 12 }, worker));
    return offline;
  };

  /** An activation envelope POSTed as is: the status, Retry-After and code, and how long the answer took. */
  const postActivation = async (device: DeviceIdentity) => {
    const started = performance.now();
    const response = await fetch(`${collectorUrl}/v1/activations`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(await buildEnvelope(device)),
      signal: AbortSignal.timeout(30_000),
    });
    const body = (await response.json()) as { error?: { code: string } };
    return {
      status: response.status,
      retryAfter: response.headers.get("retry-after"),
      code: body.error?.code,
      ms: performance.now() - started,
    };
  };

  const timed = async (url: string) => {
    const started = performance.now();
    const response = await fetch(url, { signal: AbortSignal.timeout(30_000) });
    await response.arrayBuffer();
    return {
      status: response.status,
      retryAfter: response.headers.get("retry-after"),
      ms: performance.now() - started,
    };
  };

  /** Polls until both services say ready again (the store is back). */
  const untilReady = async () => {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const [a, b] = await Promise.all([timed(`${collectorUrl}/readyz`), timed(`${controlPlaneUrl}/readyz`)]);
      if (a.status === 200 && b.status === 200) return;
      assert.ok(Date.now() < deadline, "both services ready again within 30 s of the store's return");
      await new Promise((r) => setTimeout(r, 200));
    }
  };

  /** What a store that cannot answer looks like from outside: 503s with Retry-After, in bounded time. */
  const assertUnavailable = async (
    t: TestContext,
    device: DeviceIdentity,
    bound: { readyMs: number; ingestMs: number },
  ) => {
    for (const url of [`${collectorUrl}/readyz`, `${controlPlaneUrl}/readyz`]) {
      const ready = await timed(url);
      t.diagnostic(`${url}: ${ready.status} in ${Math.round(ready.ms)} ms`);
      assert.equal(ready.status, 503, `${url} is not ready`);
      assert.equal(ready.retryAfter, "5");
      assert.ok(ready.ms < bound.readyMs, `${url} answered in ${Math.round(ready.ms)} ms`);
    }
    const ingest = await postActivation(device);
    t.diagnostic(`POST /v1/activations: ${ingest.status} ${ingest.code} in ${Math.round(ingest.ms)} ms`);
    assert.equal(
      ingest.status,
      503,
      `an activation is answered 503, not ${ingest.status} ${ingest.code}; collector:\n${collector?.stderr().slice(-3000)}`,
    );
    assert.equal(ingest.code, "service.unavailable");
    assert.equal(ingest.retryAfter, "5");
    assert.ok(ingest.ms < bound.ingestMs, `the activation was answered in ${Math.round(ingest.ms)} ms`);
    const head = await timed(`${controlPlaneUrl}/v1/audit-log/head`);
    assert.equal(head.status, 503, "the control plane's store-backed routes answer 503");
    assert.equal(head.retryAfter, "5");
    assertAlive();
  };

  before(async () => {
    cluster = await startPgCluster();
    const store = (schema: string) => ({
      url: cluster.url,
      schema,
      connectTimeoutMs: CONNECT_MS,
      statementTimeoutMs: STATEMENT_MS,
      idleInTransactionTimeoutMs: 5000,
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
    const configFile = join(dataDir, "phonehome.json");
    writeFileSync(configFile, JSON.stringify(raw));
    const config = buildConfig(raw, dataDir);
    regionStore = config.regions[0]?.store as StoreConfig;

    controlPlane = await startService(configFile, ["--control-plane"]);
    collector = await startCollector(configFile);
    const announced = (await (await fetch(`${collectorUrl}/v1/region`)).json()) as {
      kid: string;
      publicKey: string;
    };
    const { roots } = await loadFleetTrust(dataDir);
    devices = Array.from({ length: DEVICES }, (_, i) =>
      createDeviceIdentity(
        {
          serial: `SF${String(i).padStart(8, "0")}`,
          model: "TA-1062",
          variant: "00WW",
          market: "NO",
          build: "00WW_3_39B_SP03",
        },
        {
          region: "global",
          storedIn: "SG",
          url: collectorUrl,
          kid: announced.kid,
          publicKey: announced.publicKey,
        },
        roots,
      ),
    );
    const db = await openDb(config.controlPlane.store);
    try {
      await importFleet(db, config, {
        name: "faults.json",
        text: oneBatchFactoryFile("B-FAULTS-NO", devices),
      });
    } finally {
      await db.close();
    }
  });

  after(async () => {
    await stopService(collector);
    await stopService(controlPlane);
    await cluster?.destroy();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test("connections cut under load: both processes stay up, every failure is a retryable one", async () => {
    let cuts = 0;
    const offline = await activate(devices.slice(0, 120), async (done) => {
      if (done % 30 === 0) cuts += await cluster.terminateConnections();
    });
    assert.ok(cuts > 0, "connections were cut while the fleet activated");
    assertAlive();
    // The store is still there: what went offline goes through on the next flush.
    for (const serial of offline) {
      const device = devices.find((d) => d.serial === serial) as DeviceIdentity;
      assert.equal((await client(device).flush()).remaining, 0, `${serial} delivered its queue`);
      acknowledged.add(device.keyId);
    }
    assert.equal(acknowledged.size, 120);
  });

  for (const mode of ["immediate", "fast"] as const) {
    test(`the store stopped (${mode}): 503 with Retry-After in bounded time, then recovery`, async (t) => {
      await cluster.stop(mode);
      try {
        await assertUnavailable(t, devices[200] as DeviceIdentity, {
          readyMs: 2500,
          ingestMs: CONNECT_MS + 4000,
        });
        const offline = await activate(devices.slice(120, 130));
        assert.equal(offline.length, 10, "no activation is acknowledged while the store is down");
      } finally {
        await cluster.start();
      }
      await untilReady();
      assertAlive();
      for (const device of devices.slice(120, 130)) {
        assert.equal((await client(device).flush()).remaining, 0, `${device.serial} delivered its queue`);
        acknowledged.add(device.keyId);
      }
    });
  }

  test("the store frozen (SIGSTOP): answers in bounded time instead of hanging, then recovery", async (t) => {
    cluster.freeze();
    try {
      // The driver gives a statement 2 s beyond the statement timeout, or a connection CONNECT_MS.
      await assertUnavailable(t, devices[201] as DeviceIdentity, {
        readyMs: 2500,
        ingestMs: STATEMENT_MS + 2000 + CONNECT_MS + 3000,
      });
      const offline = await activate(devices.slice(130, 140));
      assert.equal(offline.length, 10, "no activation is acknowledged while the store is frozen");
    } finally {
      cluster.thaw();
    }
    await untilReady();
    assertAlive();
    for (const device of devices.slice(130, 140)) {
      assert.equal((await client(device).flush()).remaining, 0, `${device.serial} delivered its queue`);
      acknowledged.add(device.keyId);
    }
  });

  test("afterwards: every acknowledged activation is stored once, and the rest of the fleet activates", async () => {
    const offline = await activate(devices.slice(140));
    assert.deepEqual(offline, [], "with the store back, nothing fails");
    assertAlive();
    const db = await openDb(regionStore);
    try {
      const stored = (await listActivations(db, "", 100_000)).map((r) => r.deviceKey);
      assert.equal(new Set(stored).size, stored.length, "nothing stored twice");
      const have = new Set(stored);
      for (const key of acknowledged) assert.ok(have.has(key), `acknowledged ${key} is stored`);
      // devices[200] and [201] were sent by hand during the outages and refused; they are part of slice(140).
      assert.equal(stored.length, DEVICES);
    } finally {
      await db.close();
    }
  });
});
