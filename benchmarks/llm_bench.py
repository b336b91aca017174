"""The LLM stage against a real served model: SmolLM2-135M-Instruct on llama.cpp's server.

In one run, side by side:
1. the server's start time, then requests/s and completion tokens/s through the `openai` client
   for the same prompts at 1 and 2 requests in flight (llama.cpp answers one at a time), and how
   many choices come back when `n=2` is asked;
2. the end-to-end time of `codekiln build configs/local-model.yaml --serve-model` from a cold
   cache (server start included), then of the same command again (every response from the cache).

Needs the `local-model` group (`bash .ci/setup --local-model`).

    .venv/bin/python benchmarks/llm_bench.py [--prompts 12] [--max-tokens 128]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import openai  # noqa: E402
from codekiln.transforms.llm.serve import LocalModelServer, free_port  # noqa: E402


def prompts(n: int) -> list[str]:
    lines = (REPO / "configs" / "samples" / "humaneval.jsonl").read_text().splitlines()
    recs = [json.loads(line) for line in lines]
    return [f"Complete this Python function:\n\n{recs[i % len(recs)]['prompt']}" for i in range(n)]


def measure(client, texts: list[str], concurrency: int, max_tokens: int) -> dict:
    def one(i_text):
        i, text = i_text
        r = client.chat.completions.create(model="smollm2-135m-instruct", max_tokens=max_tokens,
                                           temperature=0.8, seed=1000 + i,
                                           messages=[{"role": "user", "content": text}])
        return r.usage.completion_tokens, r.usage.prompt_tokens

    t = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        usage = list(pool.map(one, enumerate(texts)))
    wall = time.perf_counter() - t
    return {"requests_per_s": len(texts) / wall, "completion_tokens_per_s": sum(c for c, _ in usage) / wall,
            "completion_tokens": sum(c for c, _ in usage), "prompt_tokens": sum(p for _, p in usage), "s": wall}


def build(root: str, port: int) -> tuple[float, str]:
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "codekiln.pipelines.cli", "build", "configs/local-model.yaml",
                           "--serve-model", "--quiet", "--root", root,
                           "--set", f"llm.base_url=http://127.0.0.1:{port}/v1"],
                          cwd=REPO, capture_output=True, text=True, check=True)
    return time.perf_counter() - t, proc.stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prompts", type=int, default=12)
    ap.add_argument("--max-tokens", type=int, default=128)
    args = ap.parse_args()
    texts = prompts(args.prompts)

    print("== the served model through the openai client")
    t = time.perf_counter()
    with LocalModelServer() as server:
        print(f"server ready in {time.perf_counter() - t:.1f} s ({server.threads} threads)")
        client = openai.OpenAI(base_url=server.base_url, api_key="EMPTY", max_retries=0, timeout=300)
        measure(client, texts[:1], 1, 8)  # warm: the first request loads the weights into cache
        rows = {c: measure(client, texts, c, args.max_tokens) for c in (1, 2)}
        asked = client.chat.completions.create(model="smollm2-135m-instruct", n=2, max_tokens=8,
                                               messages=[{"role": "user", "content": "Say hi."}])
    for c, r in rows.items():
        print(f"concurrency {c}: {r['requests_per_s']:.2f} requests/s, {r['completion_tokens_per_s']:.1f} "
              f"completion tokens/s ({r['completion_tokens']} completion + {r['prompt_tokens']} prompt tokens "
              f"in {r['s']:.1f} s)")
    print(f"concurrency 2 / 1: {rows[2]['completion_tokens_per_s'] / rows[1]['completion_tokens_per_s']:.2f}x "
          f"tokens/s")
    print(f"n=2 asked: {len(asked.choices)} choice(s) returned")

    print("\n== configs/local-model.yaml end to end (codekiln build --serve-model)")
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        cold, out = build(f"{tmp}/store", port)
        warm, out2 = build(f"{tmp}/store", port)
    def usage(text):
        found = re.findall(r"^llm: (\d+) requests sent, (\d+) cache hits", text, re.M)
        return sum(int(s) for s, _ in found), sum(int(h) for _, h in found)

    (sent, hits), (sent2, hits2) = usage(out), usage(out2)
    print(f"cold cache: {cold:.1f} s ({sent} requests sent, {hits} cache hits, server start included)")
    print(f"rerun:      {warm:.1f} s ({sent2} requests sent, {hits2} cache hits)")
    print(f"rerun / cold: {warm / cold:.3f} ({cold / warm:.1f}x faster)")


if __name__ == "__main__":
    main()
