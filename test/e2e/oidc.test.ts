/**
 * Operators' sign-in through an OpenID provider, route by route, on PGlite
 * and PostgreSQL, against a real provider (oidc-provider) driven over HTTP as
 * a browser would: the code flow with PKCE opens a session whose role comes
 * from the groups claim and whose end is the sooner of the configured cap and
 * the ID token's expiry; a person with no mapped group, a forged state, a
 * replayed callback, a callback in another browser and a state too old are
 * refused having created nothing; sign-in and sign-out are in the audit log;
 * local accounts are kept for the break-glass admin only.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { AuditEntry, SessionOperator } from "@phonehome/shared";
import { addOperator } from "../../src/control-plane/operators/operators.service.ts";
import { oidcSignIn } from "../../src/control-plane/operators/oidc.service.ts";
import {
  callBack,
  CLIENT_ID,
  PEOPLE,
  signInAtProvider,
  startTestProvider,
  type TestProvider,
} from "../helpers/oidc-provider.ts";
import { BACKENDS } from "../helpers/stores.ts";
import { callControlPlane, OPERATOR_PASSWORD, startTestSystem, type TestSystem } from "../helpers/system.ts";

const CAP_SECONDS = 1800;

for (const backend of BACKENDS) {
  describe(`sign-in through an OpenID provider on ${backend.name}`, { skip: backend.skip }, () => {
    let t: TestSystem;
    let op: TestProvider;
    const cp = () => t.system.controlPlane.url;
    const auditActions = async () =>
      (await callControlPlane<{ entries: AuditEntry[] }>(t, "GET", "/v1/audit-log?limit=1000")).body.entries;
    const operatorRows = async () =>
      (
        await t.system.controlPlane.db.query<{ username: string; role: string; subject: string | null }>(
          "SELECT username, role, subject FROM operators ORDER BY username",
        )
      ).rows;
    const sessionCount = async () =>
      (
        await t.system.controlPlane.db.query<{ n: number }>(
          "SELECT count(*)::integer AS n FROM operator_sessions",
        )
      ).rows[0]?.n;
    /** Signs `login` in at the provider and follows the callback; the session's token and what it says. */
    const signIn = async (login: string) => {
      const { callbackUrl, cookie } = await signInAtProvider(cp(), login);
      const back = await callBack(callbackUrl, cookie);
      assert.equal(back.status, 303);
      assert.ok(back.location.startsWith(`${cp()}/console/#`), back.location);
      const token = back.fragment.get("session");
      assert.ok(token !== null, `${login}: ${back.location}`);
      const me = await callControlPlane<SessionOperator>(t, "GET", "/v1/sessions/current", undefined, token);
      assert.equal(me.status, 200);
      return { token, me: me.body, callbackUrl, cookie };
    };

    before(async () => {
      op = await startTestProvider();
      t = await startTestSystem(backend, {
        controlPlane: { oidc: op.settings({ sessionMaxSeconds: CAP_SECONDS }) },
      });
      op.register(cp());
    });
    after(async () => {
      await t?.close();
      await op?.close();
    });

    test("the console is told how operators sign in here", async () => {
      const config = await (await fetch(`${cp()}/console/config.json`)).json();
      assert.deepEqual(config, {
        passwordSignIn: "admin",
        provider: { name: "Example SSO", signInUrl: "/v1/sessions/oidc" },
      });
    });

    test("beginning sends the browser to the provider with PKCE (S256), state and nonce", async () => {
      const begun = await fetch(`${cp()}/v1/sessions/oidc`, { redirect: "manual" });
      assert.equal(begun.status, 303);
      const to = new URL(begun.headers.get("location") ?? "");
      assert.ok(to.href.startsWith(op.issuer), to.href);
      assert.equal(to.searchParams.get("response_type"), "code");
      assert.equal(to.searchParams.get("client_id"), CLIENT_ID);
      assert.equal(to.searchParams.get("code_challenge_method"), "S256");
      assert.match(to.searchParams.get("code_challenge") ?? "", /^[A-Za-z0-9_-]{43}$/);
      assert.ok((to.searchParams.get("state") ?? "").length >= 32);
      assert.ok((to.searchParams.get("nonce") ?? "").length >= 32);
      assert.equal(to.searchParams.get("redirect_uri"), `${cp()}/v1/sessions/oidc/callback`);
      const cookie = begun.headers.getSetCookie()[0] ?? "";
      assert.match(
        cookie,
        /^phonehome_oidc=[A-Za-z0-9_-]{43}; Path=\/v1\/sessions\/oidc; Max-Age=600; HttpOnly; SameSite=Lax$/,
      );
      // The store keeps the state only as its SHA-256.
      const { rows } = await t.system.controlPlane.db.query<{ state_sha256: string }>(
        "SELECT state_sha256 FROM oidc_sign_ins",
      );
      assert.ok(rows.every((r) => r.state_sha256 !== to.searchParams.get("state")));
    });

    test("an admin signs in: the role from the groups claim, the provider's subject, the sessions' end, the audit log", async () => {
      const before = Date.now();
      const { me } = await signIn("ada");
      assert.equal(me.username, "ada");
      assert.equal(me.name, "Ada Admin");
      assert.equal(me.role, "admin");
      assert.deepEqual(me.provider, { issuer: op.issuer, subject: "ada" });
      assert.ok(me.permissions.includes("operators.write"));
      // The cap (30 minutes) is sooner than the ID token's hour.
      const ends = Date.parse(me.expiresAt);
      assert.ok(
        ends >= before + CAP_SECONDS * 1000 - 5000 && ends <= Date.now() + CAP_SECONDS * 1000,
        me.expiresAt,
      );
      const signOutUrl = new URL(me.signOutUrl ?? "");
      assert.ok(signOutUrl.href.startsWith(`${op.issuer}/session/end`), signOutUrl.href);
      assert.equal(signOutUrl.searchParams.get("client_id"), CLIENT_ID);
      assert.equal(signOutUrl.searchParams.get("post_logout_redirect_uri"), `${cp()}/console/`);
      const row = (await operatorRows()).find((r) => r.username === "ada");
      assert.deepEqual(row, { username: "ada", role: "admin", subject: "ada" });
      const entries = await auditActions();
      const added = entries.find((e) => e.action === "operator.added" && e.subject === "ada");
      assert.deepEqual(added?.detail, { role: "admin", issuer: op.issuer, subject: "ada" });
      const opened = entries.find((e) => e.action === "session.opened" && e.subject === "ada");
      assert.equal(opened?.actor, "operator:ada");
      assert.equal((opened?.detail as { method?: string }).method, "oidc");
    });

    test("an operator signs in with the operator role, and may not do what only an admin may", async () => {
      const { token, me } = await signIn("otto");
      assert.equal(me.role, "operator");
      const refused = await callControlPlane(
        t,
        "POST",
        "/v1/operators",
        { username: "eve", name: "Eve", role: "admin", password: "a long enough password" },
        token,
      );
      assert.equal(refused.status, 403);
      const allowed = await callControlPlane(t, "GET", "/v1/fleet/batches", undefined, token);
      assert.equal(allowed.status, 200);
    });

    test("the provider decides the role at each sign-in: a change is in the audit log, a group removed keeps them out", async () => {
      const rolf = PEOPLE.rolf;
      assert.ok(rolf);
      assert.equal((await signIn("rolf")).me.role, "operator");
      rolf.groups = ["phonehome-auditors"];
      assert.equal((await signIn("rolf")).me.role, "auditor");
      const changed = (await auditActions()).filter((e) => e.action === "operator.role_changed");
      assert.deepEqual(
        changed.map((e) => [e.actor, e.subject, e.detail]),
        [["system:oidc", "rolf", { from: "operator", to: "auditor", issuer: op.issuer, subject: "rolf" }]],
      );
      rolf.groups = ["sales"];
      const { callbackUrl, cookie } = await signInAtProvider(cp(), "rolf");
      assert.equal((await callBack(callbackUrl, cookie)).fragment.get("sign-in-error"), "auth.oidc_no_role");
      assert.equal((await operatorRows()).find((r) => r.username === "rolf")?.role, "auditor", "unchanged");
      rolf.groups = ["phonehome-operators"];
    });

    test("a role claim the ID token lacks is read from userinfo", async () => {
      const { me } = await signIn("uma");
      assert.equal(me.role, "auditor");
      assert.equal(me.name, "Uma Userinfo");
    });

    test("a person whose groups map to no role is refused, and nothing is created", async () => {
      const operators = await operatorRows();
      const sessions = await sessionCount();
      const entries = (await auditActions()).length;
      const { callbackUrl, cookie } = await signInAtProvider(cp(), "sal");
      const back = await callBack(callbackUrl, cookie);
      assert.equal(back.status, 303);
      assert.equal(back.fragment.get("sign-in-error"), "auth.oidc_no_role");
      assert.match(back.fragment.get("message") ?? "", /no group that gives a phonehome role/);
      assert.equal(back.fragment.get("session"), null);
      assert.deepEqual(await operatorRows(), operators);
      assert.equal(await sessionCount(), sessions);
      assert.equal((await auditActions()).length, entries);
    });

    test("a forged state is refused", async () => {
      const { cookie } = await signInAtProvider(cp(), "otto");
      const sessions = await sessionCount();
      const back = await callBack(
        `${cp()}/v1/sessions/oidc/callback?code=forged-code&state=forged-state`,
        cookie,
      );
      assert.equal(back.fragment.get("sign-in-error"), "auth.oidc_state_invalid");
      assert.equal(await sessionCount(), sessions);
      // Without any state at all too.
      const none = await callBack(`${cp()}/v1/sessions/oidc/callback?code=forged-code`, cookie);
      assert.equal(none.fragment.get("sign-in-error"), "auth.oidc_state_invalid");
    });

    test("a replayed callback (the same state and code again) is refused", async () => {
      const first = await signIn("otto");
      const sessions = await sessionCount();
      const again = await callBack(first.callbackUrl, first.cookie);
      assert.equal(again.fragment.get("sign-in-error"), "auth.oidc_state_invalid");
      assert.match(again.fragment.get("message") ?? "", /used already/);
      assert.equal(await sessionCount(), sessions);
    });

    test("a callback in another browser than the one that began it is refused, and its state is spent", async () => {
      const { callbackUrl, cookie } = await signInAtProvider(cp(), "otto");
      const elsewhere = await callBack(
        callbackUrl,
        "phonehome_oidc=AnotherBrowsersValueAnotherBrowsersValue12345",
      );
      assert.equal(elsewhere.fragment.get("sign-in-error"), "auth.oidc_state_invalid");
      const without = await callBack(callbackUrl, "");
      assert.equal(without.fragment.get("sign-in-error"), "auth.oidc_state_invalid");
      const owner = await callBack(callbackUrl, cookie);
      assert.equal(owner.fragment.get("sign-in-error"), "auth.oidc_state_invalid");
    });

    test("a state older than 10 minutes is refused", async () => {
      const config = t.config.controlPlane.oidc;
      assert.ok(config);
      const rp = oidcSignIn(t.system.controlPlane.db, config, cp);
      const now = new Date();
      const begun = await rp.begin("192.0.2.7", undefined, now);
      const state = new URL(begun.authorizationUrl).searchParams.get("state") ?? "";
      const later = new Date(now.getTime() + 601_000);
      await assert.rejects(
        rp.complete(new URLSearchParams({ state, code: "x" }), begun.browser, later),
        (e: Error & { code?: string }) =>
          e.code === "auth.oidc_state_invalid" && /10 minutes/.test(e.message),
      );
    });

    test("the provider's refusal is passed on, the state spent; parameters of its own are let through", async () => {
      const begun = await fetch(`${cp()}/v1/sessions/oidc`, { redirect: "manual" });
      const state = new URL(begun.headers.get("location") ?? "").searchParams.get("state") ?? "";
      const cookie = (begun.headers.getSetCookie()[0] ?? "").split(";")[0] ?? "";
      const back = await callBack(
        `${cp()}/v1/sessions/oidc/callback?error=access_denied&error_description=End-User+aborted&authuser=0&state=${state}`,
        cookie,
      );
      assert.equal(back.fragment.get("sign-in-error"), "auth.oidc_failed");
      assert.match(back.fragment.get("message") ?? "", /access_denied \(End-User aborted\)/);
    });

    test("a session ends with its ID token when that is sooner than the cap", async () => {
      const { token, me } = await signIn("brief");
      assert.ok(Date.parse(me.expiresAt) <= Date.now() + 4000, me.expiresAt);
      await new Promise((resolve) =>
        setTimeout(resolve, Math.max(0, Date.parse(me.expiresAt) - Date.now()) + 500),
      );
      const expired = await callControlPlane(t, "GET", "/v1/sessions/current", undefined, token);
      assert.equal(expired.status, 401);
      const refused = await callControlPlane(t, "GET", "/v1/fleet/batches", undefined, token);
      assert.equal(refused.status, 401);
    });

    test("sign-out ends the session and is in the audit log", async () => {
      const { token } = await signIn("aud");
      const out = await callControlPlane(t, "DELETE", "/v1/sessions/current", undefined, token);
      assert.equal(out.status, 204);
      const gone = await callControlPlane(t, "GET", "/v1/sessions/current", undefined, token);
      assert.equal(gone.status, 401);
      const closed = (await auditActions()).filter(
        (e) => e.action === "session.closed" && e.subject === "aud",
      );
      assert.equal(closed.length, 1);
      assert.equal(closed[0]?.actor, "operator:aud");
    });

    test("local accounts: only an admin signs in with a password (break-glass)", async () => {
      const db = t.system.controlPlane.db;
      await addOperator(
        db,
        { username: "root", name: "Break glass", role: "admin", password: OPERATOR_PASSWORD },
        "test",
      );
      await addOperator(
        db,
        { username: "kari", name: "Kari", role: "operator", password: OPERATOR_PASSWORD },
        "test",
      );
      const admin = await callControlPlane(
        t,
        "POST",
        "/v1/sessions",
        { username: "root", password: OPERATOR_PASSWORD },
        null,
      );
      assert.equal(admin.status, 200);
      const operator = await callControlPlane<{ error: { code: string } }>(
        t,
        "POST",
        "/v1/sessions",
        { username: "kari", password: OPERATOR_PASSWORD },
        null,
      );
      assert.equal(operator.status, 403);
      assert.equal(operator.body.error.code, "auth.local_sign_in_disabled");
      // A wrong password says only that, whoever it is.
      const wrong = await callControlPlane<{ error: { code: string } }>(
        t,
        "POST",
        "/v1/sessions",
        { username: "kari", password: "not the password" },
        null,
      );
      assert.equal(wrong.body.error.code, "auth.sign_in_failed");
      // An operator the provider vouches for has no password to sign in with.
      const noPassword = await callControlPlane<{ error: { code: string } }>(
        t,
        "POST",
        "/v1/sessions",
        { username: "ada", password: OPERATOR_PASSWORD },
        null,
      );
      assert.equal(noPassword.body.error.code, "auth.sign_in_failed");
    });
  });
}
