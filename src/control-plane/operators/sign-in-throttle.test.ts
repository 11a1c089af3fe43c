/**
 * The sign-in throttle on PGlite and PostgreSQL: failures counted per
 * username and address, per address and per username in a sliding window;
 * an attempt at a limit refused with the seconds to wait, whatever its
 * password, and not counted itself; one address unable to lock an operator
 * out elsewhere; a success forgetting its own failures; attempts sent at once
 * unable to slip under a limit; each lockout in the audit log.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { BACKENDS } from "../../../test/helpers/stores.ts";
import { allAuditEntries } from "../../core/audit-log/audit.repository.ts";
import type { SignInConfig } from "../../core/config/index.ts";
import { type Db, openDb } from "../../core/db/index.ts";
import { migrate } from "../../core/db/migrate.ts";
import { isPhoneHomeError, type PhoneHomeError } from "../../core/errors/index.ts";
import { addOperator, signIn } from "./operators.service.ts";
import { addressKey } from "./sign-in-throttle.ts";

const PASSWORD = "correct horse battery staple";
const LIMITS: SignInConfig = { windowSeconds: 600, perAccountAndAddress: 3, perAddress: 6, perAccount: 8 };
const T0 = new Date("2030-06-01T10:00:00Z");
const at = (seconds: number) => new Date(T0.getTime() + seconds * 1000);

test("an address is counted as itself, an IPv4-mapped one as IPv4, an IPv6 one as its /64", () => {
  assert.equal(addressKey("192.0.2.7"), "192.0.2.7");
  assert.equal(addressKey("::ffff:192.0.2.7"), "192.0.2.7");
  assert.equal(addressKey("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2::/64");
  assert.equal(addressKey("2001:db8:1:2::9"), "2001:db8:1:2::/64");
  assert.equal(addressKey("2001:0db8:0001:0002:ffff::1"), "2001:db8:1:2::/64");
  assert.equal(addressKey("2001:db8::1"), "2001:db8:0:0::/64");
  assert.equal(addressKey("::1"), "0:0:0:0::/64");
});

for (const backend of BACKENDS) {
  describe(`the sign-in throttle on ${backend.name}`, { skip: backend.skip }, () => {
    let db: Db;
    let cleanup: () => Promise<void>;
    before(async () => {
      const fresh = await backend.fresh("throttle");
      cleanup = fresh.cleanup;
      db = await openDb(fresh.store, "sign-in throttle test");
      await migrate(db, "control");
      for (const username of ["kari", "ola", "per"]) {
        await addOperator(db, { username, name: username, role: "auditor", password: PASSWORD }, "test");
      }
    });
    after(async () => {
      await db?.close();
      await cleanup?.();
    });

    /** Signs in; answers "ok", the refusal's code, and its Retry-After. */
    const attempt = async (username: string, password: string, address: string, when: Date) => {
      try {
        await signIn(db, LIMITS, { username, password, address }, when);
        return { outcome: "ok", retryAfter: undefined, message: "" };
      } catch (error) {
        if (!isPhoneHomeError(error)) throw error;
        const e: PhoneHomeError = error;
        return { outcome: e.code, retryAfter: e.retryAfterSeconds, message: e.message };
      }
    };
    const rows = async () =>
      (await db.query<{ n: number }>("SELECT count(*)::integer AS n FROM sign_in_attempts")).rows[0]?.n;
    const lockouts = async () => {
      const entries = [];
      for await (const e of allAuditEntries(db)) if (e.action === "sign_in.locked") entries.push(e);
      return entries;
    };

    test("at the limit for a username from an address, even the right password waits, and is not counted", async () => {
      for (const s of [0, 10, 20]) {
        assert.equal(
          (await attempt("kari", "wrong password", "192.0.2.1", at(s))).outcome,
          "auth.sign_in_failed",
        );
      }
      const before = await rows();
      const refused = await attempt("kari", PASSWORD, "192.0.2.1", at(30));
      assert.deepEqual(
        [refused.outcome, refused.retryAfter, refused.message],
        [
          "auth.sign_in_throttled",
          570,
          "too many failed sign-ins for this username from your address: try again in 10 minutes",
        ],
      );
      assert.equal(await rows(), before, "a refused attempt is not counted");
      // The oldest failure leaves the window at 600 s: then the right password opens a session.
      assert.equal((await attempt("kari", PASSWORD, "192.0.2.1", at(599))).outcome, "auth.sign_in_throttled");
      assert.equal((await attempt("kari", PASSWORD, "192.0.2.1", at(601))).outcome, "ok");
    });

    test("another address's failures do not keep the operator out, and a lockout is audited", async () => {
      for (const s of [0, 1, 2]) await attempt("ola", "wrong password", "198.51.100.9", at(1000 + s));
      assert.equal(
        (await attempt("ola", PASSWORD, "198.51.100.9", at(1003))).outcome,
        "auth.sign_in_throttled",
      );
      assert.equal((await attempt("ola", PASSWORD, "192.0.2.2", at(1004))).outcome, "ok", "from elsewhere");
      const locked = (await lockouts()).filter((e) => e.subject === "ola");
      assert.equal(locked.length, 1);
      assert.equal(locked[0]?.actor, "system:sign-in");
      assert.deepEqual(locked[0]?.detail, {
        address: "198.51.100.9",
        windowSeconds: 600,
        locks: [{ scope: "account-and-address", failures: 3, until: at(1600).toISOString() }],
      });
    });

    test("a success forgets the failures it followed from that address", async () => {
      await attempt("per", "wrong password", "192.0.2.3", at(2000));
      await attempt("per", "wrong password", "192.0.2.3", at(2001));
      assert.equal((await attempt("per", PASSWORD, "192.0.2.3", at(2002))).outcome, "ok");
      for (const s of [3, 4]) {
        assert.equal(
          (await attempt("per", "wrong password", "192.0.2.3", at(2000 + s))).outcome,
          "auth.sign_in_failed",
        );
      }
      assert.equal(
        (await attempt("per", PASSWORD, "192.0.2.3", at(2005))).outcome,
        "ok",
        "two since, not four",
      );
    });

    test("one address trying many usernames is stopped at its own limit; others are not", async () => {
      const names = ["anna", "bo", "cato", "dina", "eli", "frode"];
      for (const [i, name] of names.entries()) {
        assert.equal(
          (await attempt(name, "wrong password", "203.0.113.5", at(3000 + i))).outcome,
          "auth.sign_in_failed",
        );
      }
      const refused = await attempt("kari", PASSWORD, "203.0.113.5", at(3010));
      assert.equal(refused.outcome, "auth.sign_in_throttled");
      assert.match(refused.message, /^too many failed sign-ins from your address: try again in 10 minutes$/);
      assert.equal((await attempt("kari", PASSWORD, "203.0.113.6", at(3011))).outcome, "ok");
      assert.ok((await lockouts()).some((e) => e.subject === "frode" && e.detail.address === "203.0.113.5"));
    });

    test("many addresses guessing one username are stopped at the username's limit, for the window", async () => {
      for (let i = 0; i < 8; i += 1) {
        await attempt("per", "wrong password", `198.18.0.${i + 1}`, at(4000 + i));
      }
      const refused = await attempt("per", PASSWORD, "198.18.1.1", at(4010));
      assert.deepEqual(
        [refused.outcome, refused.message],
        ["auth.sign_in_throttled", "too many failed sign-ins for this username: try again in 10 minutes"],
      );
      assert.equal((await attempt("per", PASSWORD, "198.18.1.1", at(4601))).outcome, "ok");
    });

    test("wrong passwords sent at once cannot slip under the limit", async () => {
      const outcomes = await Promise.all(
        Array.from({ length: 10 }, () => attempt("kari", "wrong password", "192.0.2.99", at(5000))),
      );
      const count = (code: string) => outcomes.filter((o) => o.outcome === code).length;
      assert.deepEqual([count("auth.sign_in_failed"), count("auth.sign_in_throttled")], [3, 7]);
    });
  });
}
