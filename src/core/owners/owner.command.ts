/**
 * `phonehome owner link IDENTITY [--ttl S] [--portal URL]`: what a device shows
 * its owner — a fresh owner token, and the link that opens the owner portal
 * with it — made from a device identity file (such as the demo fleet's, in
 * `<data dir>/demo/devices/`). For trying the portal on a running system.
 */
import { loadIdentity, mintOwnerToken, ownerPortalLink } from "@phonehome/sdk";
import type { Command } from "commander";
import { PhoneHomeError } from "../errors/index.ts";

/** Adds the `owner` commands to the program. */
export function register(program: Command): void {
  const owner = program.command("owner").description("what a device shows its owner");
  owner
    .command("link")
    .description("mint an owner token from a device identity file and print the owner portal link")
    .argument("<identity>", "a device identity file, e.g. .phonehome/demo/devices/<serial>.json")
    .option("--ttl <seconds>", "how long the token lives (1-3600)", "600")
    .option("--portal <url>", "the portal to open (default: the device's home region's /portal/)")
    .option("--json", "print the token and the link as JSON")
    .action(async (file: string, options: { ttl: string; portal?: string; json?: boolean }) => {
      const ttlSeconds = Number(options.ttl);
      const identity = await loadIdentity(file).catch((cause: unknown) => {
        throw new PhoneHomeError(
          "request.invalid",
          `cannot read a device identity from ${file}: ${(cause as Error).message}`,
          {
            path: "identity",
            cause,
          },
        );
      });
      const token = await mintOwnerToken(identity, { ttlSeconds }).catch((cause: unknown) => {
        throw new PhoneHomeError("request.invalid", (cause as Error).message, { path: "--ttl", cause });
      });
      const link = ownerPortalLink(identity, token, options.portal);
      process.stdout.write(
        options.json
          ? `${JSON.stringify({ device: identity.keyId, serial: identity.serial, token, link }, null, 2)}\n`
          : `${link}\n`,
      );
    });
}
