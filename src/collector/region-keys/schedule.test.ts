/**
 * The scheduled key job, on PGlite and PostgreSQL: with the embedded root in
 * the data directory it rotates a seal key older than `keys.lifetime` (and the
 * receipt key); without it, it rotates only the receipt key and reports the
 * seal key's rotation as due, changing nothing else.
 */
import assert from "node:assert/strict";
import { renameSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { BACKENDS } from "../../../test/helpers/stores.ts";
import { type RegionKeysFixture, regionKeysFixture } from "../../../test/helpers/region-keys.ts";
import { allAuditEntries } from "../../core/audit-log/index.ts";
import type { Db } from "../../core/db/index.ts";
import { embeddedRootPath } from "../../core/keys/index.ts";
import { createLogger } from "../../core/log/index.ts";
import type { RegionKeyRing } from "./key-ring.ts";
import { ensureRegionKeys, type RegionKeysContext, refreshStaleDescriptor } from "./region-keys.service.ts";
import { regionKeysJob, rotationDue } from "./schedule.ts";

const DAY = 86_400_000;

for (const backend of BACKENDS) {
  describe(`the scheduled key job on ${backend.name}`, { skip: backend.skip }, () => {
    let fixture: RegionKeysFixture;
    let db: Db;
    let dataDir: string;
    let ctx: RegionKeysContext;
    let ring: RegionKeyRing;
    let now = new Date();
    before(async () => {
      fixture = await regionKeysFixture(backend, "keyjob", { clock: () => now });
      ({ db, dataDir, ctx, ring } = fixture);
      await ensureRegionKeys(ctx, now);
      await refreshStaleDescriptor(ctx, null, now);
      await ring.reload();
    });
    after(() => fixture.close());

    const job = () =>
      regionKeysJob({
        keys: ctx,
        ring,
        periodMs: 3_600_000,
        logger: createLogger("silent"),
        clock: () => now,
      });
    const run = () => job().run({ start: now, end: now, signal: new AbortController().signal });
    const actions = async () => {
      const out: string[] = [];
      for await (const e of allAuditEntries(db)) out.push(e.action);
      return out;
    };

    it("does nothing while the keys are young", async () => {
      const before = await actions();
      await run();
      assert.deepEqual(await actions(), before);
      assert.deepEqual(rotationDue(ring, ctx.policy.lifetimeMs, now), { seal: false, receipts: false });
    });

    it("without the embedded root, rotates the receipt key and reports the seal key due", async () => {
      const root = embeddedRootPath(dataDir);
      const away = join(dataDir, "offline-root.json");
      renameSync(root, away);
      try {
        const sealing = ring.kid;
        now = new Date(now.getTime() + 91 * DAY);
        assert.deepEqual(rotationDue(ring, ctx.policy.lifetimeMs, now), { seal: true, receipts: true });
        await run();
        assert.equal(ring.kid, sealing, "no new seal key without the root");
        assert.deepEqual(rotationDue(ring, ctx.policy.lifetimeMs, now), { seal: true, receipts: false });
        assert.equal(ring.receiptKeys().length, 2);
      } finally {
        renameSync(away, root);
      }
    });

    it("with the embedded root, rotates the seal key: the next starts after keys.startsIn, the previous ends after the overlap", async () => {
      const previous = ring.kid;
      await run();
      const keys = ring.liveKeys(now);
      assert.equal(keys.length, 2);
      const [old, next] = keys;
      assert.ok(old && next);
      assert.equal(old.kid, previous);
      assert.equal(Date.parse(next.notBefore), now.getTime() + DAY);
      assert.equal(Date.parse(old.notAfter), now.getTime() + DAY + 30 * DAY);
      assert.deepEqual(rotationDue(ring, ctx.policy.lifetimeMs, now), { seal: false, receipts: false });
      const tail = (await actions()).slice(-3);
      assert.deepEqual(tail, ["keys.generated", "keys.published", "keys.descriptor_published"]);
      // After the overlap: the previous key's end is recorded, and the descriptor re-signed without it.
      now = new Date(Date.parse(old.notAfter) + 1);
      await run();
      assert.deepEqual(
        ring.liveKeys(now).map((k) => k.kid),
        [next.kid],
      );
      assert.deepEqual((await actions()).slice(-2), ["keys.ended", "keys.descriptor_published"]);
    });
  });
}
