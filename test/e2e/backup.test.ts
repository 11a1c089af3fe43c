/**
 * `phonehome backup` and `phonehome restore` as a user runs them, on PGlite
 * and PostgreSQL, of a system filled through the SDK and the HTTP API
 * (activations, consent, diagnostics, an erasure, a purge, the fleet, audit
 * anchors): restored into fresh stores (PostgreSQL: a database of the test's
 * own), every table holds the rows it held and `audit-log verify` passes.
 * Refused, with nothing changed: an embedded store the system holds, a file
 * of another store, a file cut short or changed, a store that holds data
 * without --force, a copy that does not match its manifest, and (embedded) a
 * store a running `serve` holds.
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { type DeviceIdentity, mintOwnerToken, PhoneHomeClient } from "@phonehome/sdk";
import { HEADER_BYTES, headerBlock, readManifest } from "../../src/compose/backup/backup-file.ts";
import { appendAudit } from "../../src/core/audit-log/index.ts";
import type { Config } from "../../src/core/config/index.ts";
import { openDb, type StoreConfig } from "../../src/core/db/index.ts";
import { phonehomeAsync } from "../helpers/cli.ts";
import { freePort, startCollector, stopService } from "../helpers/processes.ts";
import { BACKENDS, type Backend, freshDatabase } from "../helpers/stores.ts";
import { callControlPlane, startTestSystem, type TestSystem, writeCliConfig } from "../helpers/system.ts";

/** Every table of a store (partitions too) with its rows, counted by the test's own queries. */
/** The table of the timed jobs' leases (src/core/leases). */
const LEASES = "leases";

async function rowsOf(store: StoreConfig): Promise<Record<string, number>> {
  const db = await openDb(store, "backup test");
  try {
    const { rows } = await db.query<{ name: string }>(
      `SELECT table_name AS name FROM information_schema.tables
        WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name`,
    );
    const counts: Record<string, number> = {};
    for (const { name } of rows) {
      // A running replica's lease comes and goes with it (given up on stop): not data the backup is checked for.
      if (name === LEASES) continue;
      const counted = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM "${name}"`);
      counts[name] = counted.rows[0]?.n ?? -1;
    }
    return counts;
  } finally {
    await db.close();
  }
}

/** The owner's yes to the diagnostics programme, as the device's settings screen sends it. */
const YES = { granted: true, noticeVersion: 1, language: "en", method: "device-settings" } as const;

/** Fills the running system: activations in both regions, consent and diagnostics, an erasure, a purge, anchors. */
async function fill(t: TestSystem, queues: string): Promise<void> {
  const devices = (await t.provision([
    { market: "NO" },
    { market: "NO" },
    { market: "FI" },
    { market: "SE" },
    { market: "CN" },
  ])) as DeviceIdentity[];
  const clients = devices.map(
    (identity) =>
      new PhoneHomeClient({
        identity,
        queueDir: join(queues, identity.keyId),
        retry: { baseMs: 10, maxMs: 100, maxAttempts: 2 },
      }),
  );
  for (const client of clients) await client.activate();
  for (const client of clients.slice(0, 3)) {
    await client.sendConsent(YES);
    await client.setConsent("granted");
    for (let i = 0; i < 3; i++) {
      await client.recordEvent(
        { batteryHealthPercent: 90, batteryCycles: 100 + i, crashCount: i, anrCount: 0, thermalEvents: 0 },
        new Date(Date.now() - (i + 1) * 60_000),
      );
    }
    assert.equal((await client.flush()).delivered, 1);
  }
  const global = t.system.regions.find((r) => r.id === "global");
  if (global === undefined) throw new Error("no region global");
  const erased = await fetch(`${global.url}/v1/owner/data`, {
    method: "DELETE",
    headers: { authorization: `Bearer ${await mintOwnerToken(devices[3] as DeviceIdentity)}` },
  });
  assert.equal(erased.status, 200);
  const purged = await fetch(`${global.url}/v1/purges/retention`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${t.system.controlPlane.serviceToken}`,
      "content-type": "application/json",
    },
    body: "{}",
  });
  assert.equal(purged.status, 200);
  assert.equal((await callControlPlane(t, "POST", "/v1/audit-log/anchors")).status, 200);
}

