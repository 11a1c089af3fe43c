/** The anchors of the regions' audit heads in the control plane's chain. This file is the folder's only public surface. */
export { registerAnchorRoutes } from "./anchors.routes.ts";
export { anchorJob, anchorRegionHeads } from "./anchors.ts";
