/**
 * Test helpers for the dictionary's own tests (not exported by the feature):
 * a valid collection document to break one rule at a time, and a throw-away
 * dictionary folder written as real YAML files.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { stringify } from "yaml";

/** The repository's shipped dictionary folder. */
export const SHIPPED_DICTIONARY = new URL("../../dictionary/", import.meta.url).pathname;

/** The regions of the default configuration. */
export const REGIONS = ["global", "cn"] as const;

/** A plain, mutable collection document. */
export type Doc = Record<string, unknown> & { fields: Record<string, Record<string, unknown>> };

/** A valid collection version (`sample` v1) with one field of each type and transform. */
export function sampleDoc(overrides: Record<string, unknown> = {}): Doc {
  return {
    collection: "sample",
    version: 1,
    description: "A collection for tests.",
    purpose: "essential.service.operations.support",
    legalBasis: "contract",
    regions: ["global", "cn"],
    retention: "P1Y",
    approval: { reviewer: "A. Reviewer", date: "2026-01-15", reference: "REV-1" },
    fields: {
      serial: {
        description: "serial",
        type: "string",
        maxLength: 20,
        pattern: "^[A-Z0-9]{8,20}$",
        dataCategory: "user.device.serial_number",
        sensitivity: 3,
        transform: "pseudonymise",
      },
      model: {
        description: "model",
        type: "string",
        maxLength: 16,
        dataCategory: "user.device",
        sensitivity: 1,
        transform: "keep",
      },
      seenAt: {
        description: "when",
        type: "timestamp",
        dataCategory: "system.operations",
        sensitivity: 2,
        transform: "coarsen",
      },
      battery: {
        description: "battery level, percent",
        type: "integer",
        minimum: 0,
        maximum: 100,
        step: 10,
        required: false,
        dataCategory: "user.device.telemetry",
        sensitivity: 1,
        transform: "coarsen",
      },
      charging: {
        description: "charging",
        type: "boolean",
        required: false,
        dataCategory: "user.device.telemetry",
        sensitivity: 1,
        transform: "drop",
      },
      cell: {
        description: "cell",
        type: "string",
        maxLength: 40,
        required: false,
        dataCategory: "user.location.precise.cell_id",
        sensitivity: 4,
        necessity: "a test needs it",
        regions: ["global"],
        transform: "pseudonymise",
      },
    },
    ...overrides,
  };
}

/** A temporary dictionary folder. `write` puts a document (as YAML) or raw text at a relative path. */
export function tempDictionary(): {
  dir: string;
  write(path: string, content: object | string): string;
  cleanup(): void;
} {
  const dir = mkdtempSync(join(tmpdir(), "phonehome-dictionary-"));
  return {
    dir,
    write(path: string, content: object | string): string {
      const file = join(dir, path);
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, typeof content === "string" ? content : stringify(content));
      return file;
    },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}
