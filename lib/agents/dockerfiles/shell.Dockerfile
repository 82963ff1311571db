# The demo agent: a plain Debian shell with curl, git and CA certificates.
# Built by bot-bottle on first use (the bottle's `dockerfile`); BASE_IMAGE may
# point at a locally built Debian where Docker Hub is out of reach.
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends bash ca-certificates curl git \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid 1000 --shell /bin/bash agent
USER agent
WORKDIR /home/agent
