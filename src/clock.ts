// The gateway's one notion of now: what decides by the time (breakers, caches, expiry, TTLs) takes a Clock, so tests can advance it.

/** Epoch milliseconds, as Date.now() gives them. */
export interface Clock { now: () => number }
export const systemClock: Clock = { now: () => Date.now() }
