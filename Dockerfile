# One image for every role: `billing-worker serve` (gunicorn), `worker` (Celery), `beat`,
# `db upgrade`, and the ops commands. docker-compose.yml runs each with its own command.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app

# Dependencies in their own layer, built from pyproject.toml alone: editing the code reuses this
# layer; only a change to the dependency list reinstalls them.
COPY pyproject.toml ./
RUN python -c "import tomllib; deps = tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']; open('/tmp/requirements.txt', 'w').write('\n'.join(deps))" \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# The code, installed without touching the dependencies above.
COPY README.md ./
COPY worker ./worker
COPY webhooks ./webhooks
COPY tasks ./tasks
RUN pip install --no-deps . \
    && rm -rf build ./*.egg-info \
    && useradd --system --user-group --uid 10001 --no-create-home --home-dir /app billing \
    && mkdir -p /app/data \
    && chown billing:billing /app/data

# Never root: the receiver faces the internet (and Celery warns against running as root).
USER billing
# DATA_DIR holds beat's schedule and the per-process metrics files.
ENV DATA_DIR=/app/data \
    HOST=0.0.0.0 \
    PORT=8000
EXPOSE 8000
ENTRYPOINT ["billing-worker"]
CMD ["serve"]
