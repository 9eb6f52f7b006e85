"""rlexec: a live execution service that works parent orders with an RL policy under hard risk limits."""

__version__ = "0.1.0"
