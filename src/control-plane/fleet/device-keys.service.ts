/**
 * A device's keys after the factory (docs/fleet.md, decision 0057): revoking
 * the key in force (cloned, stolen, key compromised), re-keying a device at a
 * service centre (its new key registered and the old one revoked as
 * `re-keyed`, in one transaction), the history of its keys, and the feed of
 * revocations every collector and control-plane replica reads to drop a
 * revoked key from its cache within the stated bound. Every step is in the
 * audit log, appended in the transaction that takes it.
 */
import { deviceKeyId } from "@phonehome/sdk";
import type { RevocationFeed } from "@phonehome/shared";
import { MAX_REVOCATION_NOTE, type REVOKE_REASONS } from "@phonehome/shared";
import { appendAudit } from "../../core/audit-log/index.ts";
import type { Db, Queryable } from "../../core/db/index.ts";
import { PhoneHomeError } from "../../core/errors/index.ts";
import {
  type DeviceKeyRecord,
  type DeviceRecord,
  findDeviceBySerial,
  findDeviceKeys,
  findKeyHolders,
  insertDeviceKey,
  latestRevocation,
  listRevocationsAfter,
  lockFleetKeys,
  revokeDeviceKey,
} from "./fleet.repository.ts";

/** Most revocations one answer of the feed carries; a reader asks again from `next`. */
export const REVOCATION_PAGE = 1000;

/** What an operator states when revoking a device's key. */
export interface RevokeRequest {
  reason: (typeof REVOKE_REASONS)[number];
  /** Free text, at most MAX_REVOCATION_NOTE characters (a case number, what was seen). */
  note?: string | undefined;
}

/** What a service centre sends to re-key a device. */
export interface RekeyRequest {
  /** The new raw Ed25519 public key, base64url (the device made the key pair; its private half stays there). */
  publicKey: string;
  note?: string | undefined;
}

/** A device's keys, oldest first, and the key id its region keeps its records under. */
export interface KeyHistory {
  serial: string;
  deviceKey: string;
  keys: DeviceKeyRecord[];
}

/** A device's keys, oldest first; `fleet.not_found` for an unknown serial. */
export async function deviceKeyHistory(q: Queryable, serial: string): Promise<KeyHistory> {
  const device = await findDeviceBySerial(q, serial);
  if (device === undefined) throw deviceNotFound(serial);
  return presentHistory(serial, device.keyId, await findDeviceKeys(q, serial));
}

/**
 * Revokes the key in force of the device with this serial: from then on its
 * envelopes are refused `device.revoked` and its owner tokens
 * `auth.owner_token_revoked`, everywhere within the bound the feed states.
 * `fleet.key_revoked` when the device has no key in force.
 */
export async function revokeDevice(
  db: Db,
  serial: string,
  request: RevokeRequest,
  actor: string,
  at: Date = new Date(),
): Promise<KeyHistory> {
  const note = checkedNote(request.note);
  return db.transaction(async (tx) => {
    const { device, inForce } = await lockedDevice(tx, serial);
    if (inForce === undefined) {
      throw new PhoneHomeError(
        "fleet.key_revoked",
        `device ${serial} has no key in force: its keys are all revoked already; a service centre can re-key it`,
        { path: "/params/serial" },
      );
    }
    await revokeDeviceKey(tx, { keyId: inForce.keyId, reason: request.reason, note, by: actor, at });
    await appendAudit(
      tx,
      {
        actor,
        action: "fleet.key_revoked",
        subject: serial,
        reason: note === "" ? request.reason : `${request.reason}: ${note}`,
        detail: { keyId: inForce.keyId, reason: request.reason },
      },
      at,
    );
    return presentHistory(serial, device.keyId, await findDeviceKeys(tx, serial));
  });
}

/**
 * Registers a new key for the device with this serial and revokes the key in
 * force (if any) as `re-keyed`, in one transaction. The device's records stay
 * where they are: its region keeps them under its first key's id, which the
 * directory answers for every key of the device. `fleet.key_registered` when
 * the key is, or was, any device's.
 */
