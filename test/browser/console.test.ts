/**
 * The operator console in a real browser (Debian's Chromium, playwright-core),
 * on the embedded default: a privacy reviewer signs in and approves a proposed
 * collection change, signing it in the browser with their own key; an
 * operator sees a misrouting incident appear after a misrouted activation,
 * notifies the owners and downloads the regulator report; an auditor reads a
 * verified audit log and sees no control to change anything, which the API
 * refuses anyway; support sees only what its role may use. Each page passes
 * axe-core; the main pages are photographed for the README.
 */
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { readFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import type { Browser, Page } from "playwright-core";
import { publicKeyText } from "../../src/core/dictionary/approval.ts";
import { buildSbom } from "../../src/control-plane/release/build-sbom.ts";
import { FIXED_BUILD, INCIDENT_BUILD } from "../../src/control-plane/release/examples.ts";
import {
  browserSkip,
  expectAccessible,
  expectFitsPhone,
  launchBrowser,
  PHONE,
  screenshot,
} from "../helpers/browser.ts";
import { SHIPPED_DICTIONARY } from "../helpers/dictionary.ts";
import { buildEnvelope, post } from "../helpers/envelopes.ts";
import { BACKENDS } from "../helpers/stores.ts";
import {
  callControlPlane,
  OPERATOR_PASSWORD,
  signedInOperators,
  startTestSystem,
  type TestSystem,
} from "../helpers/system.ts";
import { parse } from "yaml";

const pglite = BACKENDS[0];
assert.ok(pglite);

describe("the operator console in Chromium", { skip: browserSkip }, () => {
  let t: TestSystem;
  let browser: Browser;
  let sessions: Map<string, string>;
  const reviewerKey = generateKeyPairSync("ed25519")
    .privateKey.export({ format: "pem", type: "pkcs8" })
    .toString();
  const consoleUrl = () => `${t.system.controlPlane.url}/console/`;

  /** A fresh browser page signed in through the form as `username`. */
  const signIn = async (username: string): Promise<Page> => {
    const p = await (await browser.newContext({ acceptDownloads: true })).newPage();
    await p.goto(consoleUrl());
    await p.getByLabel("Username").fill(username);
    await p.getByLabel("Password").fill(OPERATOR_PASSWORD);
    await p.getByRole("button", { name: "Sign in" }).click();
    await p.getByRole("button", { name: "Sign out" }).waitFor();
    return p;
  };
  /** Registers a build of TA-1062/00WW with its manifest, which the release gate judges. */
  const registerBuild = async (spec: typeof FIXED_BUILD) => {
    const registered = await callControlPlane(t, "PUT", `/v1/builds/${spec.number}`, {
      model: "TA-1062",
      variant: "00WW",
      lineage: "00WW_3_39B",
      sbom: JSON.parse(buildSbom(spec)) as object,
    });
    assert.equal(registered.status, 200, JSON.stringify(registered.body));
  };
  const navLinks = async (p: Page) =>
    (await p.getByRole("navigation", { name: "Sections" }).getByRole("link").allInnerTexts()).map((s) =>
      s.trim(),
    );

  before(async () => {
    t = await startTestSystem(pglite, { extra: { incidents: { sweepIntervalSeconds: 0 } } });
    browser = await launchBrowser();
    sessions = await signedInOperators(t, {
      kari: "operator",
      anna: "privacy-reviewer",
      aud: "auditor",
      sam: "support",
    });
    const key = await callControlPlane(
      t,
      "POST",
      "/v1/reviewer-keys",
      { publicKey: publicKeyText(reviewerKey) },
      sessions.get("anna"),
    );
    assert.equal(key.status, 200);
  });
  after(async () => {
    await browser?.close();
    await t?.close();
  });

  test("the sign-in form says what went wrong, and lets the operator in", async () => {
    const p = await (await browser.newContext()).newPage();
    await p.goto(consoleUrl());
    await expectAccessible(p, "the console's sign-in");
    await screenshot(p, "console-sign-in");
    await p.getByLabel("Username").fill("kari");
    await p.getByLabel("Password").fill("not the password");
    await p.getByRole("button", { name: "Sign in" }).click();
    await p.getByRole("alert").getByText("the username or the password is wrong").waitFor();
    // Guessing is throttled, and the form says for how long.
    for (let i = 0; i < t.config.signIn.perAccountAndAddress; i += 1) {
      await callControlPlane(t, "POST", "/v1/sessions", { username: "mallory", password: "a guess" }, null);
    }
    await p.getByLabel("Username").fill("mallory");
    await p.getByLabel("Password").fill("another guess");
    await p.getByRole("button", { name: "Sign in" }).click();
    await p
      .getByRole("alert")
      .getByText("too many failed sign-ins for this username from your address: try again in 15 minutes")
      .waitFor();
    await p.context().close();
  });

  test("a privacy reviewer reads a proposal and approves it, signed in the browser with their key", async () => {
    const activation = parse(readFileSync(`${SHIPPED_DICTIONARY}/activation/v1.yaml`, "utf8")) as Record<
      string,
      unknown
    >;
    const { approval: _, ...content } = activation;
    const answers = {
      purpose: "The warranty.",
      lessData: "A shorter period loses claims under Norwegian law.",
      categories: "As v1.",
      retention: "Seven years: the limitation period for consumer purchases.",
      access: "The warranty service.",
      optOut: "None: contract.",
      regions: "The home region.",
      thirdParties: "None.",
    };
    const proposed = await callControlPlane<{ id: string }>(
      t,
      "POST",
      "/v1/proposals",
      { document: { ...content, version: 2, retention: "P7Y" }, answers },
      sessions.get("kari"),
    );
    assert.equal(proposed.status, 200, JSON.stringify(proposed.body));
    const id = proposed.body.id;

    const p = await signIn("anna");
    assert.deepEqual(await navLinks(p), [
      "Privacy reviews",
      "Incidents",
      "Ingest ledger",
      "Audit log",
      "Data map",
    ]);
    await p.getByRole("button", { name: id }).click();
    const card = p.getByRole("region", { name: `${id}: activation v2` });
    const changes = card.getByRole("list", { name: "Changes" });
    assert.match(await changes.innerText(), /asks for more\s+wider retention: P5Y → P7Y/);
    assert.match(await card.innerText(), /Why will less data not do\?\s+A shorter period loses claims/);
    assert.match(await card.locator("pre.diff").innerText(), /^\+retention: P7Y$/m);
    await expectAccessible(p, "a proposal under review");
    await screenshot(p, "console-review");

    const decision = card.getByRole("form", { name: "Your decision" });
    // Without a comment, or without the key, nothing is sent.
    await decision.getByRole("button", { name: "Approve and sign" }).click();
    await decision
      .getByRole("alert")
      .getByText(/Say why, in a comment/)
      .waitFor();
    await decision.getByLabel("Comment").fill("Norway's limitation period needs it.");
    await decision.getByRole("button", { name: "Approve and sign" }).click();
    await decision
      .getByRole("alert")
      .getByText(/Choose your reviewer's key file/)
      .waitFor();
    await decision.getByLabel("Your reviewer's key file").setInputFiles({
      name: "reviewer-key.pem",
      mimeType: "application/x-pem-file",
      buffer: Buffer.from(reviewerKey),
    });
    await decision.getByRole("button", { name: "Approve and sign" }).click();
    await card.getByText(`${id} approved and signed.`).waitFor();

    // The control plane verified the signature against anna's registered key and recorded the decision.
    const stored = await callControlPlane<{
      status: string;
      reviewer: string;
      comment: string;
      approval: { signature: string };
    }>(t, "GET", `/v1/proposals/${id}`);
    assert.deepEqual(
      [stored.body.status, stored.body.reviewer, stored.body.comment],
      ["approved", "anna", "Norway's limitation period needs it."],
    );
    assert.match(stored.body.approval.signature, /^[A-Za-z0-9_-]{86}$/);
    await p.context().close();
  });

  test("an operator sees a misrouting incident appear, notifies the owners and downloads the report", async () => {
    // A batch of Norwegian phones made with the China client, as in the incident.
    const devices = await t.provision(
      [1, 2, 3].map(() => ({ market: "NO", home: "cn" })),
      {
        build: INCIDENT_BUILD.number,
      },
    );
    await registerBuild(INCIDENT_BUILD);
    const cn = t.system.regions.find((r) => r.id === "cn")?.url ?? "";

    const p = await signIn("kari");
    assert.deepEqual(await navLinks(p), [
      "Fleet",
      "Releases",
      "Privacy reviews",
      "Incidents",
      "Ingest ledger",
      "Data map",
    ]);
    await p.getByRole("link", { name: "Incidents" }).click();
    await p.getByText("No incident.").waitFor();
    // The incident's client sends to the wrong region.
    for (const d of devices) {
      const answer = await post(`${cn}/v1/activations`, await buildEnvelope(d));
      assert.equal(answer.body.error?.code, "region.misrouted");
    }
    await p.getByRole("button", { name: "Check for misrouting now" }).click();
    await p.getByText(/^Opened INC-1 from the collectors' alerts\.$/).waitFor();
    await p.getByRole("button", { name: "INC-1" }).click();
    const incident = p.getByRole("region", { name: /^INC-1: / });
    assert.match(await incident.innerText(), /Affected devices\s+3/);
    assert.match(
      await incident.getByRole("table", { name: "Affected devices by batch" }).innerText(),
      new RegExp(`${INCIDENT_BUILD.number}\\s+NO\\s+global\\s+3`),
    );
    await expectAccessible(p, "an incident");

    const notify = incident.getByRole("form", { name: "Notify the owners" });
    await notify.getByLabel("Notice title").fill("Your phone sent data to the wrong country");
    await notify.getByLabel("Notice text").fill("An update fixes it. Nothing was stored there.");
    await notify.getByRole("button", { name: "Send the notice" }).click();
    await incident.getByText(/^Notice INC-1-N1 handed to the devices' home regions/).waitFor();
    const notices = incident.getByRole("table", { name: "Notices to owners" });
    await notices.getByRole("row", { name: /^INC-1-N1/ }).waitFor();
    assert.match(
      await notices.innerText(),
      /INC-1-N1\s+Your phone sent data to the wrong country\s+.+\s+0 of 3/,
    );
    await screenshot(p, "console-incident");

    const [report] = await Promise.all([
      p.waitForEvent("download"),
      incident.getByRole("button", { name: "Download the regulator report" }).click(),
    ]);
    const downloaded = readFileSync(await report.path(), "utf8");

    // The ledger says it first, in words: misrouting cannot be missed.
    await p.getByRole("link", { name: "Ingest ledger" }).click();
    const alarm = p.getByRole("alert").filter({ hasText: "Misrouting:" });
    await alarm.waitFor();
    assert.match(
      await alarm.innerText(),
      new RegExp(
        `3 messages from devices sold in NO \\(batch \\S+, build ${INCIDENT_BUILD.number}\\) reached region cn`,
      ),
    );
    const byReason = p.getByRole("table", { name: /refused, \d+ stored$/ });
    assert.match(
      await byReason.getByRole("row", { name: /^region\.misrouted/ }).innerText(),
      new RegExp(`region\\.misrouted\\s+cn\\s+\\S+\\s+${INCIDENT_BUILD.number}\\s+NO\\s+3`),
    );
    await expectAccessible(p, "the ingest ledger");
    await screenshot(p, "console-ledger");
    assert.equal(report.suggestedFilename(), "INC-1.md");
    const text = downloaded;
    assert.match(text, /INC-1/);
    assert.match(text, /Your phone sent data to the wrong country/);
    await p.context().close();
  });

  test("an operator reads the gate's verdicts, releases a passing build, rolls it out, pauses it, withdraws it", async () => {
    await registerBuild(FIXED_BUILD);
    const p = await signIn("kari");
    await p.getByRole("link", { name: "Releases" }).click();
    const builds = p.getByRole("table", { name: "Every registered build" });
    const blocked = builds.getByRole("row", { name: new RegExp(`^${INCIDENT_BUILD.number}`) });
    await blocked.getByText("blocked").click();
    assert.match(await blocked.innerText(), /component\.not_allowed/);
    assert.equal(
      await blocked.getByRole("button", { name: /^Release / }).count(),
      0,
      "a blocked build offers no release",
    );
    await p.getByRole("button", { name: `Release ${FIXED_BUILD.number}` }).click();
    await p.getByText(`${FIXED_BUILD.number} released.`).waitFor();
    await p.getByRole("button", { name: `Roll out ${FIXED_BUILD.number}` }).click();
    await p.getByText(`Rollout of ${FIXED_BUILD.number} started at 10 %.`).waitFor();
    const rollouts = p.getByRole("table", { name: "Newest first" });
    assert.match(
      await rollouts.innerText(),
      new RegExp(`${FIXED_BUILD.number}\\s+10 % \\(10 → 50 → 100\\)\\s+active`),
    );
    await p.getByRole("button", { name: "Pause rollout 1" }).click();
    await p.getByText("Rollout 1 paused.").waitFor();
    assert.match(await rollouts.innerText(), /paused/);
    await expectAccessible(p, "the releases");
    await screenshot(p, "console-releases");
    const state = await callControlPlane<{ state: string }>(t, "GET", "/v1/rollouts/1");
    assert.equal(state.body.state, "paused");

    // Withdrawing needs a reason; then no device is offered the build, and its rollout halts.
    await p.getByRole("button", { name: `Withdraw ${FIXED_BUILD.number}…` }).click();
    const withdraw = p.getByRole("form", { name: `Withdraw ${FIXED_BUILD.number}` });
    await withdraw.getByLabel(`Why is ${FIXED_BUILD.number} withdrawn?`).fill("too short");
    await withdraw.getByRole("button", { name: "Withdraw" }).click();
    await p.getByRole("alert").waitFor();
    await withdraw.getByLabel(`Why is ${FIXED_BUILD.number} withdrawn?`).fill("the modem driver drops calls");
    await withdraw.getByRole("button", { name: "Withdraw" }).click();
    await p.getByText(`${FIXED_BUILD.number} withdrawn.`).waitFor();
    assert.match(await rollouts.innerText(), /halted: withdrawn: the modem driver drops calls/);
    await p.context().close();
  });

  test("an operator follows an advisory's fix on the fleet page: each batch's share charted, and a device found by serial", async () => {
    // Four phones sold in Norway ask for updates: one already runs the fix.
    const phones = await t.provision(
      [1, 2, 3, 4].map(() => ({ market: "NO" })),
      { build: INCIDENT_BUILD.number },
    );
    // A fix in the incident's lineage, released, and named by an advisory.
    const fix = { ...FIXED_BUILD, number: "00WW_3_39B_SP05" };
    await registerBuild(fix);
    const released = await callControlPlane(t, "POST", `/v1/builds/${fix.number}/release`, {});
    assert.equal(released.status, 200, JSON.stringify(released.body));
    const advisory = await callControlPlane(t, "POST", "/v1/advisories", {
      id: "PH-2019-0001",
      title: "Activation data of a Norway batch sent to a server in China",
      description: "One batch shipped with the China variant's self-registration client.",
      affects: [{ model: "TA-1062", variant: "00WW" }],
      fixes: [fix.number],
    });
    assert.equal(advisory.status, 200, JSON.stringify(advisory.body));
    const global = t.system.regions.find((r) => r.id === "global")?.url ?? "";
    for (const [i, phone] of phones.entries()) {
      const build = i === 0 ? fix.number : INCIDENT_BUILD.number;
      const answer = await post(
        `${global}/v1/updates/check`,
        await buildEnvelope(phone, {
          payload: { build },
          header: { collection: "update.check", schemaVersion: 1, build },
        }),
      );
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
    }
    const batch = (
      await callControlPlane<{ batch: string }>(t, "GET", `/v1/fleet/devices/${phones[0]?.serial ?? ""}`)
    ).body.batch;

    const p = await signIn("kari");
    const adoption = p.getByRole("region", { name: "Adoption of fixed builds" });
    assert.equal(await adoption.getByLabel("Advisory").inputValue(), "PH-2019-0001");
    const figures = adoption.getByRole("table", { name: /^Share of active devices on a fixed build/ });
    const today = new Date().toISOString().slice(0, 10);
    assert.match(
      await figures.getByRole("row", { name: new RegExp(batch) }).innerText(),
      new RegExp(`${today}\\s+${batch}\\s+NO\\s+4\\s+1\\s+25 %`),
    );
    // The chart is drawn from the same figures: one line per batch and market, in its legend.
    const chart = adoption.getByRole("img", { name: /^Adoption over time by batch and market/ });
    await chart.locator("canvas").waitFor();
    assert.match(await chart.innerText(), new RegExp(`${batch} NO`));

    // A device by its serial, and a batch's devices; both looked up in the audit log's sight.
    const devices = p.getByRole("region", { name: "Devices" });
    const serial = phones[1]?.serial ?? "";
    await devices.getByLabel("Serial number").fill(serial);
    await devices.getByRole("button", { name: "Find the device" }).click();
    assert.match(
      await devices.getByRole("table", { name: `Device ${serial}` }).innerText(),
      new RegExp(`${serial}\\s+TA-1062\\s+00WW\\s+NO\\s+${batch}`),
    );
    await devices.getByLabel("Serial number").fill("TNOSUCHDEVICE1");
    await devices.getByRole("button", { name: "Find the device" }).click();
    await devices.getByText("no device TNOSUCHDEVICE1 is registered").waitFor();
    await devices.getByLabel("Batch", { exact: true }).selectOption(batch);
    await devices.getByRole("button", { name: "List the batch's devices" }).click();
    const listed = devices.getByRole("table", { name: `Devices of batch ${batch}` });
    await listed.waitFor();
    assert.equal(await listed.getByRole("row").count(), 1 + phones.length);
    await expectAccessible(p, "the fleet with adoption figures and devices");
    await screenshot(p, "console-fleet");
    const reads = await callControlPlane<{ entries: { actor: string; action: string; subject: string }[] }>(
      t,
      "GET",
      "/v1/audit-log",
    );
    assert.ok(
      reads.body.entries.some(
        (e) => e.actor === "operator:kari" && e.action === "fleet.device_read" && e.subject === serial,
      ),
      JSON.stringify(reads.body),
    );
    await p.context().close();
  });

  test("on a phone-sized screen every section of the console fits the screen's width", async () => {
    const context = await browser.newContext(PHONE);
    const p = await context.newPage();
    await p.goto(consoleUrl());
    await p.getByLabel("Username").fill("kari");
    await p.getByLabel("Password").fill(OPERATOR_PASSWORD);
    await p.getByRole("button", { name: "Sign in" }).click();
    await p.getByRole("button", { name: "Sign out" }).waitFor();
    for (const section of await navLinks(p)) {
      await p.getByRole("navigation", { name: "Sections" }).getByRole("link", { name: section }).click();
      await p.getByRole("heading", { name: section, level: 1 }).waitFor();
      await p.waitForLoadState("networkidle");
      await expectFitsPhone(p, `${section} on a phone`);
      await expectAccessible(p, `the console's ${section} on a phone`);
      if (section === "Fleet") await screenshot(p, "console-phone");
    }
    await context.close();
  });

  test("an auditor reads the verified audit log and sees no control to change anything; the API refuses anyway", async () => {
    const p = await signIn("aud");
    assert.deepEqual(await navLinks(p), [
      "Fleet",
      "Releases",
      "Privacy reviews",
      "Incidents",
      "Ingest ledger",
      "Audit log",
      "Data map",
    ]);
    await p.getByRole("link", { name: "Audit log" }).click();
    await p.getByText(/^The chain verifies: \d+ entries/).waitFor();
    await p.getByLabel("Filter").fill("dictionary.approved");
    const table = p.getByRole("table", { name: /entries, newest first$/ });
    assert.match(
      await table.innerText(),
      /operator:anna\s+dictionary\.approved\s+PROP-1\s+Norway's limitation period/,
    );
    assert.match(await table.getByRole("caption").innerText(), /^1 of \d+ entries/);
    await expectAccessible(p, "the audit log");
    await screenshot(p, "console-audit");

    await p.getByRole("link", { name: "Releases" }).click();
    await p.getByRole("table", { name: "Every registered build" }).waitFor();
    assert.equal(
      await p
        .getByRole("button", {
          name: /^(Release|Roll out|Withdraw|Pause rollout|Resume rollout|Advance rollout) /,
        })
        .count(),
      0,
    );

    await p.getByRole("link", { name: "Fleet" }).click();
    const adoption = p.getByRole("region", { name: "Adoption of fixed builds" });
    await adoption.getByRole("img", { name: /^Adoption over time/ }).waitFor();
    const batches = p.getByRole("table", { name: /batches shown$/ });
    assert.match(await batches.innerText(), new RegExp(`NO\\s+${INCIDENT_BUILD.number}`));
    await expectAccessible(p, "the fleet");

    await p.getByRole("link", { name: "Incidents" }).click();
    await p.getByRole("button", { name: "INC-1" }).click();
    await p
      .getByRole("region", { name: /^INC-1: / })
      .getByRole("button", { name: "Download the regulator report" })
      .waitFor();
    assert.equal(await p.getByRole("button", { name: "Check for misrouting now" }).count(), 0);
    assert.equal(await p.getByRole("form", { name: "Notify the owners" }).count(), 0);
    await p.getByRole("link", { name: "Privacy reviews" }).click();
    await p.getByRole("button", { name: "PROP-1" }).click();
    await p.getByRole("region", { name: "PROP-1: activation v2" }).waitFor();
    assert.equal(await p.getByRole("form", { name: "Your decision" }).count(), 0);

    const aud = sessions.get("aud");
    const sweep = await callControlPlane<{ error: { code: string } }>(
      t,
      "POST",
      "/v1/incidents/sweep",
      undefined,
      aud,
    );
    assert.deepEqual([sweep.status, sweep.body.error.code], [403, "auth.forbidden"]);
    const notice = await callControlPlane<{ error: { code: string } }>(
      t,
      "POST",
      "/v1/incidents/INC-1/notices",
      { title: "x", body: "y" },
      aud,
    );
    assert.deepEqual([notice.status, notice.body.error.code], [403, "auth.forbidden"]);
    await p.context().close();
  });

  test("support sees the fleet without adoption figures, the incidents, and nothing to change", async () => {
    const p = await signIn("sam");
    assert.deepEqual(await navLinks(p), ["Fleet", "Releases", "Incidents", "Ingest ledger", "Data map"]);
    // The fleet, without the adoption figures its role may not read.
    await p.getByRole("heading", { name: "Fleet", level: 1 }).waitFor();
    assert.match(
      await p
        .getByRole("table", { name: /^Variants/ })
        .getByRole("row", { name: /^00CN/ })
        .innerText(),
      /00CN\s+TA-1062.*\s+cn\s+/,
    );
    assert.equal(await p.getByRole("region", { name: "Adoption of fixed builds" }).count(), 0);
    await p.getByRole("link", { name: "Incidents" }).click();
    await p.getByRole("button", { name: "INC-1" }).waitFor();
    assert.equal(await p.getByRole("button", { name: "Check for misrouting now" }).count(), 0);
    await p.goto(`${consoleUrl()}#audit`);
    await p.getByRole("heading", { name: "Fleet", level: 1 }).waitFor();
    assert.equal(
      await p.getByRole("heading", { name: "Audit log" }).count(),
      0,
      "no section the role may not use",
    );
    const log = await callControlPlane<{ error: { code: string } }>(
      t,
      "GET",
      "/v1/audit-log",
      undefined,
      sessions.get("sam"),
    );
    assert.deepEqual([log.status, log.body.error.code], [403, "auth.forbidden"]);
    await p.context().close();
  });

  test("every role reads the data map, and downloads the record of processing", async () => {
    const p = await signIn("sam");
    await p.getByRole("link", { name: "Data map" }).click();
    const collections = p.getByRole("table", { name: "Approved collections" });
    assert.match(
      await collections.getByRole("row", { name: /^activation v1/ }).innerText(),
      /activation v1\s+essential\.service\.operations\.support\.warranty\s+contract\s+P5Y\s+global, cn\s+privacy-review/,
    );
    const [csv] = await Promise.all([
      p.waitForEvent("download"),
      p.getByRole("button", { name: "Record of processing (CSV)" }).click(),
    ]);
    assert.equal(csv.suggestedFilename(), "ropa.csv");
    const text = readFileSync(await csv.path(), "utf8");
    assert.match(text.split("\n")[0] ?? "", /^activity,version,/);
    assert.match(text, /^activation,1,.*,serial,/m);
    await expectAccessible(p, "the data map");
    await p.context().close();
  });
});
