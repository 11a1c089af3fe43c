/**
 * Operators' accounts and sessions on PGlite and PostgreSQL: passwords kept
 * only as Argon2id hashes, sign-in failures that say nothing about which part
 * was wrong, sessions that end by time, by signing out and by disabling; the
 * routes; and `phonehome operator add` reading the password from stdin.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { BACKENDS, pgliteBackend } from "../../../test/helpers/stores.ts";
import { callControlPlane, startTestSystem, type TestSystem } from "../../../test/helpers/system.ts";
import { allAuditEntries } from "../../core/audit-log/audit.repository.ts";
import { type Db, openDb } from "../../core/db/index.ts";
import { migrate } from "../../core/db/migrate.ts";
import { buildConfig } from "../../core/config/index.ts";
import { isPhoneHomeError } from "../../core/errors/index.ts";
import { addOperator, operatorOfSession, SESSION_HOURS, signIn, signOut } from "./operators.service.ts";

const PASSWORD = "correct horse battery staple";
const HOME = "192.0.2.10";
const kari = { username: "kari", password: PASSWORD, address: HOME };
/** The defaults: no test of accounts and sessions comes near them. */
const LIMITS = buildConfig({}, tmpdir()).signIn;

for (const backend of BACKENDS) {
  describe(`operators on ${backend.name}`, { skip: backend.skip }, () => {
    let db: Db;
    let cleanup: () => Promise<void>;
    before(async () => {
      const fresh = await backend.fresh("operators");
      cleanup = fresh.cleanup;
      db = await openDb(fresh.store, "operators test");
      await migrate(db, "control");
      await addOperator(
        db,
        { username: "kari", name: "Kari Nordmann", role: "auditor", password: PASSWORD },
        "test",
      );
    });
    after(async () => {
      await db?.close();
      await cleanup?.();
    });

    test("a password is kept only as an Argon2id hash, and the addition is audited", async () => {
      const { rows } = await db.query<{ password_hash: string }>("SELECT password_hash FROM operators");
      assert.equal(rows.length, 1);
      assert.match(rows[0]?.password_hash ?? "", /^\$argon2id\$v=19\$/);
      assert.ok(!(rows[0]?.password_hash ?? "").includes(PASSWORD));
      const entries = [];
      for await (const e of allAuditEntries(db)) entries.push(e);
      assert.deepEqual(
        entries.map((e) => [e.action, e.subject, e.actor, e.detail]),
        [["operator.added", "kari", "test", { role: "auditor" }]],
      );
    });

    test("a bad operator is refused, naming the field, and nothing is added", async () => {
      const refused = async (request: Record<string, string>, path: string) => {
        await assert.rejects(
          addOperator(
            db,
            { username: "ola", name: "Ola", role: "support", password: PASSWORD, ...request },
            "test",
          ),
          (e) => isPhoneHomeError(e, "operator.invalid") && e.path === path,
        );
      };
      await refused({ username: "Ola Nordmann" }, "/username");
      await refused({ role: "superuser" }, "/role");
      await refused({ name: " " }, "/name");
      await refused({ password: "short" }, "/password");
      await refused({ username: "kari" }, "/username");
      const { rows } = await db.query<{ n: number }>("SELECT count(*)::integer AS n FROM operators");
      assert.equal(rows[0]?.n, 1);
    });

    test("signing in opens a session; a wrong username or password fails the same way", async () => {
      const now = new Date("2030-05-01T08:00:00Z");
      const session = await signIn(db, LIMITS, kari, now);
      assert.deepEqual(session.operator, { username: "kari", name: "Kari Nordmann", role: "auditor" });
      assert.equal(session.expiresAt, new Date(now.getTime() + SESSION_HOURS * 3_600_000).toISOString());
      const { rows } = await db.query<{ token_sha256: string }>("SELECT token_sha256 FROM operator_sessions");
      assert.ok(
        rows.every((r) => r.token_sha256 !== session.token),
        "the token itself is not stored",
      );
      const failures: string[] = [];
      for (const credentials of [
        { username: "kari", password: `${PASSWORD}!` },
        { username: "nobody", password: PASSWORD },
      ]) {
        await assert.rejects(signIn(db, LIMITS, { ...credentials, address: HOME }, now), (e) => {
          assert.ok(isPhoneHomeError(e, "auth.sign_in_failed"));
          failures.push(e.message);
          return true;
        });
      }
      assert.equal(failures[0], failures[1]);
    });

    test("a session ends with its time, by signing out, and when its operator is disabled", async () => {
      const now = new Date("2030-05-02T08:00:00Z");
      const { token } = await signIn(db, LIMITS, kari, now);
      const later = (ms: number) => new Date(now.getTime() + ms);
      assert.equal((await operatorOfSession(db, token, later(3_600_000)))?.username, "kari");
      assert.equal(await operatorOfSession(db, token, later(SESSION_HOURS * 3_600_000)), null, "expired");
      const second = await signIn(db, LIMITS, kari, now);
      assert.equal(await signOut(db, second.token, later(1000)), true);
      assert.equal(await operatorOfSession(db, second.token, later(2000)), null, "signed out");
      assert.equal(await signOut(db, second.token, later(3000)), false);
      const third = await signIn(db, LIMITS, kari, now);
      await db.query("UPDATE operators SET disabled_at = $1 WHERE username = 'kari'", [
        later(1000).toISOString(),
      ]);
      assert.equal(await operatorOfSession(db, third.token, later(2000)), null, "disabled");
      await assert.rejects(signIn(db, LIMITS, kari, later(3000)), (e) =>
        isPhoneHomeError(e, "auth.sign_in_failed"),
      );
      await db.query("UPDATE operators SET disabled_at = NULL WHERE username = 'kari'");
    });
  });
}

