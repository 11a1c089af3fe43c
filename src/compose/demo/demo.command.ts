/** `phonehome demo`: the incident's story, narrated, on a fresh embedded system. */
import { accessSync, constants, existsSync, mkdirSync, mkdtempSync, readdirSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { type Command, InvalidArgumentError } from "commander";
import { wholeNumber } from "../../core/cli/index.ts";
import { PhoneHomeError } from "../../core/errors/index.ts";
import { runDemo } from "./story.ts";

/** Registers `demo`. */
export function register(program: Command): void {
  program
    .command("demo")
    .description(
      "replay the incident end to end on a fresh embedded system, narrated: the gate, the refused sends, the incident, the staged fix, notices, the lookup and the regulator report",
    )
    .option(
      "--dir <dir>",
      "where the demo's stores, keys and report go (default: a new folder under the system's temp folder)",
    )
    .option("--devices <n>", "phones in the affected batch (4-200)", devicesOption, 20)
    .option(
      "--json",
      "print what the story showed as JSON after the narration, every figure as the system answered it",
    )
    .action(async (options: { dir?: string; devices: number; json?: boolean }) => {
      const devices = options.devices;
      const dir =
        options.dir === undefined ? mkdtempSync(join(tmpdir(), "phonehome-demo-")) : usableDir(options.dir);
      const facts = await runDemo({ dir, devices, say: (line) => process.stdout.write(`${line}\n`) });
      if (options.json === true) process.stdout.write(`${JSON.stringify(facts)}\n`);
    });
}

function devicesOption(value: string): number {
  const n = wholeNumber(value);
  if (n < 4 || n > 200) throw new InvalidArgumentError("must be 4 to 200");
  return n;
}

/** The demo's folder: created if missing (not its parents); refused unless it is a writable, empty folder (the demo starts fresh). */
function usableDir(dir: string): string {
  const path = resolve(dir);
  try {
    // Not recursive: a missing parent is the caller's mistake (and Node's recursive mkdir loops under /proc).
    if (!existsSync(path)) mkdirSync(path);
    if (!statSync(path).isDirectory()) throw new Error("it is not a folder");
    accessSync(path, constants.W_OK);
    if (readdirSync(path).length > 0) throw new Error("it is not empty (the demo starts on fresh stores)");
  } catch (error) {
    throw new PhoneHomeError("request.invalid", `cannot use --dir ${path}: ${(error as Error).message}`, {
      path: "--dir",
    });
  }
  return path;
}
