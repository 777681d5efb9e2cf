"""Lessons tab: presets that load the Train tab with a configuration, and what to watch and why."""
from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from gan_demo.families.losses import LOSS_FORMULAS, LOSS_NOTES
from gan_demo.ui.forms import B_FIELDS, SAME, changes_between, values_for
from gan_demo.ui import seed_wall
from gan_demo.ui.plain_words import QUICK_DIGITS_LABEL, glossary_markdown, link_terms

LATEX = [{"left": "$$", "right": "$$", "display": True}, {"left": "$", "right": "$", "display": False}]


@dataclass(frozen=True)
class Preset:
    """One button: the RunConfig fields a lesson sets; every other Train control goes back to its default.

    The Train tab shows "pick the default" numbers (lr, batch size, steps, ...) resolved for the preset's
    dataset and loss (train_tab.values_for), so a student sees the numbers the run will use.
    """

    label: str  # button text
    values: dict  # {RunConfig field name: value}


@dataclass(frozen=True)
class Lesson:
    key: str  # short id (elem_id of its buttons)
    title: str
    text: str  # Markdown (LaTeX between $ or $$): what to watch and why
    presets: tuple[Preset, ...] = ()  # buttons that load the Train tab
    tabs: tuple[tuple[str, str], ...] = ()  # buttons that open another tab: (label, tab id)
    losses: tuple[str, ...] = ()  # loss kinds whose formulas are shown
    # A one-click comparison (the Compare tab): (A's preset values, B's changes as the Compare tab's B controls
    # take them, schedule included). None: a lesson with two presets compares them (A = the first).
    comparison: tuple[dict, dict] | None = None
    # More one-click comparisons, each with its own button: (button label, (A's preset values, B's changes)).
    more_comparisons: tuple[tuple[str, tuple[dict, dict]], ...] = ()

    def more_pairs(self) -> list[tuple[str, tuple[dict, dict]]]:
        """(button label, (A's Train-tab values, B's changes)) of each of more_comparisons."""
        return [(label, (values_for(a), dict(b))) for label, (a, b) in self.more_comparisons]

    def pair(self) -> tuple[dict, dict] | None:
        """(A's Train-tab values, B's changes) of this lesson's comparison, or None."""
        if self.comparison is not None:
            return values_for(self.comparison[0]), dict(self.comparison[1])
        if len(self.presets) == 2:
            a, b = (values_for(p.values) for p in self.presets)
            return a, changes_between(a, b)
        return None


# The lessons' settings were tuned by running them headless (see each lesson's figures); a smaller
# network (128 units) and batch (256) than the 2D defaults so the effect shows within minutes on a laptop.
_SMALL = {"dataset": "ring8", "z_dim": 8, "width": 128, "batch_size": 256, "r1_gamma": 0.0, "d_norm": "none", "lr_decay": 0.0,
          "seed": 0}  # lr_decay 0 and z_dim 8, as measured (ring8's auto decay and 2-dim noise came later)

# Lesson 5: the DCGAN image defaults on stacked-digits at 16 px (the sources are 8 x 8, so 16 px loses nothing
# and a step costs about a quarter of 32 px), 800 steps: the run BENCHMARKS.md measured. R1, packing and minibatch
# stddev off name the BatchNorm D it measured: stacked-digits' own default has R1 since 2026-12-07 (the lesson's end).
_STACKED = {"dataset": "stacked-digits", "img_size": 16, "steps": 800, "seed": 0, "r1_gamma": 0.0, "pack": 0,
            "mbstd_group": 0}
_NO_BN = {**_STACKED, "d_norm": "none"}  # the D that collapses; lesson 5 also gives it the published fixes (issue 19)

# Lesson 7: ring8's defaults as they were when BENCHMARKS.md measured it (width 128, batch 256, 5,000 steps: the
# run of checkpoints/ring8), and the same run with D's learning rate x10 from step 2,500, half of its steps (`train --schedule`).
_RING8_MEASURED = {"dataset": "ring8", "seed": 0, "width": 128, "batch_size": 256, "steps": 5000, "z_dim": 8}
_LR_D_X10 = '[{"step": 2500, "lr_d": 0.04}]'

# Lesson 8: the image defaults on the bundled digits' 1,438 training images at 32 px, 2,000 steps, without and with
# DiffAugment, and with an R1 penalty instead: the runs BENCHMARKS.md section 10 measured (as a zip of the same images).
_FEW = {"dataset": "digits", "img_size": 32, "steps": 2000, "seed": 0, "augment": "none"}

# The Train tab's "Quick digits" button: digits the classifier reads within 3 minutes on a CPU, chosen by the worst of
# seeds 0-2 among a few candidates (README, "Quality of the defaults"; benchmarks/quick_digits.py). 16 px: the
# bundled digits are 8 x 8 scans, and a step costs about a fifth of 32 px.
QUICK_DIGITS = Preset(QUICK_DIGITS_LABEL, {"dataset": "digits", "img_size": 16, "conditional": True, "steps": 1000,
                                           "seed": 0})

