# `rlvr serve` in a container: any rlvr env over OpenEnv's HTTP/WebSocket protocol on port 8000.
#   docker build -t rlvr-openenv --build-arg TORCH_INDEX_URL=<PyTorch's CPU wheel index> .
#   docker run --rm -p 8000:8000 -e RLVR_ENV=rlvr/Sudoku-v0 -e RLVR_ENV_KWARGS='{"size": 4, "blanks": 8}' rlvr-openenv
# Code envs run every program in bubblewrap, which needs user namespaces inside the container: add
# `--security-opt seccomp=unconfined --security-opt apparmor=unconfined` (or use a non-code env).
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}
# Without it pip picks torch's default (CUDA) build, several GB; give a CPU index for a small image.
ARG TORCH_INDEX_URL=""
RUN apt-get update && apt-get install -y --no-install-recommends bubblewrap curl && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY rlvr ./rlvr
RUN torch="$(sed -n 's/^ *"\(torch==[^"]*\)".*/\1/p' pyproject.toml)" \
    && pip install --no-cache-dir ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"} "$torch" \
    && pip install --no-cache-dir ".[openenv]"
ENV RLVR_ENV=rlvr/Math-v0 RLVR_ENV_KWARGS={}
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s --start-period=60s --retries=3 CMD curl -fs http://localhost:8000/health || exit 1
CMD ["sh", "-c", "exec rlvr serve \"$RLVR_ENV\" --host 0.0.0.0 --port 8000 --kwargs \"$RLVR_ENV_KWARGS\""]
