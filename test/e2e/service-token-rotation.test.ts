/**
 * The service token rotated under traffic, between a control plane and a
 * collector running as processes on two "machines" (each its own data
 * directory, the secrets copied as docs/operations.md says): a new token is
 * staged on the control plane's machine and its accepted set copied to the
 * collector's; the control plane's machine switches, its two files are copied
 * over, accepted set first. Throughout, the collector asks the control
 * plane's directory (an unknown device each time) and the control plane asks
 * the collector's ledger: no request is refused. After the overlap the
 * previous token is refused by both processes, without a restart; each step
 * is in the audit log.
 */
import assert from "node:assert/strict";
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { createDeviceIdentity } from "@phonehome/sdk";
import { readTokenFiles, RELOAD_MS } from "../../src/core/keys/index.ts";
import { phonehomeAsync } from "../helpers/cli.ts";
import { buildEnvelope, post } from "../helpers/envelopes.ts";
import {
  freePort,
  type ServiceProcess,
  startCollector,
  startService,
  stopService,
} from "../helpers/processes.ts";

describe("the service token rotates under traffic between a collector and the control plane", () => {
  const root = mkdtempSync(join(tmpdir(), "phonehome-token-rotation-"));
  const [cpDir, collectorDir] = [join(root, "machine-a"), join(root, "machine-b")];
  const configOf = (dir: string) => join(dir, "phonehome.json");
  let controlPlane: ServiceProcess | undefined;
  let collector: ServiceProcess | undefined;
  let cpUrl = "";
  let collectorUrl = "";

  /** Copies a secrets file from machine a to machine b, whole (written aside, then renamed), as `install` or rsync would. */
  const copySecret = (name: string) => {
    const temp = join(collectorDir, "secrets", `${name}.copy`);
    copyFileSync(join(cpDir, "secrets", name), temp);
    renameSync(temp, join(collectorDir, "secrets", name));
  };

  before(async () => {
    const [cpPort, regionPort] = [await freePort(), await freePort()];
    cpUrl = `http://127.0.0.1:${cpPort}`;
    collectorUrl = `http://127.0.0.1:${regionPort}`;
    for (const dir of [cpDir, collectorDir]) {
      mkdirSync(dir, { recursive: true });
      writeFileSync(
        configOf(dir),
        JSON.stringify({
          dataDir: dir,
          logLevel: "warn",
          controlPlane: {
            listen: `127.0.0.1:${cpPort}`,
            url: cpUrl,
            store: { dataDir: join(cpDir, "cp-store") },
          },
          regions: [
            {
              id: "global",
              storedIn: "SG",
              listen: `127.0.0.1:${regionPort}`,
              url: collectorUrl,
              store: { dataDir: join(collectorDir, "global-store") },
            },
            { id: "cn", storedIn: "CN", listen: "127.0.0.1:0", store: { dataDir: join(root, "cn-unused") } },
          ],
          ingest: { batchDelayMs: 2 },
        }),
      );
    }
    // Machine b's secrets are a copy of machine a's (docs/operations.md).
    readTokenFiles(cpDir);
    mkdirSync(join(collectorDir, "secrets"), { recursive: true, mode: 0o700 });
    copySecret("service-token");
    controlPlane = await startService(configOf(cpDir), ["--control-plane"]);
    collector = await startCollector(configOf(collectorDir));
  });

  after(async () => {
    await stopService(collector);
    await stopService(controlPlane);
    rmSync(root, { recursive: true, force: true });
  });

  test("no request is refused during the rotation, and the previous token is refused after the overlap", async () => {
    const announced = (await (await fetch(`${collectorUrl}/v1/region`)).json()) as {
      kid: string;
      publicKey: string;
    };
    const home = { region: "global", storedIn: "SG", url: collectorUrl, ...announced };
    const tokenOf = (dir: string) => readFileSync(join(dir, "secrets", "service-token"), "utf8").trim();
    const failures: string[] = [];
    let requests = 0;
    let running = true;
    // Collector → control plane: an unknown device's activation makes the collector ask the directory.
    const activation = async (i: number) => {
      const device = createDeviceIdentity(
        {
          serial: `ROT${String(i).padStart(8, "0")}`,
          model: "TA-1062",
          variant: "00WW",
          market: "NO",
          build: "00WW_3_39B_SP03",
        },
        home,
      );
      const answer = await post(`${collectorUrl}/v1/activations`, await buildEnvelope(device));
      if (answer.body.error?.code !== "device.unknown") {
        failures.push(`activation: ${answer.status} ${JSON.stringify(answer.body)}`);
      }
    };
    // Control plane → collector: the ledger is gathered from the region with the control plane's token.
    const ledger = async () => {
      const since = new Date(Date.now() - 3_600_000).toISOString();
      const response = await fetch(`${cpUrl}/v1/ledger?since=${encodeURIComponent(since)}`, {
        headers: { authorization: `Bearer ${tokenOf(cpDir)}` },
      });
      const body = (await response.json()) as { missing?: { region: string; reason: string }[] };
      const global = body.missing?.find((m) => m.region === "global");
      if (response.status !== 200 || global !== undefined) {
        failures.push(`ledger: ${response.status} ${JSON.stringify(global ?? body)}`);
      }
    };
    const traffic = Promise.all(
      [0, 1, 2].map(async (lane) => {
        for (let i = lane; running; i += 3) {
          requests += 1;
          await (i % 2 === 0 ? activation(i) : ledger());
        }
      }),
    );
    const cli = (dir: string, args: string[]) => phonehomeAsync(["--config", configOf(dir), ...args]);
    const before = tokenOf(cpDir);
    try {
      await sleep(1000);
      const staged = await cli(cpDir, ["keys", "rotate-service-token", "--stage"]);
      assert.equal(staged.status, 0, staged.stderr);
      copySecret("service-tokens.json");
      // Every process accepts the staged token within two re-reads; then machine a switches.
      await sleep(2 * RELOAD_MS + 500);
      const overlapSeconds = 20;
      const promoted = await cli(cpDir, [
        "keys",
        "rotate-service-token",
        "--promote",
        "--overlap",
        `PT${overlapSeconds}S`,
      ]);
      assert.equal(promoted.status, 0, promoted.stderr);
      const until = Date.parse(/accepted until (\S+)/.exec(promoted.stdout)?.[1] ?? "");
      assert.ok(Number.isFinite(until), promoted.stdout);
      copySecret("service-tokens.json");
      copySecret("service-token");
      assert.notEqual(tokenOf(collectorDir), before);
      // Traffic through the switch of both machines and past the end of the overlap.
      while (Date.now() < until + 2 * RELOAD_MS) await sleep(500);
    } finally {
      running = false;
      await traffic;
    }
    assert.deepEqual(failures, [], `${failures.length} of ${requests} requests refused`);
    assert.ok(requests > 50, `${requests} requests during the rotation`);

    // The previous token is refused now by both processes, which never restarted; the new one is accepted.
    for (const [url, code] of [
      [`${cpUrl}/v1/fleet/batches`, "auth.required"],
      [`${collectorUrl}/v1/ledger?since=2026-01-01T00:00:00Z`, "auth.service_token_invalid"],
    ] as const) {
      const old = await fetch(url, { headers: { authorization: `Bearer ${before}` } });
      assert.equal(old.status, 401, url);
      assert.equal(((await old.json()) as { error: { code: string } }).error.code, code);
      const current = await fetch(url, { headers: { authorization: `Bearer ${tokenOf(cpDir)}` } });
      assert.equal(current.status, 200, url);
    }
    for (const service of [controlPlane, collector]) assert.equal(service?.child.exitCode, null);

    const log = (await (
      await fetch(`${cpUrl}/v1/audit-log`, { headers: { authorization: `Bearer ${tokenOf(cpDir)}` } })
    ).json()) as { entries: { action: string; actor: string; detail: Record<string, unknown> }[] };
    const steps = log.entries.filter((e) => e.action.startsWith("service_token."));
    assert.deepEqual(
      steps.map((e) => [e.action, e.actor]),
      [
        ["service_token.staged", "service-token"],
        ["service_token.rotated", "service-token"],
      ],
    );
    assert.ok(!JSON.stringify(log).includes(before), "no token in the audit log");
    console.log(`# ${requests} requests across the rotation, ${failures.length} refused`);
  });
});
