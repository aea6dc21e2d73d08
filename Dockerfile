FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

# Dependencies first, in their own layer: code edits do not reinstall them.
COPY pyproject.toml README.md ./
RUN mkdir -p worker webhooks tasks && touch worker/__init__.py webhooks/__init__.py tasks/__init__.py \
    && pip install . && pip uninstall -y stripe-billing-worker

COPY worker ./worker
COPY webhooks ./webhooks
COPY tasks ./tasks
RUN pip install --no-deps . \
    && useradd --system --uid 10001 --home-dir /app billing \
    && mkdir -p /app/data && chown billing /app/data

USER billing
EXPOSE 8000
ENTRYPOINT ["billing-worker"]
CMD ["serve"]
