// Data-parallel training across processes with MPI.
//
// Launch any myelin program with `mpirun -np N program ...`: each process (rank) trains on its own
// part of every batch, the initial weights come from rank 0, gradients are averaged over all ranks
// every step with MPI_Allreduce, evaluate() combines its metrics over all ranks, and only rank 0
// prints progress and writes files. Nothing in the program has to change; init() is called by fit,
// evaluate and the other entry points when the process was started by mpirun.
//
// batch_size is per rank, as in Horovod: N ranks with batch_size B step with N*B rows at a time and
// give the weights one process gets with batch_size N*B on the same data order (within float
// rounding). BatchNormalization's batch statistics are per rank, as Keras's MirroredStrategy without
// synchronised batch norm.
#pragma once
#include <string>

namespace myelin::distributed {

/// Whether this build of myelin has MPI (CMake option MYELIN_MPI, on when MPI is found).
bool available();

/// Starts MPI when the process was launched by mpirun (and this build has MPI); otherwise the
/// process is a world of one. Safe to call more than once; MPI is finalised at exit. Sets the
/// default thread count to the cores of this rank (mpirun binds each rank to its own cores).
void init();

/// This process's rank (0-based) and the number of ranks (1 outside mpirun).
int rank();
int size();
/// Whether this rank prints and writes files: rank 0, or the only process.
bool is_primary();

/// Waits until every rank has reached this call.
void barrier();

/// Stops every rank: prints "myelin: rank R: <message>" and ends the whole MPI job with exit code 1
/// (MPI_Abort), so that the other ranks do not wait forever for a rank that failed.
[[noreturn]] void abort_all(const std::string& message);

}  // namespace myelin::distributed
