// The demo's timeline: one card per run, newest first, with each agent event and its details as it arrives.
import type { AgentEvent } from '../src/client/index.js'

type Attrs = Record<string, string | undefined>

/** An element with attributes and children; text is always set as text, never parsed as HTML. */
function h (tag: string, attrs: Attrs = {}, ...children: Array<Node | string | null>): HTMLElement {
  const el = document.createElement(tag)
  for (const [name, value] of Object.entries(attrs)) if (value !== undefined) el.setAttribute(name, value)
  for (const child of children) if (child !== null) el.append(child)
  return el
}

const LABELS: Record<AgentEvent['type'], string> = {
  agent_started: 'Started',
  agent_thinking: 'Thinking',
  tool_executing: 'Running a tool',
  tool_completed: 'Tool finished',
  agent_completed: 'Completed',
  agent_error: 'Error'
}

function json (value: unknown): HTMLElement {
  return h('pre', { class: 'json' }, JSON.stringify(value, null, 2))
}

function field (name: string, value: Node | string): HTMLElement {
  return h('div', { class: 'field' }, h('dt', {}, name), h('dd', {}, value))
}

/** The details a person wants from each event, as a description list. */
function details (e: AgentEvent): HTMLElement {
  const list = h('dl', { class: 'details' })
  switch (e.type) {
    case 'agent_started':
      if (e.agent_name) list.append(field('Agent', e.agent_name))
      if (e.task_description) list.append(field('Task', e.task_description))
      break
    case 'agent_thinking':
      list.append(field('Reasoning', e.reasoning))
      if (e.step_number !== undefined) list.append(field('Step', String(e.step_number)))
      break
    case 'tool_executing':
      list.append(field('Tool', h('code', {}, e.tool_name)), field('Parameters', json(e.parameters)))
      break
    case 'tool_completed':
      list.append(field('Tool', h('code', {}, e.tool_name)), field('Took', `${Math.round(e.duration)} ms`), field('Results', json(e.results)))
      break
    case 'agent_completed':
      list.append(field('Status', e.status), field('Answer', h('p', { class: 'answer' }, e.final_response)))
      break
    case 'agent_error':
      list.append(field('Error', e.error))
      if (e.error_code) list.append(field('Code', e.error_code))
      break
  }
  return list
}

const clock = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' })

interface RunView {
  card: HTMLElement
  events: HTMLElement
  status: HTMLElement
  stop: HTMLButtonElement
  message: HTMLElement
  startedAt: number | undefined
}

/** Runs by id; `onStop` is called when a person asks to stop one. */
export class Timeline {
  private readonly runs = new Map<string, RunView>()

  constructor (private readonly list: HTMLElement, private readonly empty: HTMLElement, private readonly onStop: (runId: string) => void) {}

  /** The message a person sent, shown on its run's card (the ack names the run before or after its first event). */
  messageSent (runId: string, threadId: string, text: string): void {
    const view = this.view(runId, threadId)
    view.message.textContent = text
    view.message.hidden = false
  }

  add (e: AgentEvent): { ended: boolean } {
    const view = this.view(e.run_id, e.thread_id)
    view.startedAt ??= e.timestamp
    const offset = `+${((e.timestamp - view.startedAt) * 1000).toFixed(0)} ms`
    const item = h('li', { class: `event event-${e.type}`, 'data-event-type': e.type, 'data-seq': String(e.seq) },
      h('div', { class: 'event-head' },
        h('span', { class: 'badge' }, LABELS[e.type]),
        h('time', { datetime: new Date(e.timestamp * 1000).toISOString(), title: `offset ${e.seq}` }, `${clock.format(e.timestamp * 1000)} (${offset})`)),
      details(e))
    view.events.append(item)
    const ended = e.type === 'agent_completed' || e.type === 'agent_error'
    if (e.type === 'agent_started') this.setStatus(view, 'running', 'Running')
    if (e.type === 'agent_completed') this.setStatus(view, e.status === 'completed' ? 'completed' : 'cancelled', e.status === 'completed' ? 'Completed' : `Ended: ${e.status}`)
    if (e.type === 'agent_error') this.setStatus(view, 'error', 'Failed')
    view.stop.hidden = ended
    return { ended }
  }

  clear (): void {
    this.runs.clear()
    this.list.replaceChildren()
    this.empty.hidden = false
  }

  private setStatus (view: RunView, kind: string, text: string): void {
    view.status.className = `status status-${kind}`
    view.status.textContent = text
  }

  private view (runId: string, threadId: string): RunView {
    const existing = this.runs.get(runId)
    if (existing) return existing
    const headingId = `run-${runId.replace(/[^A-Za-z0-9_-]/g, '_')}`
    const status = h('span', { class: 'status status-waiting' }, 'Waiting')
    const stop = h('button', { type: 'button', class: 'quiet stop', 'aria-describedby': headingId }, 'Stop') as HTMLButtonElement
    stop.addEventListener('click', () => {
      stop.disabled = true
      this.onStop(runId)
    })
    const message = h('p', { class: 'message' })
    message.hidden = true
    const events = h('ol', { class: 'events', 'aria-label': 'Events of this run' })
    const card = h('li', { class: 'run', 'data-run-id': runId, 'data-thread-id': threadId },
      h('article', { 'aria-labelledby': headingId },
        h('header', { class: 'run-head' },
          h('h3', { id: headingId }, 'Run ', h('code', {}, runId)),
          status, stop),
        h('p', { class: 'thread' }, 'Thread ', h('code', {}, threadId)),
        message, events))
    this.list.prepend(card)
    this.empty.hidden = true
    const view = { card, events, status, stop, message, startedAt: undefined }
    this.runs.set(runId, view)
    return view
  }
}
