# codekiln's Dataflow worker image (a custom SDK container), also a launcher and a local runner.
#
# Stage 1 builds the sdist and, from it, the wheel, and exports the locked runtime requirements
# (uv.lock, with the `gcp` extra the workers need for gs://). Stage 2 is Beam's own SDK image for the Beam version the
# lock pins, so the SDK harness entrypoint (/opt/apache/beam/boot) stays what Dataflow starts,
# plus bubblewrap for the execution sandbox and the wheel. Build and use (README "Run on Dataflow"):
#   docker build -t REGION-docker.pkg.dev/PROJECT/REPO/codekiln:0.1.0 .
#   codekiln build CONFIG --runner DataflowRunner --root gs://BUCKET/codekiln -- \
#       --sdk_container_image=REGION-docker.pkg.dev/PROJECT/REPO/codekiln:0.1.0 ...
# tests/packaging/test_dockerfile.py runs these steps in a fresh venv and lints this file.

FROM apache/beam_python3.11_sdk:2.77.0 AS build
WORKDIR /src
COPY pyproject.toml uv.lock README.md ./
COPY pipelines pipelines
COPY transforms transforms
COPY schemas schemas
COPY configs configs
RUN pip install --no-cache-dir uv==0.13.9 \
 && uv build --out-dir dist \
 && uv export --frozen --no-dev --extra gcp --no-emit-project --output-file dist/requirements.txt

FROM apache/beam_python3.11_sdk:2.77.0
# the sandbox's isolation; Debian's current bubblewrap (its version follows the base image)
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends bubblewrap \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/codekiln
COPY --from=build /src/dist dist
RUN pip install --no-cache-dir uv==0.13.9 \
 && uv pip install --python python --no-cache --require-hashes --requirements dist/requirements.txt \
 && uv pip install --python python --no-cache --no-deps dist/codekiln-0.1.0-py3-none-any.whl \
 && rm -rf dist \
 && codekiln --version
ENTRYPOINT ["/opt/apache/beam/boot"]
