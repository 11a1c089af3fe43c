/**
 * `phonehome data-map [--format F] [--output FILE]`: the data map, the Record
 * of Processing Activities or the fideslang export, from the configuration,
 * the dictionary and the fleet registry (read from the control plane's store,
 * or from the running control plane that holds it).
 */
import { writeFileSync } from "node:fs";
import { type Command, InvalidArgumentError } from "commander";
import { loadConfig } from "../../core/config/index.ts";
import { openDb } from "../../core/db/index.ts";
import { migrate } from "../../core/db/index.ts";
import { loadDictionary } from "../../core/dictionary/index.ts";
import { isPhoneHomeError, PhoneHomeError } from "../../core/errors/index.ts";
import { currentDataMap, type DataMapFormat, FORMATS, render } from "./datamap.service.ts";

function format(value: string): DataMapFormat {
  if (!Object.hasOwn(FORMATS, value)) {
    throw new InvalidArgumentError(`must be one of ${Object.keys(FORMATS).join(", ")}`);
  }
  return value as DataMapFormat;
}

/** Adds `data-map` to the program. */
export function register(program: Command): void {
  program
    .command("data-map")
    .description(
      "what is collected, from which devices, why, on which basis, where and for how long: JSON, the ROPA (GDPR Art. 30) as CSV or Markdown, or fideslang YAML",
    )
    .option("--format <format>", `${Object.keys(FORMATS).join(", ")}`, format, "json" as DataMapFormat)
    .option("--output <file>", "write it to this file instead of standard output")
    .action(async (options: { format: DataMapFormat; output?: string }) => {
      const config = loadConfig(program.opts().config);
      let text: string;
      try {
        const { dictionary } = loadDictionary(config.dictionaryDir, {
          regions: config.regions.map((r) => r.id),
        });
        const db = await openDb(config.controlPlane.store, "phonehome data-map");
        try {
          await migrate(db, "control");
          text = render(await currentDataMap(db, config, dictionary), options.format);
        } finally {
          await db.close();
        }
      } catch (error) {
        if (!isPhoneHomeError(error, "store.locked")) throw error;
        const url = `${config.controlPlane.url}/v1/data-map?format=${options.format}`;
        const response = await fetch(url).catch((cause: unknown) => {
          throw new PhoneHomeError(
            "service.unavailable",
            `the control plane's store is in use and ${url} does not answer: ${(cause as Error).message}`,
            { cause },
          );
        });
        if (!response.ok)
          throw new PhoneHomeError("service.unavailable", `${url} answered ${response.status}`);
        text =
          options.format === "json"
            ? `${JSON.stringify(await response.json(), null, 2)}\n`
            : await response.text();
      }
      if (options.output === undefined) process.stdout.write(text);
      else {
        writeFileSync(options.output, text);
        process.stdout.write(`wrote ${options.output}\n`);
      }
    });
}
