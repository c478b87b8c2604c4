// The Origin allowlist (ALLOWED_ORIGINS): who may open a socket, or buy a ticket, from a browser page.

/** A browser always sends Origin; a client that sends none is not a browser and cannot be hijacked cross-site. */
export function originAllowed (origin: string | undefined, allowed: readonly string[]): boolean {
  if (origin === undefined || allowed.length === 0) return true
  try {
    return allowed.includes(new URL(origin).origin)
  } catch {
    return false
  }
}
