import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { compactVerify, createLocalJWKSet } from "jose";
import { PACKAGE_ROOT } from "../../core/config/index.ts";
import { fixedReceiptKeys, loadRegionSigningKey, type RegionSigningKeyFile } from "../../core/keys/index.ts";
import { loadNotices } from "./notices.ts";
import { RECEIPT_JWS_TYPE } from "@phonehome/shared";
import { buildReceipt, receiptKeySet, signReceipt } from "./receipt.ts";

const scratch = mkdtempSync(join(tmpdir(), "phonehome-receipts-"));
after(() => rmSync(scratch, { recursive: true, force: true }));

const notice = loadNotices(join(PACKAGE_ROOT, "notices")).get("uep.diagnostics", 1, "en");

describe("the region signing key", () => {
  it("is generated once into the data directory, private to its owner, and read back the same", () => {
    const dir = join(scratch, "once");
    const first = loadRegionSigningKey(dir, "global");
    const path = join(dir, "keys", "region-global-signing.json");
    assert.equal(statSync(path).mode & 0o777, 0o600);
    const again = loadRegionSigningKey(dir, "global");
    assert.equal(again.kid, first.kid);
    assert.equal(again.publicKey, first.publicKey);
    assert.match(first.kid, /^rsk_[A-Za-z0-9_-]{27}$/);
    assert.notEqual(loadRegionSigningKey(dir, "cn").kid, first.kid, "each region has its own key");
  });

  it("refuses a key file of another region or whose halves disagree", () => {
    const dir = join(scratch, "tampered");
    loadRegionSigningKey(dir, "global");
    loadRegionSigningKey(dir, "cn");
    const path = (r: string) => join(dir, "keys", `region-${r}-signing.json`);
    const cn = JSON.parse(readFileSync(path("cn"), "utf8")) as RegionSigningKeyFile;
    const global = JSON.parse(readFileSync(path("global"), "utf8")) as RegionSigningKeyFile;
    writeFileSync(path("global"), JSON.stringify({ ...global, privateKey: cn.privateKey }));
    assert.throws(() => loadRegionSigningKey(dir, "global"), /does not hold a signing key of region global/);
    writeFileSync(path("global"), JSON.stringify({ ...cn }));
    assert.throws(() => loadRegionSigningKey(dir, "global"), /does not hold a signing key of region global/);
    writeFileSync(path("global"), JSON.stringify({ ...global, privateKey: "short" }));
    assert.throws(() => loadRegionSigningKey(dir, "global"), /does not hold a signing key/);
  });
});

describe("receipts", () => {
  it("sign as a compact JWS that verifies with the published key set and carries the receipt", async () => {
    assert.ok(notice);
    const key = loadRegionSigningKey(join(scratch, "sign"), "global");
    const receipt = buildReceipt({
      receiptId: "0b6f1c9e-4a57-4c43-9d2a-1f0e2d3c4b5a",
      notice,
      deviceKey: `dk_${"A".repeat(27)}`,
      state: "withdrawn",
      granted: false,
      method: "portal",
      decidedAt: new Date("2026-11-24T10:00:00Z"),
      ownerTokenId: "t1",
      region: { id: "global", storedIn: "SG" },
      signingKid: key.kid,
      erasedDiagnosticsEvents: 4,
    });
    assert.deepEqual(receipt.erased, { diagnosticsEvents: 4 });
    assert.equal(receipt.notice.sha256, notice.sha256);
    const { jws } = await signReceipt(receipt, key);
    const { payload, protectedHeader } = await compactVerify(
      jws,
      createLocalJWKSet(receiptKeySet(fixedReceiptKeys(key))),
    );
    assert.deepEqual(JSON.parse(new TextDecoder().decode(payload)), receipt);
    assert.deepEqual(protectedHeader, { alg: "EdDSA", kid: key.kid, typ: RECEIPT_JWS_TYPE });
    const other = loadRegionSigningKey(join(scratch, "sign"), "cn");
    await assert.rejects(compactVerify(jws, createLocalJWKSet(receiptKeySet(fixedReceiptKeys(other)))));
  });
});
