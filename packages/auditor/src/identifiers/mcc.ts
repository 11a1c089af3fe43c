/**
 * Mobile country codes and mobile network codes (ITU-T E.212), from the
 * `mcc-mnc-list` package (MIT licence; compiled from Wikipedia's "Mobile
 * country code" pages, which follow the ITU's E.212 list). Answers: is an MCC
 * real, is an MCC+MNC a known network, and whose country is it.
 *
 * The tables are built once, at import.
 */
import { all as allOperators } from "mcc-mnc-list";

/** What the E.212 list says about the first digits of an IMSI. */
export interface HomeNetwork {
  mcc: string;
  /** The MNC when MCC+MNC is a known network (2 or 3 digits). */
  mnc?: string;
  /** ISO 3166-1 alpha-2 of the SIM's home; absent for test and international MCCs. */
  country?: string;
  /** Brand or operator name of the network, when known. */
  network?: string;
  /** MCC 001 and 999: test and private networks. */
  test: boolean;
}

interface MccEntry {
  country?: string;
  test: boolean;
  /** The usual MNC length under this MCC (3 in North America, 2 elsewhere). */
  mncLength: 2 | 3;
}

interface NetworkEntry {
  country?: string;
  name?: string;
}

/**
 * The package's entries that name several territories ("AU/CC/CX") take the
 * first, except where the first is not the principal one.
 */
const PRINCIPAL: Readonly<Record<string, string>> = {
  "BL/GF/GP/MF/MQ": "GP",
  "BQ/CW/SX": "CW",
  "YT/RE": "RE",
};

const { mccs, networks } = buildTables();

function buildTables(): { mccs: Map<string, MccEntry>; networks: Map<string, NetworkEntry> } {
  const listed = new Map<string, { countries: string[]; name?: string }>();
  const votes = new Map<
    string,
    { countries: Map<string, number>; long: number; short: number; test: boolean }
  >();
  for (const operator of allOperators()) {
    if (!/^\d{3}$/.test(operator.mcc) || !/^\d{2,3}$/.test(operator.mnc)) continue;
    const country = isoCountry(operator.countryCode);
    const network = listed.get(operator.mcc + operator.mnc) ?? {
      countries: [],
      name: operator.brand || operator.operator || undefined,
    };
    if (country !== undefined) network.countries.push(country);
    listed.set(operator.mcc + operator.mnc, network);
    const vote = votes.get(operator.mcc) ?? { countries: new Map(), long: 0, short: 0, test: false };
    if (country !== undefined) vote.countries.set(country, (vote.countries.get(country) ?? 0) + 1);
    if (operator.mnc.length === 3) vote.long++;
    else vote.short++;
    if (operator.type === "Test") vote.test = true;
    votes.set(operator.mcc, vote);
  }
  const mccs = new Map<string, MccEntry>();
  for (const [mcc, vote] of votes) {
    mccs.set(mcc, {
      country: mostVoted(vote.countries),
      test: vote.test,
      mncLength: vote.long > vote.short ? 3 : 2,
    });
  }
  const networks = new Map<string, NetworkEntry>();
  for (const [mccMnc, { countries, name }] of listed) {
    // A network listed under several territories (Guam and the US under 310) takes the MCC's principal one.
    const principal = mccs.get(mccMnc.slice(0, 3))?.country;
    const country = principal !== undefined && countries.includes(principal) ? principal : countries[0];
    networks.set(mccMnc, { country, name });
  }
  return { mccs, networks };
}

/** The package's country field as ISO 3166-1 alpha-2: "GE-AB" → "GE", "AU/CC/CX" → "AU". */
function isoCountry(code: string | null): string | undefined {
  if (!code) return undefined;
  const principal = PRINCIPAL[code] ?? code.split("/")[0] ?? "";
  const alpha2 = principal.slice(0, 2);
  return /^[A-Z]{2}$/.test(alpha2) ? alpha2 : undefined;
}

function mostVoted(counts: Map<string, number>): string | undefined {
  let best: string | undefined;
  let bestCount = 0;
  for (const [country, count] of counts) {
    if (count > bestCount) {
      best = country;
      bestCount = count;
    }
  }
  return best;
}

/** True when `mcc` (3 digits) is in the E.212 list. */
export function isKnownMcc(mcc: string): boolean {
  return mccs.has(mcc);
}

/**
 * The home network named by the first digits of an IMSI: null when its MCC is
 * not a real one. The MNC is tried with the MCC's usual length first.
 */
export function homeNetwork(imsi: string): HomeNetwork | null {
  const mcc = imsi.slice(0, 3);
  const entry = mccs.get(mcc);
  if (entry === undefined) return null;
  const lengths = entry.mncLength === 3 ? [3, 2] : [2, 3];
  for (const length of lengths) {
    const mnc = imsi.slice(3, 3 + length);
    const network = networks.get(mcc + mnc);
    if (network === undefined) continue;
    return {
      mcc,
      mnc,
      country: network.country ?? entry.country,
      network: network.name,
      test: entry.test,
    };
  }
  return { mcc, country: entry.country, test: entry.test };
}

/** How many digits of an IMSI are MCC+MNC (5 or 6), for redaction. */
export function mccMncLength(imsi: string): number {
  const home = homeNetwork(imsi);
  if (home?.mnc !== undefined) return 3 + home.mnc.length;
  return 5;
}

/** True when the 3 digits are an MNC of MCC 302 (Canada), whose ICCIDs start 89302 + MNC. */
export function isCanadianMnc(mnc: string): boolean {
  return networks.has("302" + mnc);
}
