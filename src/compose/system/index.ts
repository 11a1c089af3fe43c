/** The whole system in one process (`up`), a service per process (`serve`), and the sample fleet's descriptors. This file is the folder's only public surface. */
export { descriptorOf } from "./sample-fleet.ts";
export { register } from "./system.command.ts";
export { type RunningSystem, startSystem } from "./system.ts";
export { leaveWorkers } from "./workers.ts";
