import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { decodeJwt } from "jose";
import { mintOwnerToken, ownerPortalLink } from "./owner-token.ts";
import { makeHome, makeIdentity, makeRegionKeys } from "../test/helpers.ts";

describe("the owner portal link", () => {
  it("carries the token in the fragment of the home region's portal, or of the portal named", async () => {
    const identity = makeIdentity(makeHome("https://global.example.com/", await makeRegionKeys()));
    const token = await mintOwnerToken(identity);
    const link = new URL(ownerPortalLink(identity, token));
    assert.equal(`${link.origin}${link.pathname}`, "https://global.example.com/portal/");
    assert.equal(link.search, "", "nothing a server would see");
    const carried = new URLSearchParams(link.hash.slice(1)).get("token");
    assert.equal(carried, token);
    assert.equal(decodeJwt(carried ?? "").sub, identity.keyId);
    const elsewhere = ownerPortalLink(identity, token, "https://privacy.example.com/portal/");
    assert.ok(elsewhere.startsWith("https://privacy.example.com/portal/#token="));
  });
});
