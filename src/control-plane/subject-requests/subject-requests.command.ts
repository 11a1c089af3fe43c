/**
 * `phonehome subject-requests list [--json]`: the operator's view of owners'
 * subject requests, read from the control plane's store — per request and
 * region, what was found, deleted (count and digest) and kept, and which
 * regions are still missing. Receipts only: there is no data to show.
 */
import type { Command } from "commander";
import { loadConfig } from "../../core/config/index.ts";
import { openDb } from "../../core/db/index.ts";
import { migrate } from "../../core/db/index.ts";
import { allSubjectRequests } from "./orchestration.service.ts";
import {
  formatSubjectRequests,
  type OperatorRequestView,
  presentForOperator,
} from "./subject-requests.presenter.ts";

/** Adds the `subject-requests` commands to the program. */
export function register(program: Command): void {
  const requests = program
    .command("subject-requests")
    .description(
      "owners' subject requests carried out across regions, as the control plane keeps them (receipts only)",
    );

  requests
    .command("list")
    .description("every subject request, oldest first, with each region's counts and digests")
    .option("--json", "print one JSON document instead of text")
    .action(async (options: { json?: boolean }) => {
      const config = loadConfig(program.opts().config);
      const db = await openDb(config.controlPlane.store, "phonehome subject-requests list");
      try {
        await migrate(db, "control");
        const views: OperatorRequestView[] = [];
        for await (const state of allSubjectRequests(db)) views.push(presentForOperator(state));
        if (options.json) process.stdout.write(`${JSON.stringify({ requests: views }, null, 2)}\n`);
        else for (const line of formatSubjectRequests(views)) process.stdout.write(`${line}\n`);
      } finally {
        await db.close();
      }
    });
}