LESSONS: tuple[Lesson, ...] = (
    Lesson(
        key="collapse",
        title="1. Mode collapse: minimax vs WGAN-GP on ring8",
        presets=(
            Preset("Load: minimax on ring8", {**_SMALL, "loss": "minimax", "steps": 3000}),
            Preset("Load: WGAN-GP on ring8", {**_SMALL, "loss": "wgan-gp", "n_critic": 5, "lr_g": 5e-4,
                                              "lr_d": 5e-4, "beta1": 0.5, "beta2": 0.9, "gp_weight": 1.0,
                                              "steps": 1500}),
        ),
        losses=("minimax", "wgan-gp"),
        text="""\
**Try it.** Press **Compare side by side**: the **Compare** tab trains *minimax* (A) and *WGAN-GP* (B) at once
from the same seed, each picture with D's map under the samples, and overlays their curves. (Or load one preset
into the Train tab and watch it alone in the Train and **2D lab** tabs.)

**What you will see.** The minimax GAN first makes a rough ring, then pulls its samples together into a
crescent on one side: a few modes get almost all of them and the modes on the other side stay empty (in the
2D lab, D paints them green: real data that nobody imitates). Every few hundred steps the crowd may shift
from one mode to another (*mode hopping*). WGAN-GP spreads its samples around the whole ring within a few
hundred steps, then sharpens them onto all eight modes.

**Why.** The generator is only rewarded for samples that D currently calls real. If one mode fools D, moving
every sample there lowers G's loss; D then learns to reject that mode and G moves on. Nothing in the minimax
game asks G to cover *every* mode at once. The WGAN critic instead estimates the Wasserstein distance (how much
probability mass has to move, and how far), so an empty mode keeps pulling samples toward it; the gradient
penalty keeps the critic 1-Lipschitz, so that pull stays smooth instead of vanishing.

**What we measured** with these presets (seed 0, CPU). A mode is *covered* when at least 31 of 2,500 samples lie
within $3\\sigma = 0.03$ of it (`gan_demo.evaluation.metrics.mode_metrics`):

| step | 500 | 1,000 | 1,500 | 3,000 |
|---|---|---|---|---|
| minimax | 0 of 8 | 0 of 8 | 1 of 8 | 2 of 8, 91% of the good samples on one mode |
| WGAN-GP | 7 of 8 (8 for G_ema, which the Train tab shows) | 8 of 8 | 8 of 8, 58% of all samples within $3\\sigma$ | (the preset stops at 1,500) |

With seed 1, minimax covered 4 of 8 (four neighbouring modes) after 3,000 steps and left the other four empty,
while WGAN-GP covered 8 of 8 from step 750 on.

**The settings.** Both: a 3 × 128 MLP, batch 256, no R1 penalty, no normalisation in D. WGAN-GP uses its usual
recipe: 5 critic steps per G step, Adam $\\beta = (0.5, 0.9)$, lr $5 \\cdot 10^{-4}$, and penalty weight
$\\lambda = 1$ (with the paper's $\\lambda = 10$ and $\\beta_1 = 0$, none of three runs with lr $2 \\cdot 10^{-4}$,
$5 \\cdot 10^{-4}$ and $10^{-3}$ had reached the ring when we stopped them, after 750, 1,000 and 2,500 steps).
Each WGAN-GP step trains D five times, so it is slower per step.
""",
    ),
    Lesson(
        key="strong_d",
        title="2. A discriminator that overpowers the generator",
        presets=(
            Preset("Load: lr_d = 10 × lr_g", {**_SMALL, "loss": "nonsaturating", "lr_g": 1e-4, "lr_d": 1e-3,
                                             "steps": 1500}),
            Preset("Load: balanced (lr_d = lr_g)", {**_SMALL, "loss": "nonsaturating", "lr_g": 1e-3,
                                                    "lr_d": 1e-3, "steps": 1500}),
        ),
        losses=("nonsaturating",),
        text="""\
**Try it.** Press **Compare side by side**: A has *lr_d = 10 × lr_g* (the discriminator learns ten times
faster), B is *balanced* (lr_d = lr_g). Watch the D(x) and D(G(z)) curves of both on one chart, and D's maps.

**What you will see.** D wins every round: D(x) climbs to about 0.8 to 0.9 while D(G(z)), D's verdict on the
fakes, stays between 0.1 and 0.2. The generator, chased by a discriminator that adapts ten times faster than
it does, piles all its samples onto one or two modes of the ring and stays there: mode collapse. With balanced
learning rates D(x) stays around 0.6 to 0.75, D(G(z)) around 0.25 to 0.4, and the samples stay spread around
the ring while they slowly sharpen.

**Why.** G only learns through D's gradient. A discriminator far ahead calls every generated sample fake,
so the only direction it offers is toward wherever D is currently least sure; all samples rush there
together, and by the time they arrive D has already learned to reject that place. Slowing D down, or
regularising it (the R1 penalty, on by default in the Train tab for 2D sets, or a gradient penalty), keeps
the game balanced.

**What we measured** with these presets (seeds 0, 1 and 2, CPU): D(x) and D(G(z)) averaged over steps 1,000
to 1,500, and 2,500 samples at step 1,500 (good = within $3\\sigma$ of a mode):

| | D(x) | D(G(z)) | samples at step 1,500 |
|---|---|---|---|
| lr_d = 10 × lr_g | 0.81 to 0.89 | 0.11 to 0.19 | collapsed: 94% and 90% of all samples on **one** mode (seeds 0, 2), 77% on two neighbouring modes (seed 1); the other modes get none |
| balanced | 0.62 to 0.76 | 0.24 to 0.38 | not collapsed: 1 to 3 modes covered so far, most of the others still get some samples |
""",
    ),
    Lesson(
        key="saturation",
        title="3. Saturating (minimax) vs non-saturating generator loss",
        presets=(
            Preset("Load: minimax (saturating)", {**_SMALL, "loss": "minimax", "lr_g": 1e-4, "lr_d": 1e-3,
                                                  "steps": 1500}),
            Preset("Load: non-saturating", {**_SMALL, "loss": "nonsaturating", "lr_g": 1e-4, "lr_d": 1e-3,
                                            "steps": 1500}),
        ),
        losses=("minimax", "nonsaturating"),
        text="""\
**Try it.** Both presets use a strong discriminator (lr_d = 10 × lr_g), so D rejects the fakes early; they
differ only in the generator's loss. Press **Compare side by side** (A: *minimax*, B: *non-saturating*) and
compare the curves; then load one preset into the Train tab and open the **2D lab**: the number *G's pull*
under the picture is the mean length of the generator's gradient on its samples.

**What you will see** (the presets use seed 0). With the minimax loss D(G(z)) sinks to about 0.03. In the 2D
lab, D's map is purple (fake) almost everywhere, with small green islands around the eight real modes; the
generated points stay a diffuse cloud spread over the whole picture, G's pull stays small (about 1.5 to 4), and
the cloud hardly changes from step 750 to step 1,500. With the non-saturating loss G's pull is 10 to 18 and the
points reach the ring by step 500 (where they collapse onto one mode: that is lesson 2's story).

**Why.** Write D's output on a fake as $D(G(z)) = \\sigma(\\ell)$, with $\\ell$ the logit. The minimax generator
minimises $\\log(1 - \\sigma(\\ell))$, the non-saturating one minimises $-\\log \\sigma(\\ell)$. Their slopes:

$$\\frac{\\partial}{\\partial \\ell} \\log\\bigl(1 - \\sigma(\\ell)\\bigr) = -\\sigma(\\ell) \\;\\longrightarrow\\; 0
\\qquad\\qquad
\\frac{\\partial}{\\partial \\ell} \\bigl(-\\log \\sigma(\\ell)\\bigr)
= -\\bigl(1 - \\sigma(\\ell)\\bigr) \\;\\longrightarrow\\; -1
\\qquad (\\ell \\to -\\infty)$$

When D confidently rejects a fake ($\\ell \\to -\\infty$, $D(G(z)) \\to 0$) the minimax loss is flat: G gets almost
no gradient exactly when its samples are worst. The non-saturating loss has the same fixed point but keeps a
slope of about $-1$ there, which is why Goodfellow et al. (2014) recommended it in practice.

**A twist: Adam.** The optimiser here, Adam, divides each weight's gradient by a running estimate of its
size, so a gradient that is small everywhere still makes normal-sized steps. What the minimax loss really
changes is *which samples G listens to*: each sample's gradient is weighted by $\\sigma(\\ell) = D(G(z))$, so
the samples D rejects hardest, the ones that most need to move, get almost no say (their arrows in the 2D lab
shrink). Whether G then stalls depends on luck: with other seeds, a few samples sometimes find a mode early
and the rest follow them.

**What we measured** with these presets (CPU), the share of 2,500 samples within $3\\sigma$ of a mode:

| | step 750 | step 1,500 |
|---|---|---|
| minimax, seed 0 (the preset) | 1% | 1% |
| minimax, seeds 1, 2, 3, 4 | 1%, 52%, 3%, 67% | 3%, 87%, 29%, 84% |
| non-saturating, seeds 0, 1, 2 | 82%, 52%, 73% | 94%, 77%, 90% |

G's pull between steps 250 and 1,500 was 0.7 to 10 with minimax (seeds 0 to 4) and 10 to 29 with
non-saturating (seeds 0 to 2).
""",
    ),
    Lesson(
        key="latent",
        title="4. A walk through latent space",
        tabs=(("Open Explore", "explore"), ("Open Interpolate", "interpolate")),
        text="""\
**Try it.** Open the **Explore** tab and pick the pretrained *digits* checkpoint (a conditional DCGAN trained on
the bundled handwritten digits). Each seed is a point $z$ in latent space; the sliders move $z$ along one axis
at a time, either raw coordinates of $z$ or the generator's principal directions (the GANSpace idea: PCA of
what G produces). Change the class to draw another digit from the same $z$, and pull the truncation $\\psi$
toward 0 to trade variety for typical-looking samples. Bookmark two latents you like, then open
**Interpolate** and walk from one to the other.

**What to watch.** Small moves in $z$ give small, smooth changes in the image: the generator has learned a
continuous map, not a lookup table of training images. With the class fixed, moving $z$ changes the style of
the digit (slant, thickness, shape) but not which digit it is; with $z$ fixed, changing the class changes the
digit. Compare *linear* and *slerp* paths: $z$ is drawn from a Gaussian in many
dimensions, where almost all of the probability lies near a sphere of radius $\\sqrt{d}$; a straight line
between two such points passes closer to the centre, where latents are atypical, while slerp stays on the
sphere:

$$\\operatorname{slerp}(z_a, z_b; t) = \\frac{\\sin((1-t)\\,\\theta)}{\\sin \\theta}\\, z_a
+ \\frac{\\sin(t\\,\\theta)}{\\sin \\theta}\\, z_b,
\\qquad \\cos \\theta = \\frac{z_a \\cdot z_b}{\\lVert z_a \\rVert\\, \\lVert z_b \\rVert}$$

**What we measured** on *digits* with the project's digit classifier (`gan_demo.evaluation.classifier`): with the class
fixed (0, 3 or 8, 64 seeds each), 95% to 100% of the samples are read as that class while the pixels vary from
seed to seed; with the
seed fixed and the class changed, all 160 samples are read as the class asked for. A step of 0.5 along one
axis of $z$ changes a pixel by 0.6% of its range on average. Random latents ($d = 100$) have length about 10;
the midpoint of a straight line between two of them has length about 7, while slerp keeps 9.9 all the way.

The 2D runs (ring8, grid25, or your own in the Train tab) can be explored the same way: there the picture shows
where each $z$ lands among all the generated points.
""",
    ),
    Lesson(
        key="stacked",
        title="5. Mode collapse in images: 1,000 modes (stacked digits)",
        presets=(
            Preset("Load: DCGAN on stacked-digits (16 px, 800 steps)", _STACKED),
            Preset("Load: the same with a D without BatchNorm", _NO_BN),
            Preset("Load: a small D (ndf 8)", {**_STACKED, "ndf": 8}),
            Preset("Load: D without BatchNorm + packing (pack 2)", {**_NO_BN, "pack": 2}),
            Preset("Load: D without BatchNorm + minibatch stddev", {**_NO_BN, "mbstd_group": 4}),
        ),
        comparison=(_STACKED, {"d_norm": "none"}),  # A does not collapse, B (the same D without BatchNorm) does
        more_comparisons=(
            ("The fix: no BatchNorm (A) against the same D with packing (B)", (_NO_BN, {"pack": 2})),
            ("No BatchNorm (A) against the same D with minibatch stddev (B)", (_NO_BN, {"mbstd_group": 4})),
        ),
        tabs=(("Open Quality", "quality"),),
        text="""\
**Try it.** Press **Compare side by side**: A is the DCGAN with the image default's discriminator, B the same D without
its BatchNorm layers (`d_norm` none); nothing else differs. Watch the two sample grids: B's fills with a few
colour combinations repeated over and over. Then press **The fix**: A is that collapsing D, B the same D judging
its images two at a time (PacGAN packing, `pack` 2); the third button gives B a minibatch-stddev layer instead
(`mbstd_group` 4). When a comparison has finished, open the **Quality** tab, pick *comparison A* (then
*comparison B*), set the samples to 26,000 and press *Measure quality*. The *Load* buttons put one
configuration in the Train tab (the third shrinks D to an eighth of its channels instead).

**The data.** Each image of *stacked-digits* holds three handwritten digits, one per colour channel (red, green,
blue), each drawn independently of the others. That makes $10 \\times 10 \\times 10 = 1{,}000$ kinds of image
(*modes*), all equally likely: "Stacked MNIST", the mode-collapse benchmark of the VEEGAN and PacGAN papers,
built here from the bundled 8 × 8 digits. With 10 classes, a generator that draws a few styles per digit
still looks fine in a class histogram; with 1,000 combinations, missing variety has nowhere to hide.

**What you will see.** The sample grid shows coloured blobs in which you can make out a red, a green and a blue
digit on top of each other. The project's digits classifier reads each channel, so every sample lands in one
of the 1,000 modes. *Modes covered* counts the modes that got at least one of the 26,000 samples; the KL
divergence of the mode histogram from uniform is 0 for perfectly even coverage and $\\ln 1000 \\approx 6.91$
when every sample is the same triple. The chart sorts the 1,000 modes by how many samples each received: a
collapsed generator leaves many modes empty and piles samples into a few. Once the classifier is cached (after
the first measurement in the Quality tab), the Train tab also counts modes while it trains, on 2,600 samples
every 500 steps (even perfect samples cover only about 925 modes with 2,600 draws). Watch D(x) and D(G(z)) too.

**What we measured** (seeds 0, 1 and 2 of each row, 16 px, 800 steps, the image defaults: ngf = ndf = 32,
Adam 5e-4; `python -m gan_demo eval`, 26,000 samples; one CPU thread; BENCHMARKS.md, "Minibatch stddev and
packing"). GAN training is chaotic, so each cell gives the median of the three seeds and, after the slash, the worst:

| step 800 | modes covered: median / worst | KL from uniform: median / worst |
|---|---|---|
| **A: the BatchNorm D of the image defaults** (first preset) | **984 / 974** | **0.35 / 0.43** |
| **B: D without BatchNorm** (second preset) | **125 / 79** | **5.68 / 6.06** |
| **the fix: D without BatchNorm + packing, pack 2** (fourth preset) | **970 / 788** | **0.60 / 1.37** |
| D without BatchNorm + packing, pack 4 | 850 / 646 | 1.17 / 2.14 |
| D without BatchNorm + minibatch stddev, group 4 (fifth preset) | 743 / 737 | 1.55 / 1.71 |
| held-out real triples | 1,000 | 0.020 |
| published (Stacked MNIST, their own networks): DCGAN | 99 | 3.4 |
| published: Unrolled GAN / VEEGAN / PacDCGAN2 | 48.7 / 150 / 1,000 | 4.32 / 2.95 / 0.06 |

Earlier single runs (seed 0, section 8 of BENCHMARKS.md) also found that an R1 penalty of 0.1 on the D without
BatchNorm does not bring the variety back (328 modes) and that a small D (ndf 8) matters far less (953).
**B collapses**, as the published DCGAN does (99 modes, KL 3.4): taking BatchNorm out of D is the whole
difference. **Packing brings the variety back** to nearly A's (970 of 1,000 modes in the median run),
with nothing else changed. Minibatch stddev helps too, less than packing here (743 modes in the median run,
six times B's). The BatchNorm DCGAN (A) has **not** collapsed in the papers' sense, but its histogram is not
even (KL 0.35 against real data's 0.02): some digits are drawn more often than others in every channel. The
published figures come from other architectures, image sizes and training lengths, so they are a yardstick, not
a like-for-like comparison.

**Why.** G is rewarded only for images D currently calls real. Nothing rewards it for drawing *every* triple
equally often: if a few combinations fool D, drifting toward them lowers G's loss, and a verdict on one
image at a time cannot tell that the images lack variety. BatchNorm in D does a little of that by accident:
it normalises each layer with the statistics of the whole batch, so a batch of fakes that are all alike looks
different to D from a varied batch of real images. Take it out and D judges one image at a time again.

**What the fixes let D see.** *Packing* (Lin et al. 2018, PacGAN) hands D two images at once, stacked along the
colour channels: its first layer sees 6 channels instead of 3, and it gives one verdict for the pair. Two real
images are two independent triples, almost never the same one; two samples of a collapsed G are often the same
few triples. So "the two look alike" becomes evidence of *fake* that D can learn, and G is only called real when
its pairs are as varied as real pairs, which it cannot fake without covering the modes. (PacGAN proves that the
distance D estimates between packed real and packed generated samples grows with m for a generator that drops
modes.) D sees half as many inputs a step, only its first layer twice as wide, so a step costs no more. *Minibatch standard deviation* (Karras et al. 2018, ProGAN,
kept in StyleGAN) adds one more channel near D's end: for a group of 4 samples it takes the spread (standard
deviation) of every feature of D's last 4 × 4 map across the group, averages them into one number, and appends it
to each sample's features, which one more convolution mixes in before D's verdict. Real groups are varied (a
large spread), a collapsed G's groups are not (a spread near 0), so D can tell a collapsed batch from a real one.
(Read by D's last, linear layer alone, without that convolution, the same number did far less: 272 modes in the
median run.) Both keep D free of BatchNorm, which is what a per-sample penalty such as R1 needs.

**The default since 2026-12-07.** stacked-digits' own default gives the D without BatchNorm a minibatch-stddev
layer (groups of 4) and an R1 penalty of 0.1 (taken lazily, on every 16th step at 16 times the weight), for 8,000
steps at 32 px (`python -m gan_demo train --dataset stacked-digits`). Over seeds 0, 1 and 2 it covered **all 1,000
modes** at one CPU thread and at two, with KL **0.08 to 0.11** from uniform (median 0.09), in about 12 to 13 minutes
at two threads; five runs of six reach 0.1 or below (PacGAN's paper: 0.06). The BatchNorm D of A, at 32 px and 4,000 steps,
covered 789 to 1,000 (KL 0.27 to 0.89) on the same machine and 3 or 4 modes in two seeds of three on another; R1
with packs of 2 instead of the stddev layer, at half the cost a step, 999 to 1,000 (KL 0.15 to 0.23). What is left
of the unevenness is mostly one digit: the 1 is drawn less often than the others in every channel (BENCHMARKS.md
section 35). The presets above keep BatchNorm's D, R1, packing and the stddev layer as they were measured.
""",
    ),
    Lesson(
        key="gan_vae",
        title="6. GAN or VAE? The same digits, two model families",
        tabs=(("Open Explore", "explore"), ("Open Quality", "quality")),
        text="""\
**Try it.** Open **Explore** and pick *digits* (a class-conditional GAN), then *digits-vae* (a class-conditional
variational autoencoder trained on the same 1,438 digits): the same seed and class give one sample of each.
In both, *Project an image into z* puts a real digit into $z$. Then open **Quality** and measure both checkpoints.
*digits-vae-2d* is a VAE whose latent has two dimensions: its two sliders are the whole of $z$, and moving them
sweeps through the digits it learned.

**What you will see.** The GAN's digits are sharp; the VAE's are recognisable but blurred, and some are
malformed. Yet the VAE's samples spread over as much of the data's variety as the GAN's (the same
recall), and the VAE projects a real digit with one pass of its encoder, where the GAN has to
*search* for $z$.

**Why.** A VAE is trained by maximum likelihood, through a lower bound on $\\log p(x)$ (the ELBO):

$$\\log p(x) \\;\\ge\\; \\mathbb{E}_{q(z|x)}\\bigl[\\log p(x|z)\\bigr] \\;-\\; \\mathrm{KL}\\bigl(q(z|x)\\,\\|\\,p(z)\\bigr),
\\qquad -\\log p(x|z) = \\frac{\\lVert x - \\mu(z) \\rVert^2}{2\\sigma^2} + \\text{const}$$

Every training digit must be reconstructed, so a digit the model leaves out costs a large penalty: maximum
likelihood *covers* the data. But when a $z$ could stand for several slightly different digits, the squared
error is smallest for their *average*: blur. The encoder $q(z|x)$ is trained alongside the decoder, which is
why projection is free. A GAN has no likelihood and no encoder: the discriminator only judges the samples G
makes, so a digit G never draws costs G nothing (lesson 1's mode collapse), while any blur is something D
can learn to spot, so G's samples stay sharp.

**What we measured** (`python -m gan_demo eval --checkpoint checkpoints/NAME`: 2,500 samples, seed 12345, scored
by the project's digit classifier beside 359 held-out real digits; full reports in `checkpoints/*/README.md`):

| | GAN (*digits*) | VAE (*digits-vae*) | held-out real digits |
|---|---|---|---|
| FD_classifier (FID analogue, lower is better) | 7.91 | 27.0 | 9.59 |
| classifier score (IS analogue, higher is better) | 9.56 | 8.84 | 9.57 |
| classes covered | 10 / 10 | 10 / 10 | 10 / 10 |
| precision / recall (k-NN, k = 3) | 0.83 / 0.81 | 0.76 / 0.82 | 0.93 / 0.94 |
| samples read as the class asked for | 98.6% | 94.2% | 99.7% |
| projecting 100 held-out digits: mean pixel error | 0.0169 after 300 Adam steps on $z$ (214 s) | 0.0292 from the encoder's mean (0.14 s) | |
| training on a 2-core CPU (other days, other loads) | 3,000 steps, 663 s | 3,000 steps, 125 s (one thread) | |

Precision (how many samples look like real digits) is where the blur shows; recall (how much of the real
variety the samples reach) is where the VAE holds its own: a shorter run (1,000 steps) already had
recall 0.87 at precision 0.52 (FD_classifier 87). Coverage is not free for the GAN either: this
conditional GAN needed its mode-seeking term, without which it ignored $z$ within each class (recall 0.00).
The GAN's search gets closer to a real digit than the VAE's encoder, but it takes over a thousand times longer.

**Train them yourself.** The commands that made both (`checkpoints/digits/README.md`,
`checkpoints/digits-vae/README.md`):

    python -m gan_demo train --dataset digits --conditional --ngf 32 --ndf 32 --lr-g 2e-4 --lr-d 2e-4 --steps 3000
    python -m gan_demo train --family vae --dataset digits --conditional --ngf 32 --ndf 32 \\
        --recon gaussian --recon-sigma 0.35 --kl-warmup 500 --steps 3000

With the VAE's default decoder noise ($\\sigma = 0.1$) the reconstruction term outweighs the KL, and samples
drawn from the prior were blobs (FD_classifier 375 after 200 steps).
""",
    ),
    Lesson(
        key="midrun",
        title="7. Change a setting while it trains: D's learning rate × 10 at mid-run",
        comparison=(_RING8_MEASURED, {"schedule": _LR_D_X10}),
        text="""\
**Try it.** Press **Compare side by side**: A is ring8 with its defaults, a healthy run; B is the same run
until step 2,500, where its discriminator's learning rate jumps from 0.004 to 0.04, ten times the generator's
(B's *schedule*, marked by a vertical line on B's curves). Watch the first few dozen steps after the line.
You can do the same by hand on any run: change *Learning rate D* in the Train tab while it trains and press
*Apply*; the change is recorded, and the command the tab shows replays it (`--schedule`).

**What you will see.** Until step 2,500 the two runs are the same run (same seed, same data, same numbers).
Then B's equilibrium breaks within a handful of steps: its loss_D jumps from 1.38 to 42 after 4 steps and
to about 500,000 after 8; D(x) and D(G(z)) swing between 0 and 1. Within 32 steps B's samples have left the
ring altogether (no mode covered) while A keeps sharpening. D calms down after about 50 steps and then wins
(D(x) about 0.65-0.69 against D(G(z)) about 0.31-0.34 until step 3,500). The defaults lower both learning rates
linearly to a tenth over the second half of a run, so B's D slows back to 0.004 by the end, and G starts to
return to a few modes, far too late.

**What we measured** (seed 0, CPU; `python -m gan_demo train --dataset ring8 [--schedule
'[{"step": 2500, "lr_d": 0.04}]']`, then `eval`; BENCHMARKS.md, the 2D defaults section):

| step | A: modes, high-quality share | A: D(x) / D(G(z)) | B: modes, high-quality share | B: D(x) / D(G(z)) |
|---|---|---|---|---|
| 2,500 (the change) | 8 of 8, 90.2% | 0.50 / 0.50 | 8 of 8, 90.2% | 0.50 / 0.50 |
| 2,600 | 8, 91.2% | 0.50 / 0.50 | **0**, 0% | 0.61 / 0.35 |
| 3,500 | 8, 93.6% | 0.50 / 0.50 | 0, 0% | 0.69 / 0.31 |
| 5,000 (the end) | **8, 94.6%** | 0.50 / 0.50 | **0, 1.2%** | 0.53 / 0.47 |

**Why.** A GAN is two optimisers chasing each other. At the equilibrium D cannot tell real from fake
(D(x) = D(G(z)) = 1/2, loss_D = 2 ln 2 = 1.386) and its gradients are small. A step ten times larger overshoots:
D's weights jump far past the point where it scores both sides alike, its outputs saturate, and the
gradient it hands G points somewhere useless. G follows it off the ring. Once D is very sure, the
non-saturating loss still gives G a gradient, but toward wherever D's map happens to be lowest, not toward
the data, and with the learning rates decaying there are too few steps left to find the ring again.
""",
    ),
    Lesson(
        key="few",
        title="8. Few images: why D memorises, and what augmentation changes",
        presets=(Preset("Load: digits, no augmentation", _FEW),
                 Preset("Load: digits with DiffAugment", {**_FEW, "augment": "color,translation,cutout"}),
                 Preset("Load: digits with an R1 penalty (0.1)", {**_FEW, "r1_gamma": 0.1})),
        comparison=(_FEW, {"augment": "color,translation,cutout"}),  # B: DiffAugment on the same run
        text="""\
**Try it.** Press **Compare side by side**: both runs train the image defaults on the 1,438 bundled digits (32 px,
2,000 steps); B passes every image D sees, real or generated, through random *differentiable augmentation*
first (DiffAugment: colour, translation, cutout). On a CPU each run takes about 5 minutes of processor time.
Watch the green **r_t** curves on the D plot. Then load **digits with an R1 penalty** and train it: a gradient
penalty on real images is the other way to keep D from memorising.

**What r_t says.** ADA's overfitting heuristic (Karras et al. 2020) is $r_t = \\mathbb{E}[\\operatorname{sign} D(x)]$
over the real images of a batch: the share D calls real minus the share it calls fake. 0 means D cannot
tell; near +1 means D is sure of every training image, which on a small set means it has learned *those
images*, not what a digit looks like. Its feedback to G then says "be one of these 1,438", and G's samples
degrade or copy.

**What we measured** (seed 0, CPU; the same 1,438 digits written as PNG files and trained from a zip,
`benchmarks/augment_digits.py`; BENCHMARKS.md section 10; scored against the training digits with the
project's digits classifier, where held-out real digits score precision 0.93, recall 0.93, FD 9.5):

| step | A (no augmentation): r_t | A: precision / recall / FD | B (DiffAugment): r_t | B: precision / recall / FD |
|---|---|---|---|---|
| 1,000 | 0.87 | 0.39 / 0.88 / 52.8 | | |
| 2,000 | 0.66 | 0.45 / 0.96 / 34.4 | 0.35 | 0.43 / 0.93 / 53.0 |
| 4,000 (longer) | 0.73 | 0.45 / 0.94 / 22.3 | 0.59 | 0.39 / 0.89 / 42.0 |

With an R1 penalty of 0.1 instead (third preset; it also takes BatchNorm out of D): r_t **0.30** at step 2,000
and 0.46 at 3,000, with precision / recall / FD 0.48 / 0.92 / 38.2 and then **0.54 / 0.95 / 22.3**; each step
costs about 1.5 times as much. On a 300-image subset the gap in r_t is wider still (earlier runs with a bigger
network: 1.00 without augmentation against 0.46 with it at step 2,000).

**The honest result.** Augmentation does what it is for: D stops memorising (r_t near 0.35 instead of
0.7 to 0.9). But within these CPU runs it did **not** make the samples better: at steps 2,000 and 4,000 A's
FD is lower. The papers' gains (StyleGAN2-ADA, DiffAugment) appear over much longer training, when an
unaugmented D has memorised the set completely and G's samples get worse; an augmented D has to learn what
survives every shift, cutout and colour change, which is slower at first. R1 keeps r_t as low and does make
these samples better, but alone it is not the default: without BatchNorm, D lost the variety of stacked-digits
(lesson 5). Together with a layer that gives D back a view of the batch, it is: a GAN on your own images (a
folder or a zip) trains with R1 and packs of 2 by default, and one on stacked-digits with R1 and minibatch stddev.
The bundled digits of this lesson keep the BatchNorm D, and `augment` auto stays off until a measured set size
gains from it.
""",
    ),
)


