/**
 * Operators sign in to the console through a real OpenID provider
 * (oidc-provider on 127.0.0.1, its own people and a `groups` claim) in
 * Debian's Chromium: the code flow with PKCE takes an admin and an operator
 * in, each seeing the sections their role allows; signing out ends the
 * session and signs out at the provider (RP-initiated logout); a session ends
 * with a short-lived ID token; a person with no mapped group, a forged state
 * and a replayed callback are refused with the reason on the sign-in page.
 * Each page passes axe-core.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Browser, Page } from "playwright-core";
import { browserSkip, expectAccessible, launchBrowser, screenshot } from "../helpers/browser.ts";
import { startTestProvider, type TestProvider } from "../helpers/oidc-provider.ts";
import { BACKENDS } from "../helpers/stores.ts";
import { callControlPlane, startTestSystem, type TestSystem } from "../helpers/system.ts";

const pglite = BACKENDS[0];
assert.ok(pglite);

describe(
  "the console signs operators in through an OpenID provider, in Chromium",
  { skip: browserSkip },
  () => {
    let t: TestSystem;
    let op: TestProvider;
    let browser: Browser;
    const consoleUrl = () => `${t.system.controlPlane.url}/console/`;

    /** A fresh browser (no provider session) on the console's sign-in page. */
    const freshPage = async (): Promise<Page> => {
      const p = await (await browser.newContext()).newPage();
      await p.goto(consoleUrl());
      await p.getByRole("link", { name: "Sign in with Example SSO" }).waitFor();
      return p;
    };
    /** From the console's sign-in page through the provider's form as `login`. */
    const throughProvider = async (p: Page, login: string): Promise<void> => {
      await p.getByRole("link", { name: "Sign in with Example SSO" }).click();
      await p.waitForURL((url) => url.href.startsWith(op.issuer));
      await p.locator('input[name="login"]').fill(login);
      await p.locator('input[name="password"]').fill("any password");
      await p.locator('button[type="submit"]').click();
      await p.waitForURL((url) => url.href.startsWith(consoleUrl()));
    };
    const navLinks = async (p: Page) =>
      (await p.getByRole("navigation", { name: "Sections" }).getByRole("link").allInnerTexts()).map((s) =>
        s.trim(),
      );
    const tokenOf = (p: Page) =>
      p.evaluate(() =>
        (
          globalThis as unknown as { sessionStorage: { getItem(k: string): string | null } }
        ).sessionStorage.getItem("phonehome.console.session"),
      );

    before(async () => {
      op = await startTestProvider();
      t = await startTestSystem(pglite, {
        extra: { incidents: { sweepIntervalSeconds: 0 } },
        controlPlane: { oidc: op.settings() },
      });
      op.register(t.system.controlPlane.url);
      browser = await launchBrowser();
    });
    after(async () => {
      await browser?.close();
      await t?.close();
      await op?.close();
    });

    test("the sign-in page offers the provider, and the password form for the break-glass admin", async () => {
      const p = await freshPage();
      await p.getByRole("heading", { name: "Local administrator (break-glass)" }).waitFor();
      await p.getByLabel("Username").waitFor();
      await expectAccessible(p, "the console's sign-in with a provider");
      await screenshot(p, "console-sign-in-oidc");
      await p.context().close();
    });

    test("an admin signs in with PKCE, sees every admin section, and nothing of the token stays in the address bar", async () => {
      const p = await freshPage();
      await throughProvider(p, "ada");
      await p.getByRole("button", { name: "Sign out" }).waitFor();
      await p.getByText("Ada Admin (admin)").waitFor();
      assert.ok(!p.url().includes("session="), p.url());
      assert.ok((await navLinks(p)).includes("Audit log"));
      await expectAccessible(p, "the console signed in through the provider");
      const me = await callControlPlane<{ role: string; provider?: { subject: string } }>(
        t,
        "GET",
        "/v1/sessions/current",
        undefined,
        await tokenOf(p),
      );
      assert.equal(me.body.role, "admin");
      assert.equal(me.body.provider?.subject, "ada");
      await p.context().close();
    });

    test("an operator signs in with the operator role and is offered only what it allows", async () => {
      const p = await freshPage();
      await throughProvider(p, "otto");
      await p.getByText("Otto Operator (operator)").waitFor();
      const links = await navLinks(p);
      assert.ok(links.includes("Fleet"), links.join());
      assert.ok(!links.includes("Audit log"), links.join());
      await p.context().close();
    });

    test("sign-out ends the session and signs out at the provider, which sends the browser back", async () => {
      const p = await freshPage();
      await throughProvider(p, "aud");
      await p.getByText("Audun Auditor (auditor)").waitFor();
      const token = await tokenOf(p);
      await p.getByRole("button", { name: "Sign out" }).click();
      await p.waitForURL((url) => url.href.startsWith(`${op.issuer}/session/end`));
      await p.getByRole("button", { name: "Yes, sign me out" }).click();
      await p.waitForURL((url) => url.href.startsWith(consoleUrl()));
      await p.getByRole("link", { name: "Sign in with Example SSO" }).waitFor();
      const gone = await callControlPlane(t, "GET", "/v1/sessions/current", undefined, token);
      assert.equal(gone.status, 401);
      // Signed out at the provider too: it asks who is signing in again.
      await p.getByRole("link", { name: "Sign in with Example SSO" }).click();
      await p.locator('input[name="login"]').waitFor();
      await p.context().close();
    });

    test("a session ends when its short-lived ID token does", async () => {
      const p = await freshPage();
      await throughProvider(p, "brief");
      await p.getByText("Bri Brief (operator)").waitFor();
      await p.waitForTimeout(5000);
      await p.reload();
      await p.getByRole("link", { name: "Sign in with Example SSO" }).waitFor();
      assert.equal(await tokenOf(p), null);
      await p.context().close();
    });

    test("a person whose groups map to no role is refused, with the reason", async () => {
      const p = await freshPage();
      await throughProvider(p, "sal");
      await p.getByRole("alert").getByText("no group that gives a phonehome role").waitFor();
      assert.equal(await p.getByRole("button", { name: "Sign out" }).count(), 0);
      await expectAccessible(p, "a refused sign-in");
      await p.context().close();
    });

    test("a forged state is refused", async () => {
      const p = await freshPage();
      await p.goto(`${t.system.controlPlane.url}/v1/sessions/oidc/callback?code=made-up&state=made-up`);
      await p.getByRole("alert").getByText("its state was not begun here, or was used already").waitFor();
      assert.equal(await p.getByRole("button", { name: "Sign out" }).count(), 0);
      await p.context().close();
    });

    test("a replayed callback is refused", async () => {
      const p = await freshPage();
      let callback: string | undefined;
      p.on("request", (request) => {
        if (request.url().includes("/v1/sessions/oidc/callback")) callback = request.url();
      });
      await throughProvider(p, "otto");
      await p.getByRole("button", { name: "Sign out" }).waitFor();
      assert.ok(callback !== undefined);
      const again = await p.context().newPage();
      await again.goto(callback);
      await again.getByRole("alert").getByText("its state was not begun here, or was used already").waitFor();
      await p.context().close();
    });

    test("a link carrying someone's session signs nobody in: only a tab that began a sign-in takes one", async () => {
      // Someone signs in, then sends another person the console with their own session in the fragment.
      const theirs = await freshPage();
      await throughProvider(theirs, "otto");
      await theirs.getByRole("button", { name: "Sign out" }).waitFor();
      const token = await tokenOf(theirs);
      assert.ok(token);
      const victim = await (await browser.newContext()).newPage();
      await victim.goto(`${consoleUrl()}#session=${token}`);
      await victim.getByRole("alert").getByText("this tab did not begin a sign-in").waitFor();
      assert.equal(await tokenOf(victim), null);
      assert.equal(await victim.getByRole("button", { name: "Sign out" }).count(), 0);
      assert.ok(!victim.url().includes("session="), victim.url());
      await victim.context().close();
      await theirs.context().close();
    });
  },
);
