/**
 * Helpers for this folder's tests (not a test file itself): a temporary
 * directory removed after the tests, collecting async iterables (also up to
 * an error), packets in a form deepEqual can compare, and an HTTP exchange.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after } from "node:test";
import type { Packet } from "../src/types.ts";

/** A fresh directory under the system's temporary one, removed when the test file's tests end. */
export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "phonehome-capture-"));
  after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Every item of an async iterable. */
export async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const found: T[] = [];
  for await (const item of items) found.push(item);
  return found;
}

/** The items an async iterable yields before it throws, and what it threw (undefined if it did not). */
export async function collectUntilError<T>(items: AsyncIterable<T>): Promise<{ items: T[]; error: unknown }> {
  const found: T[] = [];
  try {
    for await (const item of items) found.push(item);
  } catch (error) {
    return { items: found, error };
  }
  return { items: found, error: undefined };
}

/** A packet with its time in whole microseconds and its payload in hex, for deepEqual. */
export function comparable(
  packet: Packet,
): Omit<Packet, "payload" | "time"> & { time: number; payload: string } {
  return {
    ...packet,
    time: Math.round(packet.time * 1000),
    payload: Buffer.from(packet.payload).toString("hex"),
  };
}

export const CLIENT = { ip: "10.0.0.2", port: 51000 };
export const SERVER = { ip: "93.184.216.34", port: 80 };
/** 2025-01-02T03:04:05.123456Z in ms. */
export const T0 = Date.UTC(2025, 0, 2, 3, 4, 5) + 0.123456;

/** An HTTP/1.1 GET. */
export function httpRequest(path = "/hello?x=1"): Buffer {
  return Buffer.from(`GET ${path} HTTP/1.1\r\nHost: example.com\r\nUser-Agent: phonehome-test\r\n\r\n`);
}

/** An HTTP/1.1 response whose body is `size` bytes of a repeating pattern (so misplaced bytes show). */
export function httpResponse(size: number): Buffer {
  const body = Buffer.alloc(size);
  for (let i = 0; i < size; i++) body[i] = 0x41 + (i % 26);
  return Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${size}\r\n\r\n`), body]);
}

/** The bytes as a Buffer, so that assert shows differences readably. */
export function bytes(data: Uint8Array): Buffer {
  return Buffer.from(data.buffer, data.byteOffset, data.length);
}
