"""Curation: raw videos in, training clips out (shot detection, clip rules, filters, shards)."""
