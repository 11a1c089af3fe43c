/** `phonehome demo`: the incident's story on a fresh embedded system. This file is the folder's only public surface. */
export { register } from "./demo.command.ts";
