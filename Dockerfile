# stomp-relay node image: `docker build -t stomp-relay .` (compose.yaml builds it for node-1..3).
# Build stage: the full toolchain compiles protocol/ and server/ to dist/.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY protocol ./protocol
COPY server ./server
COPY client ./client
COPY client-demo ./client-demo
COPY scripts/bundle-demo.ts ./scripts/
RUN npm run build

# Runtime stage: production dependencies, the compiled code and the demo page only.
FROM node:20-bookworm-slim
ENV NODE_ENV=production \
    PORT=8080 \
    HOST=0.0.0.0
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY client-demo ./client-demo
USER node
EXPOSE 8080
# SIGTERM drains (DRAIN_TIMEOUT_MS, 10 s by default): give `docker stop` more than that.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=5s --timeout=3s --start-period=10s --retries=12 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
CMD ["node", "dist/server/main.js"]
