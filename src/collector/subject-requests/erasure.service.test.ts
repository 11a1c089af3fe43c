/**
 * Erasure in one region's store, on PGlite and PostgreSQL, with time injected:
 * a warranty record is kept while its retention runs and deleted once it has
 * run out; the digest is over the deleted keys; a request id is answered once
 * and bound to its device; the record holds no field value.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { SHIPPED_DICTIONARY } from "../../../test/helpers/dictionary.ts";
import { freshRegionStore, putActivations, putEvents } from "../../../test/helpers/retention.ts";
import { BACKENDS } from "../../../test/helpers/stores.ts";
import type { Db } from "../../core/db/index.ts";
import { deviceRef } from "../device-data/index.ts";
import { loadDictionary } from "../../core/dictionary/index.ts";
import { parseRetention } from "../../core/calendar/retention.ts";
import { isPhoneHomeError } from "../../core/errors/index.ts";
import { fixedReceiptKeys, loadRegionSigningKey } from "../../core/keys/index.ts";
import { type ErasureContext, eraseHeldData } from "./erasure.service.ts";
import { keysDigest } from "../device-data/index.ts";
import { DEVICE_TABLES } from "../device-tables.ts";

const NOW = new Date("2031-06-01T00:00:00Z");
const OLD = `dk_${"O".repeat(27)}`;
const CURRENT = `dk_${"C".repeat(27)}`;
const REQUEST = "5b0e8d0c-5d0f-4c55-9d3e-2f7f4b7c1a01";

for (const backend of BACKENDS) {
  describe(`erasure in a region on ${backend.name}`, { skip: backend.skip }, () => {
    const dataDir = mkdtempSync(join(tmpdir(), "phonehome-erasure-"));
    let store: Awaited<ReturnType<typeof freshRegionStore>>;
    let ctx: ErasureContext;
    let db: Db;

    before(async () => {
      store = await freshRegionStore(backend, "erasure");
      db = store.db;
      ctx = {
        db,
        region: { id: "global", storedIn: "SG" },
        dictionary: loadDictionary(SHIPPED_DICTIONARY, { regions: ["global", "cn"] }).dictionary,
        tables: DEVICE_TABLES,
        pseudonymSecret: new Uint8Array(32).fill(7),
        receipts: fixedReceiptKeys(loadRegionSigningKey(dataDir, "global")),
        recordsRetention: parseRetention("P3Y") ?? assert.fail("P3Y parses"),
      };
      await putActivations(db, [
        { deviceKey: OLD, expiresAt: new Date("2031-01-01T00:00:00.123Z") },
        { deviceKey: CURRENT, expiresAt: new Date("2036-01-01T00:00:00Z") },
      ]);
      await putEvents(db, [
        { deviceRef: deviceRef(ctx.pseudonymSecret, OLD), expiresAt: new Date("2031-08-01T00:00:00Z") },
        { deviceRef: deviceRef(ctx.pseudonymSecret, CURRENT), expiresAt: new Date("2031-08-01T00:00:00Z") },
      ]);
    });
    after(async () => {
      await store?.cleanup();
      rmSync(dataDir, { recursive: true, force: true });
    });

    it("deletes a warranty record whose retention has run out, with its key in the digest", async () => {
      const { receipt } = await eraseHeldData(
        ctx,
        { device: { deviceKey: OLD }, tokenId: "t1", issuedAt: NOW },
        REQUEST,
        () => NOW,
      );
      const deleted = Object.fromEntries(receipt.deleted.map((d) => [d.collection, d]));
      assert.equal(deleted.activations?.count, 1);
      assert.equal(
        deleted.activations?.sha256,
        createHash("sha256").update(`activations\t${OLD}\t2031-01-01T00:00:00.123Z\n`).digest("hex"),
      );
      assert.equal(deleted.diagnostics_events?.count, 1);
      const kept = receipt.kept.find((k) => k.collection === "activations");
      assert.deepEqual([kept?.count, kept?.until], [0, null]);
      assert.equal(receipt.erasedAt, NOW.toISOString());
    });

    it("keeps a running warranty record until its retention ends", async () => {
      const { receipt } = await eraseHeldData(
        ctx,
        { device: { deviceKey: CURRENT }, tokenId: "t2", issuedAt: NOW },
        undefined,
        () => NOW,
      );
      const kept = receipt.kept.find((k) => k.collection === "activations");
      assert.deepEqual(
        [kept?.count, kept?.until, kept?.legalBasis],
        [1, "2036-01-01T00:00:00.000Z", "contract"],
      );
      assert.equal(receipt.deleted.find((d) => d.collection === "activations")?.count, 0);
    });

    it("answers a request id once: a retry gets the first receipt, another device is refused", async () => {
      const first = (
        await db.query<{ jws: string }>("SELECT jws FROM erasures WHERE request_id = $1", [REQUEST])
      ).rows[0]?.jws;
      const again = await eraseHeldData(
        ctx,
        { device: { deviceKey: OLD }, tokenId: "t3", issuedAt: NOW },
        REQUEST,
        () => NOW,
      );
      assert.equal(again.jws, first);
      assert.equal(again.receipt.ownerTokenId, "t1", "the receipt of the first attempt");
      await assert.rejects(
        eraseHeldData(
          ctx,
          { device: { deviceKey: CURRENT }, tokenId: "t4", issuedAt: NOW },
          REQUEST,
          () => NOW,
        ),
        (e) => isPhoneHomeError(e, "subject_request.conflict"),
      );
    });

    it("records each erasure with counts and digests, and no field value", async () => {
      const { rows } = await db.query<{ doc: unknown }>(
        `SELECT json_agg(json_build_object('request', request_id, 'device', device_key, 'at', erased_at,
                                           'deleted', deleted, 'kept', kept)) AS doc FROM erasures`,
      );
      const json = JSON.stringify(rows[0]?.doc);
      assert.ok(json.includes(REQUEST));
      assert.ok(!json.includes("TA-1062") && !json.includes("00WW_3_39B_SP03"), "no field value");
      assert.ok(!json.includes(deviceRef(ctx.pseudonymSecret, OLD)), "no diagnostics pseudonym");
      const expiry = await db.query<{ expiresAt: Date }>(
        `SELECT expires_at AS "expiresAt" FROM erasures WHERE request_id = $1`,
        [REQUEST],
      );
      assert.deepEqual(
        expiry.rows.map((r) => new Date(r.expiresAt).toISOString()),
        ["2034-06-01T00:00:00.000Z"],
      );
    });

    it("digests nothing as the SHA-256 of the empty string", () => {
      assert.equal(keysDigest("diagnostics_events", []), createHash("sha256").digest("hex"));
    });
  });
}
