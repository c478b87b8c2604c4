// Architecture rules, checked by `npm test` (test/architecture.test.ts) and listed by `npm run arch:report`.
// Each rule's comment says why it exists; a violation prints "<rule>: <file> → <dependency>".

/** Infrastructure libraries: talking to Redis, PostgreSQL, sockets, metrics, tokens, HTTP. */
const INFRA = '^node_modules/(@types/)?(ioredis|pg|postgrator|ws|@fastify/websocket|prom-client|jose|undici)/'
/** Our wrappers of that infrastructure, and the concrete implementations behind the broker and store interfaces. */
const INFRA_MODULES = '^src/plugins/external/|^src/plugins/app/fanout/(redis|memory)-broker\\.ts$|^src/plugins/app/store/(pg|memory)-store\\.ts$'

/** A rule: only `allowed` (files, or folders ending in /) of src/ may import `library` (a regex alternation of packages). */
function onlyIn (name, library, allowed, comment) {
  const exempt = allowed.map((p) => `^${p.replace(/\./g, '\\.')}${p.endsWith('/') ? '' : '$'}`).join('|')
  return { name, severity: 'error', comment, from: { path: '^src/', pathNot: exempt }, to: { path: `^node_modules/(@types/)?(${library})/` } }
}

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'Import cycles make boot order and module state depend on who imported whom first.',
      from: { path: '^(src|e2e)/' },
      to: { circular: true }
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      comment: 'An import that resolves to nothing fails at run time; catch it here, with the file named.',
      from: { path: '^(src|e2e)/' },
      to: { couldNotResolve: true }
    },
    {
      name: 'no-dev-deps-at-runtime',
      severity: 'error',
      comment: 'The production image installs dependencies only (npm ci --omit=dev): src/ may use a devDependency for its types alone.',
      from: { path: '^src/' },
      to: { dependencyTypes: ['npm-dev'], dependencyTypesNot: ['type-only'] }
    },
    {
      name: 'no-undeclared-packages',
      severity: 'error',
      comment: 'A package that is not in package.json works on one machine by accident (hoisting) and fails in the image.',
      from: { path: '^(src|e2e)/' },
      to: { dependencyTypes: ['npm-no-pkg', 'npm-unknown'] }
    },
    onlyIn('ioredis-only-in-redis-modules', 'ioredis', ['src/plugins/external/redis.ts', 'src/plugins/app/fanout/redis-broker.ts', 'src/agent/worker.ts'],
      'Redis connections are opened in one place (src/plugins/external/redis.ts) and used through the broker; ' +
      'everything else gets them from the plugin. src/agent/worker.ts is the reference agent worker, a separate program ' +
      'with its own connections that speaks only the Redis contract of src/agent/protocol.ts, so it may use ioredis itself.'),
    onlyIn('pg-only-in-store', 'pg|postgrator', ['src/plugins/external/postgres.ts', 'src/plugins/app/store/'],
      'SQL lives in the store (repositories and migrations) on the pool of the postgres plugin; nothing else talks to PostgreSQL.'),
    onlyIn('ws-only-in-socket-modules', 'ws', ['src/plugins/app/fanout/registry.ts', 'src/plugins/app/fanout/liveness.ts', 'src/services/socket-session.ts'],
      'One WebSocket manager: the registry owns and writes to sockets, the liveness sweep listens for their pongs, ' +
      'the socket session reads their frames. Subscription counting (fanout/subscriptions.ts) counts members without ' +
      'touching a socket, so it is not on this list. A new module importing ws is a second manager in the making.'),
    onlyIn('fastify-websocket-only-in-its-plugin', '@fastify/websocket', ['src/plugins/external/websocket.ts'],
      'The WebSocket server is created once, by src/plugins/external/websocket.ts; no second server, no factory.'),
    {
      name: 'routes-not-to-infrastructure',
      severity: 'error',
      comment: 'Routes use capabilities (app.store, app.fanout, app.registry, app.auth, services); they never reach for a ' +
        'client library, a connection plugin or a concrete store or broker, so the embedded and production modes stay one code path.',
      from: { path: '^src/routes/' },
      to: { path: `${INFRA}|${INFRA_MODULES}` }
    },
    {
      name: 'app-plugins-not-to-services-or-routes',
      severity: 'error',
      comment: 'Dependencies point one way: routes → services → app plugins → external plugins. A capability that imports a ' +
        'service or a route depends on its own users, so it can no longer be registered, tested or changed without them.',
      from: { path: '^src/plugins/app/' },
      to: { path: '^src/(services|routes)/' }
    },
    {
      name: 'external-plugins-not-to-app-plugins',
      severity: 'error',
      comment: 'External plugins wrap third-party libraries and are registered before our capabilities: one that imports an ' +
        'app plugin (or a service or route) inverts the boot order. What both need goes to a neutral module (src/protocol/, src/events/).',
      from: { path: '^src/plugins/external/' },
      to: { path: '^src/(plugins/app|services|routes)/' }
    },
    {
      name: 'services-not-to-routes',
      severity: 'error',
      comment: 'Services hold what routes share; a service that imports a route would tie the HTTP shape to the work behind it.',
      from: { path: '^src/services/' },
      to: { path: '^src/routes/' }
    },
    {
      name: 'shared-modules-not-to-layers',
      severity: 'error',
      comment: 'The wire protocol, schemas, events, context and error table are read by every layer: they import none, so ' +
        'anything may import them without an arrow pointing back up.',
      from: { path: '^src/(protocol|schemas|events|context)/|^src/errors\\.ts$' },
      to: { path: '^src/(plugins|services|routes)/' }
    },
    {
      name: 'implementations-chosen-in-one-place',
      severity: 'error',
      comment: 'Redis or memory, PostgreSQL or memory, is chosen once, by src/plugins/app/backends/, for every capability ' +
        'together: a capability that picks a concrete broker or store itself is a second place making that choice.',
      from: { path: '^src/', pathNot: '^src/plugins/app/backends/' },
      to: { path: '^src/plugins/app/fanout/(redis|memory)-broker\\.ts$|^src/plugins/app/store/(pg|memory)-store\\.ts$' }
    },
    {
      name: 'client-sdk-not-to-server',
      severity: 'error',
      comment: 'The client SDK runs in browsers: it imports nothing from the server and no package at all.',
      from: { path: '^src/client/' },
      to: { pathNot: '^src/client/' }
    },
    {
      name: 'server-not-to-client-sdk',
      severity: 'error',
      comment: 'The server does not depend on its client: the SDK is published on its own.',
      from: { path: '^src/', pathNot: '^src/client/' },
      to: { path: '^src/client/' }
    },
    {
      name: 'src-not-to-tests',
      severity: 'error',
      comment: 'Product code never imports tests, fixtures, the e2e suite, benchmarks or scripts.',
      from: { path: '^src/' },
      to: { path: '^(test|e2e|bench|scripts|demo)/' }
    },
    {
      name: 'e2e-black-box',
      severity: 'error',
      comment: 'The e2e suite tests a deployment from outside: it imports nothing from src/ but the published client SDK, and ' +
        'only in the check that tests the SDK (e2e/checks/sdk.ts). Fixtures it needs run as processes, never as imports.',
      from: { path: '^e2e/', pathNot: '^e2e/checks/sdk\\.ts$' },
      to: { path: '^(src|test|bench|scripts|demo)/' }
    },
    {
      name: 'e2e-sdk-only-from-src',
      severity: 'error',
      comment: 'Where the e2e suite tests the client SDK, it imports the SDK through its published entry point only.',
      from: { path: '^e2e/checks/sdk\\.ts$' },
      to: { path: '^src/', pathNot: '^src/client/index\\.ts$' }
    }
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'types', 'default'],
      mainFields: ['module', 'main', 'types', 'typings']
    }
  }
}
