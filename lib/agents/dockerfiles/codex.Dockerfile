# OpenAI Codex CLI (the `codex` preset) from the npm registry, on Debian's
# Node.js. Built by bot-bottle on first use (dockerfile = "builtin:codex");
# BASE_IMAGE may point at a locally built Debian where Docker Hub is out of
# reach.
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends bash ca-certificates curl git less nodejs npm \
      procps ripgrep \
 && rm -rf /var/lib/apt/lists/* \
 && npm install -g @openai/codex \
 && npm cache clean --force \
 && useradd --create-home --uid 1000 --shell /bin/bash agent
USER agent
WORKDIR /home/agent
