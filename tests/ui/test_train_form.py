"""The Train tab's controls and Compare's B fields as built: each one's part of the tab (open or which fold), its
row, label, help, value, range or choices and visibility, for the GAN and the VAE.

The controls are laid out from the faces the families register (gan_demo.families.*: FamilySpec.faces) and the
shared ones (gan_demo.ui.forms.SHARED_FACES); this pins what a visitor sees of the two built-in families."""
from __future__ import annotations

import types

import pytest

gr = pytest.importorskip("gradio")

KEYS = ("label", "info", "value", "visible", "minimum", "maximum", "step", "precision", "choices", "interactive")


def laid_out(root, components: dict) -> list[tuple]:
    """(fold, row, name, component kind, {its settings}) of `components` (name -> component) in page order: fold
    is the accordion's label ("open" outside one), row the index of the gr.Row it shares (None alone)."""
    names = {id(c): name for name, c in components.items()}
    rows: dict[int, int] = {}
    out = []

    def walk(block, fold, row):
        for child in getattr(block, "children", []):
            kind = type(child).__name__
            if kind == "Accordion":
                walk(child, child.label, None)
            elif kind == "Row":
                walk(child, fold, id(child))
            elif kind == "Column":
                walk(child, fold, None)
            elif kind == "Form":
                walk(child, fold, row)
            elif id(child) in names:
                config = child.get_config()
                out.append((fold, rows.setdefault(row, len(rows)) if row is not None else None, names[id(child)], kind,
                            {k: config[k] for k in KEYS if config.get(k) is not None}))

    walk(root, "open", None)
    return out


def built():
    from gan_demo.ui.app import AppContext
    from gan_demo.ui.tabs import compare, train

    ctx = AppContext.create(device="cpu")
    with gr.Blocks() as demo:
        train_parts = train.build(ctx)
        compare_parts = compare.build(ctx, train_parts)
    return demo, train_parts, compare_parts


def shown_after_family_change(train_parts, family: str) -> dict:
    """{control: visible} after the family radio picks `family` (no run)."""
    request = types.SimpleNamespace(session_hash="form-test")
    out = train_parts["handlers"].on_family_change(family, request)
    return {name: update["visible"] for name, update in out.items() if name in train_parts["controls"]}


