# The bard in a container, two images from this one file (docs/self-hosting.md):
#   docker build -t bard .                                  # the bot: serving only, numpy, no TensorFlow
#   docker build --build-arg EXTRAS=train -t bard:train .   # the same plus CPU TensorFlow, to run bard-train inside
# The token is never part of either image: pass it at run time (a Docker secret, or BARD_TOKEN).
# Both install exactly what uv.lock pins, checked against its hashes (docs/dependencies.md).

# Stage 1: the dependencies, installed by uv from the lock into /opt/bard/venv. uv stays in this stage. It trusts
# the image's certificate store (UV_SYSTEM_CERTS), as pip does, so a proxy's CA added there works for both.
FROM python:3.11-slim AS dependencies

# Extras of pyproject.toml to install besides the dependencies: none (the bot), or "train" (TensorFlow and the
# plays, for bard-train: about ten times the size, so only in the image built for retraining).
ARG EXTRAS=

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    UV_PROJECT_ENVIRONMENT=/opt/bard/venv \
    UV_PYTHON_DOWNLOADS=never \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_NO_CACHE=1 \
    UV_SYSTEM_CERTS=1

COPY deploy/uv-requirements.txt /src/deploy/uv-requirements.txt
RUN pip install --require-hashes -r /src/deploy/uv-requirements.txt

# Rebuilt only when pyproject.toml or uv.lock change. uv makes the venv (no pip in it); --locked refuses a lock that
# does not match pyproject.toml.
COPY pyproject.toml /src/pyproject.toml
COPY uv.lock /src/uv.lock
WORKDIR /src
RUN uv sync --locked --no-install-project ${EXTRAS:+--extra "$EXTRAS"}

# Stage 2: the image, with that venv and no uv.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    OPENBLAS_NUM_THREADS=1 \
    TF_CPP_MIN_LOG_LEVEL=2 \
    PATH=/opt/bard/venv/bin:$PATH

# A user of its own, and /data (its working directory) with /data/models, the volume for retrained models, and
# /data/settings, the volume for the servers' settings (the SQLite database of BARD_DATABASE_URL).
RUN useradd --create-home --uid 10001 --user-group bard \
 && mkdir -p /data/models /data/settings \
 && chown -R bard:bard /data

COPY --from=dependencies /opt/bard/venv /opt/bard/venv

# The code (small, changes often), then the project itself, into the venv by the base image's pip; --no-deps: the
# venv has them all. The model is not copied with model_store's code: it gets a layer of its own below.
COPY README.md /src/README.md
COPY pyproject.toml /src/pyproject.toml
COPY bot /src/bot
COPY training /src/training
COPY model_store/*.py /src/model_store/
COPY model_store/rules /src/model_store/rules
RUN pip --python /opt/bard/venv/bin/python install --no-deps /src \
 && rm -rf /src

# The bundled model, read-only, where BARD_MODEL_DIR points by default; bard-generate's default finds it too.
COPY model_store/shakespeare /opt/bard/models/shakespeare
RUN ln -s /opt/bard/models/shakespeare \
    "$(python -c 'import model_store, os; print(os.path.dirname(model_store.__file__))')/shakespeare"

ENV BARD_MODEL_DIR=/opt/bard/models/shakespeare \
    BARD_HEALTH_PORT=8099 \
    BARD_DATABASE_URL=sqlite:////data/settings/bard.sqlite3

USER bard
WORKDIR /data

# docker stop sends SIGTERM: the bard finishes the monologues in flight (BARD_SHUTDOWN_GRACE) and exits 0.
STOPSIGNAL SIGTERM
# Healthy: gateway ready, model serving, a tiny generation within BARD_HEALTH_DEADLINE (10 s). The timeout
# covers that deadline; the start period covers loading the model and connecting.
HEALTHCHECK --interval=30s --timeout=20s --start-period=60s --retries=3 CMD ["bard-bot", "--health"]
CMD ["bard-bot"]
