# fraudscore application image: worker, drift sidecar, simulator and init all run from it.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# LightGBM's wheel links against OpenMP at run time
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/*

RUN useradd --create-home --uid 10001 fraudscore \
    && mkdir -p /data/models /data/reports /app/var/data \
    && chown -R fraudscore:fraudscore /data /app/var

WORKDIR /app
# only what the service needs: no .venv, var/ or .git in the image layers, and neither
# benchmarks/ nor the local devstack/ (`fraudscore bench`, `services` and `demo` are mounted only
# where they are installed; compose's init container creates the topics with `fraudscore topics`)
COPY pyproject.toml README.md requirements.lock ./
COPY core ./core
COPY decision ./decision
COPY cli ./cli
COPY worker ./worker
COPY features ./features
COPY models ./models
COPY monitoring ./monitoring
COPY simulator ./simulator
COPY analyst ./analyst
# the lock pins every version; used as constraints so dev-only tools are not installed
RUN pip install -c requirements.lock .

USER fraudscore
ENV FRAUDSCORE_MODEL_DIR=/data/models \
    FRAUDSCORE_REPORTS_DIR=/data/reports
CMD ["fraudscore", "--help"]
