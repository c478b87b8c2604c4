// The reference agent: one run's five events with realistic content and pacing, stopping between steps when asked.
import { clip, storableText } from '../events/storable.js'
import type { RunRequest } from './protocol.js'

export type Emit = (event: Record<string, unknown>) => Promise<void>

export interface AgentOptions {
  /** Pause between steps, as a model and a tool would take. */
  stepMs: number
  /** Whether the user has asked to stop this run. */
  stopped: () => boolean | Promise<boolean>
}

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

// Question words say nothing about the topic: "Notes on which" is not a search a person would make.
const STOPWORDS: ReadonlySet<string> = new Set(['what', 'which', 'when', 'where', 'who', 'whom', 'whose', 'why', 'how', 'could', 'would',
  'should', 'does', 'have', 'that', 'this', 'these', 'those', 'with', 'from', 'into', 'about', 'there', 'their',
  'they', 'them', 'your', 'ours', 'will', 'shall', 'last', 'next', 'some', 'much', 'many', 'more', 'most', 'every', 'please'])

function keywords (message: string): string[] {
  const words = (message.toLowerCase().match(/[a-z0-9]{4,}/g) ?? []).filter((w) => !STOPWORDS.has(w))
  return [...new Set(words)].slice(0, 4)
}

/** Runs one request to completion (or cancellation), emitting each event through `emit` in order. */
export async function runReferenceAgent (request: RunRequest, emit: Emit, opts: AgentOptions): Promise<'completed' | 'cancelled'> {
  const context = request.context
  // The user's text is echoed into events: it must never carry what the event log refuses, whoever queued it.
  const message = storableText(request.message)
  const excerpt = (max: number): string => clip(message, max)
  const terms = keywords(message)
  const query = terms.length > 0 ? terms.join(' ') : excerpt(60)
  const started = Date.now()
  // The run starts when the gateway accepted the message, not when a worker picked it up: that is the wait the user saw.
  const runStart = Number.isFinite(request.created_at) ? request.created_at : started
  // The frontend reads the run's duration as `payload.execution_time_ms` (the gateway adds `message`, the answer).
  const timing = (): Record<string, unknown> => ({ execution_time_ms: Math.max(0, Date.now() - runStart) })
  const cancelled = async (): Promise<boolean> => {
    if (!await opts.stopped()) return false
    await emit({ type: 'agent_completed', context, agent_name: 'supervisor', status: 'cancelled', final_response: 'Stopped at your request.', data: timing() })
    return true
  }

  const parameters = { query, limit: 3 }
  const matches = (terms.length > 0 ? terms : ['general']).slice(0, 3).map((term, i) => ({ title: `Notes on ${term}`, score: Number((0.92 - i * 0.11).toFixed(2)) }))
  let toolStarted = 0
  // Each step is built when it runs (times are real); between two steps, the pause a model or a tool would take,
  // and the one place a stop is honoured.
  const steps: Array<() => Record<string, unknown>> = [
    () => ({ type: 'agent_started', context, agent_name: 'supervisor', task_description: `Answering: ${excerpt(120)}` }),
    () => ({
      type: 'agent_thinking',
      context,
      agent_name: 'supervisor',
      step_number: 1,
      progress_percentage: 25,
      reasoning: `The question is about ${query}. I will search the knowledge base first, then summarise what I find.`
    }),
    () => {
      toolStarted = Date.now()
      return { type: 'tool_executing', context, agent_name: 'research_agent', tool_name: 'search_knowledge_base', parameters }
    },
    () => ({
      type: 'tool_completed',
      context,
      agent_name: 'research_agent',
      tool_name: 'search_knowledge_base',
      results: { matches },
      duration: Date.now() - toolStarted,
      success: true
    }),
    () => ({
      type: 'agent_completed',
      context,
      agent_name: 'supervisor',
      status: 'completed',
      final_response: `You asked: "${excerpt(200)}". I found ${matches.length} relevant note${matches.length === 1 ? '' : 's'}; the closest is "${matches[0]!.title}".`,
      result: { matches: matches.length, elapsed_ms: Date.now() - started },
      data: timing()
    })
  ]
  for (const [i, step] of steps.entries()) {
    if (i > 0) {
      await pause(opts.stepMs)
      if (await cancelled()) return 'cancelled'
    }
    await emit(step())
  }
  return 'completed'
}
