/**
 * Known identifiers: the user's file parsed (YAML or JSON, clear errors),
 * and each value found verbatim and as MD5/SHA-1/SHA-256 in hex of either
 * case and base64.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { describe, test } from "node:test";
import { knownIdentifiers, parseKnownIdentifiers } from "./index.ts";

const IMEI = "356938035643809";
const digest = (algorithm: string, value: string) => createHash(algorithm).update(value).digest();

describe("parseKnownIdentifiers", () => {
  test("YAML: a value or a list of values per kind", () => {
    assert.deepEqual(parseKnownIdentifiers(`imei: ["${IMEI}"]\nserial: PH123\n`), [
      { kind: "imei", value: IMEI },
      { kind: "serial", value: "PH123" },
    ]);
    assert.deepEqual(parseKnownIdentifiers("imei:\n  - 356938035643809\n  - 490154203237518\n").length, 2);
  });

  test("JSON works too", () => {
    assert.deepEqual(parseKnownIdentifiers(`{"imei": ["${IMEI}"], "mac": "3c:5a:b4:12:34:56"}`), [
      { kind: "imei", value: IMEI },
      { kind: "mac", value: "3c:5a:b4:12:34:56" },
    ]);
  });

  test("long numbers keep every digit and leading zeros stay", () => {
    const parsed = parseKnownIdentifiers("iccid: 89470800000000000000\nserial: 00123456\n");
    assert.deepEqual(
      parsed.map((item) => item.value),
      ["89470800000000000000", "00123456"],
    );
  });

  test("kinds are lower-cased; duplicates dropped; an empty file is an empty list", () => {
    assert.deepEqual(parseKnownIdentifiers(`IMEI: ${IMEI}`), [{ kind: "imei", value: IMEI }]);
    assert.deepEqual(parseKnownIdentifiers(`imei: [${IMEI}, ${IMEI}]`), [{ kind: "imei", value: IMEI }]);
    assert.deepEqual(parseKnownIdentifiers(""), []);
    assert.deepEqual(parseKnownIdentifiers("# nothing yet\n"), []);
  });

  test("bad input throws an Error that says what is wrong", () => {
    assert.throws(() => parseKnownIdentifiers("imei: [unclosed"), /not valid YAML or JSON/);
    assert.throws(() => parseKnownIdentifiers(`- ${IMEI}`), /expected a mapping/);
    assert.throws(() => parseKnownIdentifiers("just text"), /expected a mapping/);
    assert.throws(() => parseKnownIdentifiers("imei:\n  tac: 35693803"), /"imei" must be a value or a list/);
    assert.throws(() => parseKnownIdentifiers("imei: [[1234567]]"), /imei value #1 must be text/);
    assert.throws(() => parseKnownIdentifiers("serial: ab"), /serial value #1 is too short/);
    assert.throws(() => parseKnownIdentifiers("imei: ''"), /too short/);
    assert.throws(() => parseKnownIdentifiers(`"bad kind!": ${IMEI}`), /kind "bad kind!"/);
    assert.throws(() => parseKnownIdentifiers(`imei: 1\nimei: 2`), /not valid YAML or JSON/);
  });
});

describe("knownIdentifiers", () => {
  const known = knownIdentifiers([
    { kind: "imei", value: IMEI },
    { kind: "serial", value: "PH123" },
    { kind: "mac", value: "3C:5A:B4:12:34:56" },
  ]);

  test("found verbatim, as a whole token", () => {
    const [match] = known.find(`imei=${IMEI}&x=1`);
    assert.equal(match?.kind, "known");
    assert.equal(match?.value, IMEI);
    assert.equal(match?.confidence, "high");
    assert.equal(match?.hashOf, undefined);
    assert.match(match?.detail ?? "", /imei/);
    assert.equal(known.find("serial PH123.")[0]?.value, "PH123");
    assert.deepEqual(known.find(`1${IMEI}`), []);
    assert.deepEqual(known.find("PH1234"), []);
  });

  for (const algorithm of ["md5", "sha1", "sha256"]) {
    test(`found as ${algorithm} hex, lower and upper case, and base64`, () => {
      const raw = digest(algorithm, IMEI);
      for (const written of [
        raw.toString("hex"),
        raw.toString("hex").toUpperCase(),
        raw.toString("base64"),
      ]) {
        const [match] = known.find(`{"h":"${written}"}`);
        assert.equal(match?.value, written, written);
        assert.equal(match?.hashOf, `${algorithm} of imei`);
      }
    });
  }

  test("a MAC is found in other case and without separators, and hashed in either case", () => {
    assert.equal(known.find("3c:5a:b4:12:34:56")[0]?.kind, "known");
    assert.equal(known.find("3c5ab4123456")[0]?.kind, "known");
    assert.equal(
      known.find(digest("sha256", "3c:5a:b4:12:34:56").toString("hex"))[0]?.hashOf,
      "sha256 of mac",
    );
  });

  test("a hash of something else is not reported; an empty list finds nothing", () => {
    assert.deepEqual(known.find(digest("sha256", "490154203237518").toString("hex")), []);
    assert.deepEqual(knownIdentifiers([]).find(IMEI), []);
  });

  test("values with regex characters are matched literally", () => {
    const special = knownIdentifiers([{ kind: "email", value: "a.b+c@mail.no" }]);
    assert.equal(special.find("to a.b+c@mail.no")[0]?.value, "a.b+c@mail.no");
    assert.deepEqual(special.find("to aXb+c@mail.no"), []);
  });
});
