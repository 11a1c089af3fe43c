/**
 * Every command of the CLI, in one list. Each command lives with its feature
 * (`src/<feature>/<feature>.command.ts`) and exports a `register` function.
 */
import type { Command } from "commander";
import { register as registerAudit } from "../../core/audit-log/audit.command.ts";
import { register as registerTrafficAudit } from "../traffic-audit/traffic-audit.command.ts";
import { register as registerDataMap } from "../../control-plane/datamap/datamap.command.ts";
import { register as registerDemo } from "../demo/demo.command.ts";
import { register as registerRegistry } from "../../core/dictionary/registry.command.ts";
import {
  register as registerOperator,
  registerSession,
} from "../../control-plane/operators/operator.command.ts";
import { register as registerReview } from "../../control-plane/reviews/review.command.ts";
import { register as registerOwner } from "../../core/owners/owner.command.ts";
import { register as registerIncident } from "../../control-plane/incidents/incident.command.ts";
import { register as registerFleet } from "../../control-plane/fleet/fleet.command.ts";
import { register as registerRelease } from "../../control-plane/release/release.command.ts";
import { register as registerPurge } from "../../collector/retention/purge.command.ts";
import { register as registerSimulate } from "../simulate/simulate.command.ts";
import { register as registerSubjectRequests } from "../../control-plane/subject-requests/subject-requests.command.ts";
import { register as registerSystem } from "../system/system.command.ts";

/** Adds every command to the program. */
export function registerAll(program: Command): void {
  registerRegistry(program);
  registerFleet(program);
  registerSystem(program);
  registerSimulate(program);
  registerPurge(program);
  registerSubjectRequests(program);
  registerRelease(program);
  registerIncident(program);
  registerDemo(program);
  registerAudit(program);
  registerTrafficAudit(program);
  registerDataMap(program);
  registerOperator(program);
  registerSession(program);
  registerReview(program);
  registerOwner(program);
}
