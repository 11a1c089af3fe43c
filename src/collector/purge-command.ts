/** `phonehome purge` over this collector's device tables. */
import type { Command } from "commander";
import { DEVICE_TABLES } from "./device-tables.ts";
import { register } from "./retention/index.ts";

/** Registers `phonehome purge`, walking the tables of the collector's list. */
export function registerPurgeCommand(program: Command): void {
  register(program, DEVICE_TABLES);
}
