"""Which library computes the next-token mask of a JSON schema faster: llguidance or xgrammar?

The measurement behind trio's choice (docs/benchmarks.md, "Constrained decoding"): both
libraries compile SCHEMA for the model's own tokenizer, then walk the same answer token by
token, computing the allowed-token mask before each token, as a logits processor does during
generation. Run it from the repository root (xgrammar is not one of trio's dependencies:
`pip install xgrammar` first):

    .venv/bin/python docs/scripts/json_masks.py --model trio-tiny --rounds 200
    .venv/bin/python docs/scripts/json_masks.py --vocab 65536 --rounds 200
    .venv/bin/python docs/scripts/json_masks.py --end-to-end --rounds 15

``--end-to-end`` answers the bench's question with trio-tiny on the torch backend, once with
trio's llguidance processor and once with xgrammar's own transformers processor
(``xgrammar.contrib.hf``) in its place, in paired rounds: decode ms per token.

trio-tiny's vocabulary has 454 tokens; real VLMs have 50k to 150k, and the mask's cost grows
with them. No real tokenizer can be downloaded here, so ``--vocab N`` trains a byte-level BPE
of N tokens on the Python sources installed beside this script's interpreter (about 20 s).
"""

import argparse
import json
import statistics
import time

import torch

from trio_core import TrioCore
from trio_core.bench.structured import SCHEMA

ANSWER = '{"shapes":["square","circle"],"colour":"orange","count":2}'


def llguidance_walk(tokenizer, stop, tokens, rounds):
    import llguidance
    import llguidance.hf
    import llguidance.torch

    started = time.perf_counter()
    lltok = llguidance.hf.from_tokenizer(tokenizer, eos_token=stop)
    grammar = llguidance.LLMatcher.grammar_from_json_schema(SCHEMA, defaults={"whitespace_flexible": False})
    llguidance.LLMatcher(lltok, grammar)
    compile_ms = (time.perf_counter() - started) * 1000
    mask = llguidance.torch.allocate_token_bitmask(1, lltok.vocab_size)
    times = []
    for _ in range(rounds):
        matcher = llguidance.LLMatcher(lltok, grammar)
        started = time.perf_counter()
        for token in tokens:
            llguidance.torch.fill_next_token_bitmask(matcher, mask, 0)
            assert matcher.consume_token(token), matcher.get_error()
        times.append((time.perf_counter() - started) * 1e6 / len(tokens))
    return compile_ms, statistics.median(times)


def xgrammar_walk(tokenizer, stop, tokens, rounds, vocab_size):
    import xgrammar

    started = time.perf_counter()
    info = xgrammar.TokenizerInfo.from_huggingface(tokenizer, vocab_size=vocab_size, stop_token_ids=[stop])
    compiled = xgrammar.GrammarCompiler(info).compile_json_schema(
        json.dumps(SCHEMA), any_whitespace=False, separators=(",", ":")
    )
    compile_ms = (time.perf_counter() - started) * 1000
    mask = xgrammar.allocate_token_bitmask(1, info.vocab_size)
    times = []
    for _ in range(rounds):
        matcher = xgrammar.GrammarMatcher(compiled)
        started = time.perf_counter()
        for token in tokens:
            matcher.fill_next_token_bitmask(mask)
            assert matcher.accept_token(token)
        times.append((time.perf_counter() - started) * 1e6 / len(tokens))
    return compile_ms, statistics.median(times)


def trained_tokenizer(vocab: int):
    import glob
    import sysconfig

    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    files = sorted(glob.glob(f"{sysconfig.get_paths()['purelib']}/**/*.py", recursive=True))[:6000]
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train(
        files,
        trainers.BpeTrainer(
            vocab_size=vocab, special_tokens=["<|im_end|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
        ),
    )
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|im_end|>")
    return tokenizer, tokenizer.eos_token_id, len(tokenizer)


def end_to_end(rounds: int) -> None:
    import xgrammar
    import xgrammar.contrib.hf

    from trio_core.bench.structured import QUESTION
    from trio_core.frames import synthetic_frames

    engine = TrioCore(model="trio-tiny", max_tokens=64).load()
    model = engine.model
    ours = model.json_grammars.processor
    info = xgrammar.TokenizerInfo.from_huggingface(
        model.tokenizer,
        stop_token_ids=[model.stop_token_ids[0]],
        vocab_size=model.model.get_output_embeddings().weight.shape[0],
    )
    compiled = xgrammar.GrammarCompiler(info).compile_json_schema(
        json.dumps(SCHEMA), any_whitespace=False, separators=(",", ":")
    )
    processors = {"llguidance": ours, "xgrammar": lambda schema, rows=1: xgrammar.contrib.hf.LogitsProcessor(compiled)}
    image = synthetic_frames(1, 224)[0]
    times: dict[str, list[float]] = {name: [] for name in processors}
    for index in range(rounds + 1):
        for name in list(processors) if index % 2 == 0 else list(reversed(processors)):
            model.json_grammars.processor = processors[name]
            metrics = engine.analyze_frame(image, QUESTION, json_schema=SCHEMA).metrics
            if index:  # the first round warms up
                times[name].append(metrics.decode_ms / max(metrics.completion_tokens - 1, 1))
    ratios = [x / g for x, g in zip(times["xgrammar"], times["llguidance"], strict=True)]
    for name, found in times.items():
        print(f"{name:>10}: {statistics.median(found):.3f} ms per token (median of {rounds})")
    print(f"xgrammar/llguidance: {statistics.median(ratios):.3f} (median of paired rounds)")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="trio-tiny")
    parser.add_argument("--vocab", type=int, help="Train a byte-level BPE of this many tokens instead.")
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--end-to-end", action="store_true", help="Generation on trio-tiny with each library.")
    args = parser.parse_args()
    if args.end_to_end:
        end_to_end(args.rounds)
        return
    if args.vocab:
        tokenizer, stop, vocab_size = trained_tokenizer(args.vocab)
        name = "a trained BPE"
    else:
        model = TrioCore(model=args.model).load().model
        tokenizer, stop = model.tokenizer, model.stop_token_ids[0]
        vocab_size, name = model.model.get_output_embeddings().weight.shape[0], args.model
    tokens = tokenizer(ANSWER, add_special_tokens=False).input_ids
    torch.set_num_threads(1)
    print(f"{name}: vocabulary {len(tokenizer)} tokens, answer {len(tokens)} tokens, {args.rounds} rounds")
    for name, walk in (
        ("llguidance", lambda: llguidance_walk(tokenizer, stop, tokens, args.rounds)),
        ("xgrammar", lambda: xgrammar_walk(tokenizer, stop, tokens, args.rounds, vocab_size)),
    ):
        compile_ms, per_token_us = walk()
        print(f"{name:>10}: compile {compile_ms:7.1f} ms, mask {per_token_us:7.1f} us per token (median)")


if __name__ == "__main__":
    main()
