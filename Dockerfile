# Bakeoff service image: the API (uvicorn), the dispatch workers (`bakeoff worker`) and the
# one-shot migration job all run from it; docker-compose.yml wires them together.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies first (cached until pyproject.toml changes), then the code.
COPY pyproject.toml README.md ./
RUN python -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))' > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt

COPY alembic.ini ./
COPY adapters ./adapters
COPY metrics ./metrics
COPY reports ./reports
COPY service ./service
RUN pip install --no-deps . \
    && useradd --create-home --uid 10001 bakeoff \
    && mkdir -p /app/bakeoff-data \
    && chown bakeoff /app/bakeoff-data

USER bakeoff
EXPOSE 8000

# One API process per container by default; BAKEOFF_API_WORKERS adds uvicorn workers.
CMD ["sh", "-c", "exec uvicorn --factory service.main:create_app --host 0.0.0.0 --port 8000 --workers ${BAKEOFF_API_WORKERS:-1} --proxy-headers --forwarded-allow-ips='*'"]
