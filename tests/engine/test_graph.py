"""The model graph (gan_demo.render.model_diagram): well-formed SVG, the right part highlighted, numbers written, text escaped."""
from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from gan_demo.render import model_diagram as graph
from gan_demo.core.config import DataConfig, RunConfig, TrainConfig

NS = "{http://www.w3.org/2000/svg}"
STEP_NUMBERS = {"d_real": 0.61234, "d_fake": 0.38, "loss_d": 1.2345, "loss_g": 0.98765, "grad_norm_d": 0.5,
                "grad_norm_g": 12.345}


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)  # raises on anything that is not well-formed XML
    assert root.tag == f"{NS}svg" and root.get("viewBox") == f"0 0 {graph.WIDTH} {root.get('viewBox').split()[3]}"
    return root


def parts(root: ET.Element) -> dict[str, ET.Element]:
    return {g.get("data-part"): g for g in root.iter(f"{NS}g") if g.get("data-part")}


def texts(element: ET.Element) -> list[str]:
    return [t.text or "" for t in element.iter(f"{NS}text")]


def test_gan_graph_has_every_part_and_no_highlight_by_default():
    root = parse(graph.gan_graph("nonsaturating"))
    found = parts(root)
    assert {"z", "G", "G(z)", "data", "x", "D", "D(G(z))", "D(x)", "loss_G", "loss_D", "grad_G", "grad_D"} <= set(found)
    assert {found[p].get("data-state") for p in ("G", "D", "loss_G", "loss_D", "grad_G", "grad_D")} == {"idle"}
    assert "updating" not in " ".join(texts(root))
    for element in root.iter():  # self-contained: no scripts, no links, no external fonts or images
        assert element.tag.replace(NS, "") not in ("script", "image", "foreignObject", "a", "style")
        assert not any("href" in name for name in element.attrib)


def test_d_step_highlights_d_and_marks_g_frozen():
    root = parse(graph.gan_graph("nonsaturating", updating="D", numbers=STEP_NUMBERS))
    found = parts(root)
    assert found["D"].get("data-state") == "updating" and found["G"].get("data-state") == "frozen"
    assert found["loss_D"].get("data-state") == "updating" and found["loss_G"].get("data-state") == "idle"
    assert found["grad_D"].get("data-state") == "active" and found["grad_G"].get("data-state") == "dim"
    assert "updating D" in texts(found["D"]) and "frozen" in texts(found["G"])
    d_rect = found["D"].find(f"{NS}rect")
    assert d_rect.get("stroke") == graph.HIGHLIGHT and float(d_rect.get("stroke-width")) > 2
    assert found["G"].find(f"{NS}rect").get("stroke-dasharray")  # frozen: dashed border


def test_g_step_highlights_g_and_marks_d_frozen():
    root = parse(graph.gan_graph("wgan-gp", updating="G", numbers={"loss_g": -3.2, "grad_norm_g": 0.75}))
    found = parts(root)
    assert found["G"].get("data-state") == "updating" and found["D"].get("data-state") == "frozen"
    assert found["loss_G"].get("data-state") == "updating" and found["grad_G"].get("data-state") == "active"
    assert "updating G" in texts(found["G"]) and "frozen" in texts(found["D"])
    assert found["G"].find(f"{NS}rect").get("stroke") == graph.HIGHLIGHT
    assert found["D"].find(f"{NS}rect").get("stroke") != graph.HIGHLIGHT
    assert "critic" in texts(found["D"])  # WGAN-GP's D is a critic


def test_numbers_are_written_on_their_parts():
    found = parts(parse(graph.gan_graph("nonsaturating", numbers=STEP_NUMBERS, step=1234)))
    assert "0.612" in texts(found["D(x)"]) and "0.380" in texts(found["D(G(z))"])
    assert "1.234" in texts(found["loss_D"]) and "0.988" in texts(found["loss_G"])
    assert "|∇D| 0.500" in texts(found["D"]) and "|∇G| 12.35" in texts(found["G"])
    # missing numbers are left out, not written as 0
    found = parts(parse(graph.gan_graph("nonsaturating", numbers={"loss_g": 0.5})))
    assert texts(found["D(x)"]) == ["D(x)", "P(real)"] and "0.500" in texts(found["loss_G"])


