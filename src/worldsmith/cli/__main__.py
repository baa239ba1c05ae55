"""`python -m worldsmith.cli` (how torchrun re-launches a training command)."""

from worldsmith.cli import main

main()
