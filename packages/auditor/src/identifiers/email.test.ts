/** E-mail addresses: real ones found, asset names and reserved domains not. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { findIdentifiers } from "./index.ts";

const find = (text: string, key?: string) => findIdentifiers(text, { key });

describe("e-mail", () => {
  test("addresses in text, with the domain in the detail as far as the evidence shows it", () => {
    const [match] = find("contact: Jane.Doe+tag@mail.gmail.com, thanks");
    assert.equal(match?.kind, "email");
    assert.equal(match?.value, "Jane.Doe+tag@mail.gmail.com");
    assert.equal(match?.confidence, "high");
    // Redaction keeps 11 of the 22 letters: "•ail.gmail.com"; the detail names the labels kept whole.
    assert.equal(match?.detail, "domain …gmail.com");
    assert.equal(find("ola.nordmann@online.no")[0]?.detail, "domain online.no");
    assert.equal(find("jane.doe@janedoe.name")[0]?.detail, "domain ••nedoe.name");
  });

  test("asset names with a file extension as TLD are not addresses", () => {
    for (const asset of [
      "icon@2x.png",
      "logo@3x.webp",
      "bundle@1.2.js",
      "sprite@2x.svg",
      "style@media.css",
    ]) {
      assert.deepEqual(find(asset), [], asset);
    }
  });

  test("reserved example domains, no TLD and broken local parts are skipped", () => {
    assert.deepEqual(find("user@example.com"), []);
    assert.deepEqual(find("user@mail.example.org"), []);
    assert.deepEqual(find("user@host.test"), []);
    assert.deepEqual(find("root@localhost"), []);
    assert.deepEqual(find("a..b@gmail.com"), []);
    assert.deepEqual(find("@gmail.com"), []);
  });
});
