import assert from "node:assert/strict";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { phonehome } from "../../../test/helpers/cli.ts";
import { tableCounts, tempDir, writeFile } from "../../../test/helpers/fleet.ts";
import { BACKENDS } from "../../../test/helpers/stores.ts";
import { type Db, openDb, type StoreConfig } from "../../core/db/index.ts";
import type { DemoFactoryDocument } from "./fleet.generate.ts";

/** The configuration file's form of a store. */
function storeSetting(store: StoreConfig): object {
  return store.kind === "pglite" ? { dataDir: store.dataDir } : { url: store.url, schema: store.schema };
}

for (const backend of BACKENDS) {
  describe(`phonehome fleet (CLI, ${backend.name})`, { skip: backend.skip }, () => {
    const files = tempDir("cli");
    let store: StoreConfig;
    let cleanup: () => Promise<void>;
    let config: string;

    before(async () => {
      ({ store, cleanup } = await backend.fresh("fleet-cli"));
      // YAML is a superset of JSON, so the configuration can be written as JSON.
      config = writeFile(files.dir, "phonehome.yaml", { controlPlane: { store: storeSetting(store) } });
    });
    after(async () => {
      await cleanup();
      files.remove();
    });

    const withStore = async <T>(fn: (db: Db) => Promise<T>): Promise<T> => {
      const db = await openDb(store);
      try {
        return await fn(db);
      } finally {
        await db.close();
      }
    };

    it("writes a demo fleet: the public factory file, and the private keys readable by the owner only", () => {
      const out = join(files.dir, "demo");
      const run = phonehome([
        "--config",
        config,
        "fleet",
        "demo",
        "--devices",
        "12",
        "--seed",
        "cli",
        "--out",
        out,
      ]);
      assert.equal(run.status, 0, run.stderr);
      const factory = JSON.parse(readFileSync(join(out, "factory.json"), "utf8")) as DemoFactoryDocument;
      const keys = JSON.parse(readFileSync(join(out, "device-keys.json"), "utf8")) as Record<string, object>;
      assert.equal(factory.devices.length, 12);
      assert.deepEqual(Object.keys(keys).sort(), factory.devices.map((d) => d.serial).sort());
      assert.equal(statSync(join(out, "device-keys.json")).mode & 0o777, 0o600);
      assert.ok(!readFileSync(join(out, "factory.json"), "utf8").includes("privateKey"));
    });

    it("exits non-zero on a bad file, lists each bad line, and imports nothing", async () => {
      const factory = JSON.parse(
        readFileSync(join(files.dir, "demo", "factory.json"), "utf8"),
      ) as DemoFactoryDocument;
      const [a, b] = factory.devices;
      assert.ok(a && b);
      const csv = [
        "serial,model,variant,market,batch,publicKey",
        [a.serial, a.model, a.variant, a.market, a.batch, a.publicKey].join(","),
        [b.serial, b.model, b.variant, b.market, b.batch, "AAAA"].join(","),
      ].join("\n");
      const bad = writeFile(files.dir, "bad.csv", csv);
      const run = phonehome(["--config", config, "fleet", "import", bad]);
      assert.equal(run.status, 1);
      assert.match(
        run.stderr,
        /error \[fleet\.import_invalid\]: .*bad\.csv has 2 problems; nothing was imported/,
      );
      // Line 2 names a batch that only the JSON file declares; line 3 has a bad key.
      assert.match(
        run.stderr,
        new RegExp(
          `bad\\.csv:2: batch ${a.batch} is neither in this file nor registered\n.*bad\\.csv:3: publicKey must be`,
        ),
      );
      assert.deepEqual(await withStore(tableCounts), {
        models: 0,
        variants: 0,
        builds: 0,
        batches: 0,
        devices: 0,
      });
    });

    it("imports a good file with progress on stderr and a summary on stdout, and again changes nothing", async () => {
      const good = join(files.dir, "demo", "factory.json");
      const first = phonehome(["--config", config, "fleet", "import", good]);
      assert.equal(first.status, 0, first.stderr);
      assert.match(first.stdout, /devices {3}12 new, 0 unchanged/);
      assert.match(first.stderr, /devices 100% \(12\/12\)/);
      const second = phonehome(["--config", config, "fleet", "import", good]);
      assert.equal(second.status, 0, second.stderr);
      assert.match(second.stdout, /devices {3}0 new, 12 unchanged/);
      assert.deepEqual(await withStore(tableCounts), {
        models: 1,
        variants: 2,
        builds: 3,
        batches: 4,
        devices: 12,
      });
    });
  });
}
