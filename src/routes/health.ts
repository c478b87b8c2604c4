// Health: /health says the process is up; /health/ready says Redis and PostgreSQL answer.
import type { FastifyPluginAsync } from 'fastify'
import Type from 'typebox'

const Health = Type.Object({ status: Type.String(), mode: Type.String(), instance: Type.String() })
const Ready = Type.Object({ status: Type.String(), checks: Type.Record(Type.String(), Type.String()) })

const health: FastifyPluginAsync<{ mode: string, instanceId: string }> = async (app, opts) => {
  const live = async (): Promise<Type.Static<typeof Health>> => ({ status: 'ok', mode: opts.mode, instance: opts.instanceId })
  app.get('/health', { schema: { response: { 200: Health } }, logLevel: 'warn' }, live)
  app.get('/ws/health', { schema: { response: { 200: Health } }, logLevel: 'warn' }, live)

  app.get('/health/ready', { schema: { response: { 200: Ready, 503: Ready } }, logLevel: 'warn' }, async (_request, reply) => {
    const probe = async (fn: () => Promise<void>): Promise<string> => {
      try { await fn(); return 'ok' } catch (err) { return `failing: ${(err as Error).message}` }
    }
    const [broker, store] = await Promise.all([probe(() => app.broker.ping()), probe(() => app.store.ping())])
    const checks: Record<string, string> = { [app.broker.kind]: broker, [app.store.kind]: store }
    // Redis answering PING is not enough: our own probes must come back through pub/sub.
    if (app.watchdog) checks.pubsub = app.watchdog.healthy ? 'ok' : 'failing: probes are not coming back'
    const ok = Object.values(checks).every((c) => c === 'ok')
    return await reply.code(ok ? 200 : 503).send({ status: ok ? 'ready' : 'not_ready', checks })
  })
}
export default health
