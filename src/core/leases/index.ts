/** Leases in a service's store, so that a timed job runs on one replica once per period. This file is the folder's only public surface. */
export { startLeasedJobs } from "./leased-jobs.ts";
export type { LeasedJob, LeaseOptions, RunningJobs } from "./leased-jobs.ts";
export { listJobRuns, listLeases } from "./leases.repository.ts";
export type { JobRunRow, LeaseRow } from "./leases.repository.ts";
