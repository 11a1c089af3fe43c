/** Serving the web apps (the portal on every service, the console on the control plane). This file is the folder's only public surface. */
export { livePeers, peersFromConfig, registerConsole, registerPortal, type WebPeers } from "./web-apps.ts";
