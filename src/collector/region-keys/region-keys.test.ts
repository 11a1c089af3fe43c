/**
 * A region's keys in its store, on PGlite and PostgreSQL: the first keys
 * (generated, or imported from an older data directory's files), a seal-key
 * rotation published only under the root in use and only as prepared,
 * envelopes' keys open until their end, receipts that verify after two
 * rotations, and every step in the audit log.
 */
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { signRegionDescriptor, verifyRegionDescriptor } from "@phonehome/sdk";
import { compactVerify, createLocalJWKSet } from "jose";
import { BACKENDS } from "../../../test/helpers/stores.ts";
import { type RegionKeysFixture, regionKeysFixture } from "../../../test/helpers/region-keys.ts";
import { allAuditEntries, verifyChain } from "../../core/audit-log/index.ts";
import type { Db } from "../../core/db/index.ts";
import { isPhoneHomeError } from "../../core/errors/index.ts";
import {
  embeddedRoot,
  generateRootKeyFile,
  loadFleetTrust,
  loadRegionKeys,
  loadRegionSigningKey,
  readRootKeyFile,
  signAsRegion,
  unwrapPrivateKey,
} from "../../core/keys/index.ts";
import { receiptKeySet } from "../consent/index.ts";
import type { RegionKeyRing } from "./key-ring.ts";
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

for (const backend of BACKENDS) {
  describe(`region keys on ${backend.name}`, { skip: backend.skip }, () => {
    let fixture: RegionKeysFixture;
    let db: Db;
    let dataDir: string;
    let ctx: RegionKeysContext;
    let ring: RegionKeyRing;
    before(async () => {
      fixture = await regionKeysFixture(backend, "regionkeys");
      ({ db, dataDir, ctx, ring } = fixture);
    });
    after(() => fixture.close());

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
        // Cut short to a shortened tag over nothing: refused, not checked against 4 bytes of tag.
        const [version, nonce, sealed] = row.sealedPrivate.split(".");
        const short = `${version}.${nonce}.${Buffer.from(String(sealed), "base64url").subarray(-4).toString("base64url")}`;
        assert.throws(
          () =>
            unwrapPrivateKey(ctx.wrapSecret, { region: "global", purpose: row.purpose, kid: row.kid }, short),
          /too short/,
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
      // Every key ended (no rotation for too long): the newest is still announced, and refused.
      const afterAll = new Date(Date.parse(next.notAfter) + 1);
      assert.equal(ring.keyInForce(afterAll), undefined);
      assert.equal(ring.sealingKey(afterAll).kid, prepared.kid);
      assert.equal(ring.lookup(prepared.kid, afterAll).kind, "ended");
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
      const { dataDir, ctx, ring, close } = await regionKeysFixture(backend, "regionkeys-upgrade", {
        url: "http://127.0.0.1:8401",
      });
      try {
        const seal = await loadRegionKeys(dataDir, "global");
        const receipts = loadRegionSigningKey(dataDir, "global");
        assert.deepEqual(await ensureRegionKeys(ctx), { seal: "imported", receipts: "imported" });
        await ring.reload();
        assert.equal(ring.kid, seal.kid);
        assert.equal(ring.receiptKey().kid, receipts.kid);
      } finally {
        await close();
      }
    });
  }
});

function writeRoot(dir: string, name: string): string {
  const path = join(dir, name);
  writeFileSync(path, JSON.stringify(generateRootKeyFile()));
  return path;
}
