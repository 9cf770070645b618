"""Weight penalties (keras.regularizers): kernel_regularizer=regularizers.l2(0.01)."""

__all__ = ["Regularizer", "L1", "L2", "L1L2", "l1", "l2", "l1_l2", "get"]


class Regularizer:
    """penalty(w) = l1 * sum(|w|) + l2 * sum(w^2), added to the loss as Keras does."""

    def __init__(self, l1=0.0, l2=0.0):
        self.l1 = float(l1)
        self.l2 = float(l2)
        if self.l1 < 0 or self.l2 < 0:
            raise ValueError(f"regularization factors must be >= 0, got l1={l1}, l2={l2}")

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}

    def __call__(self, weights):
        import numpy as np
        w = np.asarray(weights, dtype=np.float64)
        return self.l1 * np.abs(w).sum() + self.l2 * np.square(w).sum()

    def __repr__(self):
        return f"{type(self).__name__}(l1={self.l1}, l2={self.l2})"


class L1L2(Regularizer):
    def __init__(self, l1=0.0, l2=0.0):
        super().__init__(l1, l2)


class L1(Regularizer):
    def __init__(self, l1=0.01):
        super().__init__(l1=l1)


class L2(Regularizer):
    def __init__(self, l2=0.01):
        super().__init__(l2=l2)


l1 = L1
l2 = L2


def l1_l2(l1=0.01, l2=0.01):
    """Keras's l1_l2 shortcut (its defaults are 0.01 each, unlike L1L2's zeros)."""
    return L1L2(l1=l1, l2=l2)


def get(identifier):
    if identifier is None or isinstance(identifier, Regularizer):
        return identifier
    names = {"l1": L1, "l2": L2, "l1_l2": l1_l2, "l1l2": L1L2}
    if isinstance(identifier, str) and identifier.lower() in names:
        return names[identifier.lower()]()
    raise ValueError(f"unknown regularizer {identifier!r}")
