# Worker and launcher image for Dataflow custom containers (and for running codekiln anywhere).
# Based on the official Beam SDK image of the same Beam version as uv.lock, so the SDK harness
# boot entrypoint (/opt/apache/beam/boot) is kept.
#   docker build -t REGION-docker.pkg.dev/PROJECT/REPO/codekiln:0.1.0 .
#   codekiln build CONFIG --runner DataflowRunner -- --sdk_container_image=THAT_IMAGE ...
FROM apache/beam_python3.11_sdk:2.77.0

RUN apt-get update \
 && apt-get install -y --no-install-recommends bubblewrap \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/codekiln
COPY pyproject.toml uv.lock README.md ./
RUN pip install --no-cache-dir uv==0.13.9 \
 && uv export --frozen --no-dev --no-hashes --no-emit-project -o /tmp/requirements.txt \
 && pip install --no-cache-dir -r /tmp/requirements.txt

COPY schemas schemas
COPY transforms transforms
COPY pipelines pipelines
RUN pip install --no-cache-dir --no-deps . && codekiln --version