/** Fresh stores for the restore: PGlite folders, or a database of the test's own with the source's schema names. */
async function freshStores(
  backend: Backend,
  config: Config,
): Promise<{ stores: Record<"control" | "global" | "cn", StoreConfig>; cleanup: () => Promise<void> }> {
  const source = {
    control: config.controlPlane.store,
    global: config.regions.find((r) => r.id === "global")?.store,
    cn: config.regions.find((r) => r.id === "cn")?.store,
  };
  if (backend.name === "pglite") {
    const made = await Promise.all(["control", "global", "cn"].map((l) => backend.fresh(`restored-${l}`)));
    const [control, global, cn] = made.map((m) => m.store) as [StoreConfig, StoreConfig, StoreConfig];
    return {
      stores: { control, global, cn },
      cleanup: async () => void (await Promise.all(made.map((m) => m.cleanup()))),
    };
  }
  const database = await freshDatabase("restore");
  const like = (store: StoreConfig | undefined): StoreConfig => {
    if (store?.kind !== "postgres") throw new Error("not a PostgreSQL store");
    return {
      kind: "postgres",
      url: database.url,
      ...(store.schema === undefined ? {} : { schema: store.schema }),
    };
  };
  return {
    stores: { control: like(source.control), global: like(source.global), cn: like(source.cn) },
    cleanup: database.drop,
  };
}

/** A configuration file naming `stores`, the data directory of the test system, and free ports. */
async function writeTargetConfig(
  t: TestSystem,
  file: string,
  stores: Record<"control" | "global" | "cn", StoreConfig>,
) {
  const asFile = (s: StoreConfig) =>
    s.kind === "pglite" ? { dataDir: s.dataDir } : { url: s.url, schema: s.schema };
  writeFileSync(
    file,
    JSON.stringify({
      dataDir: t.dataDir,
      logLevel: "silent",
      audit: { anchorIntervalSeconds: 0 },
      incidents: { sweepIntervalSeconds: 0 },
      controlPlane: { listen: `127.0.0.1:${await freePort()}`, store: asFile(stores.control) },
      regions: [
        {
          id: "global",
          storedIn: "SG",
          listen: `127.0.0.1:${await freePort()}`,
          store: asFile(stores.global),
        },
        { id: "cn", storedIn: "CN", listen: `127.0.0.1:${await freePort()}`, store: asFile(stores.cn) },
      ],
    }),
  );
}

