/**
 * Country calling codes (ITU-T E.164) → ISO 3166-1 alpha-2, for MSISDNs and
 * for the country part of ICCIDs (ITU-T E.118: "89" + calling code + issuer).
 *
 * Source: ITU-T E.164 "List of ITU-T Recommendation E.164 assigned country
 * codes" (Annex to ITU Operational Bulletin No. 1114, with later bulletins),
 * as tabulated at https://en.wikipedia.org/wiki/List_of_country_calling_codes
 * (CC BY-SA; facts, transcribed by hand). NANP area codes outside the United
 * States are from the NANPA's public area-code list. Where several countries
 * share a code (+44 GB/GG/IM/JE, +47 NO/SJ, +61 AU/CC/CX, +262 RE/YT…) the
 * principal one is given. `null` marks a valid non-geographic code
 * (international networks, satellite, freephone).
 *
 * E.164 country codes are prefix-free: at most one of a number's first 1, 2
 * or 3 digits is an assigned code.
 */

/** Assigned country calling code → ISO 3166-1 alpha-2 (null: not a country). */
export const CALLING_CODES: Readonly<Record<string, string | null>> = {
  // Zone 1: North American Numbering Plan (refined by area code below).
  "1": "US",
  // Zone 2: Africa and some Atlantic islands.
  "20": "EG",
  "211": "SS",
  "212": "MA",
  "213": "DZ",
  "216": "TN",
  "218": "LY",
  "220": "GM",
  "221": "SN",
  "222": "MR",
  "223": "ML",
  "224": "GN",
  "225": "CI",
  "226": "BF",
  "227": "NE",
  "228": "TG",
  "229": "BJ",
  "230": "MU",
  "231": "LR",
  "232": "SL",
  "233": "GH",
  "234": "NG",
  "235": "TD",
  "236": "CF",
  "237": "CM",
  "238": "CV",
  "239": "ST",
  "240": "GQ",
  "241": "GA",
  "242": "CG",
  "243": "CD",
  "244": "AO",
  "245": "GW",
  "246": "IO",
  "247": "SH", // Ascension Island
  "248": "SC",
  "249": "SD",
  "250": "RW",
  "251": "ET",
  "252": "SO",
  "253": "DJ",
  "254": "KE",
  "255": "TZ",
  "256": "UG",
  "257": "BI",
  "258": "MZ",
  "260": "ZM",
  "261": "MG",
  "262": "RE",
  "263": "ZW",
  "264": "NA",
  "265": "MW",
  "266": "LS",
  "267": "BW",
  "268": "SZ",
  "269": "KM",
  "27": "ZA",
  "290": "SH",
  "291": "ER",
  "297": "AW",
  "298": "FO",
  "299": "GL",
  // Zones 3 and 4: Europe.
  "30": "GR",
  "31": "NL",
  "32": "BE",
  "33": "FR",
  "34": "ES",
  "350": "GI",
  "351": "PT",
  "352": "LU",
  "353": "IE",
  "354": "IS",
  "355": "AL",
  "356": "MT",
  "357": "CY",
  "358": "FI",
  "359": "BG",
  "36": "HU",
  "370": "LT",
  "371": "LV",
  "372": "EE",
  "373": "MD",
  "374": "AM",
  "375": "BY",
  "376": "AD",
  "377": "MC",
  "378": "SM",
  "379": "VA",
  "380": "UA",
  "381": "RS",
  "382": "ME",
  "383": "XK",
  "385": "HR",
  "386": "SI",
  "387": "BA",
  "389": "MK",
  "39": "IT",
  "40": "RO",
  "41": "CH",
  "420": "CZ",
  "421": "SK",
  "423": "LI",
  "43": "AT",
  "44": "GB",
  "45": "DK",
  "46": "SE",
  "47": "NO",
  "48": "PL",
  "49": "DE",
  // Zone 5: Central and South America.
  "500": "FK",
  "501": "BZ",
  "502": "GT",
  "503": "SV",
  "504": "HN",
  "505": "NI",
  "506": "CR",
  "507": "PA",
  "508": "PM",
  "509": "HT",
  "51": "PE",
  "52": "MX",
  "53": "CU",
  "54": "AR",
  "55": "BR",
  "56": "CL",
  "57": "CO",
  "58": "VE",
  "590": "GP",
  "591": "BO",
  "592": "GY",
  "593": "EC",
  "594": "GF",
  "595": "PY",
  "596": "MQ",
  "597": "SR",
  "598": "UY",
  "599": "CW",
  // Zone 6: South-east Asia and Oceania.
  "60": "MY",
  "61": "AU",
  "62": "ID",
  "63": "PH",
  "64": "NZ",
  "65": "SG",
  "66": "TH",
  "670": "TL",
  "672": "NF",
  "673": "BN",
  "674": "NR",
  "675": "PG",
  "676": "TO",
  "677": "SB",
  "678": "VU",
  "679": "FJ",
  "680": "PW",
  "681": "WF",
  "682": "CK",
  "683": "NU",
  "685": "WS",
  "686": "KI",
  "687": "NC",
  "688": "TV",
  "689": "PF",
  "690": "TK",
  "691": "FM",
  "692": "MH",
  // Zone 7: Russia and Kazakhstan (refined below).
  "7": "RU",
  // Zone 8: East Asia and international services.
  "800": null, // international freephone
  "808": null, // international shared cost
  "81": "JP",
  "82": "KR",
  "84": "VN",
  "850": "KP",
  "852": "HK",
  "853": "MO",
  "855": "KH",
  "856": "LA",
  "86": "CN",
  "870": null, // Inmarsat
  "878": null, // universal personal telecommunications
  "880": "BD",
  "881": null, // global mobile satellite systems
  "882": null, // international networks
  "883": null, // international networks
  "886": "TW",
  "888": null, // OCHA
  // Zone 9: West, Central and South Asia, Middle East.
  "90": "TR",
  "91": "IN",
  "92": "PK",
  "93": "AF",
  "94": "LK",
  "95": "MM",
  "960": "MV",
  "961": "LB",
  "962": "JO",
  "963": "SY",
  "964": "IQ",
  "965": "KW",
  "966": "SA",
  "967": "YE",
  "968": "OM",
  "970": "PS",
  "971": "AE",
  "972": "IL",
  "973": "BH",
  "974": "QA",
  "975": "BT",
  "976": "MN",
  "977": "NP",
  "979": null, // international premium rate
  "98": "IR",
  "991": null, // ITPCS trial
  "992": "TJ",
  "993": "TM",
  "994": "AZ",
  "995": "GE",
  "996": "KG",
  "998": "UZ",
};

