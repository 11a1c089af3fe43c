/** Owners: proving who holds a device, without accounts. */
export { authenticateOwner, type OwnerContext } from "./owner-auth.ts";
