/**
 * Consent through the real HTTP stack: notices, a yes with a receipt that
 * verifies with the region's published key, a no that erases the device's
 * diagnostics in the same transaction, a wider notice that voids an old yes,
 * one device's token never touching another's consent, and every refusal with
 * its code and nothing changed.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { type DeviceIdentity, mintOwnerToken } from "@phonehome/sdk";
import { compactVerify, createLocalJWKSet } from "jose";
import { PACKAGE_ROOT } from "../../src/core/config/index.ts";
import { type ConsentReceipt, RECEIPT_JWS_TYPE, RECEIPT_VERSION } from "@phonehome/shared";
import { findConsent, findValidConsent, loadNotices } from "../../src/collector/consent/index.ts";
import {
  findDiagnosticsEvents,
  insertDiagnosticsEvents,
} from "../../src/collector/diagnostics/diagnostics.repository.ts";
import { deviceRef } from "../../src/collector/device-data/index.ts";
import { parseRetention } from "../../src/core/calendar/retention.ts";
import type { RunningRegion } from "../../src/collector/region.ts";
import { BACKENDS } from "../helpers/stores.ts";
import { startTestSystem, type TestSystem } from "../helpers/system.ts";

const PURPOSE = "uep.diagnostics";
const SHIPPED_NOTICES = join(PACKAGE_ROOT, "notices");

interface ErrorBody {
  error?: { code: string; message: string; path?: string };
}
interface Signed extends ErrorBody {
  receipt: ConsentReceipt;
  jws: string;
}
interface KeySet {
  region: string;
  keys: { kty: "OKP"; crv: "Ed25519"; x: string; kid: string; alg: string; use: string }[];
}
interface OwnerConsents extends ErrorBody {
  region: string;
  device: string;
  consents: { purpose: string; granted: boolean; noticeVersion: number; receiptId: string; valid: boolean }[];
  history: { receipt: ConsentReceipt; jws: string; keptUntil: string | null }[];
  homeRegion: string;
}

const yes = { granted: true, noticeVersion: 1, language: "en", method: "device-settings" };
const no = { ...yes, granted: false };

/** Verifies a receipt's JWS with a region's published key set; resolves the payload and header. */
async function verifyReceipt(keySet: KeySet, jws: string) {
  const { payload, protectedHeader } = await compactVerify(jws, createLocalJWKSet({ keys: keySet.keys }));
  return {
    payload: JSON.parse(new TextDecoder().decode(payload)) as ConsentReceipt,
    header: protectedHeader,
  };
}

