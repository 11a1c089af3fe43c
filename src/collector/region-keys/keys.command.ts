/**
 * `phonehome keys ...`: a region's keys from a terminal.
 *
 * - `keys list --region R`: the keys, their validity, the descriptor in force;
 * - `keys rotate --region R --root-key FILE [--starts-in D] [--overlap D]`: the
 *   running collector prepares the next seal key and answers the statement;
 *   this command signs it here with the root key file (kept offline: it never
 *   leaves this machine) and posts the signature back;
 * - `keys rotate --region R --receipts`: a new receipt key (no root needed);
 * - `keys publish --region R --root-key FILE`: re-signs the current set (a
 *   first descriptor, after the root rolled over, after a new URL);
 * - `keys root init --out FILE`, `keys root roll --root OLD --out NEW
 *   [--install]`: a new fleet root, and a new root signed by the old one.
 */
import { linkSync, readFileSync, renameSync, unlinkSync } from "node:fs";
import { type RegionDescriptorStatement, signRegionDescriptor, signRootLink } from "@phonehome/sdk";
import type { Command } from "commander";
import { parseDurationMs } from "../../core/calendar/index.ts";
import { callCollector } from "../../core/cli/index.ts";
import { loadConfig } from "../../core/config/index.ts";
import { PhoneHomeError } from "../../core/errors/index.ts";
import {
  type FleetTrust,
  fleetTrustPath,
  generateRootKeyFile,
  parseFleetTrust,
  type Root,
  readRootKeyFile,
  rootInUse,
  writeAside,
} from "../../core/keys/index.ts";

interface Prepared {
  region: string;
  kid?: string;
  statement: RegionDescriptorStatement;
}

interface Listed {
  region: string;
  sealingKid: string;
  descriptor: { rootKid: string; issuedAt: string } | null;
  keys: {
    purpose: string;
    kid: string;
    notBefore: string;
    notAfter: string | null;
    status: string;
    endedAt: string | null;
  }[];
}

function rootKey(path: string): Root {
  try {
    return readRootKeyFile(path);
  } catch (error) {
    throw new PhoneHomeError("keys.root_key_invalid", (error as Error).message, { path: "--root-key" });
  }
}

function duration(value: string): string {
  if (parseDurationMs(value) === null) {
    throw new PhoneHomeError("request.invalid", `${value} is not an ISO 8601 duration such as PT24H or P30D`);
  }
  return value;
}

