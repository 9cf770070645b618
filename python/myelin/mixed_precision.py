"""Keras's keras.mixed_precision: which type layers compute in.

    import myelin
    myelin.mixed_precision.set_global_policy("mixed_bfloat16")  # before building the model

Under "mixed_bfloat16", Dense, Conv1D, Conv2D, SimpleRNN, LSTM and GRU multiply in bfloat16 (float32
accumulation; the recurrent layers' state, gates and weight gradients stay float32, and so do their
products too small for bfloat16 to pay, such as each step's at batch 1); weights, optimizer state, activations between layers, losses and softmax stay
float32, so saved weights are float32. It needs a CPU with AVX512_BF16 or AMX-BF16 and raises
myelin.Error elsewhere. "auto" picks it where it runs faster than float32 (CPUs with AMX, or with
AVX512_BF16 on AMD) and "float32" otherwise (also on Intel CPUs with AVX512_BF16 and no AMX, where
bfloat16 dot products run at half float32's rate). A layer takes the
policy in force when it is made, and keeps it in its config ("dtype").
"""
from . import _myelin

__all__ = ["set_global_policy", "global_policy", "bf16_supported", "bf16_faster_than_float32"]


class DTypePolicy:
    """The policy's name, as Keras's mixed_precision.global_policy() returns it (an object with .name)."""

    def __init__(self, name):
        self.name = name
        self.compute_dtype = "bfloat16" if name == "mixed_bfloat16" else "float32"
        self.variable_dtype = "float32"

    def __repr__(self):
        return f'<DTypePolicy "{self.name}">'


def set_global_policy(policy):
    """'float32', 'mixed_bfloat16' or 'auto' (or a DTypePolicy)."""
    _myelin.set_global_policy(policy.name if isinstance(policy, DTypePolicy) else str(policy))


def global_policy():
    return DTypePolicy(_myelin.global_policy())


def bf16_supported():
    """Whether this CPU has bfloat16 dot products (AVX512_BF16 or AMX-BF16), by oneDNN's ISA query."""
    return bool(_myelin.bf16_supported())


def bf16_faster_than_float32():
    """Whether "mixed_bfloat16" runs faster than "float32" on this CPU (AMX, or AVX512_BF16 on AMD): the
    policy "auto" picks."""
    return bool(_myelin.bf16_faster_than_float32())
