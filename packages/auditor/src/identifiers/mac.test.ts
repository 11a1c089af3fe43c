/**
 * MAC addresses and BSSIDs in their written forms, placeholders and group
 * addresses skipped, randomised (locally administered) ones reported with
 * lower confidence.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { findIdentifiers } from "./index.ts";

const find = (text: string, key?: string) => findIdentifiers(text, { key });

describe("MAC and BSSID", () => {
  test("colon, dash and Cisco forms, medium without a key", () => {
    for (const written of ["3c:5a:b4:12:34:56", "3C-5A-B4-12-34-56", "3c5a.b412.3456"]) {
      const [match] = find(`wifi mac is ${written}.`);
      assert.equal(match?.kind, "mac", written);
      assert.equal(match?.value, written);
      assert.equal(match?.confidence, "medium");
      assert.match(match?.detail ?? "", /OUI 3C5AB4/);
    }
  });

  test("under a MAC key: high", () => {
    for (const key of ["mac", "wifi_mac", "macaddress", "wlan.mac"]) {
      const [match] = find("3c:5a:b4:12:34:56", key);
      assert.equal(match?.kind, "mac", key);
      assert.equal(match?.confidence, "high", key);
    }
  });

  test("12 bare hex digits only under a MAC key", () => {
    assert.equal(find("3c5ab4123456", "mac")[0]?.kind, "mac");
    assert.deepEqual(find("3c5ab4123456"), []);
  });

  test("BSSID when the key says so", () => {
    for (const key of ["bssid", "ap_bssid", "wifi", "ssid_info"]) {
      assert.equal(find("00:1a:2b:3c:4d:5e", key)[0]?.kind, "bssid", key);
    }
  });

  test("locally administered: randomised, one step less sure", () => {
    const [match] = find("3e:5a:b4:12:34:56", "mac");
    assert.equal(match?.confidence, "medium");
    assert.match(match?.detail ?? "", /randomised/);
    assert.equal(find("da:a1:19:12:34:56")[0]?.confidence, "low");
  });

  test("placeholders and multicast are ignored", () => {
    for (const value of [
      "02:00:00:00:00:00",
      "00:00:00:00:00:00",
      "ff:ff:ff:ff:ff:ff",
      "01:00:5e:00:00:fb",
    ]) {
      assert.deepEqual(find(value, "mac"), [], value);
    }
  });

  test("EUI-64, IPv6, times and mixed separators are not MACs", () => {
    assert.deepEqual(find("3c:5a:b4:ff:fe:12:34:56"), []);
    assert.deepEqual(find("12:30:45"), []);
    assert.deepEqual(find("3c:5a:b4-12-34-56"), []);
    assert.deepEqual(find("x3c:5a:b4:12:34:56"), []);
  });
});
