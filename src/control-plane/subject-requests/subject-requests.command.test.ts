/**
 * `phonehome subject-requests list` as an operator runs it: the real binary in
 * a child process, reading a control-plane store (PGlite and PostgreSQL) that
 * holds a complete and an incomplete erasure request.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { BACKENDS } from "../../../test/helpers/stores.ts";
import { PACKAGE_ROOT } from "../../core/config/index.ts";
import { openDb } from "../../core/db/index.ts";
import { migrate } from "../../core/db/migrate.ts";
import {
  ACCESS_RECEIPT_VERSION,
  type AccessReceipt,
  ERASURE_RECEIPT_VERSION,
  type ErasureReceipt,
} from "@phonehome/shared";
import { keysDigest } from "../../collector/subject-requests/index.ts";
import {
  insertSubjectRequest,
  insertSubjectRequestReceipts,
  updateSubjectRequestOutcome,
} from "./subject-requests.repository.ts";

const DEVICE = `dk_${"D".repeat(27)}`;
const DONE = "0f6b1c1e-0000-4000-8000-000000000001";
const PENDING = "0f6b1c1e-0000-4000-8000-000000000002";
const DIGEST = "a".repeat(64);
const ACCESS = "0f6b1c1e-0000-4000-8000-000000000003";

function receipt(region: string, requestId: string, events: number): ErasureReceipt {
  return {
    version: ERASURE_RECEIPT_VERSION,
    requestId,
    region,
    storedIn: region === "cn" ? "CN" : "SG",
    deviceKeyId: DEVICE,
    erasedAt: "2031-06-01T00:00:00.000Z",
    issuer: { region, kid: "rsk_test", alg: "EdDSA" },
    ownerTokenId: "jti-1",
    found: events,
    deleted: [
      { collection: "diagnostics_events", count: events, sha256: events ? DIGEST : keysDigest("x", []) },
      { collection: "activations", count: 0, sha256: keysDigest("x", []) },
    ],
    kept: [
      { collection: "activations", count: 0, reason: "warranty record", legalBasis: "contract", until: null },
    ],
  };
}

for (const backend of BACKENDS) {
  describe(`phonehome subject-requests list (CLI, ${backend.name})`, { skip: backend.skip }, () => {
    const dir = mkdtempSync(join(tmpdir(), "phonehome-sr-cli-"));
    const configFile = join(dir, "phonehome.yaml");
    let cleanup: () => Promise<void> = async () => {};
    const list = (...args: string[]) => {
      const r = spawnSync(
        process.execPath,
        [join(PACKAGE_ROOT, "bin/phonehome.ts"), "--config", configFile, "subject-requests", "list", ...args],
        { cwd: PACKAGE_ROOT, encoding: "utf8", timeout: 120_000 },
      );
      return { status: r.status, stdout: r.stdout, stderr: r.stderr };
    };

    before(async () => {
      const fresh = await backend.fresh("control");
      cleanup = fresh.cleanup;
      const s = fresh.store;
      const store = s.kind === "pglite" ? { dataDir: s.dataDir } : { url: s.url, schema: s.schema };
      // YAML is a superset of JSON.
      writeFileSync(
        configFile,
        JSON.stringify({
          dataDir: dir,
          logLevel: "silent",
          controlPlane: { store },
          regions: [
            { id: "global", storedIn: "SG", store: { dataDir: join(dir, "global") } },
            { id: "cn", storedIn: "CN", store: { dataDir: join(dir, "cn") } },
          ],
        }),
      );
      const db = await openDb(s);
      try {
        await migrate(db, "control");
        const at = new Date("2031-06-01T00:00:00Z");
        await insertSubjectRequest(db, { id: DONE, kind: "erasure", deviceKey: DEVICE, requestedAt: at });
        await insertSubjectRequest(db, {
          id: PENDING,
          kind: "erasure",
          deviceKey: DEVICE,
          requestedAt: new Date(at.getTime() + 1000),
        });
        await insertSubjectRequestReceipts(db, [
          {
            requestId: DONE,
            region: "global",
            receivedAt: at,
            receipt: receipt("global", DONE, 3),
            jws: "x.y.z",
          },
          { requestId: DONE, region: "cn", receivedAt: at, receipt: receipt("cn", DONE, 0), jws: "x.y.z" },
          {
            requestId: PENDING,
            region: "global",
            receivedAt: at,
            receipt: receipt("global", PENDING, 0),
            jws: "x.y.z",
          },
        ]);
        await insertSubjectRequest(db, {
          id: ACCESS,
          kind: "access",
          deviceKey: DEVICE,
          requestedAt: new Date(at.getTime() + 2000),
        });
        const access: AccessReceipt = {
          version: ACCESS_RECEIPT_VERSION,
          requestId: ACCESS,
          region: "global",
          storedIn: "SG",
          deviceKeyId: DEVICE,
          accessedAt: "2031-06-01T00:00:02.000Z",
          issuer: { region: "global", kid: "rsk_test", alg: "EdDSA" },
          ownerTokenId: "jti-2",
          found: 2,
          held: [{ collection: "diagnostics_events", count: 2, sha256: DIGEST }],
        };
        await insertSubjectRequestReceipts(db, [
          { requestId: ACCESS, region: "global", receivedAt: at, receipt: access, jws: "x.y.z" },
        ]);
        await updateSubjectRequestOutcome(db, ACCESS, { failures: {}, completedAt: at, at });
        await updateSubjectRequestOutcome(db, DONE, { failures: {}, completedAt: at, at });
        await updateSubjectRequestOutcome(db, PENDING, {
          failures: { cn: "unreachable: fetch failed (ECONNREFUSED)" },
          completedAt: null,
          at,
        });
      } finally {
        await db.close();
      }
    });
    after(async () => {
      await cleanup();
      rmSync(dir, { recursive: true, force: true });
    });

    it("prints each request's receipts: counts and digests, and the regions still missing", () => {
      const run = list();
      assert.equal(run.status, 0, run.stderr);
      assert.match(
        run.stdout,
        new RegExp(`^erasure ${DONE} complete, requested 2031-06-01T00:00:00.000Z`, "m"),
      );
      assert.match(run.stdout, new RegExp(`^erasure ${PENDING} incomplete`, "m"));
      assert.match(run.stdout, new RegExp(`^    deleted diagnostics_events 3 sha256 ${DIGEST}$`, "m"));
      assert.match(run.stdout, new RegExp(`^access ${ACCESS} complete`, "m"));
      assert.match(run.stdout, /^ {2}global: accessed 2031-06-01T00:00:02.000Z, 2 found$/m);
      assert.match(run.stdout, new RegExp(`^    held    diagnostics_events 2 sha256 ${DIGEST}$`, "m"));
      assert.match(run.stdout, /^ {2}cn: no receipt \(unreachable: fetch failed \(ECONNREFUSED\)\)$/m);
      assert.ok(!run.stdout.includes(DEVICE), "no device key");
    });

    it("--json prints one document with the same, and no device key or signature", () => {
      const run = list("--json");
      assert.equal(run.status, 0, run.stderr);
      const doc = JSON.parse(run.stdout) as {
        requests: { requestId: string; status: string; missing: { region: string }[]; receipts: unknown[] }[];
      };
      assert.deepEqual(
        doc.requests.map((r) => [r.requestId, r.status, r.receipts.length, r.missing.map((m) => m.region)]),
        [
          [DONE, "complete", 2, []],
          [PENDING, "incomplete", 1, ["cn"]],
          [ACCESS, "complete", 1, []],
        ],
      );
      assert.ok(!run.stdout.includes(DEVICE) && !run.stdout.includes("x.y.z"));
    });
  });
}
