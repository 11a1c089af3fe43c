/** Retention wired into a running region: partitions ahead at start, the store lock while it runs. */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { BACKENDS } from "../../../test/helpers/stores.ts";
import { startTestSystem } from "../../../test/helpers/system.ts";
import { listDiagnosticsPartitions, partitionOf } from "./partitions.ts";
import { LOCK_FILE } from "../../core/db/store-lock.ts";

for (const backend of BACKENDS) {
  describe(`retention in a running region on ${backend.name}`, { skip: backend.skip }, () => {
    it("makes this month's diagnostics partition and the months ahead at start; holds an embedded store", async () => {
      const test = await startTestSystem(backend);
      const lockFiles = test.config.regions.flatMap((r) =>
        r.store.kind === "pglite" ? [join(r.store.dataDir, LOCK_FILE)] : [],
      );
      try {
        assert.equal(test.config.retention.purgeIntervalMinutes, 60);
        for (const region of test.system.regions) {
          const names = (await listDiagnosticsPartitions(region.db)).map((p) => p.name);
          assert.equal(names[0], partitionOf(new Date()).name, region.id);
          assert.ok(names.length >= 2, `${region.id}: ${names.join(", ")}`);
        }
        // A running collector holds its embedded store, so `phonehome purge` cannot open it too.
        assert.equal(lockFiles.length, backend.name === "pglite" ? 2 : 0);
        assert.ok(lockFiles.every((f) => existsSync(f)));
        for (const region of test.system.regions) await region.close();
        assert.ok(
          lockFiles.every((f) => !existsSync(f)),
          "closing the region releases its store",
        );
      } finally {
        // Closes the control plane and removes the stores; regions closed twice are settled, not thrown.
        await test.close();
      }
    });
  });
}
