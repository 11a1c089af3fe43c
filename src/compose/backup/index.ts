/** `phonehome backup` and `phonehome restore` of one store (docs/backup.md). This file is the folder's only public surface. */
export { register } from "./backup.command.ts";
