// Deployment files: the Dockerfile's shape, and a rendered Cloud Run manifest the gateway's own config accepts.
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { parse } from 'yaml'
import { EnvSchema, loadConfig } from '../src/config.js'
import { ROOT } from '../scripts/architecture.js'

const read = (path: string): string => readFileSync(join(ROOT, path), 'utf8')

/** Settings the manifest leaves out on purpose, and why. */
const NOT_IN_MANIFEST: Record<string, string> = {
  PORT: 'Cloud Run sets it (a reserved variable)',
  INSTANCE_ID: 'must differ per instance: generated at boot',
  DEV_JWT_SECRET: 'dev auth only, refused in production',
  ALLOW_DEV_AUTH: 'dev auth only, refused in production',
  PUBLIC_WS_URL: 'the service\'s public URL, known after the first deploy: shown commented',
  AGENT_STEP_MS: 'the embedded mode\'s in-process agent only',
  INGEST_STREAM_KEY: 'derived from REDIS_KEY_PREFIX',
  REDIS_CLUSTER_NODES: 'the alternative to REDIS_URL, shown commented',
  JWT_SECRET: 'AUTH_MODE=jwt, shown commented',
  JWT_JWKS_URL: 'AUTH_MODE=jwt, shown commented',
  JWT_ISSUER: 'AUTH_MODE=jwt, shown commented',
  JWT_AUDIENCE: 'AUTH_MODE=jwt, shown commented',
  JWT_CLOCK_SKEW_S: 'AUTH_MODE=jwt, shown commented',
  JWKS_COOLDOWN_MS: 'AUTH_MODE=jwt, shown commented',
  JWKS_CACHE_MAX_AGE_MS: 'AUTH_MODE=jwt, shown commented'
}
const SECRETS = ['REDIS_URL', 'DATABASE_URL', 'SERVICE_SECRET', 'ADMIN_SECRET', 'AUTH_SERVICE_SECRET', 'METRICS_TOKEN']

interface EnvVar { name: string, value?: string, valueFrom?: { secretKeyRef?: { name: string, key: string } } }
interface Probe { httpGet: { path: string, port: number } }
interface Manifest {
  spec: {
    template: {
      metadata: { name: string, annotations: Record<string, string> }
      spec: { timeoutSeconds: number, containerConcurrency: number, containers: Array<{ image: string, env: EnvVar[], startupProbe: Probe, livenessProbe: Probe }> }
    }
    traffic: Array<Record<string, unknown>>
  }
}

function render (extra: Record<string, string> = {}): Manifest {
  const env = {
    PATH: process.env.PATH ?? '',
    PROJECT_ID: 'proj',
    REGION: 'europe-west1',
    IMAGE: 'europe-west1-docker.pkg.dev/proj/aeg/agent-event-gateway:abc1234',
    SERVICE_ACCOUNT: 'aeg-gateway@proj.iam.gserviceaccount.com',
    VPC_CONNECTOR: 'aeg-connector',
    AUTH_SERVICE_URL: 'https://auth.example.com',
    ALLOWED_ORIGINS: 'https://app.example.com,https://staging.example.com',
    REVISION_SUFFIX: 'abc1234',
    ...extra
  }
  return parse(execFileSync('bash', [join(ROOT, 'deploy/render.sh')], { env, encoding: 'utf8' })) as Manifest
}

t.test('Dockerfile: multi-stage, production dependencies, non-root, node dist/server.js, no secrets', async (t) => {
  const text = read('Dockerfile')
  const stages = text.split(/^FROM /m).slice(1)
  t.ok(stages.length >= 2, `${stages.length} stages`)
  const final = stages[stages.length - 1]!
  t.match(final, /^USER node$/m, 'the final stage runs as the image\'s unprivileged user')
  t.match(final, /^CMD \["node", "dist\/server\.js"\]$/m)
  t.notMatch(final, /^RUN npm/m, 'the final stage installs nothing itself')
  t.match(text, /npm ci --omit=dev/, 'its node_modules come from a production-only install')
  t.match(text, /tsc -p tsconfig\.build\.json/, 'built with tsc alone (no demo page)')
  t.notMatch(text, /^(ENV|ARG)\s+\w*(SECRET|PASSWORD|TOKEN|KEY|DATABASE_URL|REDIS_URL)/mi, 'no secret-looking variable baked in')
  const ignore = read('.dockerignore').split('\n').filter((l) => l && !l.startsWith('#'))
  t.equal(ignore[0], '*', '.dockerignore starts from nothing')
  t.notOk(ignore.some((l) => l.startsWith('!') && l.includes('.env')), '.env is never let in')
})

