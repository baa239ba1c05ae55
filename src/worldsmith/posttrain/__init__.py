"""Post-training: start from a pretrained world model and teach it new conditions (robot actions;
later camera poses, views and control signals) with zero-initialised embedders, fully or with LoRA."""
