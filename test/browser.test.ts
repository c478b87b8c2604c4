// The demo page in real headless Chromium: user A's run on A's timeline, none of it for user B, and the platform's frontend's reading of frames.
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, rename, rm } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium, type Browser, type Page } from 'playwright-core'
import t from 'tap'
import { startWorker } from '../src/agent/worker.js'
import { buildDemo, DEMO_DIST } from '../scripts/build-demo.js'
import { build, isolate, REDIS_URL } from './helper.js'

const CHROMIUM = '/usr/bin/chromium'
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const SCREENSHOTS = join(root, '.tap', 'screenshots')

/**
 * The gateway serves demo/dist, so the test builds the page there from the current sources. Built aside and moved
 * in file by file (each rename is atomic) so that another test file reading the page meanwhile never sees half of it.
 */
async function buildPage (): Promise<void> {
  await mkdir(join(root, '.tap'), { recursive: true })
  const scratch = await mkdtemp(join(root, '.tap', 'demo-build-'))
  await buildDemo(scratch)
  if (!existsSync(DEMO_DIST)) {
    await rename(scratch, DEMO_DIST)
    return
  }
  for (const file of ['main.js', 'main.js.map', 'style.css', 'index.html']) await rename(join(scratch, file), join(DEMO_DIST, file))
  await rm(scratch, { recursive: true, force: true })
}

/**
 * Run in a page as the platform's frontend does it (contract sections 2.2, 2.7, 3.1): a ticket bought with the
 * user's token, a socket opened with it, agent frames normalized its way (it copies `data` into `payload` only for
 * some types, and tool_completed is not one of them), then `payload.tool_name` / `payload.result` read from
 * tool_completed and `payload.error_message` from an error frame. A frame without `payload` throws here as it does
 * in the frontend. Plain JavaScript in a string, so that nothing of the test's compiler reaches the page.
 */
function frontendReads (user: string): string {
  return `(async () => {
    const COPIED = ['agent_started', 'tool_executing', 'agent_thinking', 'partial_result', 'agent_completed', 'start_agent', 'agent_response', 'agent_progress', 'agent_error']
    const normalize = (m) => { if (COPIED.includes(m.type) && m.payload === undefined) m.payload = m.data || {}; return m }
    const { token } = await (await fetch('/demo/token?user=' + ${JSON.stringify(encodeURIComponent(user))})).json()
    const bought = await fetch('/api/websocket/ticket', { method: 'POST', headers: { authorization: 'Bearer ' + token } })
    const { websocket_url: url } = await bought.json()
    const read = {}
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no answer within 20 s: ' + JSON.stringify(read))), 20000)
      const ws = new WebSocket(url)
      ws.onmessage = (event) => {
        const m = normalize(JSON.parse(event.data))
        if (m.type === 'connection_established') ws.send(JSON.stringify({ type: 'user_message', payload: { text: 'Which volumes are idle?', references: [], thread_id: null } }))
        if (m.type === 'tool_completed') { read.toolName = m.payload.tool_name; read.toolResult = m.payload.result; read.toolStatus = m.payload.status }
        if (m.type === 'agent_completed') {
          read.message = m.payload.message
          read.executionTimeMs = m.payload.execution_time_ms
          ws.send(JSON.stringify({ type: 'switch_thread', payload: { thread_id: 'thread-the-gateway-never-saw' } }))
        }
        if (m.type === 'error') { read.errorMessage = m.payload.error_message; ws.close(1000); clearTimeout(timer); resolve() }
      }
      ws.onerror = () => reject(new Error('socket error'))
    })
    // The ticket again: the frontend buys a new one only when the close reason mentions "ticket".
    await new Promise((resolve) => {
      const again = new WebSocket(url)
      again.onmessage = (event) => { const m = JSON.parse(event.data); if (m.type === 'error_message') read.refusal = m.payload.error_message }
      again.onclose = (event) => { read.closeCode = event.code; read.closeReason = event.reason; resolve() }
    })
    return read
  })()`
}

async function openAs (browser: Browser, base: string, user: string, errors: string[]): Promise<Page> {
  // One context each: nothing shared between the two users' pages, as with two people.
  const context = await browser.newContext({ viewport: { width: 1100, height: 900 } })
  const page = await context.newPage()
  page.on('pageerror', (err) => errors.push(`${user}: ${err.message}`))
  page.on('console', (msg) => { if (msg.type() === 'error') errors.push(`${user}: ${msg.text()}`) })
  // The name in the hash signs in at once, with a dev token from the gateway's GET /demo/token.
  await page.goto(`${base}/#user=${encodeURIComponent(user)}`)
  await page.waitForSelector('body[data-connection="open"]', { timeout: 10_000 })
  return page
}

async function sendAndFinish (page: Page, text: string): Promise<string> {
  await page.getByLabel('Message').fill(text)
  await page.getByRole('button', { name: 'Send' }).click()
  const card = page.locator('.run', { hasText: text })
  await card.locator('[data-event-type="agent_completed"]').waitFor({ timeout: 20_000 })
  return await card.getAttribute('data-run-id') ?? ''
}

