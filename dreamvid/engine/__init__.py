"""The engine: the networks, the objective and the dreamer, and the only code of dreamvid that imports a
numerics framework (tensorflow, keras, jax or torch). Importing this package loads none of them: the
rest of dreamvid sees NumPy arrays and this small face.

- catalog.py: what is known of each network without building it (planning checks against it)
- models.py: the Keras builders, their weights and preprocessing
- objective.py: what the dream maximises
- dreamer.py: octaves, the roll, tiles and the step loop
- device.py: devices, free memory, out-of-memory errors and worker set-up
- loader.py: one dreamer per model, weights and layers, built once per process
"""
from .catalog import (CATALOG, ModelSpec, check_layers, check_model, check_tile, model_spec, resolve_layers,
                      resolve_weights)
from .device import configure_worker, default_batch, is_out_of_memory
from .loader import load_dreamer, model_file_layers

__all__ = ["CATALOG", "ModelSpec", "check_layers", "check_model", "check_tile", "configure_worker", "default_batch",
           "is_out_of_memory", "load_dreamer", "model_file_layers", "model_spec", "resolve_layers", "resolve_weights"]
