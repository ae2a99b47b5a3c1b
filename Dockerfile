# The one image every Cloud Run function and job runs. A function is this image with FUNCTION_SOURCE
# (functions/<name>/main.py) and FUNCTION_TARGET set; a job overrides the command (python -m jobs.<name>.main).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PORT=8080
WORKDIR /app
COPY pyproject.toml README.md ./
COPY shared ./shared
COPY functions ./functions
# the operator console's browser libraries, built once by `make install` (npm, pinned): served from the image, no CDN
RUN test -f functions/admin/console/vendor/chart.umd.js && test -f functions/admin/console/vendor/leaflet.js \
    || { echo "functions/admin/console/vendor/ is missing: run make install (or make console-assets) first"; exit 1; }
COPY jobs ./jobs
COPY vertex ./vertex
COPY emulators/__init__.py ./emulators/__init__.py
COPY infra/__init__.py ./infra/__init__.py
COPY infra/pulumi/__init__.py infra/pulumi/declaration.py infra/pulumi/openapi.py infra/pulumi/resources.yaml infra/pulumi/openapi.yaml ./infra/pulumi/
RUN pip install --no-cache-dir .
# Model files exported at build time (cloudbuild's build step runs the export into .cache/models first).
COPY .cache/models ./.cache/models
ENV CONCIERGE_MODEL_DIR=/app/.cache/models
# Datasets are not baked in: the `datasets` bucket is mounted read-only at /data into the units that read them
# (infra/pulumi/resources.yaml `mount`, a Cloud Run GCS volume); elsewhere /data is absent and nothing reads it.
ENV CONCIERGE_DATA_DIR=/data
CMD ["sh", "-c", "exec functions-framework --source ${FUNCTION_SOURCE} --target ${FUNCTION_TARGET:-handle} --port ${PORT}"]