export async function rekeyDevice(
  db: Db,
  serial: string,
  request: RekeyRequest,
  actor: string,
  at: Date = new Date(),
): Promise<KeyHistory> {
  const note = checkedNote(request.note);
  const keyId = deviceKeyId(request.publicKey);
  return db.transaction(async (tx) => {
    const { device, inForce } = await lockedDevice(tx, serial);
    const holder = (await findKeyHolders(tx, [keyId]))[0];
    if (holder !== undefined) {
      throw new PhoneHomeError(
        "fleet.key_registered",
        holder.serial === serial
          ? `this key (${keyId}) is already one of ${serial}'s keys; a re-key needs a key the device has never had`
          : "this key is registered to another device; every key belongs to one device, once",
        { path: "/body/publicKey" },
      );
    }
    if (inForce !== undefined) {
      const why = [...`re-keyed to ${keyId}${note === "" ? "" : `: ${note}`}`]
        .slice(0, MAX_REVOCATION_NOTE)
        .join("");
      await revokeDeviceKey(tx, { keyId: inForce.keyId, reason: "re-keyed", note: why, by: actor, at });
      await appendAudit(
        tx,
        {
          actor,
          action: "fleet.key_revoked",
          subject: serial,
          reason: why,
          detail: { keyId: inForce.keyId, reason: "re-keyed", successor: keyId },
        },
        at,
      );
    }
    await insertDeviceKey(tx, {
      keyId,
      serial,
      publicKey: request.publicKey,
      registeredAt: at,
      registeredBy: actor,
    });
    await appendAudit(
      tx,
      {
        actor,
        action: "fleet.key_registered",
        subject: serial,
        reason: note === "" ? null : note,
        detail: { keyId, replaces: inForce?.keyId ?? null },
      },
      at,
    );
    return presentHistory(serial, device.keyId, await findDeviceKeys(tx, serial));
  });
}

/**
 * The revocations after the cursor `after`, oldest first, at most
 * REVOCATION_PAGE; without a cursor, none and the latest cursor (where a
 * reader that has cached nothing yet starts).
 */
export async function revocationFeed(q: Queryable, after: string | undefined): Promise<RevocationFeed> {
  if (after === undefined) return { revocations: [], next: await latestRevocation(q) };
  const rows = await listRevocationsAfter(q, BigInt(after), REVOCATION_PAGE);
  return {
    revocations: rows.map((r) => ({ keyId: r.keyId, reason: r.reason, at: r.at })),
    next: rows.at(-1)?.seq ?? after,
  };
}

/** Takes the fleet's lock, then reads the device and its key in force; `fleet.not_found` for an unknown serial. */
async function lockedDevice(
  tx: Queryable,
  serial: string,
): Promise<{ device: DeviceRecord; inForce: DeviceKeyRecord | undefined }> {
  await lockFleetKeys(tx);
  const device = await findDeviceBySerial(tx, serial);
  if (device === undefined) throw deviceNotFound(serial);
  return { device, inForce: (await findDeviceKeys(tx, serial)).find((k) => k.revoked === null) };
}

function checkedNote(note: string | undefined): string {
  const text = (note ?? "").trim();
  if ([...text].length > MAX_REVOCATION_NOTE) {
    throw new PhoneHomeError(
      "request.invalid",
      `the note has ${[...text].length} characters; at most ${MAX_REVOCATION_NOTE}`,
      { path: "/body/note" },
    );
  }
  return text;
}

function deviceNotFound(serial: string): PhoneHomeError {
  return new PhoneHomeError("fleet.not_found", `no device ${serial} is registered`, {
    path: "/params/serial",
  });
}

function presentHistory(serial: string, deviceKey: string, keys: DeviceKeyRecord[]): KeyHistory {
  return { serial, deviceKey, keys };
}
