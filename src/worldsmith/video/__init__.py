"""Video I/O (`io`) and tensor transforms (`transforms`)."""

from worldsmith.video.io import Video, VideoError, VideoInfo, iter_frames, probe, read, write, write_gif

__all__ = ["Video", "VideoError", "VideoInfo", "iter_frames", "probe", "read", "write", "write_gif"]
