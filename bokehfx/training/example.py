"""The complete, commented example configuration printed by ``bokehfx train --example [--tiny]``."""

from __future__ import annotations

#: Values that differ between the full example and the tiny one (CPU, seconds, no download).
_VARIANTS = {
    "full": {
        "init": '"models/bokehfx-svd"', "size": "[576, 1024]", "reference_size": "[224, 224]", "batch_size": "1",
        "accum": "4", "mixed": '"bf16"', "checkpointing": "true", "lr": "1e-5", "ckpt": "500", "log": "10",
        "val_every": "500", "val_samples": "4", "s1": "20000", "s2": "10000", "s3": "5000", "f1": "8", "f2": "25",
        "f3": "8", "samples": "50000", "workers": "4", "lights": "[8, 32]",
    },
    "tiny": {
        "init": '"tiny"', "size": "[32, 48]", "reference_size": "[32, 48]", "batch_size": "2",
        "accum": "1", "mixed": '"no"', "checkpointing": "false", "lr": "1e-3", "ckpt": "2", "log": "1",
        "val_every": "4", "val_samples": "1", "s1": "3", "s2": "2", "s3": "1", "f1": "2", "f2": "3",
        "f3": "2", "samples": "64", "workers": "0", "lights": "[4, 8]",
    },
}