/** Writes a file that must not exist yet, readable by its owner only, in full or not at all. */
function writeNew(path: string, content: string, what: string): void {
  const temp = writeAside(path, content);
  try {
    linkSync(temp, path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    throw new PhoneHomeError("keys.root_key_invalid", `${path} exists: ${what} is never overwritten`);
  } finally {
    unlinkSync(temp);
  }
}

/** Signs a prepared statement with the root and posts it; prints what was published. */
async function signAndPost(
  program: Command,
  region: string,
  prepared: Prepared,
  root: Root,
  json: boolean | undefined,
): Promise<void> {
  const config = loadConfig(program.opts<{ config?: string }>().config);
  const descriptor = await signRegionDescriptor(prepared.statement, root);
  const { text } = await callCollector(config, region, "POST", "/v1/keys/descriptor", {
    body: { descriptor },
  });
  if (json) {
    process.stdout.write(`${text}\n`);
    return;
  }
  const result = JSON.parse(text) as {
    published?: string;
    rootKid: string;
    statement: RegionDescriptorStatement;
  };
  const lines = [
    result.published === undefined
      ? `region ${region}: descriptor re-signed by ${result.rootKid}`
      : `region ${region}: seal key ${result.published} published, descriptor signed by ${result.rootKid}`,
    ...result.statement.keys.map((k) => `  ${k.kid}  ${k.notBefore} → ${k.notAfter}`),
  ];
  process.stdout.write(`${lines.join("\n")}\n`);
}

/** Registers `phonehome keys`. */
export function register(program: Command): void {
  const keys = program
    .command("keys")
    .description(
      "keys and secrets: a region's keys (list, rotate under the fleet root), the fleet root, the service token",
    );
  const configOf = () => loadConfig(program.opts<{ config?: string }>().config);

  keys
    .command("list")
    .description("the region's keys (seal and receipts) with their validity, and the descriptor in force")
    .requiredOption("--region <id>", "the region")
    .option("--json", "print the collector's answer as JSON")
    .action(async (options: { region: string; json?: boolean }) => {
      const { text } = await callCollector(configOf(), options.region, "GET", "/v1/keys");
      if (options.json) {
        process.stdout.write(`${text}\n`);
        return;
      }
      const listed = JSON.parse(text) as Listed;
      const lines = [
        `region ${listed.region}: devices seal to ${listed.sealingKid}; descriptor ${listed.descriptor === null ? "none" : `signed by ${listed.descriptor.rootKid} at ${listed.descriptor.issuedAt}`}`,
        ...listed.keys.map(
          (k) =>
            `  ${k.purpose.padEnd(8)} ${k.kid}  ${k.notBefore} → ${k.notAfter ?? "(never ends)"}  ${k.status}${k.endedAt ? `, ended` : ""}`,
        ),
      ];
      process.stdout.write(`${lines.join("\n")}\n`);
    });

  keys
    .command("rotate")
    .description(
      "rotate the region's seal key (the collector prepares it; the root key file signs it here) or, with --receipts, its receipt key",
    )
    .requiredOption("--region <id>", "the region")
    .option("--root-key <file>", "the fleet root key file (kept offline); required for the seal key")
    .option(
      "--starts-in <duration>",
      "when the new key starts, from now (default keys.startsIn, PT24H)",
      duration,
    )
    .option(
      "--overlap <duration>",
      "how long the previous key is still opened (default keys.overlap, P30D)",
      duration,
    )
    .option("--receipts", "rotate the receipt-signing key instead (no root signature needed)")
    .option("--json", "print the collector's answer as JSON")
    .action(
      async (options: {
        region: string;
        rootKey?: string;
        startsIn?: string;
        overlap?: string;
        receipts?: boolean;
        json?: boolean;
      }) => {
        const config = configOf();
        if (options.receipts) {
          const { text } = await callCollector(config, options.region, "POST", "/v1/keys/receipt-rotations", {
            body: {},
          });
          const { kid } = JSON.parse(text) as { kid: string };
          process.stdout.write(
            options.json
              ? `${text}\n`
              : `region ${options.region}: receipts are signed with ${kid} from now\n`,
          );
          return;
        }
        if (options.rootKey === undefined) {
          throw new PhoneHomeError("request.invalid", "rotating the seal key needs --root-key FILE", {
            path: "--root-key",
          });
        }
        // Read before asking the collector: a wrong file prepares nothing.
        const root = rootKey(options.rootKey);
        const body = {
          ...(options.startsIn === undefined ? {} : { startsIn: options.startsIn }),
          ...(options.overlap === undefined ? {} : { overlap: options.overlap }),
        };
        const { text } = await callCollector(config, options.region, "POST", "/v1/keys/rotations", { body });
        await signAndPost(program, options.region, JSON.parse(text) as Prepared, root, options.json);
      },
    );

  keys
    .command("publish")
    .description(
      "re-sign the region's current keys with the root key file (a first descriptor, a new root, a new URL)",
    )
    .requiredOption("--region <id>", "the region")
    .requiredOption("--root-key <file>", "the fleet root key file (kept offline)")
    .option("--json", "print the collector's answer as JSON")
    .action(async (options: { region: string; rootKey: string; json?: boolean }) => {
      const root = rootKey(options.rootKey);
      const { text } = await callCollector(configOf(), options.region, "GET", "/v1/keys/statement");
      await signAndPost(program, options.region, JSON.parse(text) as Prepared, root, options.json);
    });

  const roots = keys.command("root").description("the fleet root key: made and rolled over offline");
  roots
    .command("init")
    .description("make a fleet root key file (keep it offline) and print the fleet trust services hold")
    .requiredOption("--out <file>", "where to write the root key (must not exist)")
    .action((options: { out: string }) => {
      const file = generateRootKeyFile();
      writeNew(options.out, `${JSON.stringify(file, null, 2)}\n`, "a root key");
      const trust: FleetTrust = { roots: [{ kid: file.kid, publicKey: file.publicKey }], chain: [] };
      process.stdout.write(
        `root ${file.kid} written to ${options.out}; give devices its public key, and each service this keys/fleet-trust.json:\n${JSON.stringify(trust, null, 2)}\n`,
      );
    });
  roots
    .command("roll")
    .description(
      "make a new root signed by the old one (a rollover link); --install adds it to this data directory's fleet trust",
    )
    .requiredOption("--root <file>", "the root key in use (kept offline)")
    .requiredOption("--out <file>", "where to write the new root key (must not exist)")
    .option(
      "--install",
      "append the link to <dataDir>/keys/fleet-trust.json (the services read it at their next reload)",
    )
    .action(async (options: { root: string; out: string; install?: boolean }) => {
      const old = rootKey(options.root);
      const next = generateRootKeyFile();
      const link = await signRootLink({ kid: next.kid, publicKey: next.publicKey }, old);
      let installed = "";
      if (options.install) {
        const config = configOf();
        const path = fleetTrustPath(config.dataDir);
        const trust = await parseFleetTrust(readFileSync(path, "utf8"), path);
        const inUse = await rootInUse(trust);
        if (inUse.kid !== old.kid) {
          throw new PhoneHomeError(
            "keys.root_key_invalid",
            `${options.root} holds ${old.kid}, but the root in use in ${path} is ${inUse.kid}: nothing was written`,
            { path: "--root" },
          );
        }
        const rolled: FleetTrust = { roots: trust.roots, chain: [...trust.chain, link] };
        await parseFleetTrust(JSON.stringify(rolled), path);
        writeNew(options.out, `${JSON.stringify(next, null, 2)}\n`, "a root key");
        renameSync(writeAside(path, `${JSON.stringify(rolled, null, 2)}\n`), path);
        installed = `; added to ${path}`;
      } else {
        writeNew(options.out, `${JSON.stringify(next, null, 2)}\n`, "a root key");
      }
      process.stdout.write(
        `root ${next.kid} written to ${options.out}, signed by ${old.kid}${installed}\n` +
          `link (append to the chain of every service's keys/fleet-trust.json, then \`phonehome keys publish\` with the new root):\n${link}\n`,
      );
    });
}
