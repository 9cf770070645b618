"""Weight initializers with Keras's names (keras.initializers); layers also take the names
('he_normal'). The C++ library draws the values, from the model's seed."""

__all__ = ["Initializer", "GlorotUniform", "GlorotNormal", "HeUniform", "HeNormal", "LecunUniform", "LecunNormal",
           "Orthogonal", "Zeros", "Ones", "Constant", "RandomUniform", "get"]


class Initializer:
    def __init__(self, seed=None):
        if seed is not None:
            raise ValueError("initializers draw from the model's seed (myelin.utils.set_random_seed); "
                             "seed= is not supported")

    def get_config(self):
        return {}

    def __repr__(self):
        return f"{type(self).__name__}()"


class GlorotUniform(Initializer):
    pass


class GlorotNormal(Initializer):
    pass


class HeUniform(Initializer):
    pass


class HeNormal(Initializer):
    pass


class LecunUniform(Initializer):
    pass


class LecunNormal(Initializer):
    pass


class Orthogonal(Initializer):
    """Keras's Orthogonal: the shorter side of the (rows, last axis) matrix is orthonormal. Only gain=1."""

    def __init__(self, gain=1.0, seed=None):
        super().__init__(seed)
        if float(gain) != 1.0:
            raise ValueError(f"Orthogonal: only gain=1.0 is supported, got {gain!r}")
        self.gain = 1.0

    def get_config(self):
        return {"gain": self.gain}


class Zeros(Initializer):
    def __init__(self):
        super().__init__()


class Ones(Initializer):
    def __init__(self):
        super().__init__()


class Constant(Initializer):
    def __init__(self, value=0.0):
        super().__init__()
        self.value = float(value)

    def get_config(self):
        return {"value": self.value}


class RandomUniform(Initializer):
    """Values drawn uniformly from [minval, maxval); Keras's 'uniform' (Embedding's default)."""

    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        super().__init__(seed)
        self.minval = float(minval)
        self.maxval = float(maxval)
        if not self.minval <= self.maxval:
            raise ValueError(f"RandomUniform: minval must not exceed maxval, got [{minval}, {maxval}]")

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval}

    def __repr__(self):
        return f"RandomUniform(minval={self.minval}, maxval={self.maxval})"


def get(identifier):
    if isinstance(identifier, (Initializer, str)):
        return identifier
    raise ValueError(f"unknown initializer {identifier!r}")
