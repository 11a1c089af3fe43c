/**
 * Where the device is: GPS coordinates and mobile cell identities.
 *
 * Coordinates are a "lat,lon" pair in one string, or one number under a
 * latitude or longitude key. They must be in range and carry at least two
 * significant decimals (≈ 1 km): integers, 0.0 and values like "10.50" are
 * too coarse to locate anyone. Precision follows the decimals: 4 or more
 * (≈ 11 m) is high confidence.
 *
 * Cell identities are integers that only mean something under a key that
 * names them (cid, eci, lac, tac, enb, nci…), within the field's bit width,
 * or a "lac-ci" pair such as "4601-12345".
 */
import type { Confidence, IdentifierMatch } from "../types.ts";
import type { CellField, KeyContext } from "./context.ts";
import { eachMatch } from "./match.ts";

/**
 * Two decimals separated by a comma, not inside a longer list of numbers
 * (nothing numeric directly before, no third number after). At most 20
 * decimals each: a double has 17 significant digits, and an open-ended
 * quantifier risks V8's regex stack on huge digit runs.
 */
const PAIR = /(?<![\w.,-])(-?\d{1,2}\.\d{2,20})\s*,\s*(-?\d{1,3}\.\d{2,20})(?![\w.]|\s*,\s*-?\d)/g;
const DECIMAL = /^-?\d{1,3}\.\d+$/;
const E7 = /^-?\d{7,10}$/;
const CELL_PAIR = /^(\d{1,5})[-_:/](\d{1,9})$/;
const INTEGER = /^\d{2,11}$/;

/** Largest valid value of each cell field: 2^bits − 1. */
const CELL_MAX: Readonly<Record<CellField, number>> = {
  cell: 2 ** 28 - 1,
  cell36: 2 ** 36 - 1,
  area16: 2 ** 16 - 1,
  area24: 2 ** 24 - 1,
  enb: 2 ** 20 - 1,
};

/** Values that mean "unknown" rather than a cell: LAC 0xFFFE is reserved, 2^31−1 is Android's UNAVAILABLE. */
const CELL_UNKNOWN = new Set([65534, 65535, 2 ** 24 - 1, 2 ** 28 - 1, 2 ** 31 - 1]);

/** Every "lat,lon" pair in `text`. */
export function scanGpsPairs(
  text: string,
  context: KeyContext,
  visit: (match: IdentifierMatch) => void,
): void {
  if (text.length < 9 || !text.includes(",")) return;
  eachMatch(PAIR, text, (found) => {
    const [written, lat = "", lon = ""] = found;
    const latDecimals = coordinateDecimals(lat, 90);
    const lonDecimals = coordinateDecimals(lon, 180);
    if (latDecimals < 2 || lonDecimals < 2) return;
    const decimals = Math.min(latDecimals, lonDecimals);
    let confidence = decimalsConfidence(decimals);
    if (context.gps !== null && confidence === "low") confidence = "medium";
    visit({ kind: "gps", value: written, confidence, detail: `lat/lon pair, ${precision(decimals)}` });
  });
}

/** One coordinate: the whole value under a latitude or longitude key. */
export function recogniseCoordinate(value: string, context: KeyContext): IdentifierMatch | null {
  const axis = context.gps;
  // A lone number under "location" or "gps" could be an accuracy or a speed: only lat/lon keys count.
  if (axis !== "lat" && axis !== "lon") return null;
  const limit = axis === "lat" ? 90 : 180;
  const decimals = context.gpsE7 && E7.test(value) ? e7Decimals(value, limit) : decimalDecimals(value, limit);
  if (decimals < 2) return null;
  return {
    kind: "gps",
    value,
    confidence: decimalsConfidence(decimals),
    detail: `${axisName(axis)}, ${precision(decimals)}`,
  };
}

function decimalDecimals(value: string, limit: number): number {
  return DECIMAL.test(value) ? coordinateDecimals(value, limit) : 0;
}

/** Degrees × 10⁷ as an integer (Google's latitudeE7): 7 decimals when in range and not 0. */
function e7Decimals(value: string, limit: number): number {
  const degrees = Number(value) / 1e7;
  return degrees !== 0 && Math.abs(degrees) <= limit ? 7 : 0;
}

/**
 * The significant decimals of a coordinate (trailing zeros do not count), or
 * 0 when it is out of range or zero.
 */
function coordinateDecimals(written: string, limit: number): number {
  const value = Number(written);
  if (!Number.isFinite(value) || value === 0 || Math.abs(value) > limit) return 0;
  const point = written.indexOf(".");
  if (point < 0) return 0;
  return written.slice(point + 1).replace(/0+$/, "").length;
}

function decimalsConfidence(decimals: number): Confidence {
  if (decimals >= 4) return "high";
  return decimals === 3 ? "medium" : "low";
}

/** What a number of decimals of a degree locates to, at the equator. */
export function precision(decimals: number): string {
  if (decimals >= 6) return `${decimals} decimals ≈ 10 cm or better`;
  const metres = ["≈ 11 km", "≈ 1.1 km", "≈ 110 m", "≈ 11 m", "≈ 1 m"][decimals - 1] ?? "";
  return `${decimals} decimals ${metres}`;
}

function axisName(axis: "lat" | "lon"): string {
  return axis === "lat" ? "latitude" : "longitude";
}

/** A cell identity: the whole value under a cell key, an integer in the field's range or a "lac-ci" pair. */
export function recogniseCell(value: string, context: KeyContext): IdentifierMatch | null {
  const field = context.cell;
  if (field === null) return null;
  const pair = CELL_PAIR.exec(value);
  if (pair !== null) return cellPair(value, Number(pair[1]), Number(pair[2]));
  if (!INTEGER.test(value)) return null;
  const id = Number(value);
  if (id < 10 || id > CELL_MAX[field] || CELL_UNKNOWN.has(id)) return null;
  const area = field === "area16" || field === "area24";
  const confidence: Confidence = area ? "low" : "medium";
  const detail = area ? "location/tracking area code" : `cell identity (${cellBits(field)}-bit)`;
  return { kind: "cell-id", value, confidence, detail };
}

function cellPair(value: string, area: number, cell: number): IdentifierMatch | null {
  if (area === 0 || area > CELL_MAX.area16 || CELL_UNKNOWN.has(area)) return null;
  if (cell === 0 || cell > CELL_MAX.cell || CELL_UNKNOWN.has(cell)) return null;
  return { kind: "cell-id", value, confidence: "high", detail: "LAC-CI pair" };
}

function cellBits(field: CellField): number {
  return Math.log2(CELL_MAX[field] + 1);
}
