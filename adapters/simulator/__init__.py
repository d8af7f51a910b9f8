"""Simulated labeling vendors: a real HTTP server speaking the Bakeoff vendor protocol.

``python -m adapters.simulator --port 8765 --config sim.json`` serves every vendor of
the config under ``/vendors/{name}``; :class:`SimulatorAdapter` (kind ``"simulator"``)
talks to one of them, and :class:`SimulatorProcess` starts the server as a child
process. The truth the simulator adds noise to comes from its own oracle file, never
from the protocol.
"""

from adapters.simulator.adapter import SimulatorAdapter, SimulatorProcess, free_port
from adapters.simulator.config import (
    AnnotatorPool,
    BoxBias,
    ClassNoise,
    Faults,
    LatencySpec,
    PreferenceTruth,
    PriceList,
    SimulatedVendor,
    SimulatorConfig,
    load_config,
    load_oracle,
)

__all__ = [
    "AnnotatorPool",
    "BoxBias",
    "ClassNoise",
    "Faults",
    "LatencySpec",
    "PreferenceTruth",
    "PriceList",
    "SimulatedVendor",
    "SimulatorAdapter",
    "SimulatorConfig",
    "SimulatorProcess",
    "free_port",
    "load_config",
    "load_oracle",
]
