/**
 * redact(): never the whole identifier, the documented diagnostic prefix
 * kept where it fits, and at least half of the letters and digits masked.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { IdentifierKind } from "../types.ts";
import { redact } from "./index.ts";

const SAMPLES: [IdentifierKind, string][] = [
  ["imei", "490154203237518"],
  ["imeisv", "3569380356438001"],
  ["meid", "A10000009296F2"],
  ["esn", "1f3c9a2b"],
  ["imsi", "460001234567890"],
  ["imsi", "310260123456789"],
  ["iccid", "89470800000000000003"],
  ["msisdn", "+4791234567"],
  ["msisdn", "91234567"],
  ["mac", "3c:5a:b4:12:34:56"],
  ["bssid", "3c5ab4123456"],
  ["gps", "59.9139,10.7522"],
  ["gps", "59.913912"],
  ["cell-id", "4601-12345"],
  ["android-id", "5f2b8c1d9e0a7b34"],
  ["advertising-id", "38400000-8cf0-11bd-b23e-10b96e4ef00d"],
  ["email", "jane.doe@gmail.com"],
  ["public-ip", "81.2.69.160"],
  ["public-ip", "2a00:1450:4001:82a::200e"],
  ["serial", "PH1234567"],
  ["known", "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"],
  ["serial", "AB"],
];

const alphanumerics = (text: string) => text.replace(/[^\p{L}\p{N}]/gu, "").length;
const masked = (text: string) => [...text].filter((char) => char === "•").length;

describe("redact", () => {
  test("never returns the whole value, and masks at least half of the letters and digits", () => {
    for (const [kind, value] of SAMPLES) {
      const redacted = redact(kind, value);
      assert.notEqual(redacted, value, `${kind} ${value}`);
      assert.ok(masked(redacted) * 2 >= alphanumerics(value), `${kind} ${value} → ${redacted}`);
      assert.equal([...redacted].length, [...value].length, `${kind} keeps the length`);
    }
  });

  test("keeps the documented prefix where half allows", () => {
    assert.equal(redact("imeisv", "3569380356438001"), "35693803••••••••"); // the whole TAC
    assert.equal(redact("imei", "490154203237518"), "4901542••••••••"); // TAC cut to 7 of 15
    assert.equal(redact("imsi", "460001234567890"), "46000••••••••••"); // MCC+MNC
    assert.equal(redact("imsi", "310260123456789"), "310260•••••••••"); // 3-digit MNC
    assert.equal(redact("iccid", "89470800000000000003"), "8947••••••••••••••••"); // 89 + country code
    assert.equal(redact("iccid", "8901260123456789012"), "8901•••••••••••••••"); // 89 + 01 (US)
    assert.equal(redact("mac", "3c:5a:b4:12:34:56"), "3c:5a:b4:••:••:••"); // OUI
    assert.equal(redact("gps", "59.913912,10.752245"), "59.91••••,10.75••••"); // 2 decimals
    assert.equal(redact("gps", "59.9139"), "59.9•••"); // 2 decimals would show more than half
    assert.equal(redact("email", "jane.doe@janedoe.name"), "••••.•••@••nedoe.name"); // a long domain is cut to half
    assert.equal(redact("email", "ola.nordmann@online.no"), "•••.••••••••@online.no"); // domain
    assert.equal(redact("msisdn", "+4791234567"), "+47••••••••"); // calling code
    assert.equal(redact("public-ip", "81.2.69.160"), "81.2.••.•••");
    assert.equal(redact("serial", "PH1234567"), "PH•••••67"); // first/last 2
    assert.equal(redact("android-id", "5f2b8c1d9e0a7b34"), "5f••••••••••••34");
  });

  test("very short and letterless values are masked whole", () => {
    assert.equal(redact("serial", "AB"), "••");
    assert.equal(redact("known", "+-+"), "•••");
  });
});
