#include "myelin/threading.hpp"

#include <omp.h>

namespace myelin {

void set_num_threads(int n) { omp_set_num_threads(n > 0 ? n : num_cores()); }

int num_threads() { return omp_get_max_threads(); }

int num_cores() { return omp_get_num_procs(); }

}  // namespace myelin
