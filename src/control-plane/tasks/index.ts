/** Tasks the control plane runs on a timer. This file is the folder's only public surface. */
export { every } from "./every.ts";