_TEMPLATE = """\
# bokehfx train configuration ({variant}).
# Run:  bokehfx train THIS_FILE --output runs/NAME   (resume with --resume; stop early with --max-steps N)
# Relative paths are read from this file's folder. Unknown keys are refused.

[model]
# "tiny": a small random model (tests, laptops); otherwise a model folder or hub id to start from,
# e.g. one made by `bokehfx model init --from-svd SVD_DIR models/bokehfx-svd` (SVD-xt weights).
init = {init}

[data]
size = {size}                # [height, width] of training frames (aspect ratio kept by cropping)
reference_size = {reference_size}      # [height, width] of the reference bokeh image
rate = 24.0                    # nominal frame rate (instructions time pulls in frames)
seed = 0                       # seed of the pair synthesiser (sample i depends only on it and i)
samples_per_epoch = {samples}        # nominal epoch length (the loop runs by steps, not epochs)
num_workers = {workers}                # DataLoader worker processes
# cache_dir = "pair_cache"     # store synthesised pairs there and read them back (optional)

[data.focus]
k_range = [1.0, 31.0]          # blur K drawn uniformly here (Any-to-Bokeh trains on 1..31)
pull_probability = 0.4         # chance the focus is pulled over the window
timed_pull_probability = 0.5   # chance a pull runs between two frames (else the whole window)
symbolic_probability = 0.5     # chance a target is near/middle/far (else a disparity value)
linear_probability = 0.2       # chance a pull is linear (else eased, like a hand pull)

[data.look]
apertures = ["disc", "polygon", "ring"]
blades = [5, 9]                # polygon blade count range
roundness = [0.0, 0.6]         # blade curvature range
anamorphic_probability = 0.2   # chance of oval (anamorphic) bokeh
anamorphic = [1.33, 2.0]       # its height/width range
ring_inner = [0.4, 0.7]        # inner radius range of the ring (mirror lens) aperture
cat_eye_probability = 0.2      # chance of cat's-eye bokeh toward the frame edges
cat_eye = [0.1, 0.4]           # its strength range
highlight_probability = 0.5    # chance of a highlight boost
highlight_gain = [0.2, 2.0]    # its gain range
highlight_threshold = [0.8, 1.5]  # its luminance threshold range

[data.crop]
scale = [0.6, 1.0]             # crop side relative to the largest crop of the training aspect ratio
flip_probability = 0.5         # chance of a horizontal flip

[data.corruption]              # applied to the model's depth in stages with depth_augmentation
blur_probability = 0.3
blur_sigma = [0.5, 3.0]        # pixels
morph_probability = 0.3        # dilation or erosion (even odds)
morph_radius = [1, 3]          # pixels
warp_probability = 0.2         # elastic warp
warp_amplitude = 0.02          # largest displacement, fraction of the shorter side
warp_cells = 4                 # control points per side of the warp field
noise_probability = 0.3
noise_sigma = [0.005, 0.03]    # disparity units
scale_probability = 0.3        # d' = a d + b
scale_range = [0.8, 1.2]       # a
shift_range = [-0.1, 0.1]      # b

[[data.sources]]               # the procedural layered scenes of `bokehfx demo`
kind = "procedural"
weight = 1.0                   # relative chance of this source
layers = [3, 5]                # planes per scene
lights = {lights}              # point lights per scene
speed = [0.0, 2.0]             # pixels per frame at 256 px of height

# [[data.sources]]             # a clip with a depth sidecar (RGB-D capture, rendered depth)
# kind = "sidecar"
# weight = 1.0
# video = "rgbd/color/%05d.jpg"
# depth = "rgbd/depth/%05d.png"
# depth_kind = "depth"         # depth or disparity
# depth_encoding = "mm"        # raw, mm, tum, nyu, sun (see `bokehfx render --help`)
# depth_range = [0.3, 10.0]    # optional metric [near, far]
# fps = 30.0                   # rate of an image sequence

# [[data.sources]]             # a clip whose depth `bokehfx render` estimated and cached
# kind = "cached"
# weight = 1.0
# video = "clips/street.mp4"
# depth_cache = ".bokehfx-cache/depth"
# entry = "0123abcd..."        # only when several estimators cached this clip
# fps = 24.0

# [[data.sources]]             # ready-made pairs: one folder per pair with aif.*, bokeh.*,
# kind = "folder"              # optional depth.*, reference.*, instruction.txt, focus.json
# weight = 1.0
# path = "pairs"

[training]
seed = 0
batch_size = {batch_size}                 # windows per device per step
gradient_accumulation_steps = {accum}
mixed_precision = {mixed}           # no, fp16, bf16
gradient_checkpointing = {checkpointing}
learning_rate = {lr}
lr_scheduler = "constant"      # constant, constant_with_warmup, linear, cosine
lr_warmup_steps = 0
adam_beta1 = 0.9
adam_beta2 = 0.999
adam_weight_decay = 0.0
adam_epsilon = 1e-8
max_grad_norm = 1.0
ema = true                     # keep an exponential moving average of the trained weights
ema_decay = 0.999
objective = "one_step"         # one_step (Any-to-Bokeh) or denoise (multi-step EDM)
dropout_reference = 0.05       # chance the reference is dropped (dual guidance)
dropout_text = 0.05            # chance the instruction is dropped
dropout_both = 0.05            # chance both are dropped
checkpoint_every = {ckpt}          # optimizer steps between checkpoints
keep_checkpoints = 3           # older checkpoints are deleted
log_every = {log}                  # steps between log lines (DIR/log.jsonl, TensorBoard when installed)
tensorboard = true

[validation]
every = {val_every}                    # steps between validations against the physical engine (0: off)
samples = {val_samples}                  # validation windows
seed = 1234                    # their seed (never used for training samples)
inference_steps = 1            # sampling steps of the validation renders (more for objective = "denoise")

[[stages]]                     # 1: the whole UNet on short windows
name = "unet"
train = "unet"                 # unet, temporal or decoder
steps = {s1}
frames = {f1}
depth_augmentation = false

[[stages]]                     # 2: temporal layers only, longer windows, corrupted depth
name = "temporal"
train = "temporal"
steps = {s2}
frames = {f2}
depth_augmentation = true
# learning_rate = 5e-6         # optional per-stage learning rate

[[stages]]                     # 3: the VAE decoder, with an image-gradient texture loss
name = "decoder"
train = "decoder"
steps = {s3}
frames = {f3}
texture_weight = 1.0
"""


def example_config(tiny: bool = False) -> str:
    """The complete commented example (``tiny``: the tiny model on procedural scenes, CPU, seconds)."""
    variant = "tiny" if tiny else "full"
    return _TEMPLATE.format(variant=variant, **_VARIANTS[variant])


__all__ = ["example_config"]
