# The gateway's production image (Cloud Run): built with dev dependencies, shipped with production dependencies only.
# No secret is baked in: every setting comes from the environment at run time (deploy/service.yaml, Secret Manager).
# scripts/prod-check.sh runs the same steps without Docker (CI has no engine) and boots the result in production mode.

# Pin to a digest for reproducible builds: docker buildx imagetools inspect node:20-bookworm-slim
ARG NODE_IMAGE=node:20-bookworm-slim

# --- build: TypeScript to dist/. The demo page (npm run build:demo) is not built: production never serves it.
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npx tsc -p tsconfig.build.json

# --- deps: production dependencies alone, installed from the lockfile.
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# --- runtime: node, the compiled code, its dependencies, the migrations. Files belong to root and are read-only to
# the process, which runs as the unprivileged `node` user of the official image.
FROM ${NODE_IMAGE}
# HOST: the image is for a network (Cloud Run, Compose); outside one, the gateway defaults to loopback.
ENV NODE_ENV=production HOST=0.0.0.0
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# package.json marks dist/ as ES modules, and migrate.ts finds migrations/ beside it.
COPY package.json ./
COPY migrations ./migrations
USER node
# Cloud Run sets PORT (8080 by default); the server listens on 0.0.0.0:$PORT.
EXPOSE 8080
# node itself as PID 1, not npm: SIGTERM reaches the server, which drains its sockets within Cloud Run's 10 s.
CMD ["node", "dist/server.js"]
