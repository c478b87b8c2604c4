// Lint: neostandard (the Fastify ecosystem's style) with TypeScript rules.
import neostandard from 'neostandard'

export default [
  ...neostandard({ ts: true, ignores: ['dist/**', 'dist-bench/**', 'node_modules/**', '.tap/**', 'bench/results/**', 'demo/dist/**'] })
]
