/**
 * `phonehome release check SBOM --variant V [--model M] [--format text|json|sarif] [--output FILE]`:
 * the release gate for CI. Exit 0: the build passes for the variant; 1: it is
 * blocked (every reason listed); 2: the gate could not judge (an SBOM that is
 * not CycloneDX JSON, an unknown variant, a broken package policy, bad
 * options). The variant's region comes from the fleet registry: the control
 * plane's store, or, while a running control plane holds an embedded store,
 * its public `GET /v1/fleet/variants`.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { type Command, InvalidArgumentError, Option } from "commander";
import { printFailure } from "../../core/cli/index.ts";
import { type Config, loadConfig } from "../../core/config/index.ts";
import { openDb } from "../../core/db/index.ts";
import { migrate } from "../../core/db/index.ts";
import { loadDictionary } from "../../core/dictionary/index.ts";
import { isPhoneHomeError, PhoneHomeError } from "../../core/errors/index.ts";
import { listVariants } from "../fleet/index.ts";
import { checkRelease } from "./gate.ts";
import { loadPackagePolicy } from "./policy.ts";
import { formatVerdict, verdictJson, verdictSarif } from "./release.presenter.ts";
import { resolveTarget, type VariantRow } from "./release.service.ts";
import { MAX_SBOM_BYTES, readSbom } from "./sbom.ts";

interface Options {
  variant: string;
  model?: string;
  format: "text" | "json" | "sarif";
  output?: string;
}

/** The registered variants: from the control plane's store, or from the running control plane that holds it. */
async function registeredVariants(config: Config): Promise<VariantRow[]> {
  try {
    const db = await openDb(config.controlPlane.store, "phonehome release check");
    try {
      await migrate(db, "control");
      return await listVariants(db);
    } finally {
      await db.close();
    }
  } catch (error) {
    if (!isPhoneHomeError(error, "store.locked")) throw error;
    const url = `${config.controlPlane.url}/v1/fleet/variants`;
    const response = await fetch(url).catch((cause: unknown) => {
      throw new PhoneHomeError(
        "service.unavailable",
        `the control plane's store is in use and its API at ${url} does not answer: ${(cause as Error).message}`,
        { cause },
      );
    });
    if (!response.ok) {
      throw new PhoneHomeError("service.unavailable", `${url} answered ${response.status}`);
    }
    return ((await response.json()) as { variants: VariantRow[] }).variants;
  }
}

function readSbomFile(file: string): string {
  let text: Buffer;
  try {
    text = readFileSync(file);
  } catch (error) {
    throw new PhoneHomeError("release.sbom_invalid", `cannot read the SBOM: ${(error as Error).message}`, {
      path: file,
    });
  }
  if (text.length > MAX_SBOM_BYTES) {
    throw new PhoneHomeError(
      "release.sbom_invalid",
      `the SBOM is larger than ${MAX_SBOM_BYTES / 1024 / 1024} MiB`,
      {
        path: file,
      },
    );
  }
  return text.toString("utf8");
}

/** Adds the `release` commands to the program. */
export function register(program: Command): void {
  const release = program.command("release").description("the release gate: may a build ship to a variant?");
  release
    .command("check")
    .description("check a build's CycloneDX SBOM against a variant; exit 0 pass, 1 blocked, 2 unusable input")
    .argument("<sbom>", "the build's CycloneDX JSON SBOM")
    .requiredOption("--variant <id>", "the variant the build is for: VARIANT, or MODEL/VARIANT")
    .option("--model <id>", "the model, when the variant id alone names several")
    .addOption(
      new Option("--format <format>", "text, json or sarif")
        .choices(["text", "json", "sarif"])
        .default("text"),
    )
    .option("--output <file>", "write the report to a file instead of standard output", (value: string) => {
      if (value.trim() === "") throw new InvalidArgumentError("must name a file");
      return value;
    })
    .action(async (sbomFile: string, options: Options) => {
      try {
        const config = loadConfig(program.opts<{ config?: string }>().config);
        const policy = loadPackagePolicy(config.packagePolicyFile);
        const { dictionary } = loadDictionary(config.dictionaryDir, {
          regions: config.regions.map((r) => r.id),
        });
        const sbom = await readSbom(readSbomFile(sbomFile));
        const target = resolveTarget(await registeredVariants(config), options.variant, options.model);
        const verdict = checkRelease(sbom, target, {
          policy,
          dictionary,
          collectors: new Map(config.regions.map((r) => [r.id, r.url])),
        });
        const report =
          options.format === "json"
            ? `${JSON.stringify(verdictJson(verdict), null, 2)}\n`
            : options.format === "sarif"
              ? `${verdictSarif(verdict, sbomFile)}\n`
              : `${formatVerdict(verdict, sbomFile).join("\n")}\n`;
        if (options.output === undefined) process.stdout.write(report);
        else writeFileSync(options.output, report);
        process.exitCode = verdict.passed ? 0 : 1;
      } catch (error) {
        // Whatever stops the gate from judging is "unusable input" to a CI job: exit 2, never 1.
        printFailure(error);
        process.exitCode = 2;
      }
    });
}
