"""Running rlexec's independent work on a Ray cluster (the `scale` extra).

Backtests fan out as tasks (`RayExecutor`, the `Executor` of `models.backtest_tasks`) and
training sweeps run as Ray Tune trials (`sweep`). Nothing outside this package imports Ray:
the local path stays the default. May import `market`, `simulator` and `models`.
"""
