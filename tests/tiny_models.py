"""Tiny random-weight BERT and BART models with locally built tokenizers, saved with `save_pretrained`.

They load through the same `from_pretrained` code path as the real hub models, without a network.
"""

from __future__ import annotations

from pathlib import Path

WORDS = "free prize win call now claim txt urgent lunch tomorrow see you at the ok lol home".split()
CHARACTERS = list("abcdefghijklmnopqrstuvwxyz0123456789!?.,")
SIZES = dict(hidden=32, layers=2, heads=2, ffn=64, positions=256)


def save_tiny_bert(directory: Path, seed: int = 0) -> Path:
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    directory.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS, *CHARACTERS]
    tokenizer = BertTokenizerFast(vocab={token: index for index, token in enumerate(vocab)})
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=SIZES["hidden"],
        num_hidden_layers=SIZES["layers"],
        num_attention_heads=SIZES["heads"],
        intermediate_size=SIZES["ffn"],
        max_position_embeddings=SIZES["positions"],
    )
    torch.manual_seed(seed)  # another seed, other weights
    BertModel(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def save_tiny_bart(directory: Path) -> Path:
    """BART's byte-level BPE: every byte is a token, plus a few merges so that words split into pieces."""
    from tokenizers.pre_tokenizers import ByteLevel
    from transformers import BartConfig, BartModel, BartTokenizerFast

    directory.mkdir(parents=True, exist_ok=True)
    specials = ["<s>", "<pad>", "</s>", "<unk>"]
    symbols = sorted(ByteLevel.alphabet())  # the 256 byte symbols
    merges = [f"{w[0]} {w[1]}" for w in WORDS if len(w) > 1]  # first pair of each word, enough to merge
    tokens = [*specials, *symbols, *(m.replace(" ", "") for m in merges), "<mask>"]
    vocab = {token: index for index, token in enumerate(dict.fromkeys(tokens))}
    tokenizer = BartTokenizerFast(vocab=vocab, merges=[tuple(m.split()) for m in merges])
    config = BartConfig(
        vocab_size=len(vocab),
        d_model=SIZES["hidden"],
        encoder_layers=SIZES["layers"],
        decoder_layers=SIZES["layers"],
        encoder_attention_heads=SIZES["heads"],
        decoder_attention_heads=SIZES["heads"],
        encoder_ffn_dim=SIZES["ffn"],
        decoder_ffn_dim=SIZES["ffn"],
        max_position_embeddings=SIZES["positions"],
        pad_token_id=vocab["<pad>"],
        bos_token_id=vocab["<s>"],
        eos_token_id=vocab["</s>"],
        decoder_start_token_id=vocab["</s>"],
    )
    BartModel(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


# What a stand-in must share with the model it replaces is its code path: encoder-decoder models (BART's, where
# featurize.NAME.hidden_states applies) or encoder-only ones (BERT's, like most). Offline, a hub id is all the
# tests can read, so its family is told from its name; any other id gets the encoder-only stand-in.
ENCODER_DECODER_FAMILIES = ("bart", "t5", "pegasus", "marian", "mbart")
STAND_INS = {"encoder-decoder": save_tiny_bart, "encoder": save_tiny_bert}


def architecture(model_id: str) -> str:
    """ "encoder-decoder" or "encoder" (STAND_INS' keys), from the hub id's name."""
    name = model_id.lower().rsplit("/", 1)[-1]
    return "encoder-decoder" if any(family in name for family in ENCODER_DECODER_FAMILIES) else "encoder"


def save_stand_in(model_id: str, directory: Path) -> Path:
    """A tiny random model of `model_id`'s architecture, saved in `directory` for featurize.NAME.model."""
    return STAND_INS[architecture(model_id)](directory)
