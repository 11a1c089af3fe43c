/**
 * `phonehome keys rotate-service-token`: a new service token, with an overlap
 * during which the previous one is still accepted (docs/operations.md,
 * "Rotating the service token"). Without options it runs the whole rotation on
 * this machine: stage a new token (accepted, not presented), wait until every
 * running process has re-read it, then present it and keep the previous one
 * accepted for `--overlap`. Across machines, `--stage` on one machine, the
 * accepted set copied to every machine, then `--promote` on each (or its two
 * files copied, the accepted set first). Each step is recorded on the control
 * plane before its file is written.
 */
import { hostname } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import { type Command, InvalidArgumentError } from "commander";
import { parseDurationMs } from "../../core/calendar/index.ts";
import { callControlPlane } from "../../core/cli/index.ts";
import { loadConfig } from "../../core/config/index.ts";
import { PhoneHomeError } from "../../core/errors/index.ts";
import {
  newServiceToken,
  promoteServiceToken,
  readTokenFiles,
  RELOAD_MS,
  secretFingerprint,
  stageServiceToken,
} from "../../core/keys/index.ts";

// A running process re-reads the files every RELOAD_MS: two periods are enough for every one of them.
const SETTLE_MS = 2 * RELOAD_MS;

/** An exact ISO 8601 duration (`PT24H`, `P2D`), in milliseconds, at least `SETTLE_MS`. */
export function parseOverlap(value: string): number {
  const ms = parseDurationMs(value);
  if (ms === null || ms < SETTLE_MS) {
    throw new InvalidArgumentError(
      `an ISO 8601 duration such as PT24H or P2D, at least PT${SETTLE_MS / 1000}S (two re-reads of the files)`,
    );
  }
  return ms;
}

/** Adds `keys rotate-service-token` to the program's `keys` command (the region keys' commands register it). */
export function register(program: Command): void {
  const keys =
    program.commands.find((c) => c.name() === "keys") ??
    program.command("keys").description("keys and secrets: region keys, the fleet root, the service token");
  keys
    .command("rotate-service-token")
    .description(
      "make a new service token current and keep the previous one accepted until the overlap ends (docs/operations.md)",
    )
    .option(
      "--overlap <duration>",
      "how long the previous token stays accepted after the switch (ISO 8601: PT24H, P2D)",
      parseOverlap,
    )
    .option(
      "--stage",
      "only stage a new token: accepted by every process that reads it, presented by none yet",
    )
    .option(
      "--promote",
      "only switch to the token staged before (copied here from the machine that staged it)",
    )
    .action(async (options: { overlap?: number; stage?: boolean; promote?: boolean }) => {
      if (options.stage && options.promote) {
        throw new PhoneHomeError(
          "request.invalid",
          "--stage and --promote are two steps: name one, or neither",
        );
      }
      const config = loadConfig(program.opts().config);
      const record = async (body: Record<string, unknown>) => {
        // Presented: this machine's current token, which every process accepts before and after the step.
        await callControlPlane(config, "POST", "/v1/service-token/rotations", {
          body: { host: hostname().slice(0, 255), ...body },
        });
      };
      const say = (line: string) => process.stdout.write(`${line}\n`);
      const dir = config.dataDir;

      if (!options.promote) {
        const staged = readTokenFiles(dir).accepted.find((t) => t.until === null);
        if (staged === undefined) {
          const token = newServiceToken();
          await record({ step: "staged", staged: secretFingerprint(token) });
          stageServiceToken(dir, token);
          say(`staged a new service token ${secretFingerprint(token)} in ${dir}/secrets/service-tokens.json`);
        } else {
          say(`a token is staged already (${secretFingerprint(staged.token)}): kept`);
        }
        if (options.stage) {
          say(
            "copy secrets/service-tokens.json to every machine now (their processes accept it within " +
              `${RELOAD_MS / 1000} s, or at once on SIGHUP); then run \`phonehome keys rotate-service-token --promote\` on each`,
          );
          return;
        }
        say(`waiting ${SETTLE_MS / 1000} s for every running process on this machine to accept it`);
        await sleep(SETTLE_MS);
      }

      const files = readTokenFiles(dir);
      const next = files.accepted.find((t) => t.until === null);
      if (next === undefined) {
        throw new PhoneHomeError(
          "request.invalid",
          `no staged token in ${dir}/secrets/service-tokens.json: stage one (\`--stage\`) and copy that file here first`,
        );
      }
      const overlapMs = options.overlap ?? parseOverlap("PT24H");
      const now = new Date();
      const until = new Date(now.getTime() + overlapMs).toISOString();
      await record({
        step: "rotated",
        previous: secretFingerprint(files.current),
        current: secretFingerprint(next.token),
        until,
      });
      const rotation = promoteServiceToken(dir, overlapMs, now);
      say(
        `the service token is now ${rotation.current}; the previous one (${rotation.previous}) is accepted until ${rotation.until}\n` +
          `running processes present the new one within ${RELOAD_MS / 1000} s (at once on SIGHUP); ` +
          "copy secrets/service-tokens.json, then secrets/service-token, to every other machine before that time",
      );
    });
}
