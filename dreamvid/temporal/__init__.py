"""The temporal family: videos and image sequences dreamed as chains of carried frames.

- plan.py: the frame range, size, shots and segments (plain data, decided once per render)
- chain.py: one segment's frames, each starting from the previous dream carried along the flow
- dreaming.py: dream segments, several chains batched side by side (runs anywhere)
- hold.py: how much of its steps a carried frame takes, to hold its shot's fresh strength
- checkpoints.py, chunks.py: the format finished frames wait in on the driver's disk (PNGs with their
  chain's state, then chunks of a few seconds in the output's codec)
- assemble.py: finished frames, in order, into the sink (or into chunks, joined at the end)
- local.py: the runner that does all three steps in this process, and the driver loop both runners share
- cluster.py: the Ray runner: plan and assemble here, dream on long-lived workers (--ray), with
  ray_connect.py (reaching a cluster, its token) and ray_pieces.py (a source sent to workers without it)
- zoom.py: the feedback zoom, one chain whose carry is a transform
- run.py: a job's source and sink, handed to either runner
- threads.py: bounded background threads

The work folder and what a resume must match live in journal/.
"""
