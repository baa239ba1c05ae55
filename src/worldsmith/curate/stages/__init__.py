"""Curation stages, in pipeline order: ingest, split, transcode, filters, caption, embed (+ dedup and
shard, which see every clip and run after the streaming stages)."""
