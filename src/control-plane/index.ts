/** The control plane: its runtime (`startControlPlane`), what `up` and `serve --control-plane` start. This file is the folder's only public surface. */
export { type RunningControlPlane, startControlPlane } from "./control-plane.ts";
