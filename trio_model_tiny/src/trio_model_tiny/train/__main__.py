"""``python -m trio_model_tiny.train``: train trio-tiny (``--help`` lists the arguments)."""

from __future__ import annotations

import argparse
from pathlib import Path

import trio_model_tiny.train as package
from trio_model_tiny.plugin import WEIGHTS
from trio_model_tiny.train.loop import train


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m trio_model_tiny.train", description=package.__doc__.splitlines()[0]
    )
    parser.add_argument("--out", type=Path, default=WEIGHTS)
    parser.add_argument("--steps", type=int, default=3600)
    parser.add_argument("--batch-size", type=int, default=8, help="scenes per step; each is asked several questions")
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--log-every", type=int, default=25)
    parser.add_argument("--validate-every", type=int, default=600, help="0: never")
    parser.add_argument("--init", type=Path, help="continue from this checkpoint (a further stage)")
    parser.add_argument(
        "--pooled-weight", type=float, default=1.0, help="weight of each object's pooled shape/direction loss"
    )
    parser.add_argument(
        "--object-targets",
        action="store_true",
        help="codes for colour-and-shape and object centres; look at <|vision_start|> for absent things, spread over centres to count",
    )
    parser.add_argument("--clip-presence", action="store_true", help='clips are also asked "is there X?"')
    args = parser.parse_args()
    train(
        args.out,
        steps=args.steps,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        threads=args.threads,
        log_every=args.log_every,
        validate_every=args.validate_every,
        init=args.init,
        pooled_weight=args.pooled_weight,
        object_targets=args.object_targets,
        clip_presence=args.clip_presence,
    )


if __name__ == "__main__":
    main()
