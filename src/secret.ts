// Comparing a caller's secret with a configured one in constant time, the configured side hashed once.
import { createHash, timingSafeEqual } from 'node:crypto'

const digest = (text: string): Buffer => createHash('sha256').update(text).digest()

/**
 * A test of a given secret against `expected`. Hashing gives equal-length inputs, so the comparison takes the same
 * time whatever the guess; the expected side is hashed here, once, instead of on every request.
 */
export function secretMatcher (expected: string): (given: string) => boolean {
  const want = digest(expected)
  return (given) => timingSafeEqual(digest(given), want)
}
