/** The fingerprints of a service's keys: recorded by the first replica, compared by every later one. */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { BACKENDS } from "../../../test/helpers/stores.ts";
import { type Db, migrate, openDb } from "../db/index.ts";
import { isPhoneHomeError } from "../errors/index.ts";
import { checkKeyFingerprints, secretFingerprint } from "./fingerprints.ts";

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

    it("tells secrets apart without showing them", () => {
      assert.notEqual(secretFingerprint("a"), secretFingerprint("b"));
      assert.match(secretFingerprint(new Uint8Array(32)), /^sha256:[0-9a-f]{32}$/);
    });
  });
}
