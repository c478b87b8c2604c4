// UserExecutionContext: required ids, placeholder rejection naming field and rule, frozen result.
import t from 'tap'
import { createUserExecutionContext, InvalidContextError } from '../src/context/user-execution-context.js'

const good = { user_id: 'user-8f2c', thread_id: 'thread_ws_1758_1_ab12', run_id: 'run_ws_1758_1_ab12', request_id: 'ws_req_1758_1_ab12' }

t.test('a complete context is accepted and frozen', async (t) => {
  const c = createUserExecutionContext({ ...good, websocket_client_id: 'conn-1' })
  t.same(c, { ...good, websocket_client_id: 'conn-1' })
  t.ok(Object.isFrozen(c))
  t.same(createUserExecutionContext({ ...good, user_id: 'default_user' }).user_id, 'default_user', 'the allow-listed defaults pass')
  t.ok(createUserExecutionContext({ ...good, run_id: 'mock_but_long_enough_to_be_real_1234' }), 'prefixes only count on short values')
})

t.test('empty, missing and placeholder values are refused with field and rule', async (t) => {
  const cases: Array<[Record<string, unknown>, string, RegExp]> = [
    [{ ...good, user_id: '' }, 'user_id', /must not be empty/],
    [{ ...good, thread_id: undefined }, 'thread_id', /must be a string/],
    [{ ...good, run_id: 'registry' }, 'run_id', /placeholder value "registry"/],
    [{ ...good, run_id: 'NULL' }, 'run_id', /placeholder value "NULL"/],
    [{ ...good, request_id: '0' }, 'request_id', /placeholder value/],
    [{ ...good, thread_id: 'temp_123' }, 'thread_id', /placeholder prefix "temp_"/],
    [{ ...good, user_id: 'test_user' }, 'user_id', /placeholder prefix "test_"/],
    [{ ...good, websocket_client_id: '' }, 'websocket_client_id', /non-empty/]
  ]
  for (const [input, field, rule] of cases) {
    const err = t.throws(() => createUserExecutionContext(input as typeof good), InvalidContextError) as InvalidContextError
    t.equal(err.field, field)
    t.match(err.rule, rule)
    t.match(err.message, new RegExp(`^${field}: `))
  }
})
