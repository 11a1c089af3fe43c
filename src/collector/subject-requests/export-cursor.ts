/**
 * The cursor of an owner's paged export: where the next page of the device's
 * diagnostics events starts. Opaque to the owner and bound to the device: the
 * position, then an HMAC-SHA256 over the device's key id and the position,
 * keyed by a key derived from the region's pseudonymisation secret. A cursor
 * changed in any way, made by another region, or presented with another
 * device's token does not verify, and is refused with `owner.cursor_invalid`.
 * It names an event id and an expiry of the owner's own data, nothing more.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import type { PagePosition as EventPosition } from "../device-data/index.ts";
import { PhoneHomeError } from "../../core/errors/index.ts";

const VERSION = "c1";
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const INSTANT = /^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z$/;
const BASE64URL = /^[A-Za-z0-9_-]+$/;

/** The cursors' own key: the pseudonym secret is never used as it is for another purpose. */
function cursorKey(secret: Uint8Array): Buffer {
  return createHmac("sha256", secret).update("phonehome.owner-export-cursor").digest();
}

function mac(secret: Uint8Array, deviceKey: string, body: string): Buffer {
  return createHmac("sha256", cursorKey(secret)).update(`${VERSION}\u0000${deviceKey}\u0000${body}`).digest();
}

/** The cursor of `position` for `deviceKey`'s export. */
export function encodeExportCursor(secret: Uint8Array, deviceKey: string, position: EventPosition): string {
  const body = Buffer.from(`${position.eventId} ${position.expiresAt}`, "utf8").toString("base64url");
  return `${VERSION}.${body}.${mac(secret, deviceKey, body).toString("base64url")}`;
}

/** The position a cursor names, after checking it was made for `deviceKey` by this region; throws `owner.cursor_invalid`. */
export function decodeExportCursor(secret: Uint8Array, deviceKey: string, cursor: string): EventPosition {
  const invalid = (why: string) =>
    new PhoneHomeError(
      "owner.cursor_invalid",
      `the cursor is not one this region gave for this device's export (${why}); start again from GET /v1/owner/data`,
      { path: "/querystring/cursor" },
    );
  const parts = cursor.split(".");
  const [version, body, signature] = parts;
  if (parts.length !== 3 || version === undefined || body === undefined || signature === undefined) {
    throw invalid("it is not three parts separated by dots");
  }
  if (version !== VERSION) throw invalid(`unknown version ${JSON.stringify(version.slice(0, 8))}`);
  if (!BASE64URL.test(body) || !BASE64URL.test(signature)) throw invalid("it is not base64url");
  const given = Buffer.from(signature, "base64url");
  const expected = mac(secret, deviceKey, body);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw invalid("its signature does not verify: changed, or made for another device or region");
  }
  const [eventId, expiresAt, ...rest] = Buffer.from(body, "base64url").toString("utf8").split(" ");
  if (rest.length > 0 || eventId === undefined || expiresAt === undefined)
    throw invalid("its position is malformed");
  if (!UUID.test(eventId) || !INSTANT.test(expiresAt)) throw invalid("its position is malformed");
  return { eventId, expiresAt };
}
