"""Random-weight Whisper and CLAP models saved like hub checkpoints, for tests and speed benchmarks.

They load through the same ``--asr-model DIR`` / ``--sound-model DIR`` path as downloaded models.
The tokenizers are built here, offline: a byte-level BPE vocabulary (the 256 byte symbols, no
merges, so every text encodes byte by byte) plus Whisper's special and 1501 timestamp tokens, or
RoBERTa's five specials for CLAP. ``whisper/small`` has the geometry (so the FLOPs, including
the 51,865-token output layer) of ``openai/whisper-small``; ``tiny`` is 1 layer, 16 wide.
"""

from __future__ import annotations

import os

WHISPER_GEOMETRIES = {
    "tiny": dict(d_model=16, layers=1, heads=2, ffn=32, vocab_size=None, max_target_positions=64),
    "small": dict(d_model=768, layers=12, heads=12, ffn=3072, vocab_size=51865, max_target_positions=448),
}
WHISPER_SPECIALS = (
    "<|endoftext|>",
    "<|startoftranscript|>",
    "<|en|>",
    "<|translate|>",
    "<|transcribe|>",
    "<|startoflm|>",
    "<|startofprev|>",
    "<|nocaptions|>",
    "<|notimestamps|>",
)
N_TIMESTAMPS = 1501  # <|0.00|> … <|30.00|> every 20 ms


def _byte_symbols() -> list[str]:
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    return list(bytes_to_unicode().values())


def save_random_whisper(path: str | os.PathLike, geometry: str = "tiny", seed: int = 0) -> str:
    """Write a random Whisper of ``geometry`` with its processor to ``path``; returns it."""
    import torch
    from transformers import (
        GenerationConfig,
        WhisperConfig,
        WhisperFeatureExtractor,
        WhisperForConditionalGeneration,
        WhisperProcessor,
        WhisperTokenizer,
    )

    if geometry not in WHISPER_GEOMETRIES:
        raise ValueError(f"geometry must be one of {sorted(WHISPER_GEOMETRIES)}, got {geometry!r}")
    geo = WHISPER_GEOMETRIES[geometry]
    symbols = _byte_symbols()
    vocab = {s: i for i, s in enumerate(symbols)}
    if geo["vocab_size"]:  # pad with never-produced pairs of symbols up to the real vocabulary size
        filler = (a + b for a in symbols for b in symbols)
        while len(vocab) < geo["vocab_size"] - len(WHISPER_SPECIALS) - N_TIMESTAMPS:
            vocab.setdefault(next(filler), len(vocab))
    tok = WhisperTokenizer(vocab=vocab, merges=[])
    tok.add_special_tokens({"additional_special_tokens": list(WHISPER_SPECIALS)})
    tok.add_tokens([f"<|{i * 0.02:.2f}|>" for i in range(N_TIMESTAMPS)])
    ids = dict(zip(WHISPER_SPECIALS, tok.convert_tokens_to_ids(list(WHISPER_SPECIALS)), strict=True))
    eot, sot = ids["<|endoftext|>"], ids["<|startoftranscript|>"]
    config = WhisperConfig(
        vocab_size=len(tok),
        d_model=geo["d_model"],
        encoder_layers=geo["layers"],
        decoder_layers=geo["layers"],
        encoder_attention_heads=geo["heads"],
        decoder_attention_heads=geo["heads"],
        encoder_ffn_dim=geo["ffn"],
        decoder_ffn_dim=geo["ffn"],
        num_mel_bins=80,
        max_source_positions=1500,
        max_target_positions=geo["max_target_positions"],
        pad_token_id=eot,
        bos_token_id=eot,
        eos_token_id=eot,
        decoder_start_token_id=sot,
    )
    torch.manual_seed(seed)
    model = WhisperForConditionalGeneration(config)
    model.generation_config = GenerationConfig(
        decoder_start_token_id=sot,
        eos_token_id=eot,
        pad_token_id=eot,
        bos_token_id=eot,
        no_timestamps_token_id=ids["<|notimestamps|>"],
        lang_to_id={"<|en|>": ids["<|en|>"]},
        task_to_id={"transcribe": ids["<|transcribe|>"], "translate": ids["<|translate|>"]},
        is_multilingual=True,
        max_initial_timestamp_index=50,
        max_length=geo["max_target_positions"],
        suppress_tokens=[],
        begin_suppress_tokens=[],
    )
    path = os.fspath(path)
    model.save_pretrained(path)
    WhisperProcessor(
        feature_extractor=WhisperFeatureExtractor(feature_size=80), tokenizer=tok
    ).save_pretrained(path)
    return path


def save_random_clap(path: str | os.PathLike, seed: int = 0) -> str:
    """Write a tiny random CLAP (1-layer text and audio towers, 16-dim space, 2 s of 48 kHz audio
    per input, 16 mel bins) with its processor to ``path``; returns it."""
    import torch
    from transformers import ClapConfig, ClapFeatureExtractor, ClapModel, ClapProcessor, RobertaTokenizer

    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, "<mask>": 4}
    for symbol in _byte_symbols():
        vocab.setdefault(symbol, len(vocab))
    tok = RobertaTokenizer(vocab=vocab, merges=[])
    config = ClapConfig(
        text_config=dict(
            vocab_size=len(tok),
            hidden_size=16,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=32,
            max_position_embeddings=80,
        ),
        # the Swin tower's last width (patch_embeds_hidden_size × 2^(stages - 1)) is hidden_size;
        # spec_size / num_mel_bins = 4 time folds, 4 × 64 ≥ the 201 frames of 2 s
        audio_config=dict(
            hidden_size=16,
            depths=[1, 1],
            num_attention_heads=[2, 2],
            patch_embeds_hidden_size=8,
            window_size=4,
            spec_size=64,
            num_mel_bins=16,
            enable_fusion=False,
        ),
        projection_dim=16,
    )
    torch.manual_seed(seed)
    path = os.fspath(path)
    ClapModel(config).save_pretrained(path)
    features = ClapFeatureExtractor(
        feature_size=16, sampling_rate=48_000, max_length_s=2, truncation="rand_trunc"
    )
    ClapProcessor(feature_extractor=features, tokenizer=tok).save_pretrained(path)
    return path
