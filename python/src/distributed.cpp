// Data-parallel training over MPI (myelin/distributed.hpp): which rank this process is. fit,
// evaluate and predict use MPI by themselves when the process was started by mpirun.
#include "bindings.hpp"

#include <myelin/distributed.hpp>

namespace myelin::python {

void init_distributed(py::module_& m) {
  m.def("distributed_available", &distributed::available);
  m.def("distributed_rank", &distributed::rank);
  m.def("distributed_size", &distributed::size);
  m.def("distributed_is_primary", &distributed::is_primary);
  // Waiting for the other ranks must not block this process's other Python threads.
  m.def("distributed_barrier", &distributed::barrier, py::call_guard<py::gil_scoped_release>());
}

}  // namespace myelin::python
