// The wire frame: toWire is the offset, then exactly the JSON text of toFrame (data and payload serialized once).
import t from 'tap'
import { toFrame, toWire, seqOf, type AgentEvent } from '../src/events/envelope.js'

const context = { user_id: 'wire-ann', thread_id: 'thread_wire', run_id: 'run_wire', request_id: 'req_wire' }
const base = { event_id: 'evt_wire', timestamp: 1795502439.375, context, data: { source: 'ledger', status: 'from the producer' } }
const events: AgentEvent[] = [
  { ...base, type: 'agent_started', fields: { task_description: 'Reading "the" invoices \u2028' } },
  { ...base, type: 'agent_thinking', agent_name: 'supervisor', fields: { reasoning: 'step', step_number: 3 } },
  { ...base, type: 'tool_executing', context: { ...context, websocket_client_id: 'conn_wire_1' }, fields: { tool_name: 'sql', parameters: { q: 'select 1' } } },
  { ...base, type: 'tool_completed', fields: { tool_name: 'sql', results: [{ n: 1 }], duration: 12.5, success: true } },
  { ...base, type: 'agent_completed', fields: { status: 'done', final_response: 'All paid.' } },
  { ...base, type: 'agent_error', data: undefined, fields: { error: 'boom' } }
] as AgentEvent[]

t.test('toWire is {"seq","epoch"} followed by the JSON text of toFrame, key for key', async (t) => {
  for (const event of events) {
    const wire = toWire({ ...event, seq: 41, epoch: 'ep"1' })
    t.equal(wire, `{"seq":41,"epoch":"ep\\"1",${JSON.stringify(toFrame(event)).slice(1)}`, event.type)
    const frame = JSON.parse(wire) as Record<string, unknown>
    t.same(frame.data, frame.payload, `${event.type}: payload carries what data does`)
    t.equal(seqOf(wire), 41)
  }
})
