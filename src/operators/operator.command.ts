/**
 * `phonehome operator add --username U --name N --role R`: adds an operator;
 * the password is read from standard input (one line), never from the command
 * line, where other users of the machine could see it.
 */
import { userInfo } from "node:os";
import { text } from "node:stream/consumers";
import type { Command } from "commander";
import { loadConfig } from "../config/index.ts";
import { openDb } from "../db/index.ts";
import { migrate } from "../db/migrate.ts";
import { isPhoneHomeError, PhoneHomeError } from "../errors/index.ts";
import { ROLES } from "./operators.repository.ts";
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