t.test('the rendered manifest: Cloud Run settings the issue asks for', async (t) => {
  const m = render()
  const tmpl = m.spec.template
  const c = tmpl.spec.containers[0]!
  t.equal(tmpl.spec.timeoutSeconds, 3600)
  t.equal(tmpl.metadata.annotations['autoscaling.knative.dev/minScale'], '2')
  t.equal(tmpl.metadata.annotations['run.googleapis.com/sessionAffinity'], 'true')
  t.equal(tmpl.metadata.annotations['run.googleapis.com/vpc-access-connector'], 'projects/proj/locations/europe-west1/connectors/aeg-connector')
  t.equal(c.startupProbe.httpGet.path, '/health')
  t.equal(c.livenessProbe.httpGet.path, '/health')
  t.equal(tmpl.metadata.name, 'agent-event-gateway-abc1234')
  t.same(m.spec.traffic, [{ latestRevision: true, percent: 100 }])

  const env = new Map(c.env.map((e) => [e.name, e]))
  for (const name of SECRETS) t.ok(env.get(name)?.valueFrom?.secretKeyRef?.name, `${name} comes from Secret Manager`)
  t.equal(tmpl.spec.containerConcurrency, Number(env.get('MAX_SOCKETS')?.value), 'MAX_SOCKETS matches the concurrency: Cloud Run\'s cap binds first')
  t.ok(Number(env.get('WS_MAX_AGE_S')?.value) < tmpl.spec.timeoutSeconds, 'sockets rotate before Cloud Run cuts them')
})

t.test('the manifest sets every production setting the gateway knows, and nothing it does not', async (t) => {
  const names = render().spec.template.spec.containers[0]!.env.map((e) => e.name)
  const known = Object.keys(EnvSchema.properties)
  for (const name of names) t.ok(known.includes(name), `${name} is a setting of src/config.ts`)
  for (const name of known) t.ok(names.includes(name) || NOT_IN_MANIFEST[name] !== undefined, `${name} is set, or left out for a reason`)
  for (const name of Object.keys(NOT_IN_MANIFEST)) t.notOk(names.includes(name), `${name} is not set: ${NOT_IN_MANIFEST[name]}`)
})

t.test('the gateway boots its config from the manifest (secrets filled in)', async (t) => {
  const env: Record<string, string> = { PORT: '8080' }
  for (const e of render().spec.template.spec.containers[0]!.env) env[e.name] = e.value ?? ''
  Object.assign(env, { REDIS_URL: 'redis://:auth@10.0.0.3:6379', DATABASE_URL: 'postgres://aeg:pw@10.0.0.5:5432/aeg', SERVICE_SECRET: 'a-real-secret-from-secret-manager' })
  Object.assign(env, { ADMIN_SECRET: 'an-operator-secret-from-secret-manager', AUTH_SERVICE_SECRET: 'the-gateway-secret-from-secret-manager', METRICS_TOKEN: 'a-scrape-token-from-secret-manager' })
  const config = loadConfig(env)
  t.equal(config.env, 'production')
  t.equal(config.mode, 'production')
  t.equal(config.auth.mode, 'remote')
  t.same(config.session.allowedOrigins, ['https://app.example.com', 'https://staging.example.com'])
})

t.test('with CANDIDATE_OF the serving revision keeps the traffic and the new one is tagged', async (t) => {
  t.same(render({ CANDIDATE_OF: 'agent-event-gateway-old' }).spec.traffic, [
    { revisionName: 'agent-event-gateway-old', percent: 100 },
    { revisionName: 'agent-event-gateway-abc1234', tag: 'candidate', percent: 0 }
  ])
  t.throws(() => execFileSync('bash', [join(ROOT, 'deploy/render.sh')], { env: { PATH: process.env.PATH ?? '' }, stdio: 'pipe' }), 'a missing variable stops the render')
})

t.test('Cloud Build: image, push, candidate, e2e against it, then traffic', async (t) => {
  const build = parse(read('deploy/cloudbuild.yaml')) as { steps: Array<{ id: string, args?: string[] }> }
  t.same(build.steps.map((s) => s.id), ['check-substitutions', 'image', 'push', 'deploy-candidate', 'e2e', 'promote'])
  t.match(build.steps.find((s) => s.id === 'e2e')?.args?.join(' '), /npm run test:e2e/)
})
