"""A tiny randomly initialised OWL-ViT detector (model, tokenizer and image processor), saved like a hub model."""

from __future__ import annotations

import json
from pathlib import Path

import torch

#: Side of the tiny model's square input, and its patch (4 x 4 = 16 boxes per frame).
TINY_IMAGE_SIZE = 64
TINY_PATCH = 16


def _byte_symbols() -> list[str]:
    """256 printable symbols standing for the 256 byte values (byte-level BPE needs one per byte)."""
    printable = [b for b in range(256) if chr(b).isprintable() and not chr(b).isspace() and b != 0xAD]
    return [chr(b) for b in printable] + [chr(256 + n) for n in range(256 - len(printable))]


def save_tiny_owlvit(folder: Path, seed: int = 0) -> Path:
    """Build a tiny random OWL-ViT with a byte-level CLIP tokenizer and save it to ``folder``."""
    from transformers import CLIPTokenizer, OwlViTConfig, OwlViTForObjectDetection, OwlViTImageProcessor, OwlViTProcessor

    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    symbols = _byte_symbols()
    vocab = {s: i for i, s in enumerate(symbols)}
    vocab.update({s + "</w>": len(symbols) + i for i, s in enumerate(symbols)})
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)  # the highest id: the text model pools at it
    (folder / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")
    tokenizer = CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"), pad_token="!")
    config = OwlViTConfig(
        text_config=dict(vocab_size=len(vocab), hidden_size=32, intermediate_size=37, num_hidden_layers=2,
                         num_attention_heads=4, max_position_embeddings=16, bos_token_id=len(vocab) - 2,
                         eos_token_id=len(vocab) - 1, pad_token_id=0),
        vision_config=dict(hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4,
                           image_size=TINY_IMAGE_SIZE, patch_size=TINY_PATCH),
        projection_dim=32,
    )
    OwlViTForObjectDetection(config).save_pretrained(folder)
    processor = OwlViTProcessor(image_processor=OwlViTImageProcessor(
        size={"height": TINY_IMAGE_SIZE, "width": TINY_IMAGE_SIZE},
        crop_size={"height": TINY_IMAGE_SIZE, "width": TINY_IMAGE_SIZE}), tokenizer=tokenizer)
    processor.save_pretrained(folder)
    return folder
