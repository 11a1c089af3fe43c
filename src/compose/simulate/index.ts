/** `phonehome simulate`: a factory run and a launch day through the real SDK and HTTP. This file is the folder's only public surface. */
export { register } from "./simulate.command.ts";
export { legacyActivate } from "./simulate.ts";
