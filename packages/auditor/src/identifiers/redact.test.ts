/**
 * redact(): never the whole identifier, the documented diagnostic prefix
 * kept where it fits, and at least half of the letters and digits masked.
 * And the detail of every kind of match reveals nothing the evidence hides.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { IdentifierKind } from "../types.ts";
import { createHash } from "node:crypto";
import { findIdentifiers, knownIdentifiers, redact } from "./index.ts";

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

/** Values as found, with the key they sat under, covering every kind. */
const FOUND: [string, string | undefined][] = [
  ["490154203237518", "imei"],
  ["490154203237518", undefined],
  ["49015420323751", "imei"],
  ["3569380356438001", "imeisv"],
  ["A10000009296F2", "meid"],
  ["270113177609606898", "meid"],
  ["1f3c9a2b", "esn"],
  ["13809606898", "esn"],
  ["460001234567890", "imsi"],
  ["310260123456789", undefined],
  ["89470800000000000003", "iccid"],
  ["89860312345678901234F", "iccid"],
  ["+4791234567", undefined],
  ["91234567", "phone"],
  ["0047 912 34 567", "phone"],
  ["3c:5a:b4:12:34:56", undefined],
  ["3e:5a:b4:12:34:56", "mac"],
  ["3c5ab4123456", "bssid"],
  ["59.9139,10.7522", undefined],
  ["59.913912", "lat"],
  ["4601-12345", "cell"],
  ["123456789", "cid"],
  ["5f2b8c1d9e0a7b34", "android_id"],
  ["38400000-8cf0-11bd-b23e-10b96e4ef00d", "idfa"],
  ["384000008cf011bdb23e10b96e4ef00d", "oaid"],
  ["jane.doe@gmail.com", undefined],
  ["Jane.Doe+tag@mail.gmail.com", undefined],
  ["jane.doe@janedoe.name", undefined],
  ["81.2.69.160", undefined],
  ["2a00:1450:4001:82a::200e", undefined],
  ["PH1234567", "serial"],
];

/** Lower-cased letters and digits only (and "•" when `masks`), so detail and value compare by content. */
const normalised = (text: string, masks = false) =>
  text.toLowerCase().replace(masks ? /[^\p{L}\p{N}•]/gu : /[^\p{L}\p{N}]/gu, "");

/** How many characters of `value` the text holds, counted in runs of 4 or more taken greedily. */
function charactersOf(value: string, text: string): number {
  let count = 0;
  for (let i = 0; i < text.length;) {
    let length = 0;
    while (i + length < text.length && value.includes(text.slice(i, i + length + 1))) length += 1;
    if (length >= 4) count += length;
    i += Math.max(1, length);
  }
  return count;
}

describe("identifier details reveal no more than the evidence", () => {
  const hash = createHash("sha256").update("490154203237518").digest("hex");
  const known = knownIdentifiers([{ kind: "imei", value: "490154203237518" }]).find(`x ${hash} y`);
  const matches = [...FOUND.flatMap(([text, key]) => findIdentifiers(text, { key })), ...known];

  test("the samples cover every kind", () => {
    const kinds = new Set(matches.map((m) => m.kind));
    for (const kind of [
      "imei",
      "imeisv",
      "meid",
      "esn",
      "imsi",
      "iccid",
      "msisdn",
      "mac",
      "bssid",
      "gps",
      "cell-id",
      "android-id",
      "advertising-id",
      "email",
      "public-ip",
      "serial",
      "known",
    ] as const) {
      assert.ok(kinds.has(kind), `no sample of ${kind}`);
    }
  });

  test("every run of 4 or more value characters in a detail is one the evidence shows", () => {
    for (const match of matches) {
      const value = normalised(match.value);
      const evidence = normalised(redact(match.kind, match.value), true);
      const detail = normalised(match.detail ?? "");
      for (let i = 0; i + 4 <= detail.length; i++) {
        const run = detail.slice(i, i + 4);
        if (!value.includes(run)) continue;
        assert.ok(
          evidence.includes(run),
          `${match.kind} ${match.value}: detail "${match.detail}" reveals ${run}`,
        );
      }
    }
  });

  test("neither detail nor evidence holds more than half the value, and together they never hold it all", () => {
    for (const match of matches) {
      const value = normalised(match.value);
      const evidence = redact(match.kind, match.value);
      const detail = match.detail ?? "";
      const shown = [...normalised(evidence, true)].filter((c) => c !== "•").length;
      const where = `${match.kind} ${match.value}: "${detail}" / "${evidence}"`;
      assert.ok(shown * 2 <= value.length, where);
      assert.ok(charactersOf(value, normalised(detail)) * 2 <= value.length, where);
      assert.ok(!normalised(`${detail} ${evidence}`).includes(value), where);
      assert.ok(!normalised(`${evidence} ${detail}`).includes(value), where);
    }
  });

  test("the details that used to reveal more", () => {
    const detail = (text: string, key: string) => findIdentifiers(text, { key })[0]?.detail;
    assert.equal(detail("490154203237518", "imei"), "Luhn valid"); // was "…; TAC 49015420", 8 of 15 digits
    assert.equal(detail("3569380356438001", "imeisv"), "16 digits: TAC, serial, software version");
    assert.equal(detail("A10000009296F2", "meid"), "regional code A1"); // was "…, manufacturer 000000"
  });
});
