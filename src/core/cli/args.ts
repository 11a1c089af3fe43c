/** Option parsers shared by the commands. */
import { InvalidArgumentError } from "commander";

/** Parses a whole-number option (at most 7 digits). */
export function wholeNumber(value: string): number {
  if (!/^[0-9]{1,7}$/.test(value)) throw new InvalidArgumentError("must be a whole number");
  return Number(value);
}

/** Parses a comma-separated list of ISO 3166-1 alpha-2 markets. */
export function marketList(value: string): string[] {
  const markets = value.split(",").map((m) => m.trim().toUpperCase());
  if (markets.some((m) => !/^[A-Z]{2}$/.test(m))) {
    throw new InvalidArgumentError("must be ISO 3166-1 alpha-2 codes separated by commas, e.g. NO,FI,CN");
  }
  return markets;
}
