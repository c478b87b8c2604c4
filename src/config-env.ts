// Reading the environment against EnvSchema once: empty counts as unset, a bad value stops the boot naming the variable.
import { Compile } from 'typebox/compile'
import { Value } from 'typebox/value'
import { EnvSchema, type Env } from './config-schema.js'

/** Variables whose values never appear in an error message. */
const SECRETS = new Set(['SERVICE_SECRET', 'ADMIN_SECRET', 'AUTH_SERVICE_SECRET', 'JWT_SECRET', 'DEV_JWT_SECRET', 'METRICS_TOKEN'])

export class ConfigError extends Error {
  constructor (public readonly variable: string, message: string) {
    super(`invalid configuration: ${variable} ${message}`)
    this.name = 'ConfigError'
  }
}

const compiled = Compile(EnvSchema)

// Reads only the variables the schema names: empty strings count as unset.
function pick (source: NodeJS.ProcessEnv): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const key of Object.keys(EnvSchema.properties)) {
    const value = source[key]
    if (value !== undefined && value !== '') out[key] = value
  }
  return out
}

// Unions of literals read better as the list of allowed values than as the validator's wording.
function expected (variable: string): string | undefined {
  const schema = (EnvSchema.properties as Record<string, { anyOf?: Array<{ const?: unknown }> }>)[variable]
  const values = schema?.anyOf?.map((s) => s.const).filter((v) => v !== undefined)
  return values && values.length > 0 ? `must be one of ${values.join(', ')}` : undefined
}

/** What a boot error may echo of a value: nothing of a secret, a URL without its credentials. */
function shown (variable: string, value: string): string {
  if (SECRETS.has(variable)) return ` (got ${value.length} characters)`
  if (/_URL$/.test(variable) || /:\/\/[^/]*@/.test(value)) {
    const safe = withoutCredentials(value)
    return safe === undefined ? '' : ` (got ${JSON.stringify(safe.slice(0, 60))})`
  }
  return ` (got ${JSON.stringify(value.slice(0, 40))})`
}

export function withoutCredentials (value: string): string | undefined {
  try {
    const url = new URL(value)
    if (url.username !== '' || url.password !== '') { url.username = ''; url.password = '' }
    return `${url.protocol}//${url.host}${url.pathname === '/' ? '' : url.pathname}`
  } catch {
    return undefined
  }
}

export function parseEnv (source: NodeJS.ProcessEnv): Env {
  const raw = pick(source)
  const value = Value.Convert(EnvSchema, Value.Default(EnvSchema, raw))
  if (!compiled.Check(value)) {
    const [first] = compiled.Errors(value)
    const variable = first ? (first.instancePath.split('/')[1] ?? 'environment') : 'environment'
    const got = raw[variable] === undefined ? '' : shown(variable, String(raw[variable]))
    throw new ConfigError(variable, `${expected(variable) ?? first?.message ?? 'is invalid'}${got}`)
  }
  return value as Env
}
