// The demo page in real headless Chromium: user A's message becomes a run on A's timeline, and user B sees none of it.
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

  await mkdir(SCREENSHOTS, { recursive: true })
  const shots = { alice: join(SCREENSHOTS, 'demo-alice.png'), bob: join(SCREENSHOTS, 'demo-bob.png') }
  await alice.screenshot({ path: shots.alice, fullPage: true })
  await bob.screenshot({ path: shots.bob, fullPage: true })
  t.ok(existsSync(shots.alice) && existsSync(shots.bob), `screenshots in ${SCREENSHOTS}`)
  t.same(errors, [], 'no errors in either page')
})
