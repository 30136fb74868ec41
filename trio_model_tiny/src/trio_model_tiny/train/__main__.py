"""``python -m trio_model_tiny.train``: train trio-tiny (the arguments are in ``--help``)."""

from trio_model_tiny.train import main

main()
