/**
 * Smoke tests of `npm run bench`: a --quick run of the server suites
 * (activations and diagnostics) completes, prints their ratios and reports no
 * failed request and no lost event; the activations suite's floor server
 * answers a correctly sealed activation and refuses what the collector would;
 * a --quick run of the auditor suite (a 20 MB capture, no PostgreSQL, needs
 * tshark) completes, prints its ratio and both tools agree on the HTTP
 * requests written. They assert nothing about speed: figures on a shared
 * machine prove nothing, and a timed assertion would only flake.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { type Envelope, ed25519PrivateKey, sealEnvelope, signBytes, signingInput } from "@phonehome/sdk";
import { generateDemoFleet } from "../src/control-plane/fleet/index.ts";
import { IN_CI, postgresBackend } from "../test/helpers/stores.ts";
import { sealActivations } from "./activations.ts";
import { startServer } from "./harness.ts";
import { BODY_LIMIT, FLOOR_REGION } from "./protocol.ts";

const RUN = new URL("./run.ts", import.meta.url).pathname;

function runBench(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [RUN, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on("error", reject);
    child.on("exit", (code) => resolve({ code, stdout, stderr }));
  });
}

/** The cells of the result table's row for `server`. */
function tableRow(stdout: string, server: string): string[] {
  const line = stdout.split("\n").find((l) => new RegExp(`^${server} +[\\d-]`).test(l));
  assert.ok(line, `no ${server} row in:\n${stdout}`);
  return line.trim().split(/\s+/);
}

test(
  "npm run bench --quick completes the server suites with a ratio and no failed request",
  {
    skip: postgresBackend.skip,
    timeout: 180_000,
  },
  async () => {
    // Unpinned: this runs beside other tests, which must not find their PostgreSQL kept to one core.
    const { code, stdout, stderr } = await runBench([
      "--quick",
      "--no-pin",
      "--suite",
      "activations,diagnostics",
    ]);
    assert.equal(code, 0, `bench exited ${code}\n${stdout}\n${stderr}`);
    assert.match(stdout, /^ratio phonehome \/ bare: \d+\.\d{3} /m);
    assert.match(stdout, /^ratio phonehome \/ floor: \d+\.\d{3} \(target >= 0\.6: (met|NOT met)\)$/m);
    assert.match(stdout, /^ratio floor \/ bare: \d+\.\d{3} /m);
    assert.match(stdout, /^phonehome latency: p50 (<1|\d+) ms, p99 (<1|\d+) ms /m);
    assert.match(stdout, /^group commits \(measured rounds\): \d+ transactions/m);
    // Columns: server, requests, req/s, p50, p99, max, errors, server cpu, client cpu.
    for (const server of ["bare", "floor", "phonehome"]) {
      const cells = tableRow(stdout, server);
      assert.ok(Number(cells[1]) > 0, `${server} answered no request`);
      assert.equal(cells[6], "0", `${server} had failed requests`);
    }
    assert.match(stdout, /^ratio collector \/ copy: \d+\.\d{3} /m);
    assert.match(stdout, /^collector latency per envelope: p50 (<1|\d+) ms, p99 (<1|\d+) ms /m);
    // Columns: side, envelopes, events, events/s, p50, p99, max, errors, server cpu, pg cpu.
    for (const side of ["collector", "copy"]) {
      const cells = tableRow(stdout, side);
      assert.ok(Number(cells[2]) > 0, `${side} stored no event`);
      assert.equal(cells[7], "0", `${side} had errors`);
    }
    assert.equal(stdout.match(/^valid: 0 errors/gm)?.length, 2, "both suites valid");
    assert.doesNotMatch(stdout, /INVALID/);
  },
);

