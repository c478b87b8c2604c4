// The demo page: sign in as a name, send messages over the SDK, and show each run's events on the timeline.
import { AgentClient, RequestError, type ConnectionState, type StateChange } from '../src/client/index.js'
import { Timeline } from './timeline.js'

function $ (id: string): HTMLElement {
  const el = document.getElementById(id)
  if (!el) throw new Error(`demo page: #${id} is missing`)
  return el
}

/**
 * Settings from the URL hash, so nothing of them reaches a server log: `user` (sign in at once), `token` (use it
 * instead of asking the gateway's dev endpoint, for tests and gateways without one), `server` (a gateway on
 * another origin than the page's).
 */
const hash = new URLSearchParams(location.hash.slice(1))
const server = hash.get('server') ?? location.origin

const ui = {
  signIn: $('sign-in'),
  signInForm: $('sign-in-form') as HTMLFormElement,
  userName: $('user-name') as HTMLInputElement,
  signInError: $('sign-in-error'),
  session: $('session'),
  sessionUser: $('session-user'),
  connection: $('connection'),
  signOut: $('sign-out') as HTMLButtonElement,
  chat: $('chat'),
  composer: $('composer') as HTMLFormElement,
  message: $('composer-message') as HTMLTextAreaElement,
  send: $('send') as HTMLButtonElement,
  composerError: $('composer-error'),
  threadLabel: $('thread-label'),
  newThread: $('new-thread') as HTMLButtonElement,
  announcer: $('announcer')
}

let client: AgentClient | undefined
let threadId: string | undefined
const timeline = new Timeline($('runs'), $('runs-empty'), (runId) => { stopRun(runId).catch(showError) })

/** Errors of the page's own async steps (they catch what they expect; this is the rest). */
function showError (err: unknown): void {
  ui.composerError.textContent = err instanceof Error ? err.message : String(err)
}

function announce (text: string): void {
  ui.announcer.textContent = text
}

/** A dev token for `user`: from the hash when given, else from the gateway's dev-only endpoint. */
async function devToken (user: string): Promise<string> {
  const given = hash.get('token')
  if (given && hash.get('user') === user) return given
  const res = await fetch(new URL(`/demo/token?user=${encodeURIComponent(user)}`, server))
  if (res.status === 404) throw new Error('This gateway issues no demo tokens: run it with `npm start` (embedded mode) or `npm run dev`.')
  if (!res.ok) {
    const reason = await res.json().then((b: { message?: unknown }) => typeof b.message === 'string' ? `: ${b.message}` : '', () => '')
    throw new Error(`The gateway refused a token for this name (HTTP ${res.status})${reason}.`)
  }
  const body = await res.json() as { token?: unknown }
  if (typeof body.token !== 'string') throw new Error('The gateway answered without a token.')
  return body.token
}

const STATE_TEXT: Record<ConnectionState, string> = {
  idle: 'Not connected',
  connecting: 'Connecting…',
  open: 'Connected',
  reconnecting: 'Reconnecting…',
  closed: 'Disconnected'
}

function showState (change: StateChange): void {
  document.body.dataset.connection = change.state
  ui.connection.dataset.state = change.state
  ui.connection.textContent = change.state === 'reconnecting' && change.attempt
    ? `Reconnecting (attempt ${change.attempt})…`
    : STATE_TEXT[change.state]
  if (change.state === 'closed' && change.reason === 'auth_failed') ui.composerError.textContent = 'The gateway refused the token. Sign out and in again.'
}

async function signIn (user: string): Promise<void> {
  ui.signInError.textContent = ''
  const token = await devToken(user)
  const next = new AgentClient({ url: server, token })
  next.on('state', showState)
  next.on('event', (e) => {
    const { ended } = timeline.add(e)
    if (ended) announce(e.type === 'agent_error' ? 'A run failed.' : `A run ended: ${e.type === 'agent_completed' ? e.status : ''}.`)
  })
  next.on('resume_failed', () => announce('Some earlier events could not be replayed; the timeline continues from now.'))
  client = next
  ui.sessionUser.textContent = user
  ui.signIn.hidden = true
  ui.session.hidden = false
  ui.chat.hidden = false
  await next.connect()
  ui.message.focus()
}

async function signOut (): Promise<void> {
  const current = client
  client = undefined
  threadId = undefined
  ui.threadLabel.textContent = 'new'
  ui.newThread.disabled = true
  timeline.clear()
  ui.chat.hidden = true
  ui.session.hidden = true
  ui.signIn.hidden = false
  document.body.dataset.connection = 'idle'
  history.replaceState(null, '', location.pathname + location.search)
  await current?.close()
  ui.userName.focus()
}

async function sendMessage (): Promise<void> {
  const text = ui.message.value.trim()
  ui.composerError.textContent = ''
  if (!client) return
  if (text === '') {
    ui.composerError.textContent = 'Please enter a message.'
    ui.message.focus()
    return
  }
  ui.send.disabled = true
  try {
    const run = await client.send(text, threadId === undefined ? {} : { threadId })
    threadId = run.thread_id
    ui.threadLabel.textContent = run.thread_id
    ui.newThread.disabled = false
    timeline.messageSent(run.run_id, run.thread_id, text)
    ui.message.value = ''
    announce('Message sent; the run has started.')
  } catch (err) {
    ui.composerError.textContent = err instanceof RequestError ? `Not sent: ${err.message}` : 'Not sent: the connection failed.'
  } finally {
    ui.send.disabled = false
  }
}

async function stopRun (runId: string): Promise<void> {
  try {
    await client?.stop(runId)
    announce('Stop requested.')
  } catch (err) {
    ui.composerError.textContent = `Could not stop the run: ${err instanceof Error ? err.message : String(err)}`
  }
}

ui.signInForm.addEventListener('submit', (event) => {
  event.preventDefault()
  const user = ui.userName.value.trim()
  if (!ui.userName.checkValidity()) {
    ui.signInError.textContent = 'Use up to 64 letters, digits, _, ., @ or -.'
    ui.userName.focus()
    return
  }
  // The name (never the token) goes in the hash, so a reload signs in again.
  const params = new URLSearchParams(location.hash.slice(1))
  params.set('user', user)
  history.replaceState(null, '', `#${params.toString()}`)
  signIn(user).catch((err: unknown) => {
    signOut().catch(showError)
    ui.signInError.textContent = err instanceof Error ? err.message : String(err)
  })
})
ui.signOut.addEventListener('click', () => { signOut().catch(showError) })
ui.composer.addEventListener('submit', (event) => {
  event.preventDefault()
  sendMessage().catch(showError)
})
ui.message.addEventListener('keydown', (event) => {
  if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
    event.preventDefault()
    ui.composer.requestSubmit()
  }
})
ui.newThread.addEventListener('click', () => {
  threadId = undefined
  ui.threadLabel.textContent = 'new'
  ui.newThread.disabled = true
  ui.message.focus()
})

const initialUser = hash.get('user')
if (initialUser) {
  ui.userName.value = initialUser
  ui.signInForm.requestSubmit()
} else {
  ui.userName.focus()
}