# ---------------------------------------------------------------------------- formulas
def formulas_markdown(kinds) -> str:
    """The discriminator's and generator's losses of each kind, in LaTeX, with a one-line note."""
    parts = []
    for kind in kinds:
        l_d, l_g = LOSS_FORMULAS[kind]
        parts.append(f"**{kind}**: {LOSS_NOTES[kind]}\n\n$$\n{l_d}\n$$\n\n$$\n{l_g}\n$$")
    return "\n\n".join(parts)


# ------------------------------------------------------------------------------ layout
def build(ctx) -> dict:
    """One accordion per lesson: its text, its formulas and its buttons. Wired by wire()."""
    gr.Markdown("## Lessons\nA lesson's **Compare side by side** button starts its two runs at once in the "
                "**Compare** tab (both panels and overlaid curves, kept at the same step); its *Load* buttons put one "
                "configuration in the **Train** tab instead (press *Start* there). Each lesson then tells you what "
                "to watch and why. The 2D ones can also be watched in the **2D lab** tab. Every figure quoted was measured by running the preset on a "
                "CPU; GAN training is chaotic, so on another machine the same seed can take another path: the "
                "tables give the spread over several seeds.")
    buttons = []  # (button, Preset) pairs
    tab_buttons = []  # (button, tab id) pairs
    compare_buttons = []  # (button, its comparison: a function giving (A's values, B's changes)) pairs
    for i, lesson in enumerate(LESSONS):
        with gr.Accordion(lesson.title, open=i == 0, elem_id=f"lesson-{lesson.key}"):
            with gr.Row():
                if lesson.pair() is not None:
                    btn = gr.Button("▶ Compare side by side (starts both)", variant="primary",
                                    elem_id=f"lesson-{lesson.key}-compare")
                    compare_buttons.append((btn, lesson.pair))
                for k, (label, pair) in enumerate(lesson.more_pairs()):
                    btn = gr.Button(f"▶ {label}", variant="primary", elem_id=f"lesson-{lesson.key}-compare-{k + 1}")
                    compare_buttons.append((btn, lambda pair=pair: pair))
                for j, preset in enumerate(lesson.presets):
                    btn = gr.Button(preset.label, variant="secondary", elem_id=f"lesson-{lesson.key}-{j}")
                    buttons.append((btn, preset))
                for label, tab in lesson.tabs:
                    btn = gr.Button(label, variant="primary", elem_id=f"lesson-{lesson.key}-{tab}")
                    tab_buttons.append((btn, tab))
            gr.Markdown(link_terms(lesson.text), latex_delimiters=LATEX)
            if lesson.losses:
                gr.Markdown(formulas_markdown(lesson.losses), latex_delimiters=LATEX)
    with gr.Accordion(seed_wall.TITLE, open=False, elem_id="lesson-seeds"):  # live walls of 16 seeds per setting
        gr.Markdown(link_terms(seed_wall.TEXT), latex_delimiters=LATEX)
        seed_wall.build(ctx)
    with gr.Accordion("All the losses", open=False, elem_id="lesson-losses"):
        gr.Markdown("$D$ is the discriminator's output: a probability $D(x) = \\sigma(\\ell)$ of its logit "
                    "$\\ell$ for the logistic losses, the raw score for the others.\n\n"
                    + formulas_markdown(LOSS_FORMULAS), latex_delimiters=LATEX)
    # Always open (not folded): the lessons' words link here, and a link cannot open a closed fold.
    gr.Markdown("## Glossary\nThe words the lessons use, in plain words.\n\n" + glossary_markdown(),
                elem_id="glossary", sanitize_html=False)
    return {"buttons": buttons, "tab_buttons": tab_buttons, "compare_buttons": compare_buttons}


