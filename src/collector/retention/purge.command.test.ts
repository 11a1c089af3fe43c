/**
 * `phonehome purge` as a user runs it: the real binary in a child process,
 * with a configuration file pointing at a temporary embedded store.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { phonehome } from "../../../test/helpers/cli.ts";
import {
  allActivations,
  allEvents,
  putActivations,
  putEvents,
  retentionDictionary,
} from "../../../test/helpers/retention.ts";
import { type Db, openDb, type StoreConfig } from "../../core/db/index.ts";
import { migrate } from "../../core/db/migrate.ts";
import { listPurgeRuns } from "./purge.repository.ts";
import { LOCK_FILE } from "../../core/db/store-lock.ts";

describe("phonehome purge (CLI, PGlite)", () => {
  const dir = mkdtempSync(join(tmpdir(), "phonehome-purge-cli-"));
  const store: StoreConfig = { kind: "pglite", dataDir: join(dir, "global") };
  const dictionary = retentionDictionary();
  const config = join(dir, "phonehome.yaml");
  const purge = (...args: string[]) =>
    phonehome(["--config", config, "purge", "--region", "global", ...args]);
  const withStore = async <T>(fn: (db: Db) => Promise<T>): Promise<T> => {
    const db = await openDb(store);
    try {
      return await fn(db);
    } finally {
      await db.close();
    }
  };

  before(async () => {
    // YAML is a superset of JSON.
    writeFileSync(
      config,
      JSON.stringify({
        dataDir: dir,
        logLevel: "silent",
        dictionary: dictionary.dir,
        regions: [
          { id: "global", storedIn: "SG", store: { dataDir: store.dataDir } },
          { id: "cn", storedIn: "CN", store: { dataDir: join(dir, "cn") } },
        ],
      }),
    );
    await withStore(async (db) => {
      await migrate(db, "region");
      await putActivations(db, [
        { deviceKey: "act-old", expiresAt: new Date("2031-01-01T00:00:00Z") },
        { deviceKey: "act-new", expiresAt: new Date("2036-01-01T00:00:00Z") },
      ]);
      await putEvents(db, [
        { deviceRef: "dr_1", expiresAt: new Date("2031-02-01T00:00:00Z") },
        { deviceRef: "dr_2", expiresAt: new Date("2031-02-02T00:00:00Z") },
        // Happened (and arrived) on 5 May: its `model` is kept 30 days, past the purges' 1 June.
        {
          deviceRef: "dr_3",
          expiresAt: new Date("2036-01-01T00:00:00Z"),
          occurredAt: new Date("2031-05-05T00:00:00Z"),
        },
      ]);
    });
  });
  after(() => {
    dictionary.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it("shows what is due, removes nothing in a dry run, and records the dry run", async () => {
    const run = purge("--dry-run", "--now", "2031-06-01T00:00:00Z");
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /^retention purge of region global as of 2031-06-01T00:00:00\.000Z \(dry run/m);
    assert.match(
      run.stdout,
      /^due:\n {2}activations +1 row; a field removed from 0 rows\n {2}diagnostics_events +2 rows;/m,
    );
    assert.match(run.stdout, /^would remove \(dry run\):\n {2}activations +1 row;/m);
    assert.match(run.stdout, /^recorded as purge run 1 \(dry run\): 3 rows, sha256 [0-9a-f]{64}$/m);
    assert.match(run.stderr, /purge 100% \(3\/3\)/);
    await withStore(async (db) => {
      assert.equal((await allActivations(db)).length, 2);
      assert.equal((await allEvents(db)).length, 3);
    });
  });

  it("deletes what is due and prints it (--json for scripts)", async () => {
    const run = purge("--now", "2031-06-01", "--json");
    assert.equal(run.status, 0, run.stderr);
    const body = JSON.parse(run.stdout) as {
      plan: { total: number };
      result: { removed: number; dryRun: boolean; runId: number; tables: Record<string, { rows: number }> };
    };
    assert.equal(body.plan.total, 3);
    assert.deepEqual(
      [
        body.result.removed,
        body.result.dryRun,
        body.result.runId,
        body.result.tables.diagnostics_events?.rows,
      ],
      [3, false, 2, 2],
    );
    await withStore(async (db) => {
      assert.deepEqual(
        (await allActivations(db)).map((a) => a.deviceKey),
        ["act-new"],
      );
      assert.deepEqual(
        (await allEvents(db)).map((e) => e.deviceRef),
        ["dr_3"],
      );
    });
  });

  it("purges a field surgically, dry run first with the same counts, and keeps the reason", async () => {
    const ask = [
      "--collection",
      "test.diag",
      "--version",
      "1",
      "--field",
      "model",
      "--from",
      "2031-05-01T00:00:00Z",
      "--to",
      "2031-06-01T00:00:00Z",
      "--reason",
      "model was sent by mistake",
    ];
    const dry = purge(...ask, "--dry-run");
    const real = purge(...ask);
    assert.equal(dry.status, 0, dry.stderr);
    assert.equal(real.status, 0, real.stderr);
    assert.match(
      dry.stdout,
      /^surgical purge of region global: field model of test\.diag v1, received from 2031-05-01/m,
    );
    assert.match(dry.stdout, /^reason: model was sent by mistake$/m);
    const counted = /diagnostics_events +0 rows; a field removed from 1 row/;
    assert.match(dry.stdout, counted);
    assert.match(real.stdout, counted);
    const digest = (out: string) => /sha256 ([0-9a-f]{64})/.exec(out)?.[1];
    assert.equal(digest(real.stdout), digest(dry.stdout));
    await withStore(async (db) => {
      assert.deepEqual(
        (await allEvents(db)).map((e) => e.data),
        [{ battery: 80 }],
      );
      const [last] = await listPurgeRuns(db, 1);
      assert.deepEqual(
        [last?.kind, last?.reason, last?.dryRun],
        ["surgical", "model was sent by mistake", false],
      );
    });
  });

  it("exits non-zero with a clear message for bad arguments", () => {
    const window = ["--collection", "test.diag", "--reason", "x"];
    const cases: [string[], number, RegExp][] = [
      [
        [...window, "--from", "2031-02-01", "--to", "2031-01-01"],
        1,
        /error \[purge\.invalid\]: the window is empty: from \(2031-02-01T00:00:00\.000Z\) must be before to/,
      ],
      [
        [...window, "--field", "imsi", "--from", "2031-01-01", "--to", "2031-02-01"],
        1,
        /error \[purge\.invalid\]: "imsi" was never declared by any version of test\.diag/,
      ],
      [
        ["--field", "model"],
        1,
        /error \[purge\.invalid\]: --field belong to a surgical purge: name the collection/,
      ],
      [["--collection", "test.diag"], 1, /a surgical purge needs --from, --to, --reason/],
      [
        ["--now", "yesterday"],
        2,
        /option '--now <iso>' argument 'yesterday' is invalid\. must be an ISO 8601 instant/,
      ],
    ];
    for (const [args, status, message] of cases) {
      const run = purge(...args);
      assert.equal(run.status, status, `${args.join(" ")}: ${run.stderr}`);
      assert.match(run.stderr, message);
    }
    const region = phonehome(["--config", config, "purge", "--region", "mars"]);
    assert.equal(region.status, 1);
    assert.match(region.stderr, /error \[purge\.invalid\]: no region mars in the configuration/);
  });

  it("refuses, saying why, while a collector has the embedded store open", async () => {
    // This test process plays the running collector: a live process other than the CLI's.
    writeFileSync(
      join(store.dataDir, LOCK_FILE),
      JSON.stringify({
        pid: process.pid,
        holder: "collector of region global",
        since: "2031-06-01T00:00:00Z",
      }),
    );
    try {
      const run = purge("--dry-run");
      assert.equal(run.status, 1);
      assert.match(
        run.stderr,
        new RegExp(
          `error \\[store\\.locked\\]: the embedded store .* is in use by process ${process.pid} \\(collector of region global`,
        ),
      );
      assert.match(
        run.stderr,
        /While the collector runs, ask it: POST http\S+\/v1\/purges\/retention with the service token/,
      );
      await withStore(async (db) => assert.equal((await listPurgeRuns(db, 10)).length, 4));
    } finally {
      rmSync(join(store.dataDir, LOCK_FILE), { force: true });
    }
  });
});
