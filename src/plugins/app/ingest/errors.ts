// What ingest can answer besides "stored": domain errors, mapped to status codes by the HTTP layer alone.
export { RunConflictError } from '../store/store.js'

/** The event log could not be reached. `outcomeUnknown`: the connection went while committing, so it may have landed. */
export class StoreUnavailableError extends Error {
  constructor (public readonly outcomeUnknown: boolean, options?: { cause?: unknown }) {
    super(outcomeUnknown
      ? 'the event log stopped answering while storing; the events may or may not be stored: retry with the same event ids (a retry never stores an event twice)'
      : 'the event log is unavailable; nothing was stored, retry later', options)
    this.name = 'StoreUnavailableError'
  }
}

/** The event log refused this unit's content for good: retrying it can never succeed. */
export class EventRejectedError extends Error {
  constructor () {
    super('the event log refused the content of these events; nothing of them was stored')
    this.name = 'EventRejectedError'
  }
}
