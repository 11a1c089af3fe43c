/**
 * `serve --workers N`: several worker processes share one port, a worker
 * that dies is replaced while the others go on answering, `/metrics` speaks
 * for every worker, SIGTERM stops them all, and what cannot work is refused
 * at once (more than one worker on the embedded store, a count that is not
 * one).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { loadServiceToken } from "../../src/core/keys/index.ts";
import {
  BIN,
  exited,
  freePort,
  type ServiceProcess,
  startService,
  stopService,
} from "../helpers/processes.ts";
import { postgresBackend } from "../helpers/stores.ts";

const childrenOf = (pid: number): number[] =>
  spawnSync("pgrep", ["-P", String(pid)], { encoding: "utf8" })
    .stdout.split("\n")
    .filter((l) => l.trim() !== "")
    .map(Number);

describe("serve --workers N", { skip: postgresBackend.skip }, () => {
  const dataDir = mkdtempSync(join(tmpdir(), "phonehome-workers-"));
  const cleanups: (() => Promise<void>)[] = [];
  let controlPlane: ServiceProcess | undefined;
  let collector: ServiceProcess | undefined;
  let configFile: string;
  let collectorUrl: string;

  before(async () => {
    const [cp, global] = [await postgresBackend.fresh("wcp"), await postgresBackend.fresh("wglobal")];
    cleanups.push(cp.cleanup, global.cleanup);
    const [cpPort, regionPort] = [await freePort(), await freePort()];
    collectorUrl = `http://127.0.0.1:${regionPort}`;
    const store = (s: typeof cp.store) => (s.kind === "postgres" ? { url: s.url, schema: s.schema } : s);
    configFile = join(dataDir, "phonehome.json");
    writeFileSync(
      configFile,
      JSON.stringify({
        dataDir,
        logLevel: "warn",
        controlPlane: { listen: `127.0.0.1:${cpPort}`, store: store(cp.store) },
        regions: [
          { id: "global", storedIn: "SG", listen: `127.0.0.1:${regionPort}`, store: store(global.store) },
          { id: "cn", storedIn: "CN", listen: "127.0.0.1:0", store: { dataDir: join(dataDir, "cn") } },
        ],
        jobs: { leaseSeconds: 2 },
      }),
    );
    controlPlane = await startService(configFile, ["--control-plane"]);
    collector = await startService(configFile, ["--workers", "2", "--region", "global"]);
  });

  after(async () => {
    await stopService(collector);
    await stopService(controlPlane);
    for (const cleanup of cleanups) await cleanup();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test("two workers on one port; one killed is replaced while the other answers; /metrics counts them all", async (t) => {
    const primary = collector?.child.pid ?? assert.fail("no collector");
    const workers = childrenOf(primary);
    assert.equal(workers.length, 2, "two worker processes");
    const token = loadServiceToken(dataDir);
    const leaseHeld = async () => {
      const text = await (
        await fetch(`${collectorUrl}/metrics`, { headers: { authorization: `Bearer ${token}` } })
      ).text();
      return Number(/^phonehome_lease_held\{lease="retention"[^}]*\} (\d+)$/m.exec(text)?.[1]);
    };
    // One worker holds the region's lease; a scrape, whichever worker answers it, says so.
    for (let i = 0; i < 50 && (await leaseHeld()) !== 1; i++) await sleep(100);
    for (let i = 0; i < 6; i++) assert.equal(await leaseHeld(), 1, "one holder among the workers");

    process.kill(workers[0] as number, "SIGKILL");
    const statuses = new Map<number, number>();
    const started = performance.now();
    let replaced: number[] = [];
    while (performance.now() - started < 20_000) {
      const response = await fetch(`${collectorUrl}/v1/region`, { signal: AbortSignal.timeout(5000) }).catch(
        () => null,
      );
      const status = response?.status ?? 0;
      await response?.arrayBuffer();
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
      replaced = childrenOf(primary);
      if (replaced.length === 2 && !replaced.includes(workers[0] as number)) break;
      await sleep(20);
    }
    t.diagnostic(
      `replaced in ${Math.round(performance.now() - started)} ms; answers meanwhile ${JSON.stringify([...statuses])}`,
    );
    assert.equal(replaced.length, 2, "the dead worker was replaced");
    assert.ok(!replaced.includes(workers[0] as number));
    // The one kept-alive connection the dead worker held fails once; every later request is answered.
    assert.ok((statuses.get(0) ?? 0) <= 1, "at most the dead worker's connection failed");
    assert.deepEqual(
      [...statuses.keys()].filter((s) => s !== 0),
      [200],
      "every other request answered by a living worker",
    );
    for (let i = 0; i < 20; i++) assert.equal((await fetch(`${collectorUrl}/v1/region`)).status, 200);
    assert.equal(collector?.child.exitCode, null, "the primary goes on");
  });

  test("SIGTERM stops every worker and the primary, with code 0", async () => {
    const primary = collector?.child.pid ?? assert.fail("no collector");
    const workers = childrenOf(primary);
    collector?.child.kill("SIGTERM");
    await exited(collector?.child ?? assert.fail());
    assert.equal(collector?.child.exitCode, 0);
    for (const pid of workers) assert.throws(() => process.kill(pid, 0), "the worker has ended");
    collector = undefined;
  });

  test("more than one worker on the embedded store, a replica with other keys, or a count that is not a whole number of at least one, is refused", () => {
    const run = (...args: string[]) =>
      spawnSync(process.execPath, [BIN, "--config", configFile, "serve", ...args], {
        encoding: "utf8",
        timeout: 60_000,
      });
    const embedded = run("--workers", "2", "--region", "cn");
    assert.equal(embedded.status, 1);
    assert.match(embedded.stderr, /--workers 2 needs a PostgreSQL store/);
    // A replica started on a data directory of its own would seal and sign with other keys: it stops.
    const otherDir = mkdtempSync(join(tmpdir(), "phonehome-workers-other-"));
    try {
      const other = join(otherDir, "phonehome.json");
      writeFileSync(
        other,
        readFileSync(configFile, "utf8").replaceAll(JSON.stringify(dataDir).slice(1, -1), otherDir),
      );
      const stranger = spawnSync(
        process.execPath,
        [BIN, "--config", other, "serve", "--workers", "1", "--region", "global"],
        {
          encoding: "utf8",
          timeout: 60_000,
        },
      );
      assert.equal(stranger.status, 1, stranger.stderr);
      assert.match(
        stranger.stderr,
        /error \[keys\.differ\]: this replica's keys are not the ones its store was started with \(key-wrap-secret, pseudonym-secret, service-token, fleet-roots\)/,
      );
    } finally {
      rmSync(otherDir, { recursive: true, force: true });
    }
    for (const bad of ["0", "two", "1.5"]) {
      const refused = run("--workers", bad, "--region", "global");
      assert.equal(refused.status, 2, bad);
      assert.match(refused.stderr, /must be a whole number from 1 to 256/);
    }
  });
});
