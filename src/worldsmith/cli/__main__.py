"""`python -m worldsmith.cli` (how torchrun re-launches a training command)."""

from worldsmith.cli import main

if __name__ == "__main__":  # not when a spawned worker process (the demo's) imports this module
    main()
