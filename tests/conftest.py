"""Test setup: import the package from the checkout, keep torch small, keep the app offline."""
import os
import sys
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


import pytest  # noqa: E402


@pytest.fixture(scope="module")
def clients(app, tmp_path_factory):
    """Factory of gradio_client sessions on the module's app (its `app` fixture yields (ctx, url)); all
    closed and their runs stopped at the end."""
    from gradio_client import Client

    ctx, url = app
    made = []
    downloads = tmp_path_factory.mktemp("downloads")

    def make() -> Client:
        client = Client(url, verbose=False, download_files=str(downloads))
        made.append(client)
        return client

    yield make
    for client in made:
        ctx.registry.drop(client.session_hash)
        client.close()
