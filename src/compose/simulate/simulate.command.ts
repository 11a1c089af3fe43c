/** `phonehome simulate`: switch on a simulated fleet against a running system. */
import { join } from "node:path";
import { type Command, Option } from "commander";
import { marketList, wholeNumber } from "../../core/cli/index.ts";
import { progressReporter } from "../../core/cli/index.ts";
import { loadConfig } from "../../core/config/index.ts";
import { loadFleetTrust, loadServiceToken } from "../../core/keys/index.ts";
import { runSimulation, type SimulationSummary } from "./simulate.ts";

/** Registers `simulate`. */
export function register(program: Command): void {
  program
    .command("simulate")
    .description("register N simulated devices and switch them on through the real SDK and HTTP")
    .option("--devices <n>", "number of devices", wholeNumber, 100)
    .addOption(
      new Option("--markets <list>", "comma-separated ISO 3166-1 alpha-2 markets")
        .argParser(marketList)
        .default(["NO", "FI", "DE", "CN"], "NO,FI,DE,CN"),
    )
    .option(
      "--wrong-region <n>",
      "devices provisioned with another region's descriptor (the incident)",
      wholeNumber,
      0,
    )
    .option(
      "--legacy-client",
      "those devices send without the SDK's region checks, as the incident's client did",
    )
    .option("--concurrency <n>", "devices switched on at once", wholeNumber, 16)
    .option("--json", "print the summary as JSON")
    .action(
      async (options: {
        devices: number;
        markets: string[];
        wrongRegion: number;
        legacyClient?: boolean;
        concurrency: number;
        json?: boolean;
      }) => {
        const config = loadConfig(program.opts().config);
        const progress = progressReporter(process.stderr);
        const summary = await runSimulation({
          controlPlaneUrl: config.controlPlane.url,
          serviceToken: loadServiceToken(config.dataDir),
          roots: (await loadFleetTrust(config.dataDir)).roots,
          devices: options.devices,
          markets: options.markets,
          wrongRegion: options.wrongRegion,
          legacyClient: options.legacyClient === true,
          concurrency: options.concurrency,
          workDir: join(config.dataDir, "simulate", String(process.pid)),
          onProgress: progress.update,
        }).finally(() => progress.stop());
        const { fleet: _fleet, ...shown } = summary;
        process.stdout.write(options.json ? `${JSON.stringify(shown, null, 2)}\n` : formatSummary(summary));
      },
    );
}

/** The summary as a person reads it. */
export function formatSummary(s: SimulationSummary): string {
  const lines = [`simulated ${s.devices} devices in ${s.batches.length} batches`];
  for (const b of s.batches)
    lines.push(
      `  batch ${b.id}: ${b.devices} devices, market ${b.market}, build ${b.build}, region ${b.region}`,
    );
  const activated = Object.entries(s.activated);
  lines.push(
    `activated: ${activated.reduce((n, [, c]) => n + c, 0)}${activated.length ? ` (${activated.map(([r, c]) => `${r} ${c}`).join(", ")})` : ""}`,
  );
  if (s.replayed) lines.push(`already activated: ${s.replayed}`);
  const refused = Object.entries(s.refused);
  lines.push(`refused: ${refused.reduce((n, [, c]) => n + c, 0)}`);
  for (const [code, c] of refused) {
    lines.push(
      `  ${code}: ${c}${code.startsWith("sdk.") ? " (on the device, before any byte left it)" : " (by a collector)"}`,
    );
  }
  if (s.offline) lines.push(`still queued on the device (collector unreachable): ${s.offline}`);
  if (s.wrongRegionSerials.length)
    lines.push(`provisioned with another region's descriptor: ${s.wrongRegionSerials.length}`);
  return `${lines.join("\n")}\n`;
}
