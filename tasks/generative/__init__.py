"""Generative and advanced augmentation: class-conditional VAE and GAN synthesizers,
adversarial examples against a surrogate, style transfer, and the quality gates that
validate applies to what they make.

PyTorch is an optional extra: importing this package (and gates, encoding, checks,
final, params) never imports it; the torch modules import it when a method runs.
The pipeline stage is tasks/synthesize.py (off by default: synthesize.enabled).
"""

from augmill.tasks import paths

# Written by the synthesize stage (DVC outputs).
SYNTHETIC_DIR = paths.INTERIM / "synthetic"  # images: label/sample_id.png (tables: none, rows hold the values)
SYNTHETIC_MANIFEST = paths.INTERIM / "synthetic.parquet"
GENERATOR_DIR = paths.INTERIM / "generator"  # model weights (*.pt) and card.json: a dataset version pins them
SYNTHESIZE_REPORT = paths.REPORTS / "synthesize.json"
SYNTHETIC_GRID = paths.PLOTS / "synthetic_samples.png"
# Written by validate: every synthetic row with accepted/quarantined and the reasons.
SYNTHETIC_VALIDATED = paths.INTERIM / "synthetic_validated.parquet"

GENERATORS = ("vae", "gan")
ADVERSARIAL = ("fgsm", "pgd")
STYLES = ("style_statistics", "style_adain")
