/** The fingerprints of a service's keys: recorded by the first replica, compared by every later one. */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { BACKENDS } from "../../../test/helpers/stores.ts";
import { type Db, migrate, openDb } from "../db/index.ts";
import { isPhoneHomeError } from "../errors/index.ts";
import { checkKeyFingerprints, secretFingerprint } from "./fingerprints.ts";
import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  promoteServiceToken,
  readTokenFiles,
  serviceTokenFingerprint,
  stageServiceToken,
} from "./service-tokens.ts";

for (const backend of BACKENDS) {
  describe(`key fingerprints on ${backend.name}`, { skip: backend.skip }, () => {
    let db: Db;
    let cleanup: () => Promise<void>;
    before(async () => {
      const fresh = await backend.fresh("fingerprints");
      cleanup = fresh.cleanup;
      db = await openDb(fresh.store);
      await migrate(db, "region");
    });
    after(async () => {
      await db.close();
      await cleanup();
    });

    it("records the first replica's, accepts the same, refuses others by name and never holds a secret", async () => {
      const token = "a-service-token-of-32-characters";
      const first = [
        { name: "region-hpke-key", fingerprint: "rk_one" },
        { name: "service-token", fingerprint: secretFingerprint(token) },
      ];
      await checkKeyFingerprints(db, first, "/var/lib/phonehome");
      await checkKeyFingerprints(db, first, "/var/lib/phonehome");
      const { rows } = await db.query<{ fingerprint: string }>("SELECT fingerprint FROM key_fingerprints");
      assert.ok(rows.every((r) => !r.fingerprint.includes(token)));
      await assert.rejects(
        checkKeyFingerprints(
          db,
          [
            { name: "region-hpke-key", fingerprint: "rk_two" },
            { name: "service-token", fingerprint: secretFingerprint(token) },
          ],
          "/srv/other",
        ),
        (error: unknown) => {
          assert.ok(isPhoneHomeError(error, "keys.differ"));
          assert.match(error.message, /\(region-hpke-key\): copy keys\/ and secrets\/ of \/srv\/other/);
          assert.deepEqual(error.problems, [
            { path: "region-hpke-key", message: "is rk_two here, rk_one in the store" },
          ]);
          return true;
        },
      );
      // A key the store has not seen yet (a later version names more) is recorded, not refused.
      await checkKeyFingerprints(db, [...first, { name: "pseudonym-secret", fingerprint: "sha256:x" }], "/d");
    });

    it("follows a rotation of the service token across replicas, and still refuses a foreign one", async () => {
      const root = mkdtempSync(join(tmpdir(), "phonehome-token-fingerprints-"));
      try {
        const [a, b, c] = ["a", "b", "c"].map((n) => join(root, n)) as [string, string, string];
        await db.query("DELETE FROM key_fingerprints WHERE name = 'service-token'");
        const start = (dir: string, now = Date.now()) =>
          checkKeyFingerprints(db, [serviceTokenFingerprint(readTokenFiles(dir), now)], dir);
        const recorded = async () =>
          (
            await db.query<{ fingerprint: string }>(
              "SELECT fingerprint FROM key_fingerprints WHERE name = 'service-token'",
            )
          ).rows[0]?.fingerprint;
        await start(a);
        const first = secretFingerprint(readTokenFiles(a).current);
        cpSync(join(a, "secrets"), join(b, "secrets"), { recursive: true });
        // Staged on machine a and copied to b: both start; nothing moves yet.
        stageServiceToken(a);
        cpSync(join(a, "secrets"), join(b, "secrets"), { recursive: true });
        await start(a);
        await start(b);
        assert.equal(await recorded(), first);
        // a switches: its start moves the record on; b, not switched yet, still starts (it accepts a's token).
        const rotation = promoteServiceToken(a, 60_000);
        await start(a);
        assert.equal(await recorded(), rotation.current);
        await start(b);
        assert.equal(await recorded(), rotation.current, "a replica behind does not move the record back");
        // A data directory of its own is refused, as before.
        await assert.rejects(start(c), (error: unknown) => isPhoneHomeError(error, "keys.differ"));
        // b switches too; two more rotations on a while the store sleeps through them: it catches up.
        cpSync(join(a, "secrets"), join(b, "secrets"), { recursive: true });
        await start(b);
        stageServiceToken(a);
        promoteServiceToken(a, 0);
        stageServiceToken(a);
        const latest = promoteServiceToken(a, 0);
        await db.query("UPDATE key_fingerprints SET fingerprint = $1 WHERE name = 'service-token'", [first]);
        await start(a);
        assert.equal(await recorded(), latest.current);
        // b, two rotations behind, accepts none of a's tokens any more: refused.
        await assert.rejects(start(b), (error: unknown) => isPhoneHomeError(error, "keys.differ"));
      } finally {
        rmSync(root, { recursive: true, force: true });
      }
    });

    it("tells secrets apart without showing them", () => {
      assert.notEqual(secretFingerprint("a"), secretFingerprint("b"));
      assert.match(secretFingerprint(new Uint8Array(32)), /^sha256:[0-9a-f]{32}$/);
    });
  });
}