for (const backend of BACKENDS) {
  describe(`backup and restore on ${backend.name}`, { skip: backend.skip }, () => {
    const dir = mkdtempSync(join(tmpdir(), "phonehome-backup-e2e-"));
    const sourceConfig = join(dir, "source.json");
    const targetConfig = join(dir, "target.json");
    const files = { global: join(dir, "global.backup"), control: join(dir, "control.backup") };
    /** The two stores backed up and restored: how the commands name each, and its file. */
    const both = [
      { flag: ["--region", "global"], file: files.global },
      { flag: ["--control-plane"], file: files.control },
    ] as const;
    let t: TestSystem;
    let target: Awaited<ReturnType<typeof freshStores>>;
    let source: { global: StoreConfig; control: StoreConfig };
    const cli = (config: string, ...args: string[]) => phonehomeAsync(["--config", config, ...args]);
    const backUp = (...args: string[]) => cli(sourceConfig, "backup", ...args);
    const restore = (...args: string[]) => cli(targetConfig, "restore", ...args);

    before(async () => {
      t = await startTestSystem(backend, {
        extra: { audit: { anchorIntervalSeconds: 0 }, incidents: { sweepIntervalSeconds: 0 } },
      });
      await fill(t, join(dir, "queues"));
      writeCliConfig(t, sourceConfig);
      const global = t.config.regions.find((r) => r.id === "global")?.store;
      if (global === undefined) throw new Error("no region global");
      source = { global, control: t.config.controlPlane.store };
      target = await freshStores(backend, t.config);
      await writeTargetConfig(t, targetConfig, target.stores);
    });
    after(async () => {
      await t?.close();
      await target?.cleanup();
      rmSync(dir, { recursive: true, force: true });
    });

    if (backend.name === "pglite") {
      test("an embedded store the running system holds is not copied: store.locked, and no file", async () => {
        const run = await backUp("--region", "global", "--out", files.global);
        assert.equal(run.status, 1, run.stderr);
        assert.match(run.stderr, /error \[store\.locked\]/);
        assert.match(run.stderr, /stop `phonehome up` or `serve` first, or keep the store in PostgreSQL/);
        assert.equal(existsSync(files.global), false);
        await t.stop();
      });
    } else {
      test("a PostgreSQL store is copied while the system runs", async () => {
        for (const { flag, file } of both) {
          const run = await backUp(...flag, "--out", file);
          assert.equal(run.status, 0, run.stderr);
        }
        await t.stop();
      });
    }

    test("a backup names its store, its migration, each table's rows and its audit head", async () => {
      if (backend.name === "pglite") {
        const run = await backUp("--region", "global", "--out", files.global);
        assert.equal(run.status, 0, run.stderr);
        assert.match(run.stdout, /^backup of region global's store written to /);
        assert.match(run.stdout, /audit log {4}intact, \d+ entries; head \d+:[0-9a-f]{64}/);
        assert.match(run.stderr, /tables 100%/, "progress on stderr");
        const json = await backUp("--control-plane", "--out", files.control, "--json");
        assert.equal(json.status, 0, json.stderr);
        assert.equal((JSON.parse(json.stdout) as { file: string }).file, files.control);
      }
      const global = await readManifest(files.global);
      const control = await readManifest(files.control);
      assert.deepEqual(global.store, { role: "region", region: "global" });
      assert.deepEqual(control.store, { role: "control-plane" });
      const rows = (m: typeof global) => Object.fromEntries(m.facts.tables.map((x) => [x.name, x.rows]));
      const held = { global: await rowsOf(source.global), control: await rowsOf(source.control) };
      for (const [manifest, counts] of [
        [global, held.global],
        [control, held.control],
      ] as const) {
        for (const [name, n] of Object.entries(rows(manifest))) {
          if (name !== LEASES) assert.equal(n, counts[name], name);
        }
        assert.equal(manifest.facts.audit.intact, true);
        assert.equal(manifest.facts.audit.entries, counts.audit_log);
      }
      // What the system was given is there.
      assert.equal(held.global.activations, 4);
      assert.equal(held.global.consents, 3);
      assert.equal(held.global.diagnostics_events, 9);
      assert.equal(held.global.erasures, 1);
      assert.ok((held.global.audit_log ?? 0) >= 2, "the erasure and the purge are audited");
      assert.equal(held.control.devices, 5);
      assert.ok((held.control.audit_log ?? 0) >= 2, "the fleet import and the anchor are audited");
    });

    test("restored into fresh stores, every table holds what it held and `audit-log verify` passes", async () => {
      for (const { flag, file } of both) {
        const run = await restore(...flag, "--from", file);
        assert.equal(run.status, 0, run.stderr);
        assert.match(run.stdout, /store restored from /);
        assert.doesNotMatch(run.stdout, /replaced/);
      }
      assert.deepEqual(await rowsOf(target.stores.global), await rowsOf(source.global));
      assert.deepEqual(await rowsOf(target.stores.control), await rowsOf(source.control));
      for (const { flag, file } of both) {
        // audit-log verify names the control plane's store by naming no region.
        const which = flag[0] === "--region" ? flag : [];
        const verified = await cli(targetConfig, "audit-log", "verify", ...which, "--json");
        assert.equal(verified.status, 0, verified.stderr + verified.stdout);
        const verdict = JSON.parse(verified.stdout) as {
          ok: boolean;
          entries: number;
          head: { seq: number; hash: string };
        };
        const { facts } = await readManifest(file);
        assert.deepEqual(
          [verdict.ok, verdict.entries, verdict.head.seq, verdict.head.hash],
          [true, facts.audit.entries, facts.audit.head.seq, facts.audit.head.hash],
        );
      }
    });

    /** Adds an audit entry to the restored region store, so that it differs from every backup. */
    const mark = async () => {
      const db = await openDb(target.stores.global, "backup test");
      try {
        await db.transaction((tx) =>
          appendAudit(tx, {
            actor: "test",
            action: "test.marked",
            subject: "backup",
            reason: null,
            detail: {},
          }),
        );
      } finally {
        await db.close();
      }
      return rowsOf(target.stores.global);
    };

    test("a file of another store, or cut short, or changed, is refused, also with --force, and nothing changes", async () => {
      const before = await mark();
      const refused = async (args: string[], code: string, pattern: RegExp) => {
        const run = await restore(...args);
        assert.equal(run.status, 1, run.stdout);
        assert.match(run.stderr, new RegExp(`error \\[${code.replace(".", "\\.")}\\]`));
        assert.match(run.stderr, pattern);
      };
      await refused(
        ["--region", "global", "--from", files.control, "--force"],
        "backup.wrong_store",
        /the control plane's store, not region global's/,
      );
      await refused(
        ["--region", "cn", "--from", files.global, "--force"],
        "backup.wrong_store",
        /region global's store, not region cn's/,
      );
      await refused(
        ["--control-plane", "--from", files.global, "--force"],
        "backup.wrong_store",
        /not the control plane's/,
      );
      const whole = readFileSync(files.global);
      const cut = join(dir, "cut.backup");
      writeFileSync(cut, whole);
      truncateSync(cut, whole.length - 1000);
      await refused(["--region", "global", "--from", cut, "--force"], "backup.unreadable", /is cut short/);
      const changed = join(dir, "changed.backup");
      const flipped = Buffer.from(whole);
      const at = HEADER_BYTES + Math.floor((whole.length - HEADER_BYTES) / 2);
      flipped.writeUInt8(flipped.readUInt8(at) ^ 0xff, at);
      writeFileSync(changed, flipped);
      await refused(["--region", "global", "--from", changed, "--force"], "backup.unreadable", /SHA-256/);
      writeFileSync(changed, "not a backup at all\n");
      await refused(
        ["--region", "global", "--from", changed],
        "backup.unreadable",
        /is not a phonehome backup/,
      );
      assert.deepEqual(await rowsOf(target.stores.global), before);
    });

    test("a store that holds data is replaced only with --force, which says what it replaced", async () => {
      const before = await rowsOf(target.stores.global);
      const refused = await restore("--region", "global", "--from", files.global);
      assert.equal(refused.status, 1);
      assert.match(
        refused.stderr,
        /error \[backup\.target_not_empty\]: region global's store holds data: \d+ tables, \d+ rows, audit head \d+:/,
      );
      assert.deepEqual(await rowsOf(target.stores.global), before);
      const forced = await restore("--region", "global", "--from", files.global, "--force", "--json");
      assert.equal(forced.status, 0, forced.stderr);
      const answer = JSON.parse(forced.stdout) as {
        replaced: { tables: { name: string; rows: number }[] } | null;
      };
      assert.equal(answer.replaced?.tables.find((x) => x.name === "audit_log")?.rows, before.audit_log);
      assert.deepEqual(
        await rowsOf(target.stores.global),
        await rowsOf(source.global),
        "the backup's content again",
      );
    });

    test("a copy that does not hold what its manifest says is discarded, and the store left as it was", async () => {
      const before = await mark();
      const manifest = await readManifest(files.global);
      const activations = manifest.facts.tables.find((x) => x.name === "activations");
      if (activations === undefined) throw new Error("no activations in the manifest");
      activations.rows += 1;
      const whole = readFileSync(files.global);
      const tampered = join(dir, "tampered.backup");
      writeFileSync(tampered, Buffer.concat([headerBlock(manifest), whole.subarray(HEADER_BYTES)]));
      const run = await restore("--region", "global", "--from", tampered, "--force");
      assert.equal(run.status, 1, run.stdout);
      assert.match(run.stderr, /error \[backup\.verify_failed\]/);
      assert.match(run.stderr, /tables\/activations: has 4 rows, where the backup has 5/);
      assert.deepEqual(await rowsOf(target.stores.global), before);
      const verified = await cli(targetConfig, "audit-log", "verify", "--region", "global");
      assert.equal(verified.status, 0, verified.stdout);
    });

    if (backend.name === "pglite") {
      test("a restore while `serve` holds the embedded store fails with store.locked", async () => {
        // A collector's first start at another URL re-signs the region descriptor (the embedded root
        // is in the data directory): a change of its own, made here before the rows are counted.
        await stopService(await startCollector(targetConfig, "global"));
        const before = await rowsOf(target.stores.global);
        const collector = await startCollector(targetConfig, "global");
        try {
          const run = await restore("--region", "global", "--from", files.global, "--force");
          assert.equal(run.status, 1, run.stdout);
          assert.match(
            run.stderr,
            /error \[store\.locked\]: .*collector.*stop `phonehome up` or `serve` first/s,
          );
        } finally {
          await stopService(collector);
        }
        assert.deepEqual(await rowsOf(target.stores.global), before);
      });
    }
  });
}
