// One thread setting for myelin and its math library (oneDNN shares myelin's OpenMP pool).
#pragma once

namespace myelin {

/// Sets the number of threads used by every kernel. n <= 0 restores the default: all cores.
void set_num_threads(int n);
/// The number of threads kernels use now.
int num_threads();
/// The cores this process may run on (the default thread count).
int num_cores();

}  // namespace myelin
