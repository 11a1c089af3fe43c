/**
 * Every command of the CLI, in one list. Each command lives with its feature
 * (`src/<feature>/<feature>.command.ts`) and exports a `register` function.
 */
import type { Command } from "commander";
import { register as registerAudit } from "../../core/audit-log/index.ts";
import { register as registerBackup } from "../backup/index.ts";
import { register as registerTrafficAudit } from "../traffic-audit/index.ts";
import { register as registerDataMap } from "../../control-plane/datamap/index.ts";
import { register as registerDemo } from "../demo/index.ts";
import { register as registerRegistry } from "../../core/dictionary/index.ts";
import { register as registerOperator, registerSession } from "../../control-plane/operators/index.ts";
import { register as registerReview } from "../../control-plane/reviews/index.ts";
import { register as registerKeys } from "../../control-plane/service-token/index.ts";
import { register as registerOwner } from "../../core/owners/index.ts";
import { register as registerIncident } from "../../control-plane/incidents/index.ts";
import { registerFleetCommands as registerFleet } from "../../control-plane/fleet/index.ts";
import { register as registerRelease } from "../../control-plane/release/index.ts";
import { registerKeysCommand, registerPurgeCommand } from "../../collector/index.ts";
import { register as registerSimulate } from "../simulate/index.ts";
import { registerSubjectRequestCommands as registerSubjectRequests } from "../../control-plane/subject-requests/index.ts";
import { register as registerSystem } from "../system/index.ts";

/** Adds every command to the program. */
export function registerAll(program: Command): void {
  registerRegistry(program);
  registerFleet(program);
  registerSystem(program);
  registerSimulate(program);
  registerPurgeCommand(program);
  registerKeysCommand(program);
  registerSubjectRequests(program);
  registerRelease(program);
  registerIncident(program);
  registerDemo(program);
  registerAudit(program);
  registerBackup(program);
  registerTrafficAudit(program);
  registerDataMap(program);
  registerOperator(program);
  registerSession(program);
  registerReview(program);
  registerKeys(program);
  registerOwner(program);
}
