/**
 * `phonehome operator add --username U --name N --role R`: adds an operator;
 * the password is read from standard input (one line), never from the command
 * line, where other users of the machine could see it. `phonehome session
 * open|close`: an operator's session on the running control plane, for the
 * commands that are a person's steps (`review`).
 */
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { homedir, userInfo } from "node:os";
import { dirname, join } from "node:path";
import { text } from "node:stream/consumers";
import type { Command } from "commander";
import { callControlPlane } from "../../core/cli/index.ts";
import { loadConfig } from "../../core/config/index.ts";
import { openDb } from "../../core/db/index.ts";
import { migrate } from "../../core/db/index.ts";
import { isPhoneHomeError, PhoneHomeError } from "../../core/errors/index.ts";
import { ROLES } from "@phonehome/shared";
import { addOperator } from "./operators.service.ts";

/** Adds the `operator` commands to the program. */
export function register(program: Command): void {
  const operator = program.command("operator").description("people who sign in to the control plane");
  operator
    .command("add")
    .description("add an operator; the password is read from standard input")
    .requiredOption("--username <name>", "lower-case letters, digits, '.', '_' or '-'")
    .requiredOption("--name <text>", "the person's name")
    .requiredOption("--role <role>", ROLES.join(", "))
    .action(async (options: { username: string; name: string; role: string }) => {
      const config = loadConfig(program.opts().config);
      if (process.stdin.isTTY) process.stderr.write("password (at least 12 characters), then Enter: ");
      const password = (await text(process.stdin)).split(/\r?\n/)[0] ?? "";
      const db = await openDb(config.controlPlane.store, "phonehome operator add").catch((error: unknown) => {
        if (!isPhoneHomeError(error, "store.locked")) throw error;
        throw new PhoneHomeError(
          "store.locked",
          `${error.message}. While the control plane runs, ask it: POST ${config.controlPlane.url}/v1/operators with the service token`,
        );
      });
      try {
        await migrate(db, "control");
        const added = await addOperator(db, { ...options, password }, `cli:${userInfo().username}`);
        process.stdout.write(`added operator ${added.username} (${added.role})\n`);
      } finally {
        await db.close();
      }
    });
}

/** Where `session open` keeps the token by default: the operator's own home, readable by them only. */
export const DEFAULT_SESSION_FILE = join(homedir(), ".phonehome", "session");

/** The session token kept by `session open`; `auth.required` naming the command when there is none. */
export function readSession(file: string | undefined): string {
  const path = file ?? DEFAULT_SESSION_FILE;
  try {
    return readFileSync(path, "utf8").trim();
  } catch {
    throw new PhoneHomeError(
      "auth.required",
      `no session at ${path}: sign in first with \`npx phonehome session open --username <you>\``,
    );
  }
}

/** Adds the `session` commands: sign in to the running control plane, and out. */
export function registerSession(program: Command): void {
  const session = program
    .command("session")
    .description("an operator's session on the running control plane");
  session
    .command("open")
    .description(
      "sign in; the password is read from standard input; the token is kept in a file only you can read",
    )
    .requiredOption("--username <name>", "your username")
    .option("--session <file>", `where to keep the token (default ${DEFAULT_SESSION_FILE})`)
    .action(async (options: { username: string; session?: string }) => {
      const config = loadConfig(program.opts().config);
      if (process.stdin.isTTY) process.stderr.write("password, then Enter: ");
      const password = (await text(process.stdin)).split(/\r?\n/)[0] ?? "";
      const { text: answer } = await callControlPlane(config, "POST", "/v1/sessions", {
        body: { username: options.username, password },
      });
      const opened = JSON.parse(answer) as { token: string; expiresAt: string; operator: { role: string } };
      const file = options.session ?? DEFAULT_SESSION_FILE;
      mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
      writeFileSync(file, `${opened.token}\n`, { mode: 0o600 });
      chmodSync(file, 0o600);
      process.stdout.write(
        `signed in as ${options.username} (${opened.operator.role}) until ${opened.expiresAt}; token kept in ${file}\n`,
      );
    });
  session
    .command("close")
    .description("sign out and forget the token")
    .option("--session <file>", `the token's file (default ${DEFAULT_SESSION_FILE})`)
    .action(async (options: { session?: string }) => {
      const config = loadConfig(program.opts().config);
      const token = readSession(options.session);
      await callControlPlane(config, "DELETE", "/v1/sessions/current", { token }).catch((error: unknown) => {
        // A session that ended already is as good as closed.
        if (!isPhoneHomeError(error, "auth.session_invalid")) throw error;
      });
      rmSync(options.session ?? DEFAULT_SESSION_FILE, { force: true });
      process.stdout.write("signed out\n");
    });
}
