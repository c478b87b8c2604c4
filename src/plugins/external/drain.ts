// Shutdown's first step for the HTTP server: from the first close hook on, every response closes its connection.
import fp from 'fastify-plugin'

declare module 'fastify' {
  interface FastifyInstance {
    /** True once shutdown has begun: new upgrades are refused and connections are not kept alive. */
    draining: boolean
  }
}

export default fp(async (app) => {
  app.decorate('draining', false)
  // Registered before every other plugin, so this preClose runs first.
  app.addHook('preClose', async () => {
    app.draining = true
    app.log.info('draining: upgrades refused, each connection closed after its response')
  })
  // Node's server.close() closes the connections idle at that moment; a request still in flight would leave its
  // keep-alive connection open after its answer (Fastify keeps them 72 s) and the close would wait for it, past
  // Cloud Run's deadline. Answered with `Connection: close`, the connection ends with its response.
  // A callback hook, not an async one: it runs on every response, and most of them are ingests.
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (app.draining) reply.header('connection', 'close')
    done(null, payload)
  })
}, { name: 'drain', fastify: '5.x' })
