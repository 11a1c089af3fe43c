/**
 * The Luhn (mod 10) check digit of ISO/IEC 7812-1 Annex B, as IMEIs carry it
 * (3GPP TS 23.003 §B.2) and as many, not all, ICCIDs do (ITU-T E.118).
 */

/** True when the last digit of `digits` is the Luhn check digit of the digits before it. */
export function luhnValid(digits: string): boolean {
  return luhnSum(digits, false) % 10 === 0;
}

/** The Luhn check digit that completes `digits` (which do not have one yet). */
export function luhnCheckDigit(digits: string): string {
  return String((10 - (luhnSum(digits, true) % 10)) % 10);
}

/** `digits` with its Luhn check digit appended. */
export function withLuhn(digits: string): string {
  return digits + luhnCheckDigit(digits);
}

/**
 * The Luhn sum: every second digit counted from the right is doubled (less 9
 * when over 9). Without a check digit yet, the rightmost digit is the first doubled.
 */
function luhnSum(digits: string, doubleRightmost: boolean): number {
  let sum = 0;
  let double = doubleRightmost;
  for (let i = digits.length - 1; i >= 0; i--) {
    let digit = digits.charCodeAt(i) - 48;
    if (double) {
      digit *= 2;
      if (digit > 9) digit -= 9;
    }
    sum += digit;
    double = !double;
  }
  return sum;
}
