// Builds the demo page into demo/dist: the page and its stylesheet, and demo/main.ts bundled with the SDK by esbuild.
import { copyFile, mkdir } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { build } from 'esbuild'

const demo = resolve(dirname(fileURLToPath(import.meta.url)), '../demo')
export const DEMO_DIST = join(demo, 'dist')

/** Writes index.html, style.css and main.js (with its source map) to `outdir`. */
export async function buildDemo (outdir: string = DEMO_DIST): Promise<string> {
  await mkdir(outdir, { recursive: true })
  await build({
    entryPoints: [join(demo, 'main.ts')],
    outfile: join(outdir, 'main.js'),
    bundle: true,
    format: 'esm',
    platform: 'browser',
    // Browsers from 2020 on: every one that has the WebSocket subprotocol and ES module support the page relies on.
    target: ['es2020'],
    minify: true,
    sourcemap: true,
    logLevel: 'warning'
  })
  await Promise.all(['index.html', 'style.css'].map((file) => copyFile(join(demo, file), join(outdir, file))))
  return outdir
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const outdir = await buildDemo(process.argv[2] ? resolve(process.argv[2]) : undefined)
  console.log(`demo page built in ${outdir}`)
}
