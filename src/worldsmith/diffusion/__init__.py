"""Diffusion world model: EDM (edm.py), samplers (samplers.py), the Cosmos DiT (dit.py),
Video2World conditioning (conditioning.py), training objective and generation pipelines."""
