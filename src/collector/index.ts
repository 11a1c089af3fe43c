/** A region's collector: its runtime (`startRegion`), what `up` and `serve --region` start. This file is the folder's only public surface. */
export { type RunningRegion, startRegion } from "./region.ts";
export { registerPurgeCommand } from "./purge-command.ts";
export { register as registerKeysCommand } from "./region-keys/index.ts";
