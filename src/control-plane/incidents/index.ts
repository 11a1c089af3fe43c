/** Incidents: opened from misrouting alerts or by an operator, notices to the affected devices, the regulator report. This file is the folder's only public surface. */
export { register } from "./incident.command.ts";
export { registerIncidentRoutes, sweepJob } from "./incidents.routes.ts";
export type { IncidentContext } from "./incident-steps.ts";
export type { IncidentReport } from "./report.ts";
export { reportMarkdown } from "./report.markdown.ts";
