/**
 * E-mail addresses: a local part, "@", and a domain of one or more labels
 * ending in an alphabetic top-level domain. Not reported: asset names that
 * look like addresses ("icon@2x.png": the "TLD" is a file extension) and the
 * reserved example domains (RFC 2606: example.com/net/org, .test,
 * .example, .invalid, .localhost).
 */
import type { IdentifierMatch } from "../types.ts";
import { eachMatch } from "./match.ts";
import { redact } from "./redact.ts";

const EMAIL =
  /(?<![A-Za-z0-9._%+-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@((?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.){1,8}([A-Za-z]{2,24}))(?![A-Za-z0-9-]|\.[A-Za-z0-9])/g;

/** File extensions that follow "@2x"-style asset names; none is a TLD people have mail under. */
const FILE_EXTENSIONS = new Set([
  "png",
  "jpg",
  "jpeg",
  "gif",
  "svg",
  "webp",
  "avif",
  "bmp",
  "ico",
  "tif",
  "tiff",
  "heic",
  "js",
  "mjs",
  "css",
  "json",
  "xml",
  "html",
  "htm",
  "txt",
  "pdf",
  "woff",
  "woff2",
  "ttf",
  "otf",
  "wasm",
  "map",
  "mp3",
  "mp4",
  "webm",
]);

const MASKED = "•";

const RESERVED_TLDS = new Set(["test", "example", "invalid", "localhost"]);
const RESERVED_DOMAINS = new Set(["example.com", "example.net", "example.org"]);

/** Every e-mail address in `text`. */
export function scanEmails(text: string, visit: (match: IdentifierMatch) => void): void {
  if (!text.includes("@")) return;
  eachMatch(EMAIL, text, (found) => {
    const [address, domain = "", tld = ""] = found;
    const local = address.slice(0, address.indexOf("@"));
    if (local.endsWith(".") || local.includes("..")) return;
    const lowerTld = tld.toLowerCase();
    if (FILE_EXTENSIONS.has(lowerTld) || RESERVED_TLDS.has(lowerTld)) return;
    if (isReservedDomain(domain.toLowerCase())) return;
    visit({ kind: "email", value: address, confidence: "high", detail: `domain ${shownDomain(address)}` });
  });
}

/**
 * The domain as far as the evidence shows it: whole when redaction keeps it
 * all; else its last labels that redaction keeps whole ("…gmail.com"), when
 * there are two or more; else as redacted ("••nedoe.name").
 */
function shownDomain(address: string): string {
  const redacted = redact("email", address);
  const domain = redacted.slice(redacted.lastIndexOf("@") + 1).toLowerCase();
  if (!domain.includes(MASKED)) return domain;
  const labels = domain.split(".");
  let first = labels.length;
  while (first > 0 && !(labels[first - 1] ?? MASKED).includes(MASKED)) first -= 1;
  return labels.length - first >= 2 ? `…${labels.slice(first).join(".")}` : domain;
}

function isReservedDomain(domain: string): boolean {
  for (const reserved of RESERVED_DOMAINS) {
    if (domain === reserved || domain.endsWith(`.${reserved}`)) return true;
  }
  return false;
}
