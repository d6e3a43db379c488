"""The outside world: files, ffmpeg, pictures. Knows no model and no render.

- ffmpeg.py: the binary and how it is run
- probe.py: what a video holds, read without decoding; colour.py: its colour tags
- decode.py: a video's frames as displayed, seeking to keyframes; encode.py: H.264 out, audio carried
- images.py: stills read and written as they are; listing.py: folders and numbered sequences
- audio.py: the soundtrack's loudness per frame
- sources.py: the frames a clip reads (FrameSource); sinks.py: where its finished frames go (FrameSink)
"""