for (const backend of BACKENDS) {
  describe(`consent on ${backend.name}`, { skip: backend.skip }, () => {
    let t: TestSystem;
    let global: RunningRegion;
    let a: DeviceIdentity;
    let b: DeviceIdentity;
    let c: DeviceIdentity;
    let d: DeviceIdentity;
    const scratch = mkdtempSync(join(tmpdir(), "phonehome-notices-"));

    const url = (region: string) => t.system.regions.find((r) => r.id === region)?.url ?? "";
    const call = async <R>(
      method: string,
      region: string,
      path: string,
      options: { token?: string; body?: unknown } = {},
    ): Promise<{ status: number; body: R }> => {
      const headers: Record<string, string> = {};
      if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
      if (options.body !== undefined) headers["content-type"] = "application/json";
      const response = await fetch(`${url(region)}${path}`, {
        method,
        headers,
        ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
      });
      return { status: response.status, body: (await response.json()) as R };
    };
    const decide = async (device: DeviceIdentity, body: unknown, region = "global", purpose = PURPOSE) =>
      call<Signed>("PUT", region, `/v1/owner/consents/${purpose}`, {
        token: await mintOwnerToken(device),
        body,
      });
    const consentsOf = async (device: DeviceIdentity, region = "global") =>
      call<OwnerConsents>("GET", region, "/v1/owner/consents", { token: await mintOwnerToken(device) });
    const keySetOf = async (region: string) =>
      (await call<KeySet>("GET", region, "/v1/consent/receipt-key")).body;
    const diagnosticsOf = (device: DeviceIdentity) =>
      findDiagnosticsEvents(global.db, deviceRef(global.intake.pseudonymSecret, device.keyId));
    const storeDiagnostics = async (device: DeviceIdentity, count: number, receipt: string) => {
      const now = Date.now();
      const rows = Array.from({ length: count }, (_, i) => ({
        deviceRef: deviceRef(global.intake.pseudonymSecret, device.keyId),
        eventId: randomUUID(),
        collection: PURPOSE,
        schemaVersion: 1,
        occurredAt: new Date(now - i * 60_000),
        expiresAt: new Date(now + 30 * 86_400_000),
        consentReceipt: receipt,
        data: { crashCount: i },
      }));
      await global.db.transaction((tx) => insertDiagnosticsEvents(tx, rows));
    };

    before(async () => {
      t = await startTestSystem(backend);
      const found = t.system.regions.find((r) => r.id === "global");
      if (!found) throw new Error("no global region");
      global = found;
      [a, b, c, d] = (await t.provision([
        { market: "NO" },
        { market: "FI" },
        { market: "CN" },
        { market: "NO" },
      ])) as [DeviceIdentity, DeviceIdentity, DeviceIdentity, DeviceIdentity];
    });
    after(async () => {
      await t?.close();
      rmSync(scratch, { recursive: true, force: true });
    });

    test("the current notice is public, in every language it has, and each version stays readable", async () => {
      const current = await call<{
        currentVersion: number;
        languages: string[];
        notice: {
          language: string;
          title: string;
          text: string;
          sha256: string;
          scope: { retention: string };
        };
      }>("GET", "global", `/v1/notices/${PURPOSE}`);
      assert.equal(current.status, 200);
      assert.equal(current.body.currentVersion, 1);
      assert.deepEqual(current.body.languages, ["en", "nb"]);
      assert.equal(current.body.notice.language, "en");
      assert.equal(current.body.notice.scope.retention, "P90D");
      assert.match(current.body.notice.text, /no identifiers/);
      const nb = await call<{ notice: { language: string; title: string } }>(
        "GET",
        "cn",
        `/v1/notices/${PURPOSE}?lang=nb`,
      );
      assert.equal(nb.body.notice.language, "nb");
      assert.equal(nb.body.notice.title, "Brukeropplevelsesprogrammet");
      const one = await call<{ version: number; language: string; sha256: string }>(
        "GET",
        "global",
        `/v1/notices/${PURPOSE}/1/nb`,
      );
      assert.equal(one.status, 200);
      assert.equal(one.body.version, 1);
      assert.equal(one.body.language, "nb");
      assert.notEqual(one.body.sha256, current.body.notice.sha256, "each language's text has its own hash");

      for (const [path, status, code] of [
        [`/v1/notices/${PURPOSE}?lang=fr`, 404, "notice.not_found"],
        [`/v1/notices/${PURPOSE}/2/en`, 404, "notice.not_found"],
        [`/v1/notices/${PURPOSE}/1/fr`, 404, "notice.not_found"],
        ["/v1/notices/marketing.email", 404, "consent.purpose_unknown"],
        ["/v1/notices/marketing.email/1/en", 404, "consent.purpose_unknown"],
        [`/v1/notices/${PURPOSE}/one/en`, 400, "request.invalid"],
        [`/v1/notices/${PURPOSE}?lang=en&x=1`, 400, "request.invalid"],
      ] as const) {
        const answer = await call<ErrorBody>("GET", "global", path);
        assert.equal(answer.status, status, path);
        assert.equal(answer.body.error?.code, code, path);
      }
    });

    test("a yes answers a receipt signed by the home region, whose fields say what was agreed", async () => {
      const before = Date.now();
      const answer = await decide(a, { ...yes, language: "nb", method: "setup-wizard" });
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      const { receipt, jws } = answer.body;

      const keySet = await keySetOf("global");
      assert.equal(keySet.region, "global");
      const verified = await verifyReceipt(keySet, jws);
      assert.deepEqual(verified.payload, receipt, "the JWS payload is the receipt");
      assert.equal(verified.header.alg, "EdDSA");
      assert.equal(verified.header.typ, RECEIPT_JWS_TYPE);
      assert.equal(verified.header.kid, keySet.keys[0]?.kid);
      await assert.rejects(
        verifyReceipt(await keySetOf("cn"), jws),
        "another region's key does not verify it",
      );
      const forged = `${jws.split(".")[0]}.${Buffer.from(JSON.stringify({ ...receipt, decision: { ...receipt.decision, granted: false } })).toString("base64url")}.${jws.split(".")[2]}`;
      await assert.rejects(verifyReceipt(keySet, forged), "an edited receipt does not verify");

      const notice = await call<{ sha256: string; withdraw: string }>(
        "GET",
        "global",
        `/v1/notices/${PURPOSE}/1/nb`,
      );
      assert.equal(receipt.version, RECEIPT_VERSION);
      assert.match(receipt.receiptId, /^[0-9a-f-]{36}$/);
      assert.ok(Date.parse(receipt.issuedAt) >= before - 1000 && Date.parse(receipt.issuedAt) <= Date.now());
      assert.deepEqual(receipt.issuer, { region: "global", kid: keySet.keys[0]?.kid, alg: "EdDSA" });
      assert.equal(receipt.principal.deviceKeyId, a.keyId);
      assert.deepEqual(receipt.notice, {
        purpose: PURPOSE,
        version: 1,
        language: "nb",
        title: "Brukeropplevelsesprogrammet",
        sha256: notice.body.sha256,
      });
      assert.deepEqual(receipt.purposes, [
        {
          purpose: PURPOSE,
          title: "Brukeropplevelsesprogrammet",
          legalBasis: "consent",
          collections: [PURPOSE],
          dataCategories: ["user.device", "user.device.telemetry"],
          dataUses: ["analytics.reporting.system.performance"],
          retention: "P90D",
        },
      ]);
      assert.equal(receipt.decision.state, "given");
      assert.equal(receipt.decision.granted, true);
      assert.equal(receipt.decision.method, "setup-wizard");
      assert.equal(receipt.decision.decidedAt, receipt.issuedAt);
      assert.ok(receipt.decision.ownerTokenId.length > 0);
      assert.deepEqual(receipt.storage, { region: "global", country: "SG" });
      assert.equal(receipt.withdraw, notice.body.withdraw);
      assert.match(receipt.withdraw, /Innstillinger/);
      assert.equal(receipt.controller.name, "The maker of this device");
      assert.equal(receipt.erased, undefined, "a yes erases nothing");

      const valid = await findValidConsent(global.db, loadNotices(SHIPPED_NOTICES), a.keyId, PURPOSE);
      assert.deepEqual(valid, { receiptId: receipt.receiptId, noticeVersion: 1 });
      const listed = await consentsOf(a);
      assert.equal(listed.status, 200);
      assert.equal(listed.body.device, a.keyId);
      assert.deepEqual(
        listed.body.consents.map((x) => [x.purpose, x.granted, x.valid, x.receiptId]),
        [[PURPOSE, true, true, receipt.receiptId]],
      );
      assert.deepEqual(listed.body.history, [{ receipt, jws, keptUntil: null }]);
      const elsewhere = await consentsOf(a, "cn");
      assert.deepEqual(
        [elsewhere.body.consents, elsewhere.body.history],
        [[], []],
        "cn holds nothing about a",
      );
      assert.deepEqual(
        [listed.body.homeRegion, elsewhere.body.homeRegion],
        ["global", "global"],
        "every region names the device's home region",
      );
    });

    test("a no after a yes erases the device's diagnostics in the same decision, and only its own", async () => {
      const given = await decide(d, yes);
      assert.equal(given.status, 200);
      await storeDiagnostics(d, 3, given.body.receipt.receiptId);
      await storeDiagnostics(b, 2, randomUUID());
      assert.equal((await diagnosticsOf(d)).length, 3);

      const withdrawn = await decide(d, { ...no, method: "portal" });
      assert.equal(withdrawn.status, 200, JSON.stringify(withdrawn.body));
      assert.equal(withdrawn.body.receipt.decision.state, "withdrawn");
      assert.equal(withdrawn.body.receipt.decision.granted, false);
      assert.deepEqual(withdrawn.body.receipt.erased, { diagnosticsEvents: 3 });
      await verifyReceipt(await keySetOf("global"), withdrawn.body.jws);

      assert.deepEqual(await diagnosticsOf(d), [], "the withdrawn device's events are gone");
      assert.equal((await diagnosticsOf(b)).length, 2, "another device's events remain");
      assert.equal(await findValidConsent(global.db, loadNotices(SHIPPED_NOTICES), d.keyId, PURPOSE), null);

      const listed = await consentsOf(d);
      assert.deepEqual(
        listed.body.consents.map((x) => [x.granted, x.valid]),
        [[false, false]],
      );
      assert.deepEqual(
        listed.body.history.map((h) => h.receipt.decision.state),
        ["given", "withdrawn"],
      );
      for (const h of listed.body.history) await verifyReceipt(await keySetOf("global"), h.jws);

      const again = await decide(d, no);
      assert.equal(again.body.receipt.decision.state, "refused", "a no without a yes in force is a refusal");
      assert.deepEqual(again.body.receipt.erased, { diagnosticsEvents: 0 });

      // Each replaced decision is kept as proof for retention.records (default P3Y) after the decision
      // that replaced it; the one in force has no end.
      const proof = await global.db.query<{ decidedAt: Date; expiresAt: Date | null }>(
        `SELECT decided_at AS "decidedAt", expires_at AS "expiresAt" FROM consent_history
          WHERE device_key = $1 ORDER BY decided_at`,
        [d.keyId],
      );
      const rows = proof.rows.map((r) => ({
        decidedAt: new Date(r.decidedAt),
        expiresAt: r.expiresAt === null ? null : new Date(r.expiresAt),
      }));
      // Calendar arithmetic as src/core/dictionary/retention.ts does it (tested there).
      const threeYearsAfter = (t: Date) => parseRetention("P3Y")?.expiresAt(t);
      assert.equal(rows.length, 3);
      // The owner sees the same in their consents (and access export): `keptUntil` per decision.
      const seen = (await consentsOf(d)).body.history.map((h) => h.keptUntil);
      assert.deepEqual(
        seen,
        rows.map((r) => r.expiresAt?.toISOString() ?? null),
      );
      for (const [i, row] of rows.entries()) {
        const next = rows[i + 1];
        if (next === undefined) assert.equal(row.expiresAt, null, "the decision in force does not expire");
        else assert.deepEqual(row.expiresAt, threeYearsAfter(next.decidedAt));
      }
    });

    test("a notice version with a wider scope voids an old yes; one within it does not", async () => {
      const given = await decide(c, yes, "cn");
      assert.equal(given.status, 200, "a Chinese device decides in the cn region");
      assert.deepEqual(given.body.receipt.storage, { region: "cn", country: "CN" });
      const cn = t.system.regions.find((r) => r.id === "cn");
      assert.ok(cn);

      const v1 = readFileSync(join(SHIPPED_NOTICES, PURPOSE, "v1.en.md"), "utf8");
      const folder = (name: string, v2: string) => {
        const dir = join(scratch, name);
        cpSync(SHIPPED_NOTICES, dir, { recursive: true });
        writeFileSync(join(dir, PURPOSE, "v2.en.md"), v2.replace("version: 1", "version: 2"));
        return loadNotices(dir);
      };
      const wider = folder(
        "wider",
        v1.replace(
          "[user.device, user.device.telemetry]",
          "[user.device, user.device.telemetry, user.device.sensor]",
        ),
      );
      const longer = folder("longer", v1.replace("retention: P90D", "retention: P1Y"));
      const reworded = folder(
        "reworded",
        v1.replace("# User Experience Program", "# The User Experience Program"),
      );
      const narrower = folder(
        "narrower",
        v1.replace("[user.device, user.device.telemetry]", "[user.device.telemetry]").replace("P90D", "P30D"),
      );

      assert.equal(
        await findValidConsent(cn.db, wider, c.keyId, PURPOSE),
        null,
        "a new category needs a new yes",
      );
      assert.equal(
        await findValidConsent(cn.db, longer, c.keyId, PURPOSE),
        null,
        "a longer retention needs a new yes",
      );
      for (const notices of [reworded, narrower]) {
        assert.deepEqual(await findValidConsent(cn.db, notices, c.keyId, PURPOSE), {
          receiptId: given.body.receipt.receiptId,
          noticeVersion: 1,
        });
      }
      assert.deepEqual(wider.coveringVersions(PURPOSE), [2]);
      assert.deepEqual(narrower.coveringVersions(PURPOSE), [1, 2]);
      assert.equal(wider.coveringVersions("marketing.email"), null);
    });

    test("a token for one device never changes another device's consent", async () => {
      const bYes = await decide(b, yes);
      assert.equal(bYes.status, 200);
      const before = await findConsent(global.db, b.keyId, PURPOSE);
      for (const body of [no, yes, no]) assert.equal((await decide(a, body)).status, 200);
      const smuggled = await decide(a, { ...no, device: b.keyId });
      assert.equal(smuggled.status, 400);
      assert.equal(smuggled.body.error?.code, "request.invalid");
      assert.deepEqual(
        await findConsent(global.db, b.keyId, PURPOSE),
        before,
        "b's decision in force is unchanged",
      );
      const bList = await consentsOf(b);
      assert.deepEqual(
        bList.body.history.map((h) => h.receipt.receiptId),
        [bYes.body.receipt.receiptId],
        "b's history has only b's decision",
      );
      const aList = await consentsOf(a);
      assert.ok(!JSON.stringify(aList.body).includes(b.keyId), "a's view names nothing of b");
      assert.ok(aList.body.history.every((h) => h.receipt.principal.deviceKeyId === a.keyId));
    });

    test("concurrent decisions on one device: the one in force is the last of the history", async () => {
      const [e] = await t.provision([{ market: "SE" }]);
      assert.ok(e);
      const answers = await Promise.all([yes, no, yes, no, yes, no].map((body) => decide(e, body)));
      assert.ok(answers.every((x) => x.status === 200));
      const listed = await consentsOf(e);
      assert.equal(listed.body.history.length, 6);
      const times = listed.body.history.map((h) => Date.parse(h.receipt.decision.decidedAt));
      assert.deepEqual(
        times,
        [...new Set(times)].sort((x, y) => x - y),
        "strictly increasing",
      );
      const last = listed.body.history.at(-1)?.receipt;
      assert.equal(listed.body.consents[0]?.receiptId, last?.receiptId);
      assert.equal(listed.body.consents[0]?.granted, last?.decision.granted);
      // Each receipt says what it replaced: a no right after a yes in commit order is a withdrawal.
      listed.body.history.forEach((h, i) => {
        const before = listed.body.history[i - 1]?.receipt.decision.granted ?? false;
        const expected = h.receipt.decision.granted ? "given" : before ? "withdrawn" : "refused";
        assert.equal(h.receipt.decision.state, expected);
      });
    });

    test("refusals carry their code and change nothing", async () => {
      const before = await findConsent(global.db, b.keyId, PURPOSE);
      const historyBefore = (await consentsOf(b)).body.history.length;
      const cases: [string, () => Promise<{ status: number; body: ErrorBody }>, number, string, string?][] = [
        [
          "no body field granted",
          () => decide(b, { ...no, granted: undefined }),
          400,
          "request.invalid",
          "/body/granted",
        ],
        [
          "granted as text",
          () => decide(b, { ...no, granted: "no" }),
          400,
          "request.invalid",
          "/body/granted",
        ],
        [
          "notice version 0",
          () => decide(b, { ...no, noticeVersion: 0 }),
          400,
          "request.invalid",
          "/body/noticeVersion",
        ],
        ["notice version as text", () => decide(b, { ...no, noticeVersion: "1" }), 400, "request.invalid"],
        [
          "an unknown method",
          () => decide(b, { ...no, method: "email" }),
          400,
          "request.invalid",
          "/body/method",
        ],
        [
          "a malformed language",
          () => decide(b, { ...no, language: "Norsk!" }),
          400,
          "request.invalid",
          "/body/language",
        ],
        [
          "an unknown field",
          () => decide(b, { ...no, at: "2020-01-01" }),
          400,
          "request.invalid",
          "/body/at",
        ],
        ["an array body", () => decide(b, [no]), 400, "request.invalid"],
        [
          "a stale notice version",
          () => decide(b, { ...no, noticeVersion: 2 }),
          409,
          "consent.notice_outdated",
          "/body/noticeVersion",
        ],
        [
          "a language the notice lacks",
          () => decide(b, { ...no, language: "fr" }),
          400,
          "consent.language_unavailable",
          "/body/language",
        ],
        [
          "an unknown purpose",
          () => decide(b, no, "global", "marketing.email"),
          404,
          "consent.purpose_unknown",
        ],
        ["a malformed purpose", () => decide(b, no, "global", "UEP"), 400, "request.invalid"],
        ["another region than home", () => decide(b, no, "cn"), 403, "consent.wrong_region"],
        [
          "no owner token",
          () => call<ErrorBody>("PUT", "global", `/v1/owner/consents/${PURPOSE}`, { body: no }),
          401,
          "auth.owner_token_invalid",
        ],
      ];
      for (const [what, send, status, code, path] of cases) {
        const answer = await send();
        assert.equal(answer.status, status, `${what}: ${JSON.stringify(answer.body)}`);
        assert.equal(answer.body.error?.code, code, what);
        if (path) assert.equal(answer.body.error?.path, path, what);
      }
      assert.deepEqual(await findConsent(global.db, b.keyId, PURPOSE), before);
      assert.equal((await consentsOf(b)).body.history.length, historyBefore);
      const cnView = await consentsOf(b, "cn");
      assert.deepEqual(cnView.body.history, [], "the refused decision left nothing in cn");
      const unauthenticated = await call<ErrorBody>("GET", "global", "/v1/owner/consents");
      assert.equal(unauthenticated.status, 401);
    });
  });
}