def wire(ctx, lessons: dict, train: dict, tabs: gr.Tabs, compare: dict | None = None) -> None:
    """Preset buttons fill the Train tab's controls and switch to it; a comparison button fills the Train tab
    (run A) and the Compare tab's B controls, opens the Compare tab and starts both; the latent lesson opens
    its tabs."""
    controls = train["controls"]
    names = list(controls)

    if compare is not None:
        b_controls = compare["b_controls"]

        def comparer(pair):
            def load():
                a_values, changes = pair()
                b = [changes.get(n) for n in B_FIELDS]  # the B controls are text: "" = same as A
                return [a_values[n] for n in names] + [SAME if v is None else str(v) for v in b] + \
                    [gr.Tabs(selected="compare")]
            return load

        for btn, pair in lessons["compare_buttons"]:
            btn.click(comparer(pair), None, [*controls.values(), *(b_controls[n] for n in B_FIELDS), tabs],
                      show_progress="hidden", concurrency_limit=None, api_visibility="private"
                      ).then(**compare["start_event"])

    def loader(preset: Preset):
        def load():
            values = values_for(preset.values)  # the preset, every other field at its (resolved) default
            return [values[n] for n in names] + [gr.Tabs(selected="train")]
        return load

    for btn, preset in lessons["buttons"]:
        btn.click(loader(preset), None, [*controls.values(), tabs], show_progress="hidden", concurrency_limit=None,
                  api_visibility="private")
    # The Train tab's own preset: its settings, and training for its steps (not a time budget).
    if "quick_digits" in train:
        train["quick_digits"].click(lambda: [*loader(QUICK_DIGITS)(), "steps"], None,
                                    [*controls.values(), tabs, train["train_for"]], show_progress="hidden",
                                    concurrency_limit=None, api_visibility="private")
    for btn, tab in lessons["tab_buttons"]:
        btn.click(lambda tab=tab: gr.Tabs(selected=tab), None, tabs, show_progress="hidden", concurrency_limit=None,
                  api_visibility="private")