# What the Train tab and Compare showed before their controls came from the families' faces (GAN picked, ring8).
TRAIN = [
    ('open', None, 'family', 'Radio', {'label': 'Kind of model', 'info': 'A GAN learns by fooling a judge; a VAE squeezes and rebuilds its data.', 'value': 'gan', 'visible': True, 'choices': [('GAN: generator + discriminator', 'gan'), ('VAE: encoder + decoder', 'vae')]}),
    ('open', None, 'dataset', 'Dropdown', {'label': 'Data to learn', 'info': '2D points train in seconds; images take minutes.', 'value': 'ring8', 'visible': True, 'choices': [('ring8: 8 Gaussians on a circle (2D)', 'ring8'), ('grid25: 5 x 5 grid of Gaussians (2D)', 'grid25'), ('spiral (2D)', 'spiral'), ('moons: two half-moons (2D)', 'moons'), ('digits: 8 x 8 handwritten digits, bundled (images)', 'digits'), ('MNIST handwritten digits (images; downloaded or local files)', 'mnist'), ('Fashion-MNIST clothes (images; downloaded or local files)', 'fashion-mnist'), ('CIFAR-10 colour photos (images; slow on a CPU)', 'cifar10'), ('stacked-digits: three digits per image, 1,000 modes (images; mode collapse)', 'stacked-digits')]}),
    ('open', None, 'loss', 'Radio', {'label': 'Game rules (loss)', 'info': 'How the judge D and the generator G score each other.', 'value': 'nonsaturating', 'visible': True, 'choices': [('nonsaturating', 'nonsaturating'), ('minimax', 'minimax'), ('hinge', 'hinge'), ('lsgan', 'lsgan'), ('wgan-gp', 'wgan-gp')]}),
    ('open', None, 'recon', 'Radio', {'label': 'Rebuild error', 'info': 'How a rebuilt sample is compared with the real one.', 'value': 'gaussian', 'visible': False, 'choices': [('bernoulli', 'bernoulli'), ('gaussian', 'gaussian')]}),
    ('open', 0, 'steps', 'Number', {'label': 'Steps', 'info': 'How long to train; more steps, more time.', 'value': 11000, 'visible': True, 'minimum': 1, 'maximum': 100000, 'step': 1, 'precision': 0}),
    ('open', 0, 'seed', 'Number', {'label': 'Seed', 'info': 'Same seed, same run.', 'value': 0, 'visible': True, 'minimum': 0, 'step': 1, 'precision': 0}),
    ('open', 0, 'beta', 'Number', {'label': 'β (squeeze)', 'info': 'More: smoother latent space, blurrier images.', 'value': 1.0, 'visible': False, 'minimum': 0, 'step': 0.1}),
    ('Training', 1, 'batch_size', 'Number', {'label': 'Batch size', 'info': 'Samples looked at per step.', 'value': 128, 'visible': True, 'minimum': 1, 'maximum': 4096, 'step': 1, 'precision': 0}),
    ('Training', 1, 'z_dim', 'Number', {'label': 'Noise size (z_dim)', 'info': 'Random numbers G turns into one sample.', 'value': 2, 'visible': True, 'minimum': 1, 'maximum': 512, 'step': 1, 'precision': 0}),
    ('Training', 2, 'lr_g', 'Number', {'label': 'Learning rate G', 'info': "How big the generator's update steps are.", 'value': 0.004, 'visible': True, 'minimum': 0, 'step': 0.0001}),
    ('Training', 2, 'lr_d', 'Number', {'label': 'Learning rate D', 'info': "How big the judge's update steps are.", 'value': 0.004, 'visible': True, 'minimum': 0, 'step': 0.0001}),
    ('Training', 2, 'lr_vae', 'Number', {'label': 'Learning rate', 'info': 'How big each update step is.', 'value': 0.001, 'visible': False, 'minimum': 0, 'step': 0.0001}),
    ('Training', None, 'kl_warmup', 'Number', {'label': 'KL warm-up steps', 'info': 'Start with no squeeze and ramp up over these steps.', 'value': 0, 'visible': False, 'minimum': 0, 'step': 1, 'precision': 0}),
    ('Training', None, 'n_critic', 'Slider', {'label': 'D steps per G step', 'info': 'Train the judge this many times per generator step.', 'value': 1, 'visible': True, 'minimum': 1, 'maximum': 10, 'step': 1}),
    ('Model', None, 'width', 'Slider', {'label': 'Network width', 'info': 'Neurons per layer.', 'value': 80, 'visible': True, 'minimum': 8, 'maximum': 1024, 'step': 8}),
    ('Model', None, 'depth', 'Slider', {'label': 'Network depth', 'info': 'Hidden layers.', 'value': 3, 'visible': True, 'minimum': 1, 'maximum': 8, 'step': 1}),
    ('Model', None, 'activation', 'Dropdown', {'label': 'Activation', 'info': 'The bend each neuron applies.', 'value': 'relu', 'visible': True, 'choices': [('relu', 'relu'), ('leaky_relu', 'leaky_relu'), ('elu', 'elu'), ('tanh', 'tanh'), ('silu', 'silu')]}),
    ('Model', None, 'ngf', 'Slider', {'label': 'G size (ngf)', 'info': 'Channels in the generator.', 'value': 64, 'visible': False, 'minimum': 4, 'maximum': 256, 'step': 4}),
    ('Model', None, 'ndf', 'Slider', {'label': 'D size (ndf)', 'info': 'Channels in the judge.', 'value': 64, 'visible': False, 'minimum': 4, 'maximum': 256, 'step': 4}),
    ('Model', None, 'img_size', 'Dropdown', {'label': 'Image size', 'info': 'Pixels per side; bigger is slower.', 'value': 32, 'visible': False, 'choices': [('16', 16), ('32', 32), ('64', 64)]}),
    ('Model', None, 'channels', 'Dropdown', {'label': 'Colours', 'info': 'Grey or colour images.', 'value': 0, 'visible': False, 'choices': [("the dataset's own", 0), ('1 (grayscale)', 1), ('3 (RGB)', 3)]}),
    ('Model', None, 'conditional', 'Checkbox', {'label': 'Ask for a class', 'info': 'G draws the class you name (labelled data only).', 'value': False, 'visible': False}),
    ('Advanced', None, 'arch', 'Radio', {'label': 'Network type', 'info': 'MLP for points, convolutions (dcgan) for images.', 'value': 'auto', 'visible': True, 'choices': [('auto', 'auto'), ('mlp', 'mlp'), ('dcgan', 'dcgan')]}),
    ('Advanced', None, 'd_norm', 'Dropdown', {'label': 'Judge normalisation', 'info': "Keeps the judge's numbers in check.", 'value': 'auto', 'visible': True, 'choices': [('auto', 'auto'), ('batch', 'batch'), ('spectral', 'spectral'), ('none', 'none')]}),
    ('Advanced', 3, 'mbstd_group', 'Number', {'label': 'Judge sees the spread', 'info': 'Minibatch stddev: D sees how alike groups of this size are; 0 = off.', 'value': 0, 'visible': True, 'minimum': 0, 'maximum': 256, 'step': 1, 'precision': 0}),
    ('Advanced', 3, 'pack', 'Number', {'label': 'Judge sees packs', 'info': 'PacGAN: D judges this many samples at once; 0 or 1 = off.', 'value': 0, 'visible': True, 'minimum': 0, 'maximum': 16, 'step': 1, 'precision': 0}),
    ('Advanced', 4, 'beta1', 'Number', {'label': 'Adam beta1', 'info': 'Momentum of the updates.', 'value': 0.5, 'visible': True, 'minimum': 0, 'maximum': 0.999, 'step': 0.05}),
    ('Advanced', 4, 'beta2', 'Number', {'label': 'Adam beta2', 'info': 'How fast step sizes adapt.', 'value': 0.999, 'visible': True, 'minimum': 0, 'maximum': 0.9999, 'step': 0.001}),
    ('Advanced', 5, 'gp_weight', 'Number', {'label': 'Gradient penalty', 'info': 'WGAN-GP: keeps the critic smooth (1-Lipschitz).', 'value': 10.0, 'visible': True, 'minimum': 0, 'step': 1}),
    ('Advanced', 5, 'r1_gamma', 'Number', {'label': 'R1 penalty', 'info': 'Keeps the judge smooth on real data; 0 = off.', 'value': 0.1, 'visible': True, 'minimum': 0, 'step': 0.05}),
    ('Advanced', 5, 'r1_every', 'Number', {'label': 'R1 every ... steps', 'info': 'Lazy R1: the penalty every this many steps, as strong (faster).', 'value': 1, 'visible': True, 'minimum': 1, 'maximum': 64, 'step': 1, 'precision': 0}),
    ('Advanced', 6, 'ema_decay', 'Number', {'label': 'G_ema averaging', 'info': 'The pictures come from an average of G; 0 = off.', 'value': 0.999, 'visible': True, 'minimum': 0, 'maximum': 0.9999, 'step': 0.0005}),
    ('Advanced', 6, 'lr_decay', 'Number', {'label': 'Slow down at the end', 'info': 'Share of the run over which the learning rates shrink.', 'value': 0.5, 'visible': True, 'minimum': 0, 'maximum': 1, 'step': 0.1}),
    ('Advanced', None, 'augment', 'Dropdown', {'label': 'Augment images', 'info': 'Shift and recolour images the judge sees (stops memorising).', 'value': 'auto', 'visible': True, 'choices': [('auto', 'auto'), ('none', 'none'), ('color,translation,cutout', 'color,translation,cutout'), ('translation,cutout', 'translation,cutout'), ('translation', 'translation'), ('color', 'color')]}),
]
COMPARE = [
    ('B differs from A in… (empty = same as A)', 0, 'family', 'Dropdown', {'label': "B's family", 'value': '', 'visible': True, 'choices': [('same as A', ''), ('gan', 'gan'), ('vae', 'vae')]}),
    ('B differs from A in… (empty = same as A)', 0, 'loss', 'Dropdown', {'label': "B's loss", 'value': '', 'visible': True, 'choices': [('same as A', ''), ('nonsaturating', 'nonsaturating'), ('minimax', 'minimax'), ('hinge', 'hinge'), ('lsgan', 'lsgan'), ('wgan-gp', 'wgan-gp')]}),
    ('B differs from A in… (empty = same as A)', 1, 'lr_g', 'Textbox', {'label': "B's lr_g", 'value': '', 'visible': True}),
    ('B differs from A in… (empty = same as A)', 1, 'lr_d', 'Textbox', {'label': "B's lr_d", 'value': '', 'visible': True}),
    ('B differs from A in… (empty = same as A)', 2, 'n_critic', 'Textbox', {'label': "B's n_critic", 'value': '', 'visible': True}),
    ('B differs from A in… (empty = same as A)', 2, 'gp_weight', 'Textbox', {'label': "B's gp_weight", 'value': '', 'visible': True}),
    ('B differs from A in… (empty = same as A)', 2, 'r1_gamma', 'Textbox', {'label': "B's r1_gamma", 'value': '', 'visible': True}),
    ('B differs from A in… (empty = same as A)', 2, 'r1_every', 'Textbox', {'label': "B's r1_every", 'value': '', 'visible': True}),
    ('B differs from A in… (empty = same as A)', 3, 'batch_size', 'Textbox', {'label': "B's batch_size", 'value': '', 'visible': True}),
    ('B differs from A in… (empty = same as A)', 3, 'steps', 'Textbox', {'label': "B's steps", 'value': '', 'visible': True}),
    ('B differs from A in… (empty = same as A)', None, 'schedule', 'Textbox', {'label': "B's changes while it trains (schedule)", 'info': 'JSON: at each step, the live settings B takes from then on (lr_g, lr_d, n_critic, loss, r1_gamma, gp_weight; beta, lr_vae for a VAE). Marked on the curves.', 'value': '', 'visible': True}),
    ("More of B's settings", 4, 'beta1', 'Textbox', {'label': "B's beta1", 'value': '', 'visible': True}),
    ("More of B's settings", 4, 'beta2', 'Textbox', {'label': "B's beta2", 'value': '', 'visible': True}),
    ("More of B's settings", 5, 'ema_decay', 'Textbox', {'label': "B's ema_decay", 'value': '', 'visible': True}),
    ("More of B's settings", 5, 'lr_decay', 'Textbox', {'label': "B's lr_decay", 'value': '', 'visible': True}),
    ("More of B's settings", 6, 'augment', 'Dropdown', {'label': "B's augment", 'value': '', 'visible': True, 'choices': [('same as A', ''), ('auto', 'auto'), ('none', 'none'), ('color,translation,cutout', 'color,translation,cutout'), ('translation,cutout', 'translation,cutout'), ('translation', 'translation'), ('color', 'color')]}),
    ("More of B's settings", 6, 'd_norm', 'Dropdown', {'label': "B's d_norm", 'value': '', 'visible': True, 'choices': [('same as A', ''), ('auto', 'auto'), ('batch', 'batch'), ('spectral', 'spectral'), ('none', 'none')]}),
    ("More of B's settings", 7, 'mbstd_group', 'Textbox', {'label': "B's mbstd_group", 'value': '', 'visible': True}),
    ("More of B's settings", 7, 'pack', 'Textbox', {'label': "B's pack", 'value': '', 'visible': True}),
    ("More of B's settings", 8, 'width', 'Textbox', {'label': "B's width", 'value': '', 'visible': True}),
    ("More of B's settings", 8, 'z_dim', 'Textbox', {'label': "B's z_dim", 'value': '', 'visible': True}),
    ("More of B's settings", 9, 'ngf', 'Textbox', {'label': "B's ngf", 'value': '', 'visible': True}),
    ("More of B's settings", 9, 'ndf', 'Textbox', {'label': "B's ndf", 'value': '', 'visible': True}),
    ("More of B's settings", 10, 'beta', 'Textbox', {'label': "B's beta", 'value': '', 'visible': True}),
    ("More of B's settings", 10, 'lr_vae', 'Textbox', {'label': "B's lr_vae", 'value': '', 'visible': True}),
]
SHOWN_VAE = ['beta', 'kl_warmup', 'lr_vae', 'recon']
HIDDEN_VAE = ['augment', 'd_norm', 'ema_decay', 'gp_weight', 'loss', 'lr_d', 'lr_decay', 'lr_g', 'mbstd_group', 'n_critic', 'pack', 'r1_every', 'r1_gamma']
SHOWN_GAN = ['augment', 'd_norm', 'ema_decay', 'gp_weight', 'loss', 'lr_d', 'lr_decay', 'lr_g', 'mbstd_group', 'n_critic', 'pack', 'r1_every', 'r1_gamma']
HIDDEN_GAN = ['beta', 'kl_warmup', 'lr_vae', 'recon']


def test_the_train_tabs_controls_are_laid_out_as_pinned():
    demo, train_parts, _ = built()
    assert laid_out(demo, train_parts["controls"]) == TRAIN


def test_compares_b_fields_are_laid_out_as_pinned():
    demo, train_parts, compare_parts = built()
    assert laid_out(demo, compare_parts["b_controls"]) == COMPARE


def test_picking_a_family_shows_its_controls_and_hides_the_others():
    _, train_parts, _ = built()
    for family, shown, hidden in (("vae", SHOWN_VAE, HIDDEN_VAE), ("gan", SHOWN_GAN, HIDDEN_GAN)):
        visible = shown_after_family_change(train_parts, family)
        assert sorted(n for n, v in visible.items() if v) == shown
        assert sorted(n for n, v in visible.items() if not v) == hidden


def test_a_face_names_a_known_control_and_fold():
    from gan_demo.core.faces import Face, Place

    with pytest.raises(ValueError, match="control must be one of number, slider"):
        Face("Pull", control="knob")
    with pytest.raises(ValueError, match="train fold must be one of lesson, training"):
        Face("Pull", train=Place("sidebar"))
    assert Face("Pull", compare=None).train == Place("training")
