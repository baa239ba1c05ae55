"""Autoregressive world models: a Llama-style GPT over discrete video tokens, KV cache, Medusa."""