t.test('the demo page in Chromium: a message, its run on the timeline, and nothing of it for another user', async (t) => {
  // npm test's pretest (scripts/test-setup.sh) installs Debian's chromium; without it this test fails rather than pass quietly.
  if (!existsSync(CHROMIUM)) {
    t.fail(`${CHROMIUM} is missing: run \`apt-get install chromium\` (npm test's scripts/test-setup.sh does)`)
    return
  }
  await buildPage()
  const iso = isolate(t)
  const gw = await build(t, iso)
  const worker = await startWorker({ redisUrl: REDIS_URL, prefix: iso.prefix, consumer: 'browser-test-agent', stepMs: 400, concurrency: 4 })
  t.teardown(() => worker.stop())
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
  })
  t.teardown(() => browser.close())
  const errors: string[] = []

  const alice = await openAs(browser, gw.http, 'alice-browser', errors)
  const bob = await openAs(browser, gw.http, 'bob-browser', errors)
  t.equal(await alice.locator('#session-user').textContent(), 'alice-browser')
  t.equal(await alice.locator('#connection').textContent(), 'Connected')

  const question = 'Which of our GPU jobs could run on spot instances?'
  const aliceRun = await sendAndFinish(alice, question)
  t.match(aliceRun, /^run_/)
  const card = alice.locator(`.run[data-run-id="${aliceRun}"]`)
  const types = await card.locator('.event').evaluateAll((items) => items.map((li) => li.getAttribute('data-event-type')))
  t.same(types, ['agent_started', 'agent_thinking', 'tool_executing', 'tool_completed', 'agent_completed'], 'the five events, in order')
  t.equal(await card.locator('.message').textContent(), question, 'the message heads its run')
  t.equal(await card.locator('.status').textContent(), 'Completed')
  t.match(await card.locator('[data-event-type="agent_completed"] .answer').textContent(), /\S/, 'the final response is shown')
  t.match(await card.locator('[data-event-type="tool_executing"] dd code').first().textContent(), /\S/, 'the tool name is shown')

  t.equal(await bob.locator('.event').count(), 0, 'bob sees none of alice\'s events')
  const bobRun = await sendAndFinish(bob, 'What did we spend on storage last week?')
  t.not(bobRun, aliceRun)
  t.same(await bob.locator('.run').evaluateAll((runs) => runs.map((r) => r.getAttribute('data-run-id'))), [bobRun], 'bob: only his own run')
  t.same(await alice.locator('.run').evaluateAll((runs) => runs.map((r) => r.getAttribute('data-run-id'))), [aliceRun], 'alice: only hers')

  // Stop: a second message in the same thread, stopped from its card while it runs.
  await alice.getByLabel('Message').fill('Now list every idle volume')
  await alice.getByRole('button', { name: 'Send' }).click()
  const running = alice.locator('.run', { hasText: 'Now list every idle volume' })
  await running.locator('[data-event-type="agent_started"]').waitFor({ timeout: 10_000 })
  await running.getByRole('button', { name: 'Stop' }).click()
  await running.locator('[data-event-type="agent_completed"]').waitFor({ timeout: 10_000 })
  t.equal(await running.locator('.status').textContent(), 'Ended: cancelled', 'a stopped run ends cancelled')
  t.equal(await running.getAttribute('data-thread-id'), await card.getAttribute('data-thread-id'), 'the follow-up stays in the thread')
  t.equal(await bob.locator(`.run[data-run-id="${await running.getAttribute('data-run-id')}"]`).count(), 0)

  // The platform's frontend, reading the gateway's frames its own way, in the same browser.
  const frontend = await openAs(browser, gw.http, 'carol-frontend', errors)
  const read = await frontend.evaluate(frontendReads('carol-frontend')) as Record<string, unknown>
  t.equal(read.toolName, 'search_knowledge_base', 'tool_completed: payload.tool_name')
  t.match(read.toolResult, { matches: [{ title: /^Notes on / }] }, 'tool_completed: payload.result')
  t.equal(read.toolStatus, 'completed', 'so the tool does not stay "running"')
  t.match(read.message, /Which volumes are idle/, 'agent_completed: payload.message, the final response')
  t.ok(typeof read.executionTimeMs === 'number' && read.executionTimeMs > 0, `agent_completed: payload.execution_time_ms (${String(read.executionTimeMs)})`)
  t.equal(read.errorMessage, 'Thread not found', 'error: payload.error_message')
  t.match(read.refusal, /ticket/)
  t.equal(read.closeCode, 1008, 'a used ticket closes with 1008')
  t.match(read.closeReason, /ticket/, 'and a reason that names the ticket')

  await mkdir(SCREENSHOTS, { recursive: true })
  const shots = { alice: join(SCREENSHOTS, 'demo-alice.png'), bob: join(SCREENSHOTS, 'demo-bob.png') }
  await alice.screenshot({ path: shots.alice, fullPage: true })
  await bob.screenshot({ path: shots.bob, fullPage: true })
  t.ok(existsSync(shots.alice) && existsSync(shots.bob), `screenshots in ${SCREENSHOTS}`)
  t.same(errors, [], 'no errors in either page')
})
