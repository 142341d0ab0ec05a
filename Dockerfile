# margin-gate: the gateway under uvicorn (uvloop + httptools).
#   docker build -t margin-gate .
#   docker run --rm -p 8080:8080 margin-gate                       # embedded default: paper exchange
#   docker run --rm -p 8080:8080 -v /etc/margin-gate:/config:ro \
#       -e MG_MAIN_API_KEY -e MG_MAIN_API_SECRET margin-gate serve --config /config/gateway.toml
# Real keys come from the environment or mounted files named by the config; never bake them in.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install . && useradd --system --uid 10001 --home-dir /app margin-gate
COPY config ./config
RUN mkdir -p /app/var && chown margin-gate /app/var

USER margin-gate
EXPOSE 8080
ENTRYPOINT ["margin-gate"]
# 0.0.0.0 inside the container; publish the port only where bots can reach it.
CMD ["serve", "--config", "config/gateway.toml", "--host", "0.0.0.0", "--port", "8080"]
