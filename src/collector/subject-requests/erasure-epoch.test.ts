/**
 * The erasure epoch: which owner tokens an erasure ends (pure), and the
 * records it is read from, on PGlite and PostgreSQL — including erasures
 * recorded before the stores kept the token, whose token id the migrations
 * take from the receipts.
 */
import assert from "node:assert/strict";
import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { BACKENDS } from "../../../test/helpers/stores.ts";
import { openDb } from "../../core/db/index.ts";
import { MIGRATIONS_DIR, migrate, readMigrations } from "../../core/db/migrate.ts";
import { erasureEpochOf } from "../../core/owners/index.ts";
import { erasureEpoch } from "./erasure.service.ts";
import { requestedErasureEpoch } from "../../control-plane/subject-requests/orchestration.service.ts";

const DEVICE = `dk_${"E".repeat(27)}`;
const FIRST = "0b0e8d0c-5d0f-4c55-9d3e-2f7f4b7c1a01";
const SECOND = "1b0e8d0c-5d0f-4c55-9d3e-2f7f4b7c1a02";

describe("erasureEpochOf", () => {
  it("is none without an erasure", () => {
    assert.equal(erasureEpochOf([]), null);
  });

  it("starts at the last erasure, in whole seconds, or at its token's iat when the device's clock is ahead", () => {
    const epoch = erasureEpochOf([
      { requestId: FIRST, at: new Date("2031-06-01T10:00:00.700Z"), tokenId: "t1", tokenIssuedAt: null },
      {
        requestId: SECOND,
        at: new Date("2031-06-02T10:00:00.700Z"),
        tokenId: "t2",
        tokenIssuedAt: new Date("2031-06-02T09:59:50Z"),
      },
    ]);
    assert.deepEqual(epoch, {
      since: new Date("2031-06-02T10:00:00Z"),
      tokens: [
        { requestId: FIRST, tokenId: "t1" },
        { requestId: SECOND, tokenId: "t2" },
      ],
    });
    const ahead = erasureEpochOf([
      {
        requestId: FIRST,
        at: new Date("2031-06-01T10:00:00.700Z"),
        tokenId: "t1",
        tokenIssuedAt: new Date("2031-06-01T10:00:20Z"),
      },
    ]);
    assert.equal(ahead?.since.toISOString(), "2031-06-01T10:00:20.000Z");
  });
});

/** A compact JWS whose payload is `receipt` (the signature is not looked at). */
function jwsOf(receipt: object): string {
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString("base64url");
  return `${part({ alg: "EdDSA" })}.${part(receipt)}.c2lnbmF0dXJl`;
}

/** A folder holding the shipped migrations of `set` that come before the one named `…_<name>.sql`. */
function migrationsBefore(set: "region" | "control", name: string): string {
  const root = mkdtempSync(join(tmpdir(), "phonehome-migrations-"));
  const all = readMigrations(set);
  const at = all.findIndex((m) => m.name.endsWith(`_${name}.sql`));
  assert.ok(at > 0, `${set} has a migration ${name}`);
  for (const m of all.slice(0, at)) {
    cpSync(join(MIGRATIONS_DIR, set, m.name), join(root, set, m.name));
  }
  return root;
}

for (const backend of BACKENDS) {
  describe(`the erasure epoch's records on ${backend.name}`, { skip: backend.skip }, () => {
    const roots: string[] = [];
    after(() => {
      for (const root of roots) rmSync(root, { recursive: true, force: true });
    });

    it("a region's earlier erasures get their token id from the receipt they keep", async () => {
      const { store, cleanup } = await backend.fresh("epoch-region");
      const db = await openDb(store);
      try {
        const before = migrationsBefore("region", "erasure_tokens");
        roots.push(before);
        await migrate(db, "region", before);
        // A token id whose receipt encodes to base64url's own letters ('-' and '_').
        const tokenId = "token ~~~ ??? >>>";
        const jws = jwsOf({ requestId: FIRST, ownerTokenId: tokenId });
        assert.match(jws.split(".")[1] ?? "", /[-_]/);
        await db.query(
          `INSERT INTO erasures (request_id, device_key, erased_at, deleted, kept, jws, expires_at)
           VALUES ($1, $2, $3, '[]', '[]', $4, $5)`,
          [FIRST, DEVICE, "2031-06-01T10:00:00.700Z", jws, "2034-06-01T10:00:00Z"],
        );
        await migrate(db, "region");
        assert.deepEqual(await erasureEpoch(db, DEVICE), {
          since: new Date("2031-06-01T10:00:00Z"),
          tokens: [{ requestId: FIRST, tokenId }],
        });
        assert.equal(await erasureEpoch(db, `dk_${"N".repeat(27)}`), null);
      } finally {
        await db.close();
        await cleanup();
      }
    });

    it("the control plane's earlier erasure requests get their token id from a region's receipt", async () => {
      const { store, cleanup } = await backend.fresh("epoch-control");
      const db = await openDb(store);
      try {
        const before = migrationsBefore("control", "subject_request_tokens");
        roots.push(before);
        await migrate(db, "control", before);
        for (const [id, kind] of [
          [FIRST, "erasure"],
          [SECOND, "access"],
        ] as const) {
          await db.query(
            `INSERT INTO subject_requests (id, kind, device_key, requested_at, updated_at)
             VALUES ($1, $2, $3, $4, $4)`,
            [id, kind, DEVICE, "2031-06-01T10:00:00.700Z"],
          );
          await db.query(
            `INSERT INTO subject_request_receipts (request_id, region, received_at, receipt, jws)
             VALUES ($1, 'global', $2, $3::jsonb, 'x.y.z')`,
            [id, "2031-06-01T10:00:01Z", JSON.stringify({ ownerTokenId: `token of ${kind}` })],
          );
        }
        await migrate(db, "control");
        assert.deepEqual(await requestedErasureEpoch(db, DEVICE), {
          since: new Date("2031-06-01T10:00:00Z"),
          tokens: [{ requestId: FIRST, tokenId: "token of erasure" }],
        });
      } finally {
        await db.close();
        await cleanup();
      }
    });
  });
}
