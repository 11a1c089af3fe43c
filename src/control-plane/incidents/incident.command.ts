/**
 * `phonehome incident list|sweep|report`: the operator's incident commands.
 * They call the running control plane (the report asks every region), with the
 * service token from the data directory.
 */
import { writeFileSync } from "node:fs";
import type { Command } from "commander";
import { callControlPlane } from "../../core/cli/index.ts";
import { loadConfig } from "../../core/config/index.ts";
import { PhoneHomeError } from "../../core/errors/index.ts";
import type { SweepResult } from "./sweep.service.ts";

interface Listed {
  id: string;
  title: string;
  source: string;
  status: string;
  openedAt: string;
  devices: number;
}

/** Adds the `incident` commands to the program. */
export function register(program: Command): void {
  const incident = program
    .command("incident")
    .description(
      "incidents: affected devices, notices to owners and the regulator report (needs a running system)",
    );

  incident
    .command("list")
    .description("every incident, newest first")
    .option("--json", "print one JSON document instead of text")
    .action(async (options: { json?: boolean }) => {
      const config = loadConfig(program.opts().config);
      const { text } = await callControlPlane(config, "GET", "/v1/incidents");
      const { incidents } = JSON.parse(text) as { incidents: Listed[] };
      if (options.json === true) {
        process.stdout.write(`${JSON.stringify({ incidents }, null, 2)}\n`);
        return;
      }
      if (incidents.length === 0) process.stdout.write("no incidents\n");
      for (const i of incidents) {
        process.stdout.write(
          `${i.id}  ${i.status.padEnd(6)}  ${i.openedAt}  ${i.devices} devices  ${i.title}\n`,
        );
      }
    });

  incident
    .command("sweep")
    .description(
      "read every collector's misrouting alerts now; open an incident for each batch and build not yet covered",
    )
    .action(async () => {
      const config = loadConfig(program.opts().config);
      const { text } = await callControlPlane(config, "POST", "/v1/incidents/sweep");
      const result = JSON.parse(text) as SweepResult;
      for (const i of result.opened) {
        process.stdout.write(`opened ${i.id}: ${i.title} (${i.devices.total} devices)\n`);
      }
      if (result.opened.length === 0) process.stdout.write("no new misrouting alerts\n");
      if (result.known.length > 0)
        process.stdout.write(`already open for the other alerts: ${result.known.join(", ")}\n`);
      for (const s of result.skipped) process.stdout.write(`skipped ${s.alert}: ${s.reason}\n`);
      for (const m of result.regions.missing)
        process.stdout.write(`region ${m.region} did not answer: ${m.reason}\n`);
    });

  incident
    .command("report")
    .description("the regulator report of an incident, made now from the running system")
    .argument("<id>", "the incident, e.g. INC-1")
    .option("--format <format>", "markdown or json", "markdown")
    .option("--output <file>", "write the report to this file instead of standard output")
    .action(async (id: string, options: { format: string; output?: string }) => {
      if (!/^INC-[1-9][0-9]{0,9}$/.test(id)) {
        throw new PhoneHomeError("request.invalid", `${id} is not an incident id (INC-<number>)`, {
          path: "id",
        });
      }
      if (options.format !== "markdown" && options.format !== "json") {
        throw new PhoneHomeError("request.invalid", "--format is markdown or json", { path: "--format" });
      }
      const config = loadConfig(program.opts().config);
      const { text } = await callControlPlane(
        config,
        "GET",
        `/v1/incidents/${id}/report?format=${options.format}`,
      );
      const out = options.format === "json" ? `${JSON.stringify(JSON.parse(text), null, 2)}\n` : text;
      if (options.output === undefined) process.stdout.write(out);
      else {
        writeFileSync(options.output, out);
        process.stdout.write(`wrote ${options.output}\n`);
      }
    });
}