/** Codes that name a service (freephone, premium rate…), never a subscriber's number. */
export const SERVICE_CODES: ReadonlySet<string> = new Set(["800", "808", "878", "888", "979", "991"]);

/** NANP (+1) area codes of countries other than the United States. */
const NANP_AREAS: Readonly<Record<string, string>> = {
  ...areas(
    "CA",
    [
      204, 226, 236, 249, 250, 257, 263, 289, 306, 343, 354, 365, 367, 368, 382, 403, 416, 418, 428, 431, 437,
      438, 450, 460, 468, 474, 506, 514, 519, 548, 579, 581, 584, 587, 604, 613, 639, 647, 672, 683, 705, 709,
      742, 753, 778, 780, 782, 807, 819, 825, 867, 873, 879, 902, 905,
    ],
  ),
  ...areas("BS", [242]),
  ...areas("BB", [246]),
  ...areas("AI", [264]),
  ...areas("AG", [268]),
  ...areas("VG", [284]),
  ...areas("VI", [340]),
  ...areas("KY", [345]),
  ...areas("BM", [441]),
  ...areas("GD", [473]),
  ...areas("TC", [649]),
  ...areas("JM", [658, 876]),
  ...areas("MS", [664]),
  ...areas("MP", [670]),
  ...areas("GU", [671]),
  ...areas("AS", [684]),
  ...areas("SX", [721]),
  ...areas("LC", [758]),
  ...areas("DM", [767]),
  ...areas("VC", [784]),
  ...areas("PR", [787, 939]),
  ...areas("DO", [809, 829, 849]),
  ...areas("TT", [868]),
  ...areas("KN", [869]),
};

function areas(country: string, codes: number[]): Record<string, string> {
  return Object.fromEntries(codes.map((code) => [String(code), country]));
}

/** An assigned calling code at the start of some digits. */
export interface CallingCode {
  code: string;
  /** ISO 3166-1 alpha-2; absent for non-geographic codes. */
  country?: string;
}

/** The assigned calling code that `digits` starts with, or null when none is. */
export function callingCode(digits: string): CallingCode | null {
  for (let length = 1; length <= 3 && length <= digits.length; length++) {
    const code = digits.slice(0, length);
    const country = CALLING_CODES[code];
    if (country === undefined) continue;
    return country === null ? { code } : { code, country };
  }
  return null;
}

/**
 * The calling code of a full international number (without "+"), with the
 * country refined where a code is shared: NANP area codes, and +76/+77
 * for Kazakhstan.
 */
export function phoneCallingCode(digits: string): CallingCode | null {
  const found = callingCode(digits);
  if (found === null) return null;
  if (found.code === "1") return { code: "1", country: NANP_AREAS[digits.slice(1, 4)] ?? "US" };
  if (found.code === "7" && (digits[1] === "6" || digits[1] === "7")) return { code: "7", country: "KZ" };
  return found;
}
