import assert from "node:assert/strict";
import { after, before, beforeEach, describe, it } from "node:test";
import {
  countingQueries,
  demoFleet,
  emptyRegistry,
  freshRegistry,
  TEST_CONFIG,
  type TestRegistry,
  tableCounts,
  tempDir,
  toCsv,
  writeFile,
} from "../../../test/helpers/fleet.ts";
import { BACKENDS } from "../../../test/helpers/stores.ts";
import { isPhoneHomeError, type Problem } from "../../core/errors/index.ts";
import type { DemoFactoryDocument } from "./fleet.generate.ts";
import { countDevices, listBatches, listDevices, listModels } from "./fleet.repository.ts";
import { importFleet, lookupDirectory } from "./fleet.service.ts";

/** Runs `fn`, which must fail with `fleet.import_invalid`; returns the problems. */
async function problemsOf(fn: () => Promise<unknown>): Promise<Problem[]> {
  try {
    await fn();
  } catch (error) {
    assert.ok(isPhoneHomeError(error, "fleet.import_invalid"), `unexpected error: ${String(error)}`);
    return error.problems ?? [];
  }
  assert.fail("the import was expected to fail");
}

const clone = (doc: DemoFactoryDocument): DemoFactoryDocument => structuredClone(doc);

for (const backend of BACKENDS) {
  describe(`fleet import and directory (${backend.name})`, { skip: backend.skip }, () => {
    let registry: TestRegistry;
    const files = tempDir("service");
    before(async () => {
      registry = await freshRegistry(backend, "fleet-service");
    });
    // Every test starts from an empty registry.
    beforeEach(() => emptyRegistry(registry.db));
    after(async () => {
      await registry.close();
      files.remove();
    });

    it("imports a JSON factory file, writing devices in chunks, and reports what it created", async () => {
      const db = registry.db;
      const { factory } = demoFleet(45);
      const path = writeFile(files.dir, "factory.json", factory);
      const progress: [number, number][] = [];
      const summary = await importFleet(db, TEST_CONFIG, path, {
        chunkSize: 10,
        onProgress: (done, total) => progress.push([done, total]),
      });
      assert.equal(summary.format, "json");
      assert.deepEqual(summary.models, { created: 1, updated: 0, unchanged: 0 });
      assert.deepEqual(summary.variants, { created: 2, updated: 0, unchanged: 0 });
      assert.deepEqual(summary.builds, { created: 3, updated: 0, unchanged: 0 });
      assert.deepEqual(summary.batches, { created: 4, updated: 0, unchanged: 0 });
      assert.deepEqual(summary.devices, { created: 45, unchanged: 0 });
      assert.deepEqual(progress, [
        [0, 45],
        [10, 45],
        [20, 45],
        [30, 45],
        [40, 45],
        [45, 45],
      ]);
      assert.equal(await countDevices(db), 45);
      assert.deepEqual(await listModels(db), [
        { id: "TA-1062", name: "Phone 7 Plus (demo)", warrantyMonths: 24 },
      ]);
      const [device] = await listDevices(db, { limit: 1 });
      const batch = factory.batches.find((b) => b.id === device?.batch);
      assert.ok(device && batch);
      assert.equal(
        device.provisionedAt,
        batch.producedAt,
        "a device is provisioned when its batch is produced",
      );
    });

    it("imports devices from CSV once their batch is registered, in any column order", async () => {
      const db = registry.db;
      const { factory } = demoFleet(12);
      await importFleet(db, TEST_CONFIG, {
        name: "parts.json",
        text: JSON.stringify({ ...factory, devices: [] }),
      });
      const columns = ["publicKey", "serial", "batch", "market", "variant", "model"];
      const path = writeFile(files.dir, "devices.csv", toCsv(factory.devices, columns));
      const summary = await importFleet(db, TEST_CONFIG, path);
      assert.equal(summary.format, "csv");
      assert.deepEqual(summary.devices, { created: 12, unchanged: 0 });
      assert.deepEqual(summary.batches, { created: 0, updated: 0, unchanged: 0 });
      assert.equal(await countDevices(db), 12);
      assert.equal(await countDevices(db, factory.batches[3]?.id), 3);
    });

    it("changes nothing when the same file is imported again (JSON, then the same devices as CSV)", async () => {
      const db = registry.db;
      const { factory } = demoFleet(20);
      await importFleet(db, TEST_CONFIG, { name: "f.json", text: JSON.stringify(factory) });
      const before = await tableCounts(db);
      const again = await importFleet(db, TEST_CONFIG, { name: "f.json", text: JSON.stringify(factory) });
      assert.deepEqual(again.devices, { created: 0, unchanged: 20 });
      assert.deepEqual(again.batches, { created: 0, updated: 0, unchanged: 4 });
      assert.deepEqual(again.models, { created: 0, updated: 0, unchanged: 1 });
      const csv = await importFleet(db, TEST_CONFIG, { name: "f.csv", text: toCsv(factory.devices) });
      assert.deepEqual(csv.devices, { created: 0, unchanged: 20 });
      assert.deepEqual(await tableCounts(db), before);
      // A descriptive change is an update, not a new row.
      const renamed = clone(factory);
      renamed.models[0] = { id: "TA-1062", name: "Phone 7 Plus", warrantyMonths: 36 };
      const update = await importFleet(db, TEST_CONFIG, { name: "f.json", text: JSON.stringify(renamed) });
      assert.deepEqual(update.models, { created: 0, updated: 1, unchanged: 0 });
      assert.deepEqual(await listModels(db), [{ id: "TA-1062", name: "Phone 7 Plus", warrantyMonths: 36 }]);
    });

    it("rejects a JSON file with several bad rows as a whole, naming each row's JSON pointer", async () => {
      const db = registry.db;
      const doc = clone(demoFleet(16).factory);
      const d = doc.devices;
      // Devices cycle through NO, FI, DE, CN; batch 1 (FI) is broken, so no FI device is touched.
      (doc.batches[1] as { producedAt: string }).producedAt = "2019-02-30T08:00:00Z";
      (d[3] as { publicKey: string }).publicKey = "c2hvcnQ";
      (d[8] as { serial: string }).serial = d[4]?.serial ?? "";
      (d[7] as { batch: string }).batch = "B-UNKNOWN";
      (d[10] as { market: string }).market = "NO";
      (d[12] as unknown as { owner: string }).owner = "someone";
      const problems = await problemsOf(() =>
        importFleet(db, TEST_CONFIG, { name: "bad.json", text: JSON.stringify(doc) }),
      );
      assert.deepEqual(
        problems.map((p) => p.path),
        [
          "bad.json:/batches/1/producedAt",
          "bad.json:/devices/3/publicKey",
          "bad.json:/devices/7/batch",
          "bad.json:/devices/8/serial",
          "bad.json:/devices/10/market",
          "bad.json:/devices/12/owner",
        ],
      );
      const byPath = new Map(problems.map((p) => [p.path, p.message]));
      assert.match(byPath.get("bad.json:/devices/3/publicKey") ?? "", /32-byte Ed25519 public key/);
      assert.match(byPath.get("bad.json:/devices/8/serial") ?? "", /listed twice.*bad\.json:\/devices\/4/);
      assert.match(
        byPath.get("bad.json:/devices/7/batch") ?? "",
        /B-UNKNOWN is neither in this file nor registered/,
      );
      assert.match(byPath.get("bad.json:/devices/10/market") ?? "", /differs from DE/);
      assert.match(byPath.get("bad.json:/devices/12/owner") ?? "", /unknown field "owner"/);
      assert.match(byPath.get("bad.json:/batches/1/producedAt") ?? "", /not a real date/);
      assert.deepEqual(await tableCounts(db), { models: 0, variants: 0, builds: 0, batches: 0, devices: 0 });
    });

    it("rejects a CSV file with several bad lines as a whole, naming each line", async () => {
      const db = registry.db;
      const { factory } = demoFleet(8, "csv-lines", ["NO"]);
      await importFleet(db, TEST_CONFIG, {
        name: "parts.json",
        text: JSON.stringify({ ...factory, devices: [] }),
      });
      const [a, b, c, d, e] = factory.devices;
      assert.ok(a && b && c && d && e);
      const row = (x: typeof a, patch: Partial<typeof a> = {}) => {
        const y = { ...x, ...patch };
        return [y.serial, y.model, y.variant, y.market, y.batch, y.publicKey].join(",");
      };
      const text = [
        "serial,model,variant,market,batch,publicKey", // line 1
        row(a), // 2: fine
        "", // 3: blank lines are skipped but still counted
        row(b, { publicKey: "not-a-key" }), // 4
        row(c, { serial: a.serial }), // 5: duplicate serial
        row(d, { market: "FI" }), // 6: differs from its batch (and FI would be a global market anyway)
        row(e, { batch: "B-NOPE" }), // 7
        "PHX0000001,TA-1062,00WW,NO", // 8: too few fields
      ].join("\n");
      const problems = await problemsOf(() => importFleet(db, TEST_CONFIG, { name: "devices.csv", text }));
      assert.deepEqual(
        problems.map((p) => p.path),
        ["devices.csv:4", "devices.csv:5", "devices.csv:6", "devices.csv:7", "devices.csv:8"],
      );
      assert.match(problems[0]?.message ?? "", /^publicKey must be a raw 32-byte Ed25519 public key/);
      assert.match(
        problems[1]?.message ?? "",
        /serial PH.* is listed twice in the file \(first at devices\.csv:2\)/,
      );
      assert.match(problems[2]?.message ?? "", /market FI differs from NO, the market of batch/);
      assert.match(problems[4]?.message ?? "", /has 4 fields; the header has 6/);
      assert.equal(await countDevices(db), 0, "not even the good line 2 was imported");
    });

    it("rejects a batch whose market belongs to another region than its variant (the incident)", async () => {
      const db = registry.db;
      const doc = clone(demoFleet(8).factory);
      // A batch for Norway flashed with the China variant and build, devices labelled to match.
      const norway = doc.batches[0];
      assert.equal(norway?.market, "NO");
      Object.assign(norway, { variant: "00CN", build: "00CN_3_39B_SP03" });
      for (const device of doc.devices) if (device.batch === norway.id) device.variant = "00CN";
      const problems = await problemsOf(() =>
        importFleet(db, TEST_CONFIG, { name: "incident.json", text: JSON.stringify(doc) }),
      );
      assert.equal(problems.length, 1, JSON.stringify(problems));
      assert.equal(problems[0]?.path, "incident.json:/batches/0/market");
      assert.match(
        problems[0]?.message ?? "",
        /market NO belongs to region global, but variant 00CN of model TA-1062 belongs to region cn/,
      );
      assert.deepEqual(await tableCounts(db), { models: 0, variants: 0, builds: 0, batches: 0, devices: 0 });
    });

    it("refuses to give a registered device another key, or a registered key to another device", async () => {
      const db = registry.db;
      const first = demoFleet(4, "first", ["NO"]).factory;
      await importFleet(db, TEST_CONFIG, { name: "first.json", text: JSON.stringify(first) });
      const other = demoFleet(4, "other", ["NO"]).factory;
      const [a, b] = first.devices;
      const [x, y] = other.devices;
      assert.ok(a && b && x && y);
      const rows = [
        { ...x, serial: a.serial, batch: a.batch }, // a registered serial with a new key
        { ...y, serial: "PHNEW00001", batch: a.batch, publicKey: b.publicKey }, // a registered key on a new serial
      ];
      const problems = await problemsOf(() =>
        importFleet(db, TEST_CONFIG, { name: "k.csv", text: toCsv(rows) }),
      );
      assert.deepEqual(
        problems.map((p) => p.path),
        ["k.csv:2", "k.csv:3"],
      );
      assert.match(problems[0]?.message ?? "", /registered with another key/);
      assert.match(problems[1]?.message ?? "", new RegExp(`registered to device ${b.serial}`));
      assert.equal(await countDevices(db), 4);
    });

    it("looks up many devices by key id in one query, with build, region and warranty", async () => {
      const db = registry.db;
      const { factory, keys } = demoFleet(600);
      await importFleet(db, TEST_CONFIG, { name: "f.json", text: JSON.stringify(factory) });
      const wanted = factory.devices.slice(0, 499);
      const keyIds = wanted.map((d) => keys[d.serial]?.keyId ?? "");
      const unknown = "dk_AAAAAAAAAAAAAAAAAAAAAAAAAAA";
      const counting = countingQueries(db);
      const records = await lookupDirectory(counting.q, [...keyIds, unknown, keyIds[0] ?? ""]);
      assert.equal(counting.count(), 1);
      assert.equal(records.length, 499);
      const bySerial = new Map(records.map((r) => [r.serial, r]));
      const batches = new Map((await listBatches(db, { limit: 10 })).map((b) => [b.id, b]));
      for (const device of wanted) {
        const record = bySerial.get(device.serial);
        const batch = batches.get(device.batch);
        assert.ok(record && batch, device.serial);
        assert.deepEqual(record, {
          keyId: keys[device.serial]?.keyId,
          deviceKey: keys[device.serial]?.keyId,
          publicKey: device.publicKey,
          serial: device.serial,
          model: "TA-1062",
          variant: device.variant,
          market: device.market,
          batch: device.batch,
          build: batch.build,
          variantRegion: device.market === "CN" ? "cn" : "global",
          warrantyMonths: 24,
          revoked: null,
        });
      }
    });
  });
}
