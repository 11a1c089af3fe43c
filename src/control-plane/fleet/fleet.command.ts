/**
 * `phonehome fleet import FILE`, `fleet demo`, and the key commands `fleet
 * keys|revoke|rekey SERIAL`, which call the running control plane as the
 * signed-in operator (`phonehome session open`). Thin: parse the arguments,
 * call the service, print. Failures propagate to the CLI's one reporter,
 * which lists every problem of a bad factory file and exits non-zero.
 */
import { userInfo } from "node:os";
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Command, Option } from "commander";
import { type DeviceKeyHistory, REVOKE_REASONS } from "@phonehome/shared";
import { callControlPlane, marketList, wholeNumber } from "../../core/cli/index.ts";
import { PhoneHomeError } from "../../core/errors/index.ts";
import { readSession } from "../operators/index.ts";
import { progressReporter } from "../../core/cli/index.ts";
import { loadConfig, regionOfMarket } from "../../core/config/index.ts";
import { openDb } from "../../core/db/index.ts";
import { migrate } from "../../core/db/index.ts";
import { DEMO_MARKETS, generateDemoFleet } from "./fleet.generate.ts";
import { formatImportSummary, formatKeyHistory } from "./fleet.presenter.ts";
import { importFleet } from "./fleet.service.ts";

/** Adds the `fleet` commands to the program. */
export function register(program: Command): void {
  const fleet = program
    .command("fleet")
    .description(
      "the fleet registry: models, variants, builds, batches and devices, as the factory made them",
    );

  fleet
    .command("import")
    .description("import a factory file (JSON, or CSV of devices) into the control plane; all or nothing")
    .argument("<file>", "factory file: .json or .csv")
    .action(async (file: string) => {
      const config = loadConfig(program.opts().config);
      const db = await openDb(config.controlPlane.store, "phonehome fleet import");
      const progress = progressReporter(process.stderr);
      try {
        await migrate(db, "control");
        const summary = await importFleet(db, config, file, {
          onProgress: progress.update,
          actor: `cli:${userInfo().username}`,
        });
        progress.stop();
        for (const line of formatImportSummary(summary)) process.stdout.write(`${line}\n`);
      } finally {
        progress.stop();
        await db.close();
      }
    });

  const session = "--session <file>";
  const sessionHelp = "the session token's file (default: where `session open` keeps it)";
  const keysCall = async (
    serial: string,
    options: { session?: string; json?: boolean },
    method: "GET" | "POST",
    path: string,
    body?: unknown,
  ): Promise<void> => {
    if (!/^[A-Z0-9]{8,20}$/.test(serial)) {
      throw new PhoneHomeError("request.invalid", `${serial} is not a serial (8-20 of A-Z, 0-9)`, {
        path: "serial",
      });
    }
    const config = loadConfig(program.opts().config);
    const { text } = await callControlPlane(config, method, `/v1/fleet/devices/${serial}${path}`, {
      body,
      token: readSession(options.session),
    });
    const history = JSON.parse(text) as DeviceKeyHistory;
    if (options.json === true) process.stdout.write(`${JSON.stringify(history, null, 2)}\n`);
    else for (const line of formatKeyHistory(history)) process.stdout.write(`${line}\n`);
  };

  fleet
    .command("keys")
    .description(
      "every key a device has held: the one in force and the revoked ones (needs a running system)",
    )
    .argument("<serial>", "the device's serial")
    .option(session, sessionHelp)
    .option("--json", "print one JSON document instead of text")
    .action((serial: string, options: { session?: string; json?: boolean }) =>
      keysCall(serial, options, "GET", "/keys"),
    );

  fleet
    .command("revoke")
    .description(
      "revoke a device's key in force: its envelopes and owner tokens are refused from then on (needs a running system)",
    )
    .argument("<serial>", "the device's serial")
    .addOption(new Option("--reason <reason>", "why").choices(REVOKE_REASONS).makeOptionMandatory())
    .option(
      "--note <text>",
      "free text for the record (a case number, what was seen), at most 500 characters",
    )
    .option(session, sessionHelp)
    .option("--json", "print one JSON document instead of text")
    .action((serial: string, options: { reason: string; note?: string; session?: string; json?: boolean }) =>
      keysCall(serial, options, "POST", "/revocation", {
        reason: options.reason,
        ...(options.note === undefined ? {} : { note: options.note }),
      }),
    );

  fleet
    .command("rekey")
    .description(
      "register a device's new key (a service centre's step); its key in force is revoked as re-keyed (needs a running system)",
    )
    .argument("<serial>", "the device's serial")
    .requiredOption(
      "--public-key <key>",
      "the new raw Ed25519 public key, base64url (from the device's re-keyed identity)",
    )
    .option("--note <text>", "free text for the record, at most 500 characters")
    .option(session, sessionHelp)
    .option("--json", "print one JSON document instead of text")
    .action(
      (serial: string, options: { publicKey: string; note?: string; session?: string; json?: boolean }) =>
        keysCall(serial, options, "POST", "/keys", {
          publicKey: options.publicKey,
          ...(options.note === undefined ? {} : { note: options.note }),
        }),
    );

  fleet
    .command("demo")
    .description("generate a demo fleet: factory.json (public) and device-keys.json (private, mode 0600)")
    .option("--devices <n>", "number of devices", wholeNumber, 50)
    .addOption(
      new Option("--markets <list>", "comma-separated ISO 3166-1 alpha-2 markets")
        .argParser(marketList)
        .default([...DEMO_MARKETS], DEMO_MARKETS.join(",")),
    )
    .option(
      "--seed <seed>",
      "reproducible serials and keys (tests and demos only: the seed reveals the private keys)",
    )
    .requiredOption("--out <dir>", "folder to write factory.json and device-keys.json into")
    .action((options: { devices: number; markets: string[]; seed?: string; out: string }) => {
      const config = loadConfig(program.opts().config);
      let fleetDoc: ReturnType<typeof generateDemoFleet>;
      try {
        fleetDoc = generateDemoFleet({
          devices: options.devices,
          markets: options.markets,
          seed: options.seed,
          regionOfMarket: (market) => regionOfMarket(config, market),
        });
      } catch (error) {
        // A market the demo's variants cannot serve is a usage error, reported like a bad option.
        if (error instanceof RangeError) fleet.error(error.message);
        throw error;
      }
      mkdirSync(options.out, { recursive: true });
      const factoryFile = join(options.out, "factory.json");
      const keysFile = join(options.out, "device-keys.json");
      writeFileSync(factoryFile, `${JSON.stringify(fleetDoc.factory, null, 2)}\n`);
      // Private keys: readable by the owner only. The mode is set again in case the file already existed.
      writeFileSync(keysFile, `${JSON.stringify(fleetDoc.keys, null, 2)}\n`, { mode: 0o600 });
      chmodSync(keysFile, 0o600);
      process.stdout.write(
        `wrote ${fleetDoc.factory.devices.length} devices in ${fleetDoc.factory.batches.length} batches\n` +
          `  ${factoryFile} (public: import it with \`phonehome fleet import\`)\n` +
          `  ${keysFile} (private keys by serial, mode 0600: keep it out of the registry)\n`,
      );
    });
}
