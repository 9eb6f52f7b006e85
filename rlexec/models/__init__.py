"""The execution policy: its contract (feature names, action meaning) and ONNX loading for the runtime.

Training, export and evaluation need the `train` extra (torch, stable-baselines3,
gymnasium) and are imported only by those commands; the runtime needs only onnxruntime
and numpy. Shipped models live in `models/artifacts/`. May import `market` and `simulator`.
"""
