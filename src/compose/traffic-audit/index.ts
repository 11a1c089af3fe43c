/** `phonehome audit`: the traffic auditor's command. This file is the folder's only public surface. */
export { register } from "./traffic-audit.command.ts";
