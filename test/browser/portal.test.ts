/**
 * The owner portal in a real browser (Debian's Chromium, playwright-core), on
 * the embedded default (PGlite): an owner opens it with the device's token —
 * pasted, or from the QR code link — reads what every region holds, downloads
 * it, leaves the User Experience Program and keeps the receipt, erases and
 * reads the receipts; checks a build number; reads the transparency page.
 * Each step asserts what the page shows, and what the system then holds; each
 * page passes axe-core; the main pages are photographed for the README.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { type DeviceIdentity, mintOwnerToken, ownerPortalLink, saveIdentity } from "@phonehome/sdk";
import type { Browser, Page } from "playwright-core";
import { buildSbom } from "../../src/control-plane/release/build-sbom.ts";
import { FIXED_BUILD, INCIDENT_BUILD } from "../../src/control-plane/release/examples.ts";
import { phonehomeAsync } from "../helpers/cli.ts";
import {
  browserSkip,
  expectAccessible,
  expectFitsPhone,
  launchBrowser,
  PHONE,
  screenshot,
} from "../helpers/browser.ts";
import { buildEnvelope, post } from "../helpers/envelopes.ts";
import { BACKENDS } from "../helpers/stores.ts";
import { callControlPlane, startTestSystem, type TestSystem } from "../helpers/system.ts";

const pglite = BACKENDS[0];
assert.ok(pglite);

describe("the owner portal in Chromium", { skip: browserSkip }, () => {
  let t: TestSystem;
  let browser: Browser;
  let device: DeviceIdentity;
  let portal: string;
  const regionUrl = (id: string) => t.system.regions.find((r) => r.id === id)?.url ?? "";
  const page = async (): Promise<Page> => (await browser.newContext({ acceptDownloads: true })).newPage();

  before(async () => {
    t = await startTestSystem(pglite);
    browser = await launchBrowser();
    [device] = (await t.provision([{ market: "NO" }])) as [DeviceIdentity];
    portal = `${regionUrl("global")}/portal/`;
    const activated = await post(`${regionUrl("global")}/v1/activations`, await buildEnvelope(device));
    assert.equal(activated.status, 201);
    // The owner joined the program on the device.
    const joined = await fetch(`${regionUrl("global")}/v1/owner/consents/uep.diagnostics`, {
      method: "PUT",
      headers: {
        authorization: `Bearer ${await mintOwnerToken(device)}`,
        "content-type": "application/json",
      },
      body: JSON.stringify({ granted: true, noticeVersion: 1, language: "en", method: "device-settings" }),
    });
    assert.equal(joined.status, 200);
  });
  after(async () => {
    await browser?.close();
    await t?.close();
  });

  test("an owner opens the portal with the token, reads and exports the data, leaves the program, erases", async () => {
    const p = await page();
    await p.goto(portal);
    await expectAccessible(p, "the portal's first page");
    await screenshot(p, "portal-open");
    const openedWith = await mintOwnerToken(device);
    await p.getByLabel("Device token").fill(openedWith);
    await p.getByRole("button", { name: "Open my data" }).click();

    // What every region holds, grouped by purpose.
    const global = p.getByRole("region", { name: "Region global — stored in SG" });
    await global.getByRole("heading", { name: "Your warranty" }).waitFor();
    const serial = global.getByRole("row", { name: /^serial/ });
    assert.match(await serial.innerText(), /ps_[A-Za-z0-9_-]{43}\s+The device's serial number/);
    assert.match(
      await global.innerText(),
      /Why it is held\s+the sales contract and its warranty \(contract\)/,
    );
    assert.match(await global.innerText(), /Deleted by\s+\w+ \d+, \d{4}/);
    const cn = p.getByRole("region", { name: "Region cn — stored in CN" });
    assert.match(await cn.innerText(), /Nothing about your device is stored in this region\./);
    await expectAccessible(p, "the owner's data");
    await screenshot(p, "portal-data");

    // The export: everything every region answered, as a file.
    const [download] = await Promise.all([
      p.waitForEvent("download"),
      p.getByRole("button", { name: "Download everything (JSON)" }).click(),
    ]);
    const exported = JSON.parse(readFileSync(await download.path(), "utf8")) as {
      device: string;
      regions: { region: string; records: { collection: string }[] }[];
    };
    assert.equal(exported.device, device.keyId);
    assert.deepEqual(
      exported.regions.map((r) => [r.region, r.records.map((x) => x.collection)]),
      [
        ["global", ["activation"]],
        ["cn", []],
      ],
    );

    // Leaving the program, with the signed receipt.
    const program = p.getByRole("region", { name: "User Experience Program" });
    await program.getByText("You are in the program").waitFor();
    await program.getByText(/^Read the notice:/).click();
    assert.match(await program.innerText(), /Kept for\s+P90D/);
    await program.getByRole("button", { name: "Leave the program" }).click();
    await program.getByText(/You left the program/).waitFor();
    await program.getByText("You are not in the program").waitFor();
    const [receiptFile] = await Promise.all([
      p.waitForEvent("download"),
      program.getByRole("button", { name: "Download the receipt" }).click(),
    ]);
    const receipt = JSON.parse(readFileSync(await receiptFile.path(), "utf8")) as {
      receipt: { receiptId: string; principal: { deviceKeyId: string } };
      jws: string;
    };
    assert.equal(receipt.receipt.principal.deviceKeyId, device.keyId);
    assert.match(await program.innerText(), new RegExp(`Receipt ${receipt.receipt.receiptId}`));
    const consents = (await (
      await fetch(`${regionUrl("global")}/v1/owner/consents`, {
        headers: { authorization: `Bearer ${await mintOwnerToken(device)}` },
      })
    ).json()) as { consents: { purpose: string; granted: boolean; method?: string }[] };
    assert.deepEqual(
      consents.consents.map((c) => [c.purpose, c.granted]),
      [["uep.diagnostics", false]],
      "the region holds the no",
    );

    // Erasure in every region, and its receipts: what went, what is kept and why.
    const erasure = p.getByRole("region", { name: "Erase your data" });
    await erasure.getByRole("button", { name: "Erase my data…" }).click();
    await erasure.getByRole("button", { name: "Yes, erase my data" }).click();
    await erasure.getByText("Erased in every region.").waitFor();
    const globalReceipt = erasure.getByRole("table", { name: /^Region global \(stored in SG\)/ });
    assert.match(
      await globalReceipt.getByRole("row", { name: /^Warranty activation/ }).innerText(),
      /Warranty activation\s+0\s+1\s+.*contract/,
    );
    await erasure.getByRole("table", { name: /^Region cn \(stored in CN\)/ }).waitFor();
    // The token was used up: the page shows nothing more it read with it, and says why.
    await p.getByText(/The token was used up by the erasure: it opens nothing more/).waitFor();
    assert.equal(await p.getByRole("button", { name: "Erase my data…" }).count(), 0, "nothing more to erase");
    assert.equal(await p.getByRole("region", { name: "Region global — stored in SG" }).count(), 0);
    const reused = await fetch(`${regionUrl("global")}/v1/owner/data`, {
      headers: { authorization: `Bearer ${openedWith}` },
    });
    assert.equal(reused.status, 401, "the token the portal was opened with is refused after the erasure");
    await expectAccessible(p, "the erasure's receipts");
    await screenshot(p, "portal-erased");
    // The control plane keeps the request with every region's receipt.
    const requestId = /Request ([0-9a-f-]{36})/.exec(await erasure.innerText())?.[1];
    assert.ok(requestId);
    const kept = await fetch(`${t.system.controlPlane.url}/v1/subject-requests/${requestId}`, {
      headers: { authorization: `Bearer ${await mintOwnerToken(device)}` },
    });
    const state = (await kept.json()) as { status: string; receipts: { region: string }[] };
    assert.deepEqual(
      [state.status, state.receipts.map((r) => r.region).sort()],
      ["complete", ["cn", "global"]],
    );
    await p.context().close();
  });

  test("the QR code link opens the data and takes the token out of the address bar", async () => {
    const p = await page();
    await p.goto(ownerPortalLink(device, await mintOwnerToken(device), portal));
    await p.getByRole("heading", { name: "Region global — stored in SG" }).waitFor();
    assert.doesNotMatch(p.url(), /token/);
    await p.context().close();
  });

  test("phonehome owner link prints the link a device shows, from its identity file", async () => {
    const dir = mkdtempSync(join(tmpdir(), "phonehome-owner-link-"));
    try {
      const file = join(dir, "device.json");
      await saveIdentity(file, device);
      const run = await phonehomeAsync(["owner", "link", file, "--ttl", "120"]);
      assert.equal(run.status, 0, run.stderr);
      const link = run.stdout.trim();
      assert.ok(link.startsWith(`${device.home.url.replace(/\/+$/, "")}/portal/#token=`), link);
      const p = await page();
      // The identity's home is the configured URL; open the same link on the running region.
      await p.goto(`${portal}${new URL(link).hash}`);
      await p.getByRole("heading", { name: "Region global — stored in SG" }).waitFor();
      await p.context().close();
      const missing = await phonehomeAsync(["owner", "link", join(dir, "none.json")]);
      assert.notEqual(missing.status, 0);
      assert.match(missing.stderr, /request\.invalid.*cannot read a device identity/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("on a phone-sized screen the data reads without sideways scrolling of the page", async () => {
    const context = await browser.newContext(PHONE);
    const p = await context.newPage();
    await p.goto(ownerPortalLink(device, await mintOwnerToken(device), portal));
    await p.getByRole("heading", { name: "Region global — stored in SG" }).waitFor();
    await expectFitsPhone(p, "the portal on a phone");
    await expectAccessible(p, "the portal on a phone");
    await screenshot(p, "portal-phone");
    await context.close();
  });

  test("a token that is not the device's is refused with a clear message, and the page stays usable", async () => {
    const p = await page();
    await p.goto(portal);
    await p.getByRole("button", { name: "Open my data" }).click();
    await p.getByRole("alert").getByText("Paste or type the token your device shows.").waitFor();
    await p.getByLabel("Device token").fill("eyJhbGciOiJFZERTQSJ9.e30.c2lnbmF0dXJl");
    await p.getByRole("button", { name: "Open my data" }).click();
    await p
      .getByRole("alert")
      .getByText(/The token was not accepted/)
      .waitFor();
    await p.getByRole("button", { name: "Try another token" }).click();
    await p.getByLabel("Device token").waitFor();
    await p.context().close();
  });

  test("an owner checks a build number: not fixed, fixed, unknown, each with the advisory", async () => {
    for (const [number, force] of [
      ["00WW_3_39B_SP02", true],
      ["00WW_3_39B_SP03", false],
    ] as const) {
      const sbom = JSON.parse(buildSbom({ ...(force ? INCIDENT_BUILD : FIXED_BUILD), number })) as object;
      const registered = await callControlPlane(t, "PUT", `/v1/builds/${number}`, {
        model: "TA-1062",
        variant: "00WW",
        lineage: "00WW_3_39B",
        sbom,
      });
      assert.equal(registered.status, 200);
      const released = await callControlPlane(
        t,
        "POST",
        `/v1/builds/${number}/release`,
        force ? { force: { reason: "the incident's build, as it shipped" } } : {},
      );
      assert.equal(released.status, 200);
      await new Promise((resolve) => setTimeout(resolve, 3));
    }
    const published = await callControlPlane(t, "POST", "/v1/advisories", {
      id: "PH-2019-0001",
      title: "Activation data sent to a server in China",
      description: "One batch sent IMEI, SIM numbers and cell location in plain HTTP to zzhc.vnet.cn.",
      affects: [{ model: "TA-1062", variant: "00WW" }],
      fixes: ["00WW_3_39B_SP03"],
    });
    assert.equal(published.status, 200, JSON.stringify(published.body));

    const p = await page();
    await p.goto(portal);
    const check = p.getByRole("region", { name: "Is my device fixed?" });
    const ask = async (build: string) => {
      await check.getByLabel("Build number").fill(build);
      await check.getByRole("button", { name: "Check" }).click();
      return check.getByText(new RegExp(`^${build}:`)).locator("..");
    };
    const notFixed = await ask("00WW_3_39B_SP02");
    await notFixed.waitFor();
    assert.match(await notFixed.innerText(), /not fixed — install the update/);
    assert.match(
      await notFixed.innerText(),
      /PH-2019-0001 — Activation data sent to a server in China: not fixed; fixed in 00WW_3_39B_SP03/,
    );
    await screenshot(p, "portal-lookup");
    assert.match(await (await ask("00WW_3_39B_SP03")).innerText(), /fixed — this build has every fix/);
    assert.match(await (await ask("00WW_9_99Z_SP01")).innerText(), /is not known/);
    await expectAccessible(p, "the build check");
    await p.context().close();
  });

  test("the transparency page shows the data map in plain language", async () => {
    const p = await page();
    await p.goto(`${portal}?view=transparency`);
    await p.getByRole("heading", { name: "What phonehome collects, and why" }).waitFor();
    const warranty = p.getByRole("region", { name: "Your warranty" });
    assert.match(await warranty.innerText(), /Stored in\s+global \(SG\), cn \(CN\)/);
    assert.match(await warranty.getByRole("row", { name: /^serial/ }).innerText(), /as a pseudonym/);
    await p
      .getByRole("region", { name: "Where data is stored" })
      .getByText(/Region cn, stored in CN: devices sold in CN/)
      .waitFor();
    // What anyone can read, and why; the ledger that counts by batch is not among it.
    const open = p.getByRole("region", { name: "What anyone can read without signing in" });
    assert.match(
      await open.getByRole("row", { name: /GET \/v1\/lookup\/\{build\}/ }).innerText(),
      /is my device fixed\?/,
    );
    assert.doesNotMatch(await open.innerText(), /\/v1\/ledger|\/v1\/fleet\/batches|\/v1\/rollouts/);
    await expectAccessible(p, "the transparency page");
    await screenshot(p, "portal-transparency");
    await p.context().close();
  });
});
