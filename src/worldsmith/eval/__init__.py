"""Evaluation: pixel metrics, 3D consistency, physics alignment, multi-view consistency, reports."""
