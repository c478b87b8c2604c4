// Health: /health says the process is up; /health/ready says Redis and PostgreSQL answer.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { HealthSchema, ReadySchema, type Health } from '../schemas/health.js'

const health: FastifyPluginAsyncTypebox<{ mode: string, instanceId: string }> = async (app, opts) => {
  const live = async (): Promise<Health> => ({ status: 'ok', mode: opts.mode, instance: opts.instanceId })
  app.get('/health', { schema: { response: { 200: HealthSchema } }, logLevel: 'warn' }, live)
  app.get('/ws/health', { schema: { response: { 200: HealthSchema } }, logLevel: 'warn' }, live)

  app.get('/health/ready', { schema: { response: { 200: ReadySchema, 503: ReadySchema } }, logLevel: 'warn' }, async (_request, reply) => {
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
