/**
 * What a key or parameter name says about the value under it. Many
 * identifiers can only be told from look-alikes with this context: 16 hex
 * characters are an Android ID under `android_id` and a hash fragment
 * anywhere else; a 10-digit number is a phone number under `msisdn` and a
 * timestamp anywhere else.
 *
 * Short words ("sn", "ci", "tel", "lat") must be a whole word of the key;
 * distinctive ones ("imei", "iccid", "bssid") may sit anywhere in it. The
 * answer is cached per key: a capture repeats the same few hundred keys
 * millions of times.
 */

/** The range a cell-related key implies: 28-bit cell (E-UTRAN), 36-bit (NR), 16/24-bit area code, 20-bit eNB. */
export type CellField = "cell" | "cell36" | "area16" | "area24" | "enb";

/** Which coordinate a GPS-related key holds; "any" for pair-ish keys (location, latlng…). */
export type GpsAxis = "lat" | "lon" | "any";

/** What a key says. Every flag false (and `any` false) when there is no key. */
export interface KeyContext {
  /** imei, deviceid, meid: a Luhn-valid 15-digit value is an IMEI with high confidence. */
  imei: boolean;
  /** The key literally says imei. */
  imeiStrong: boolean;
  /** imeisv, sv, svn. */
  imeisv: boolean;
  deviceId: boolean;
  meid: boolean;
  esn: boolean;
  /** imsi, subscriberid (Android's getSubscriberId). */
  imsi: boolean;
  /** iccid, simserial (Android's getSimSerialNumber). */
  iccid: boolean;
  /** msisdn, phone, tel, mobile, mdn, line1number. */
  phone: boolean;
  /** The key is just "number": phone-shaped values only, with low confidence. */
  phoneWeak: boolean;
  mac: boolean;
  bssid: boolean;
  gps: GpsAxis | null;
  /** Google's latitudeE7 style: degrees × 10⁷ as an integer. */
  gpsE7: boolean;
  cell: CellField | null;
  androidId: boolean;
  advertising: boolean;
  ip: boolean;
  /** version, build, sdk…: dotted numbers under it are versions, not addresses. */
  version: boolean;
  serial: boolean;
  /** The key is "sn": serial with medium confidence. */
  serialWeak: boolean;
  /** True when any flag is set, so the whole-value recognisers are worth running. */
  any: boolean;
}

const CELL_WORDS: Readonly<Record<string, CellField>> = {
  cellid: "cell36",
  cellidentity: "cell36",
  nci: "cell36",
  cid: "cell",
  ci: "cell",
  eci: "cell",
  ecgi: "cell",
  cell: "cell",
  lac: "area16",
  tac: "area24",
  enb: "enb",
  enbid: "enb",
  enodeb: "enb",
};

/** The context of a value under no key. */
export const NO_CONTEXT: KeyContext = Object.freeze(classify(""));

const CACHE_LIMIT = 4096;
const cache = new Map<string, KeyContext>();

/** The context a key (lower-cased key or parameter name) gives; cached. */
export function keyContext(key: string | undefined): KeyContext {
  if (key === undefined || key === "") return NO_CONTEXT;
  let context = cache.get(key);
  if (context === undefined) {
    if (cache.size >= CACHE_LIMIT) cache.clear();
    context = Object.freeze(classify(key.toLowerCase()));
    cache.set(key, context);
  }
  return context;
}

function classify(key: string): KeyContext {
  const words = key.split(/[^a-z]+/).filter((word) => word !== "");
  const has = (word: string) => words.includes(word);
  const compact = key.replace(/[^a-z0-9]/g, "");
  const imeiStrong = compact.includes("imei");
  const deviceId = compact.includes("deviceid");
  const meid = compact.includes("meid");
  const mac = isMacKey(compact, has);
  const gps = gpsAxis(compact, has);
  const context: KeyContext = {
    imei: imeiStrong || deviceId || meid,
    imeiStrong,
    imeisv: compact.includes("imeisv") || has("sv") || has("svn"),
    deviceId,
    meid,
    esn: has("esn") || compact.endsWith("esn"),
    imsi: compact.includes("imsi") || compact.includes("subscriberid"),
    iccid: compact.includes("iccid") || compact.includes("simserial"),
    phone: isPhoneKey(compact, has),
    phoneWeak: compact === "number" || compact === "num",
    mac,
    bssid: !mac && isBssidKey(compact, has),
    gps,
    gpsE7: gps !== null && compact.endsWith("e7"),
    cell: cellField(compact, words),
    androidId: compact.includes("androidid") || compact.includes("ssaid"),
    advertising: isAdvertisingKey(compact, has),
    ip: isIpKey(compact, has),
    version:
      compact.includes("version") || has("ver") || has("build") || has("sdk") || has("firmware") || has("fw"),
    serial: compact.includes("serial") || has("sn"),
    serialWeak: !compact.includes("serial") && has("sn"),
    any: false,
  };
  context.any = Object.values(context).some((value) => value !== false && value !== null);
  return context;
}

function isPhoneKey(compact: string, has: (word: string) => boolean): boolean {
  return (
    compact.includes("msisdn") ||
    compact.includes("phone") ||
    compact.includes("mobile") ||
    compact.includes("line1number") ||
    /^tel(no|num|ephone)/.test(compact) ||
    has("tel") ||
    has("mdn")
  );
}

function isMacKey(compact: string, has: (word: string) => boolean): boolean {
  if (has("mac") || compact.includes("macaddr")) return true;
  return compact.endsWith("mac") && !compact.endsWith("hmac");
}

function isBssidKey(compact: string, has: (word: string) => boolean): boolean {
  return (
    compact.includes("bssid") ||
    compact.includes("ssid") ||
    compact.includes("wifi") ||
    compact.includes("wlan") ||
    compact.includes("accesspoint") ||
    has("ap") ||
    has("router")
  );
}

function gpsAxis(compact: string, has: (word: string) => boolean): GpsAxis | null {
  if (/latlng|latlon|lnglat|lonlat/.test(compact)) return "any";
  if (compact.includes("latitude") || has("lat") || compact.endsWith("lat")) return "lat";
  if (compact.includes("longitude") || has("lon") || has("lng") || has("long")) return "lon";
  if (compact.endsWith("lng") || compact.endsWith("lon")) return "lon";
  if (/coord|location|geo|gps/.test(compact) || has("ll") || has("loc")) return "any";
  return null;
}

function cellField(compact: string, words: string[]): CellField | null {
  const exact = CELL_WORDS[compact];
  if (exact !== undefined) return exact;
  if (compact.endsWith("cellid")) return "cell36";
  for (const word of words) {
    const field = CELL_WORDS[word];
    if (field !== undefined) return field;
  }
  return null;
}

function isAdvertisingKey(compact: string, has: (word: string) => boolean): boolean {
  return (
    /advertis|idfa|gaid|aaid|oaid/.test(compact) ||
    has("adid") ||
    has("ifa") ||
    compact === "adid" ||
    compact === "googleadid"
  );
}

function isIpKey(compact: string, has: (word: string) => boolean): boolean {
  return has("ip") || /ipaddr|ipv4|ipv6|clientip|remoteaddr|publicip|forwardedfor|realip|wanip/.test(compact);
}
