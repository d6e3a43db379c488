"""The temporal family: videos and image sequences dreamed as chains of carried frames.

- plan.py: the frame range, size, shots and segments (plain data, decided once per render)
- chain.py: one segment's frames, each starting from the previous dream carried along the flow
- dreaming.py: dream segments, several chains batched side by side (runs anywhere)
- checkpoints.py, chunks.py: the format finished frames wait in on the driver's disk (PNGs, then
  H.264 chunks of a few seconds)
- assemble.py: finished frames, in order, into the sink (or into chunks, joined at the end)
- workfolder.py, resume.py: the work folder, and what a resume must match
- local.py: the runner that does all three steps in this process, and the driver loop both runners share
- cluster.py: the Ray runner: plan and assemble here, dream on long-lived workers (--ray)
- run.py: a job's source and sink, handed to either runner
- threads.py: bounded background threads
"""
