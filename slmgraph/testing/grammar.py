"""Does a GBNF grammar accept a string? Checked by llama.cpp's own grammar engine, token by
token, with a model's vocabulary (the tiny test GGUF's byte-level vocabulary spells anything)."""

from __future__ import annotations

from typing import Any


def grammar_accepts(llama: Any, gbnf: str, text: str) -> bool:
    """True if llama.cpp's grammar sampler accepts ``text`` as a complete output."""
    import llama_cpp

    from slmgraph.models.llamacpp import _Grammar

    grammar = _Grammar(llama_cpp, llama._model.vocab, gbnf, llama.n_vocab())
    for token in llama.tokenize(text.encode("utf-8"), add_bos=False, special=False):
        if not grammar.allows(token):
            return False
        grammar.accept(token)
    eos = llama.token_eos()
    return grammar.allows(eos)