test(
  "the activations suite's floor server answers a sealed activation 201 and refuses what the collector would, 400",
  { timeout: 60_000 },
  async () => {
    const dir = mkdtempSync(join(tmpdir(), "phonehome-floor-"));
    const fleet = generateDemoFleet({ devices: 3, markets: ["NO"] });
    const factoryFile = join(dir, "factory.json");
    writeFileSync(factoryFile, JSON.stringify(fleet.factory));
    const server = await startServer({ mode: "floor", bodyLimit: BODY_LIMIT, factoryFile }, null);
    try {
      const { publicKey, kid, devices } = server.ready;
      assert.ok(publicKey !== undefined && kid !== undefined, "the ready line names the floor's seal key");
      assert.equal(devices, 3, "every device key imported before ready");
      const region = { region: FLOOR_REGION, kid, publicKey };
      const [first, second] = await sealActivations(fleet, region);
      assert.ok(first && second);
      const post = async (body: Buffer | Envelope) => {
        const response = await fetch(new URL("/v1/activations", server.ready.url), {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: Buffer.isBuffer(body) ? body : JSON.stringify(body),
        });
        return {
          status: response.status,
          body: (await response.json()) as {
            activation?: { device: string; eventId: string };
            error?: { code: string };
          },
        };
      };

      const envelope = JSON.parse(first.toString("utf8")) as Envelope;
      const ok = await post(first);
      assert.equal(ok.status, 201);
      assert.equal(ok.body.activation?.device, envelope.device);
      assert.equal(ok.body.activation?.eventId, envelope.eventId);

      const device = fleet.factory.devices[0];
      const keys = device ? fleet.keys[device.serial] : undefined;
      assert.ok(device && keys);
      const deviceKey = ed25519PrivateKey(keys.privateKey, keys.publicKey);
      // The ciphertext changed: the signature no longer verifies; re-signed, the seal no longer opens.
      // (The first character: the last may carry only padding bits, which decode to the same bytes.)
      const flipped = envelope.ct.startsWith("A") ? "B" : "A";
      const { sig: _sig, ...unsigned } = { ...envelope, ct: `${flipped}${envelope.ct.slice(1)}` };
      const refusals: [string, Buffer | Envelope, string][] = [
        ["tampered", { ...unsigned, sig: envelope.sig }, "signature.invalid"],
        ["re-signed", { ...unsigned, sig: signBytes(signingInput(unsigned), deviceKey) }, "seal.invalid"],
        ["unknown device", { ...envelope, device: `dk_${"A".repeat(27)}` }, "device.unknown"],
        ["not an envelope", { ...envelope, extra: 1 } as Envelope, "envelope.invalid"],
      ];
      // Sealed and signed as a device would, but a payload the approved activation v1 refuses.
      const { enc: _enc, ct: _ct, sig: _sig2, ...header } = envelope;
      const payload = { serial: device.serial, model: device.model, variant: device.variant };
      refusals.push([
        "invalid payload",
        await sealEnvelope(header, payload, publicKey, deviceKey),
        "payload.invalid",
      ]);
      refusals.push([
        "undeclared field",
        await sealEnvelope(header, { ...payload, colour: "red" }, publicKey, deviceKey),
        "payload.undeclared_field",
      ]);
      for (const [what, body, code] of refusals) {
        const refused = await post(body);
        assert.equal(refused.status, 400, `${what}: ${JSON.stringify(refused.body)}`);
        assert.equal(refused.body.error?.code, code, what);
      }
      // The floor keeps no record of replays: the bench cycles through its bodies.
      assert.equal((await post(first)).status, 201);
      assert.equal((await post(second)).status, 201);
    } finally {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test(
  "npm run bench --suite auditor --quick: phonehome audit and tshark find every HTTP request written",
  {
    // In CI a missing tshark fails the test instead (.ci/run installs it).
    skip:
      existsSync("/usr/bin/tshark") || IN_CI ? false : "tshark is not installed (apt-get install -y tshark)",
    timeout: 120_000,
  },
  async () => {
    const { code, stdout, stderr } = await runBench(["--quick", "--no-pin", "--suite", "auditor"]);
    assert.equal(code, 0, `bench exited ${code}\n${stdout}\n${stderr}`);
    assert.match(stdout, /^ratio phonehome \/ tshark: \d+\.\d{3} /m);
    const written = /^http requests: phonehome (\d+), tshark (\d+), written (\d+)/m.exec(stdout);
    assert.ok(written, `no request counts in:\n${stdout}`);
    assert.ok(Number(written[3]) > 0, "the capture holds no HTTP request");
    assert.equal(written[1], written[3]);
    assert.equal(written[2], written[3]);
    // Columns: side, seconds per round, median s, MB/s, requests, cpu s, peak RSS MB.
    for (const side of ["phonehome", "tshark"]) {
      const cells = tableRow(stdout, side);
      assert.ok(Number(cells[3]) > 0, `${side} has no rate`);
      assert.equal(cells[4], written[3], `${side} request count`);
    }
    assert.match(stdout, /^valid: phonehome and tshark each found the \d+ HTTP requests written/m);
    assert.doesNotMatch(stdout, /INVALID/);
  },
);

test(
  "npm run bench --suite isolation --quick: one refused item among 256 costs the others a bisection, never their write",
  { skip: postgresBackend.skip, timeout: 180_000 },
  async () => {
    const { code, stdout, stderr } = await runBench(["--quick", "--no-pin", "--suite", "isolation"]);
    assert.equal(code, 0, `bench exited ${code}\n${stdout}\n${stderr}`);
    assert.match(stdout, /^ratio bisect \/ baseline: \d+\.\d{3}; one-by-one \/ bisect: \d+\.\d{3}$/m);
    // Columns: way, transactions, median, ms, ratio. Bisection finds one bad item among 256 in 2·8 more.
    assert.deepEqual(
      ["baseline", "bisect", "one-by-one"].map((way) => tableRow(stdout, way)[1]),
      ["1", "17", "257"],
    );
  },
);

test(
  "npm run bench --suite workers --quick: serve --workers 2 against --workers 1, every activation answered 201 and stored",
  { skip: postgresBackend.skip, timeout: 180_000 },
  async () => {
    const { code, stdout, stderr } = await runBench(["--quick", "--suite", "workers", "--devices", "4000"]);
    assert.equal(code, 0, `bench exited ${code}\n${stdout}\n${stderr}`);
    assert.match(stdout, /^ratio 2 workers \/ 1 worker: \d+\.\d{3} on \d+ cores/m);
    for (const side of ["1 worker", "2 workers"]) {
      const [, , requests, , , , errors] = tableRow(stdout, side);
      assert.ok(Number(requests) > 0, `${side}: requests answered`);
      assert.equal(errors, "0", `${side}: no failed request`);
    }
    const stored = Number(/^stored: (\d+) activation rows/m.exec(stdout)?.[1]);
    const answered = ["1 worker", "2 workers"].reduce((n, side) => n + Number(tableRow(stdout, side)[2]), 0);
    assert.ok(
      stored >= answered,
      `every answered activation is stored (${stored} rows, ${answered} answered)`,
    );
  },
);

test(
  "npm run bench --suite audit at a small size: appends and head reads on a short and a long log, with their ratios",
  { skip: postgresBackend.skip, timeout: 120_000 },
  async () => {
    const { code, stdout, stderr } = await runBench([
      "--quick",
      "--no-pin",
      "--suite",
      "audit",
      "--audit-entries",
      "20000",
    ]);
    assert.equal(code, 0, `bench exited ${code}\n${stdout}\n${stderr}`);
    assert.match(
      stdout,
      /^ratio big \/ small: append p50 \d+\.\d{3}, p99 \d+\.\d{3}; head p50 \d+\.\d{3}, p99 \d+\.\d{3}$/m,
    );
    // The head is read along the primary key, not by sorting the log.
    assert.match(
      stdout,
      /^plan of the head read at 20,000 entries: .*Index Scan Backward using audit_log_pkey/m,
    );
    // Columns: operation (two words), entries, samples, p50, ms, p99, ms.
    for (const op of ["append small", "append big", "head small", "head big"]) {
      assert.ok(Number(tableRow(stdout, op)[3]) > 0, `${op} has no samples`);
    }
    assert.match(stdout, /^valid: \d+ appends on each store/m);
  },
);

test(
  "npm run bench --suite owner at a small size: owners' access and erasure on a full and an empty region",
  { skip: postgresBackend.skip, timeout: 180_000 },
  async () => {
    const { code, stdout, stderr } = await runBench([
      "--quick",
      "--no-pin",
      "--suite",
      "owner",
      "--owner-rows",
      "20000",
      "--owner-audit",
      "2000",
      "--owner-events",
      "20",
    ]);
    assert.equal(code, 0, `bench exited ${code}\n${stdout}\n${stderr}`);
    assert.match(
      stdout,
      /^ratio full \/ empty: access p50 \d+\.\d{3}, p99 \d+\.\d{3}; erasure p50 \d+\.\d{3}, p99 \d+\.\d{3}$/m,
    );
    // Columns: operation (two words), samples, p50, ms, p99, ms, max, ms.
    for (const op of ["access full", "access empty", "erasure full", "erasure empty"]) {
      assert.equal(tableRow(stdout, op)[2], "16", `${op}: one round of 16 owners`);
    }
    // Where the rounds' CPU went, per owner, and the floor it sets on a round of 16.
    for (const side of ["full", "empty"]) {
      const line = new RegExp(
        `^cpu ${side}, per owner: server (\\d+\\.\\d) ms, PostgreSQL (\\d+\\.\\d) ms, load generator (\\d+\\.\\d) ms; ` +
          `a round of 16 needs at least (\\d+) ms of this machine`,
        "m",
      ).exec(stdout);
      assert.ok(line, `no cpu line for ${side}\n${stdout}`);
      assert.ok(Number(line[1]) > 0 && Number(line[2]) > 0, `${side}: the server and PostgreSQL did work`);
      assert.ok(Number(line[4]) > 0, `${side}: a floor`);
    }
    // An erasure's delete and an access's read go along the primary key of each partition.
    assert.match(stdout, /Index Scan (using|on) diagnostics_events_\d{6}_pkey/);
    assert.match(stdout, /^valid: every access showed the owner's events and every erasure deleted all 20$/m);
  },
);

test(
  "npm run bench --suite memory at a small size: every service's resident memory against its budget and the floor",
  { skip: postgresBackend.skip, timeout: 180_000 },
  async () => {
    const { code, stdout, stderr } = await runBench([
      "--quick",
      "--no-pin",
      "--suite",
      "memory",
      "--memory-load",
      "2",
    ]);
    assert.equal(code, 0, `bench exited ${code}\n${stdout}\n${stderr}`);
    for (const figure of [
      "floor idle",
      "control plane idle",
      "collector peak",
      "up after start",
      "up peak",
    ]) {
      const line = stdout.split("\n").find((l) => l.startsWith(`${figure} `));
      assert.ok(line, `no ${figure} in:\n${stdout}`);
      assert.match(line, / \d+ MiB +\d+\.\d{2} /, `${figure} has a size and a ratio to the floor`);
    }
    assert.match(stdout, /^memory: (every figure within its budget|OVER BUDGET)/m);
  },
);
