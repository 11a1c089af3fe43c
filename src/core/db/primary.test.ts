/** Store URLs of several hosts: split as libpq writes them, and the one primary found among them. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isPhoneHomeError } from "../errors/index.ts";
import { findPrimary, hostOf, splitHosts } from "./primary.ts";
import { POSTGRES_URL, postgresBackend } from "../../../test/helpers/stores.ts";
import { startPgCluster } from "../../../test/helpers/pg-cluster.ts";
import { openDb } from "./index.ts";

describe("a store URL of several hosts", () => {
  it("gives one URL per host, credentials, database and parameters kept, target_session_attrs dropped", () => {
    assert.deepEqual(
      splitHosts(
        "postgres://app:s3cret@db-a:5432,db-b:6432/phonehome?target_session_attrs=read-write&sslmode=require",
      ),
      [
        "postgres://app:s3cret@db-a:5432/phonehome?sslmode=require",
        "postgres://app:s3cret@db-b:6432/phonehome?sslmode=require",
      ],
    );
    assert.deepEqual(splitHosts("postgresql://a,b/x?target_session_attrs=primary"), [
      "postgresql://a/x",
      "postgresql://b/x",
    ]);
  });

  it("leaves a URL of one host as it is", () => {
    const one = "postgres://postgres@127.0.0.1:5432/test?target_session_attrs=read-write";
    assert.deepEqual(splitHosts(one), [one]);
  });

  it("refuses an empty host in the list", () => {
    assert.throws(
      () => splitHosts("postgres://a:1,,b:2/x"),
      (e: unknown) => isPhoneHomeError(e, "config.invalid"),
    );
  });

  it("prints hosts without their password", () => {
    assert.equal(hostOf("postgres://app:s3cret@db-a:5432/x"), "db-a:5432");
  });

  it("finds the primary and says what each host answered when there is none", async () => {
    const closed = "postgres://postgres@127.0.0.1:1/test";
    assert.equal(await findPrimary([closed, POSTGRES_URL], 1000), POSTGRES_URL);
    await assert.rejects(findPrimary([closed], 1000), (e: unknown) => {
      assert.ok(isPhoneHomeError(e, "service.unavailable"));
      assert.match((e as Error).message, /no primary among the store's hosts: 127\.0\.0\.1:1 unreachable/);
      return true;
    });
    // The same server named twice is two primaries: the store refuses to choose.
    await assert.rejects(findPrimary([POSTGRES_URL, POSTGRES_URL], 1000), /more than one primary/);
  });
});

describe("a running store of several hosts (PostgreSQL)", { skip: postgresBackend.skip }, () => {
  it("takes no writes while a second host says it is a primary, and goes on once it is fenced", async (t) => {
    // The shared server is the primary; a cluster of the test's own, started later, is an old primary come back.
    const other = await startPgCluster();
    await other.stop("fast");
    const url = `${POSTGRES_URL.replace("127.0.0.1:5432", `127.0.0.1:5432,127.0.0.1:${other.port}`)}`;
    const db = await openDb({ kind: "postgres", url, timeouts: { connectMs: 1000 } });
    try {
      await db.checkWritable();
      assert.deepEqual((await db.query<{ n: number }>("SELECT 1 AS n")).rows, [{ n: 1 }]);
      await other.start();
      const refused = await until(async () => {
        try {
          await db.query("SELECT 1");
          return undefined;
        } catch (error) {
          return error;
        }
      });
      t.diagnostic(String(refused));
      assert.ok(isPhoneHomeError(refused, "service.unavailable"));
      assert.match((refused as Error).message, /more than one primary among the store's hosts/);
      await assert.rejects(db.checkWritable(), /more than one primary/);
      await other.stop("fast");
      await until(async () => {
        try {
          await db.query("SELECT 1");
          return true;
        } catch {
          return undefined;
        }
      });
      await db.checkWritable();
    } finally {
      await db.close();
      await other.destroy();
    }
  });
});

/** Polls `probe` every 200 ms for 20 s until it gives something. */
async function until<T>(probe: () => Promise<T | undefined>): Promise<T> {
  for (let i = 0; i < 100; i++) {
    const got = await probe();
    if (got !== undefined) return got;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return assert.fail("not within 20 s");
}
