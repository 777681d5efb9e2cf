"""Student-level words for the UI: each shared Train control's short label and one-line help, and the lessons' glossary.

The config's own docstrings (gan_demo.core.config.field_docs) stay the CLI's help and the full detail behind the
Train tab's "ⓘ" fold; these are what a student reads first.
"""
from __future__ import annotations

QUICK_DIGITS_LABEL = "Quick digits (under 3 min)"  # the Train tab's button that loads the quick digits preset (Lessons)

# {shared RunConfig field: (label, one line of help)}; a family's own are its faces (FamilySpec.faces).
# A help line says what the setting does to the run, not how.
WORDS: dict[str, tuple[str, str]] = {
    "family": ("Kind of model", "A GAN learns by fooling a judge; a VAE squeezes and rebuilds its data."),
    "dataset": ("Data to learn", "2D points train in seconds; images take minutes."),
    "steps": ("Steps", "How long to train; more steps, more time."),
    "batch_size": ("Batch size", "Samples looked at per step."),
    "z_dim": ("Noise size (z_dim)", "Random numbers G turns into one sample."),
    "seed": ("Seed", "Same seed, same run."),
    "width": ("Network width", "Neurons per layer."),
    "depth": ("Network depth", "Hidden layers."),
    "activation": ("Activation", "The bend each neuron applies."),
    "ngf": ("G size (ngf)", "Channels in the generator."),
    "ndf": ("D size (ndf)", "Channels in the judge."),
    "img_size": ("Image size", "Pixels per side; bigger is slower."),
    "channels": ("Colours", "Grey or colour images."),
    "conditional": ("Ask for a class", "G draws the class you name (labelled data only)."),
    "arch": ("Network type", "MLP for points, convolutions (dcgan) for images."),
    "beta1": ("Adam beta1", "Momentum of the updates."),
    "beta2": ("Adam beta2", "How fast step sizes adapt."),
}


# The lessons' terms, in the order a student meets them: (term, anchor id, plain explanation).
GLOSSARY: tuple[tuple[str, str, str], ...] = (
    ("G (generator)", "g", "The network that makes samples from random numbers z. It never sees real data; it "
     "learns only from D's verdicts."),
    ("D (discriminator, the judge)", "d", "The network that tells real samples from generated ones. In WGAN-GP it "
     "is called the *critic* and gives a score instead of a probability."),
    ("z (noise, latent)", "z", "The random numbers a generator turns into a sample; z_dim of them per sample. The "
     "same z always gives the same sample from the same G."),
    ("D(x)", "dx", "D's verdict on real data x: the probability it gives that x is real (1 = sure it is real)."),
    ("D(G(z))", "dgz", "D's verdict on generated samples. For a trained D it is usually low (0.1 to 0.4): D still "
     "spots most fakes. 0.5 on both is the theoretical end point, rarely reached."),
    ("Critic score", "critic", "WGAN-GP's D output: any real number, not a probability. Only the gap between real "
     "and generated scores means something (an estimate of the Wasserstein distance)."),
    ("Loss", "loss", "The number each network tries to make small. In a GAN the two losses fight, so they do not "
     "fall steadily: watch the pictures, not the loss."),
    ("Mode collapse", "mode-collapse", "G makes only a few kinds of sample (a few of the 8 ring modes, a few "
     "digits) however z changes. A *mode* is one cluster of the real data."),
    ("1-Lipschitz", "lipschitz", "A function whose output changes at most as fast as its input: moving x by 1 moves "
     "D(x) by at most 1. WGAN needs its critic to be like this; the gradient penalty pushes it there."),
    ("Gradient penalty (GP), R1", "penalty", "Extra loss terms that punish D for steep slopes (GP: between real "
     "and fake samples; R1: at real data), so D's verdicts change smoothly and G gets useful directions."),
    ("G_ema", "g-ema", "A slowly moving average of G's weights. Its samples are steadier and usually better than "
     "G's own, so the pictures show G_ema."),
    ("Learning rate (lr)", "lr", "How big each update step is. Too big and training blows up; too small and "
     "nothing happens for a long time."),
    ("Batch", "batch", "The samples looked at in one step."),
    ("Augmentation, r_t", "r-t", "Augmentation shifts, crops and recolours the images D sees so it cannot "
     "memorise a small set. r_t = the average sign of D on real images: near +1 means D is sure of every real "
     "image, i.e. it memorises (overfits); near 0 is healthy."),
    ("FD (Fréchet distance)", "fd", "How far generated images are from real ones in a classifier's features: 0 = "
     "the same, lower is better. It depends on how many samples it is measured with (fewer samples, higher FD)."),
    ("VAE, ELBO, KL", "vae", "A VAE squeezes data into z (encoder) and rebuilds it (decoder). The ELBO is its "
     "score: rebuild error plus KL, a measure of how far the squeezed z are from plain noise."),
)


def glossary_link(term_anchor: str, text: str) -> str:
    """Markdown linking `text` to its glossary entry (the Lessons tab's glossary)."""
    return f"[{text}](#glossary-{term_anchor})"


# Terms linked to the glossary where a lesson first uses them: (the text as written, its anchor).
LINKED_TERMS: tuple[tuple[str, str], ...] = (
    ("1-Lipschitz", "lipschitz"), ("G_ema", "g-ema"), ("mode collapse", "mode-collapse"), ("D(G(z))", "dgz"),
    ("D(x)", "dx"), ("r_t", "r-t"), ("critic", "critic"), ("gradient penalty", "penalty"), ("ELBO", "vae"),
)


def link_terms(text: str) -> str:
    """`text` (Markdown with $-delimited LaTeX) with the first use of each glossary term linked to its entry.

    Only outside LaTeX and code: a link inside $...$ or `...` would break the formula or the code.
    """
    import re

    parts = re.split(r"(\$\$.*?\$\$|\$[^$]*\$|`[^`]*`)", text, flags=re.S)  # odd indices: math or code
    for term, anchor in LINKED_TERMS:
        pattern = re.compile(r"(?<![\w\[])" + re.escape(term) + r"(?![\w\]])")
        for i in range(0, len(parts), 2):
            parts[i], n = pattern.subn(lambda m: glossary_link(anchor, m.group(0)), parts[i], count=1)
            if n:
                break
    return "".join(parts)


def glossary_markdown() -> str:
    """The glossary as Markdown, each entry with an anchor the lessons link to."""
    return "\n\n".join(f'<a id="glossary-{anchor}"></a>**{term}**: {text}' for term, anchor, text in GLOSSARY)