def test_fmt():
    assert graph.fmt(0.61234) == "0.612" and graph.fmt(-1.5) == "-1.500" and graph.fmt(12.345) == "12.35"
    assert graph.fmt(123.45) == "123.5" and graph.fmt(4321.0) == "4321" and graph.fmt(0) == "0"
    assert graph.fmt(2e-5) == "2.00e-05" and graph.fmt(float("nan")) == "nan" and graph.fmt(None) is None


def test_loss_kinds_and_penalties_are_named():
    svg = graph.gan_graph("wgan-gp", gp_weight=10.0)
    assert "GAN · loss: WGAN-GP<" in svg and "λ·GP (λ = 10" in svg and "R1" not in svg and "score" in svg
    svg = graph.gan_graph("nonsaturating", r1_gamma=0.1)
    assert "non-saturating + R1" in svg and "γ/2·R1 (γ = 0.1" in svg and "−log D(G(z))" in svg
    assert "lazy" not in svg and "lazy: ×16 every 16 steps" in graph.gan_graph("nonsaturating", r1_gamma=0.1, r1_every=16)
    assert "log(1 − D(G(z)))" in graph.gan_graph("minimax") and "P(real)" in graph.gan_graph("minimax")
    assert "½(D(G(z)) − 1)²" in graph.gan_graph("lsgan")
    assert "generated image" in graph.gan_graph("hinge", kind="image")
    assert "generated point" in graph.gan_graph("hinge", kind="2d")
    with pytest.raises(ValueError, match="updating"):
        graph.gan_graph("nonsaturating", updating="encoder")


def test_run_graph_uses_the_runs_resolved_settings():
    cfg = RunConfig(data=DataConfig(dataset="ring8"), train=TrainConfig(loss="lsgan"))  # r1_gamma None: auto
    svg = graph.run_graph(cfg, updating="D", numbers=STEP_NUMBERS)
    assert "least squares (LSGAN) + R1" in svg and "γ = 0.1" in svg and "ring8" in svg  # 2D default R1 0.1
    image = RunConfig(data=DataConfig(dataset="digits"), train=TrainConfig(r1_gamma=0.0))
    svg = graph.run_graph(image)
    assert "R1" not in svg and "real image" in svg


def test_vae_graph_has_its_parts_numbers_and_gradient_paths():
    numbers = {"recon": 123.456, "kl": 12.3, "elbo": -135.756, "kl_weight": 0.5, "grad_norm": 4.2}
    root = parse(graph.vae_graph(kind="image", updating="enc+dec", numbers=numbers, beta=1.0, recon="bernoulli"))
    found = parts(root)
    assert {"x", "encoder", "mu_logvar", "z", "epsilon", "decoder", "x_hat", "recon", "kl", "elbo", "grad_recon",
            "grad_kl"} <= set(found)
    assert found["encoder"].get("data-state") == found["decoder"].get("data-state") == "updating"
    assert found["grad_recon"].get("data-state") == found["grad_kl"].get("data-state") == "active"
    assert "123.5" in texts(found["recon"]) and "KL 12.30" in texts(found["kl"]) and "-135.8" in texts(found["elbo"])
    assert "weight now 0.500" in texts(found["kl"])  # KL warm-up: the weight differs from beta
    assert "μ, log σ²" in texts(found["mu_logvar"]) and "= μ + σ·ε" in texts(found["z"])
    assert any("binary cross-entropy" in t for t in texts(found["recon"]))
    idle = parts(parse(graph.model_graph("vae", numbers={"kl_weight": 1.0})))
    assert idle["encoder"].get("data-state") == "idle" and not any("weight now" in t for t in texts(idle["kl"]))
    with pytest.raises(ValueError, match="family"):
        graph.model_graph("diffusion")


def test_text_from_config_is_escaped():
    evil = '</text><script>alert("x")</script>&<b>'
    for svg in (graph.gan_graph(evil, dataset=evil, updating="D"), graph.vae_graph(dataset=evil, recon=evil)):
        root = parse(svg)  # still well-formed
        assert "<script" not in svg and not list(root.iter(f"{NS}script"))
        assert any("<script>" in t for t in texts(root))  # shown as text, not markup
