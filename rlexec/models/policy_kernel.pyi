"""Types of the compiled policy kernel (policy_kernel.c); ONNX Runtime stays its reference."""

from collections.abc import Sequence

class DenseNet:
    imputed: int
    features: int
    outputs: int
    def __init__(
        self,
        mean: bytes,
        inv_std: bytes,
        clip: float,
        layers: Sequence[tuple[bytes, bytes, int, int, int]],
    ) -> None: ...
    def argmax(self, observation: Sequence[float], /) -> int: ...
    def scores(self, observation: Sequence[float], /) -> list[float] | None: ...

NONE: int
TANH: int
RELU: int
SOURCE_SHA256: str
