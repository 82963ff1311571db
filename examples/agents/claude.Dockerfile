# Claude Code from the npm registry, on Debian's Node.js.
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends bash ca-certificates curl git nodejs npm \
 && rm -rf /var/lib/apt/lists/* \
 && npm install -g @anthropic-ai/claude-code \
 && npm cache clean --force \
 && useradd --create-home --uid 1000 --shell /bin/bash agent
USER agent
WORKDIR /home/agent
