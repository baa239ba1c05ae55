"""Text encoders for prompts (`encoders.py`)."""
