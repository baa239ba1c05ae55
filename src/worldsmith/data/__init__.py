"""Training data: one way in for every training command.

    from worldsmith.data import ClipDataset, Selection, encode_clips
    pick = Selection.parse(["bucket=72x128_ar1.78_8-16s", "motion=0.02:"])  # --select terms
    clips = ClipDataset("runs/curated", frames=17, size=(64, 64), selection=pick)
    clips[0]           # float [3, 17, 64, 64] in [-1, 1]
    clips.captions[0]  # its caption (curated shards, sidecar .txt/.json, sim meta.json)

`--data` is the output folder of `worldsmith curate` (webdataset shards + Parquet manifest, clips
selectable by bucket and score), a folder of videos, or video files (`open_data`). `encode_clips`
caches tokenizer latents / tokens keyed by the tokenizer's and the data's fingerprints;
`encode_captions` turns captions into text embeddings once.
"""

from worldsmith.data.cache import Encoded, encode_clips, fingerprint_dir
from worldsmith.data.captions import encode_captions, sidecar_caption
from worldsmith.data.clips import ClipDataset, InMemory, open_data
from worldsmith.data.curated import CuratedClips, Selection
from worldsmith.data.prompted import PromptedDataset
from worldsmith.data.videos import VIDEO_SUFFIXES, Clip, DataError, VideoFiles, find_videos

__all__ = [
    "VIDEO_SUFFIXES", "Clip", "ClipDataset", "CuratedClips", "DataError", "Encoded", "InMemory",
    "PromptedDataset", "Selection", "VideoFiles", "encode_captions", "encode_clips", "find_videos",
    "fingerprint_dir", "open_data", "sidecar_caption",
]  # fmt: skip