describe("operators over HTTP and the CLI", { skip: pgliteBackend.skip }, () => {
  let t: TestSystem;
  before(async () => {
    t = await startTestSystem(pgliteBackend);
  });
  after(async () => {
    await t?.close();
  });

  test("adding needs the service token; sign in, read the session, sign out", async () => {
    const body = { username: "ola", name: "Ola Nordmann", role: "support", password: PASSWORD };
    assert.equal((await callControlPlane(t, "POST", "/v1/operators", body, null)).status, 401);
    assert.equal((await callControlPlane(t, "POST", "/v1/operators", body)).status, 200);
    const signedIn = await callControlPlane<{ token: string }>(t, "POST", "/v1/sessions", {
      username: "ola",
      password: PASSWORD,
    });
    assert.equal(signedIn.status, 200);
    const current = await callControlPlane<{ username: string; role: string; permissions: string[] }>(
      t,
      "GET",
      "/v1/sessions/current",
      undefined,
      signedIn.body.token,
    );
    assert.deepEqual([current.status, current.body.username, current.body.role], [200, "ola", "support"]);
    assert.deepEqual(
      current.body.permissions,
      ["fleet.read", "fleet.revoke", "rollouts.read", "incidents.read", "device.data.open", "ledger.read"],
      "what the support role holds, as the table says",
    );
    assert.equal(
      (await callControlPlane(t, "DELETE", "/v1/sessions/current", undefined, signedIn.body.token)).status,
      204,
    );
    const after = await callControlPlane<{ error: { code: string } }>(
      t,
      "GET",
      "/v1/sessions/current",
      undefined,
      signedIn.body.token,
    );
    assert.deepEqual([after.status, after.body.error.code], [401, "auth.session_invalid"]);
    const wrong = await callControlPlane<{ error: { code: string } }>(t, "POST", "/v1/sessions", {
      username: "ola",
      password: "not the password",
    });
    assert.deepEqual([wrong.status, wrong.body.error.code], [401, "auth.sign_in_failed"]);
  });

  test("guessing is answered 429 with Retry-After, in words the console shows as they are", async () => {
    const guess = () =>
      callControlPlane<{ error: { code: string; message: string } }>(t, "POST", "/v1/sessions", {
        username: "per",
        password: "a guess at the password",
      });
    for (let i = 0; i < t.config.signIn.perAccountAndAddress; i += 1) {
      assert.equal((await guess()).status, 401);
    }
    const response = await fetch(`${t.system.controlPlane.url}/v1/sessions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ username: "per", password: "a guess at the password" }),
    });
    const body = (await response.json()) as { error: { code: string; message: string } };
    assert.deepEqual([response.status, body.error.code], [429, "auth.sign_in_throttled"]);
    const wait = Number(response.headers.get("retry-after"));
    assert.ok(wait > 0 && wait <= t.config.signIn.windowSeconds, `Retry-After ${wait}`);
    assert.equal(
      body.error.message,
      "too many failed sign-ins for this username from your address: try again in 15 minutes",
    );
  });

  test("a client cannot pose as many addresses with X-Forwarded-For to dodge its count", async () => {
    const guess = (forwardedFor: string) =>
      fetch(`${t.system.controlPlane.url}/v1/sessions`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-forwarded-for": forwardedFor },
        body: JSON.stringify({ username: "eva", password: "a guess at the password" }),
      });
    // Not named: a client cannot pose as many addresses to dodge its own count.
    for (let i = 0; i < t.config.signIn.perAccountAndAddress; i += 1) {
      assert.equal((await guess(`203.0.113.${i}`)).status, 401);
    }
    assert.equal((await guess("203.0.113.200")).status, 429);
  });

  test("an unauthenticated body larger than the route reads is refused 413 before it is read", async () => {
    const big = JSON.stringify({ username: "ola", password: "x".repeat(1024 * 1024) });
    for (const path of ["/v1/sessions", "/v1/subject-requests/erasure", "/v1/subject-requests/access"]) {
      const response = await fetch(`${t.system.controlPlane.url}${path}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: big,
      });
      const body = (await response.json()) as { error: { code: string } };
      assert.deepEqual([response.status, body.error.code], [413, "request.too_large"], path);
    }
  });
});

test("phonehome operator add reads the password from standard input", () => {
  const dir = mkdtempSync(join(tmpdir(), "phonehome-operator-cli-"));
  try {
    const config = join(dir, "phonehome.yaml");
    writeFileSync(config, JSON.stringify({ dataDir: dir, logLevel: "silent" }));
    const run = (input: string, ...args: string[]) =>
      spawnSync(
        process.execPath,
        [
          new URL("../../../bin/phonehome.ts", import.meta.url).pathname,
          "--config",
          config,
          "operator",
          "add",
          ...args,
        ],
        { input, encoding: "utf8", timeout: 60_000 },
      );
    const added = run(`${PASSWORD}\n`, "--username", "per", "--name", "Per Hansen", "--role", "admin");
    assert.equal(added.status, 0, added.stderr);
    assert.equal(added.stdout, "added operator per (admin)\n");
    const short = run("short\n", "--username", "paal", "--name", "Pål", "--role", "admin");
    assert.equal(short.status, 1);
    assert.match(short.stderr, /^error \[operator\.invalid\]: a password has at least 12 characters/);
    assert.doesNotMatch(short.stderr, /\bat .*\.ts:\d+/, "no stack trace");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
