"""A toy app whose function needs the named secret ``toy-secret`` (create it first) and sets
an env var through its image."""

from __future__ import annotations

import os

import modal

app = modal.App("modal-fake-secrets")
image = modal.Image.debian_slim().env({"TOY_IMAGE": "from the image"})


@app.function(image=image, secrets=[modal.Secret.from_name("toy-secret", required_keys=["TOY_A"])])
def secret_keys() -> list[str]:
    return sorted(k for k in os.environ if k.startswith("TOY_"))


@app.local_entrypoint()
def main() -> None:
    print("keys=" + ",".join(secret_keys.remote()))
