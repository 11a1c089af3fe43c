/**
 * A region's keys in its store, on PGlite and PostgreSQL: the first keys
 * (generated, or imported from an older data directory's files), a seal-key
 * rotation published only under the root in use and only as prepared,
 * envelopes' keys open until their end, receipts that verify after two
 * rotations, and every step in the audit log.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { signRegionDescriptor, verifyRegionDescriptor } from "@phonehome/sdk";
import { compactVerify, createLocalJWKSet } from "jose";
import { BACKENDS } from "../../../test/helpers/stores.ts";
import { allAuditEntries, verifyChain } from "../../core/audit-log/index.ts";
import { type Db, migrate, openDb } from "../../core/db/index.ts";
import { isPhoneHomeError } from "../../core/errors/index.ts";
import { createLogger } from "../../core/log/index.ts";
import {
  embeddedRoot,
  generateRootKeyFile,
  loadFleetTrust,
  loadKeyWrapSecret,
  loadRegionKeys,
  loadRegionSigningKey,
  readRootKeyFile,
  signAsRegion,
  unwrapPrivateKey,
} from "../../core/keys/index.ts";
import { receiptKeySet } from "../consent/index.ts";
import { RegionKeyRing } from "./key-ring.ts";
import { listRegionKeys } from "./region-keys.repository.ts";
import {
  currentStatement,
  ensureRegionKeys,
  prepareRotation,
  publishDescriptor,
  recordEndedKeys,
  type RegionKeysContext,
  refreshStaleDescriptor,
  rotateReceiptKey,
} from "./region-keys.service.ts";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const POLICY = { lifetimeMs: 90 * DAY, overlapMs: 30 * DAY, startsInMs: DAY };

for (const backend of BACKENDS) {
  describe(`region keys on ${backend.name}`, { skip: backend.skip }, () => {
    let db: Db;
    let cleanup: () => Promise<void>;
    let dataDir: string;
    let ctx: RegionKeysContext;
    let ring: RegionKeyRing;
    before(async () => {
      const fresh = await backend.fresh("regionkeys");
      cleanup = fresh.cleanup;
      db = await openDb(fresh.store);
      await migrate(db, "region");
      dataDir = mkdtempSync(join(tmpdir(), "phonehome-regionkeys-"));
      await loadFleetTrust(dataDir);
      const wrapSecret = loadKeyWrapSecret(dataDir, "global");
      ctx = {
        db,
        region: { id: "global", storedIn: "SG" },
        url: () => "https://global.example.com",
        dataDir,
        wrapSecret,
        policy: POLICY,
      };
      ring = new RegionKeyRing({ db, region: "global", dataDir, wrapSecret, logger: createLogger("silent") });
    });
    after(async () => {
      await db.close();
      await cleanup();
      rmSync(dataDir, { recursive: true, force: true });
    });

    const actions = async () => {
      const out: string[] = [];
      for await (const e of allAuditEntries(db)) out.push(e.action);
      return out;
    };

    it("a fresh region generates its first keys once, wrapped under the data directory's secret, and the embedded root signs its first descriptor", async () => {
      assert.deepEqual(await ensureRegionKeys(ctx), { seal: "generated", receipts: "generated" });
      assert.deepEqual(await ensureRegionKeys(ctx), { seal: "kept", receipts: "kept" });
      const rows = await listRegionKeys(db);
      assert.equal(rows.length, 2);
      for (const row of rows) {
        assert.doesNotMatch(row.sealedPrivate, /^[A-Za-z0-9_-]{43}$/, "never the raw key");
        // Bound to its place: the same text does not unwrap as another purpose, or under another secret.
        const other = row.purpose === "seal" ? "receipts" : "seal";
        assert.throws(() =>
          unwrapPrivateKey(
            ctx.wrapSecret,
            { region: "global", purpose: other, kid: row.kid },
            row.sealedPrivate,
          ),
        );
        assert.throws(() =>
          unwrapPrivateKey(
            Buffer.alloc(32, 1),
            { region: "global", purpose: row.purpose, kid: row.kid },
            row.sealedPrivate,
          ),
        );
      }
      await ring.reload();
      assert.equal(ring.descriptor, null);
      assert.equal(await refreshStaleDescriptor(ctx, null), true);
      await ring.reload();
      const trust = await loadFleetTrust(dataDir);
      const statement = await verifyRegionDescriptor(ring.descriptor, trust.roots, trust.chain);
      assert.deepEqual(
        statement.keys.map((k) => k.kid),
        [ring.kid],
      );
      assert.equal(await refreshStaleDescriptor(ctx, ring.descriptor), false, "nothing to re-sign");
      assert.deepEqual(await actions(), ["keys.generated", "keys.generated", "keys.descriptor_published"]);
    });

    it("a rotation is published only under the root in use, only as prepared; a refusal changes nothing but the audit log", async () => {
      const before = await listRegionKeys(db);
      const previous = ring.kid;
      const prepared = await prepareRotation(ctx, { startsInMs: HOUR, overlapMs: 2 * HOUR });
      await ring.reload();
      assert.equal(ring.lookup(prepared.kid, new Date()).kind, "unknown", "a pending key is not used");

      const stranger = readRootKeyFile(writeRoot(dataDir, "stranger.json"));
      await assert.rejects(
        publishDescriptor(ctx, await signRegionDescriptor(prepared.statement, stranger)),
        (e) => isPhoneHomeError(e, "keys.descriptor_refused"),
      );
      const root = embeddedRoot(dataDir);
      assert.ok(root);
      const tampered = { ...prepared.statement, keys: prepared.statement.keys.slice(-1) };
      await assert.rejects(publishDescriptor(ctx, await signRegionDescriptor(tampered, root)), (e) => {
        assert.ok(isPhoneHomeError(e, "keys.descriptor_refused"));
        assert.match(e.message, /keys/);
        return true;
      });
      const unchanged = await listRegionKeys(db);
      assert.deepEqual(
        unchanged.filter((k) => k.status === "published"),
        before.filter((k) => k.status === "published"),
      );

      const result = await publishDescriptor(ctx, await signRegionDescriptor(prepared.statement, root));
      assert.equal(result.published, prepared.kid);
      await ring.reload();
      const keys = ring.liveKeys();
      assert.deepEqual(
        keys.map((k) => k.kid),
        [previous, prepared.kid],
      );
      const next = keys[1];
      const old = keys[0];
      assert.ok(next && old);
      assert.equal(
        Date.parse(old.notAfter),
        Date.parse(next.notBefore) + 2 * HOUR,
        "previous ends at start + overlap",
      );
      assert.equal(ring.kid, previous, "devices seal to the previous key until the next starts");
      const later = new Date(Date.parse(next.notBefore) + 1);
      assert.equal(ring.sealingKey(later).kid, prepared.kid);
      // Envelopes sealed to the previous key open until its end, and are refused after.
      assert.equal(ring.lookup(previous, new Date(Date.parse(old.notAfter) - 1)).kind, "open");
      assert.equal(ring.lookup(previous, new Date(Date.parse(old.notAfter))).kind, "ended");
      const tail = (await actions()).slice(3);
      assert.deepEqual(tail, [
        "keys.generated",
        "keys.rotation_refused",
        "keys.rotation_refused",
        "keys.published",
        "keys.descriptor_published",
      ]);
      assert.deepEqual(await recordEndedKeys(ctx, new Date(Date.parse(old.notAfter) + 1)), [previous]);
      assert.equal((await actions()).at(-1), "keys.ended");
      assert.equal((await verifyChain(allAuditEntries(db))).ok, true);
    });

    it("a descriptor signed by an older root than the one in use is refused, and one issued before the one in force too", async () => {
      const root = embeddedRoot(dataDir);
      assert.ok(root);
      const current = await currentStatement(ctx);
      const stale = { ...current.statement, issuedAt: "2020-01-01T00:00:00.000Z" };
      await assert.rejects(publishDescriptor(ctx, await signRegionDescriptor(stale, root)), (e) =>
        isPhoneHomeError(e, "keys.descriptor_refused"),
      );
    });

    it("receipts issued before each of two rotations verify with the published JWK Set after both", async () => {
      await ring.reload();
      const signed: string[] = [];
      for (let i = 0; i < 2; i += 1) {
        signed.push(await signAsRegion({ receipt: i }, ring.receiptKey(), "phonehome-test+jws"));
        await rotateReceiptKey(ctx);
        await ring.reload();
      }
      signed.push(await signAsRegion({ receipt: 2 }, ring.receiptKey(), "phonehome-test+jws"));
      const jwks = receiptKeySet(ring.receipts);
      assert.equal(jwks.keys.length, 3);
      const set = createLocalJWKSet(JSON.parse(JSON.stringify(jwks)));
      for (const [i, jws] of signed.entries()) {
        const { payload } = await compactVerify(jws, set);
        assert.deepEqual(JSON.parse(new TextDecoder().decode(payload)), { receipt: i });
      }
      assert.equal(
        new Set(signed.map((s) => JSON.parse(Buffer.from(s.split(".")[0] ?? "", "base64url").toString()).kid))
          .size,
        3,
      );
    });
  });
}

describe("an upgraded data directory", () => {
  for (const backend of BACKENDS.slice(0, 1)) {
    it(`keeps its key files' keys as the region's first keys (${backend.name})`, async () => {
      const fresh = await backend.fresh("regionkeys-upgrade");
      const db = await openDb(fresh.store);
      const dataDir = mkdtempSync(join(tmpdir(), "phonehome-regionkeys-"));
      try {
        await migrate(db, "region");
        const seal = await loadRegionKeys(dataDir, "global");
        const receipts = loadRegionSigningKey(dataDir, "global");
        const wrapSecret = loadKeyWrapSecret(dataDir, "global");
        const ctx: RegionKeysContext = {
          db,
          region: { id: "global", storedIn: "SG" },
          url: () => "http://127.0.0.1:8401",
          dataDir,
          wrapSecret,
          policy: POLICY,
        };
        assert.deepEqual(await ensureRegionKeys(ctx), { seal: "imported", receipts: "imported" });
        const ring = new RegionKeyRing({
          db,
          region: "global",
          dataDir,
          wrapSecret,
          logger: createLogger("silent"),
        });
        await ring.reload();
        assert.equal(ring.kid, seal.kid);
        assert.equal(ring.receiptKey().kid, receipts.kid);
      } finally {
        await db.close();
        await fresh.cleanup();
        rmSync(dataDir, { recursive: true, force: true });
      }
    });
  }
});

function writeRoot(dir: string, name: string): string {
  const path = join(dir, name);
  writeFileSync(path, JSON.stringify(generateRootKeyFile()));
  return path;
}
