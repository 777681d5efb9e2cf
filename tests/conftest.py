"""Test setup: import the package from the checkout, keep torch small, keep the app offline."""
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


import pytest  # noqa: E402
import torch  # noqa: E402


@pytest.fixture
def one_thread():
    """One CPU thread for the test (`pytestmark = pytest.mark.usefixtures("one_thread")` in a module of golden or
    equivalence tests): with two, the order of reductions changes and golden values move by up to 6e-6 relative
    (measured on the 2D cases' gradient norms), too near their tolerance; on one thread they repeat exactly."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def visible_weights(G) -> None:
    """Untrained DCGAN weights (std 0.02) through eval-mode batch norm make a flat grey image;
    larger random weights make the output depend visibly on z, which is all the Explore tests need."""
    import torch

    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in G.parameters():
            if p.dim() > 1:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.2)


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    """A folder named like the pretrained runs: a tiny ring8 MLP (one step; z_dim 8, as checkpoints/ring8 has) and a
    tiny conditional digits DCGAN (16 px, ngf/ndf 8, z_dim 16) with visible weights. A test module with other needs
    defines its own."""
    from gan_demo.core.config import DataConfig, ModelConfig, RunConfig, TrainConfig
    from gan_demo.training.trainer import Trainer

    root = tmp_path_factory.mktemp("pretrained")
    ring = Trainer(RunConfig(data=DataConfig(dataset="ring8", n_points=1000), model=ModelConfig(width=16, z_dim=8),
                             train=TrainConfig(batch_size=64, steps=1)), device="cpu")
    ring.step_once()
    ring.save(root / "ring8")
    digits = Trainer(RunConfig(data=DataConfig(dataset="digits", img_size=16),
                               model=ModelConfig(ngf=8, ndf=8, z_dim=16, conditional=True),
                               train=TrainConfig(batch_size=64, steps=1)), device="cpu")
    visible_weights(digits.family.G_ema)
    digits.save(root / "digits")
    return root


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
    # Each close waits up to 1 s for the client's heartbeat thread (blocked reading its stream): all at once.
    with ThreadPoolExecutor(max(1, len(made))) as closing:
        list(closing.map(lambda client: client.close(), made))


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: takes more than a few seconds on 2 cores; `pytest -m 'not slow and not browser'` "
                                       "is the quick loop for development, `pytest` (CI) runs everything")
    config.addinivalue_line("markers", "browser: drives headless Chromium against the app")


def _drives_a_browser(item) -> bool:
    """A test that opens Chromium: it calls the browser helpers or takes a fixture that does."""
    import inspect

    if {"page", "new_page", "app_url", "browser"} & set(getattr(item, "fixturenames", ())):
        return True
    try:
        source = inspect.getsource(item.function)
    except (OSError, TypeError, AttributeError):
        return False
    return "browser_page(" in source or "require_browser(" in source


def pytest_collection_modifyitems(config, items):
    for item in items:
        if _drives_a_browser(item):
            item.add_marker(pytest.mark.browser)
