# syntax=docker/dockerfile:1
# The scoring service image. One file, two variants:
#   docker build -t naswot:gpu .                          CUDA PyTorch base (default)
#   docker build --build-arg VARIANT=cpu -t naswot:cpu .  python slim + CPU-only PyTorch, for hosts without a GPU
# Run: docker run --gpus all -p 8000:8000 -v naswot-data:/data naswot:gpu   (drop --gpus all for naswot:cpu)

ARG VARIANT=gpu
# optional extras: postgres (NASWOT_DB=postgresql://...), ray (NASWOT_EXECUTOR=ray); deploy/ builds with them
ARG EXTRAS=postgres
# the one torch version of the image and of the tests: the Makefile reads it from this line (make torch-version)
ARG TORCH_VERSION=2.13.0
# the GPU variant's base: PyTorch's runtime image of that version (the build fails if its torch is another)
ARG CUDA_TAG=cuda12.8-cudnn9-runtime
ARG GPU_BASE=pytorch/pytorch:${TORCH_VERSION}-${CUDA_TAG}

# -- GPU: the official PyTorch runtime image (CUDA, cuDNN, torch already installed)
FROM ${GPU_BASE} AS base-gpu

# -- CPU: slim Python with PyTorch's CPU wheel (no CUDA libraries: a far smaller image)
FROM python:3.11-slim AS base-cpu
ARG TORCH_VERSION
RUN pip install --no-cache-dir "torch==${TORCH_VERSION}" --index-url https://download.pytorch.org/whl/cpu

FROM base-${VARIANT} AS runtime
ARG EXTRAS
ARG TORCH_VERSION
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /opt/naswot
# torch is already in the base, so installing the project adds only the service's own dependencies
COPY pyproject.toml README.md ./
COPY searchspace ./searchspace
COPY scoring ./scoring
COPY search ./search
COPY app ./app
RUN pip install --no-cache-dir ".[${EXTRAS}]" \
 && python -c "import sys, torch, app.main; print('torch', torch.__version__, 'cuda', torch.version.cuda); \
sys.exit(None if torch.__version__.split('+')[0] == '${TORCH_VERSION}' else 'torch %s in the image, ${TORCH_VERSION} declared' % torch.__version__)"

# an unprivileged user owns the data volume (database, data sets)
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin naswot \
 && mkdir -p /data && chown naswot:naswot /data
USER naswot
ENV NASWOT_HOST=0.0.0.0 \
    NASWOT_PORT=8000 \
    NASWOT_DATA_DIR=/data \
    NASWOT_DB=/data/naswot.sqlite
VOLUME ["/data"]
EXPOSE 8000
# /healthz stays open when an API key is set; python is the only client the slim image is sure to have
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('NASWOT_PORT', '8000'), timeout=4)"]
STOPSIGNAL SIGTERM
CMD ["naswot", "serve"]
