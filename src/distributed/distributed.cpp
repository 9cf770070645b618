#include "myelin/distributed.hpp"

#include <cstdio>
#include <algorithm>
#include <cstdlib>
#include <limits>

#include "distributed/collectives.hpp"
#include "myelin/threading.hpp"

#ifdef MYELIN_HAVE_MPI
#include <mpi.h>
#endif

namespace myelin::distributed {

namespace {

bool launched_by_mpirun() {
  // Open MPI, MPICH/Hydra and PMIx launchers each set one of these in every rank's environment.
  for (const char* var : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"})
    if (std::getenv(var)) return true;
  return false;
}

struct World {
  bool started = false;
  int rank = 0, size = 1;
};

World& world() {
  static World w;
  return w;
}

#ifdef MYELIN_HAVE_MPI
void finalize_at_exit() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

// MPI counts are int: longer buffers go in pieces.
constexpr int64_t kMaxCount = std::numeric_limits<int>::max();
#endif

}  // namespace

bool available() {
#ifdef MYELIN_HAVE_MPI
  return true;
#else
  return false;
#endif
}

void init() {
  World& w = world();
  if (w.started) return;
  w.started = true;
#ifdef MYELIN_HAVE_MPI
  if (!launched_by_mpirun()) return;
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized) {
    // Only the thread that calls fit uses MPI; the batch-reading thread never does.
    int provided = 0;
    MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
    std::atexit(finalize_at_exit);
  }
  MPI_Comm_rank(MPI_COMM_WORLD, &w.rank);
  MPI_Comm_size(MPI_COMM_WORLD, &w.size);
  // A rank that throws reaches abort_all; MPI's own errors should name themselves, not hang.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_ARE_FATAL);
  // OpenMP sizes its pool from the cores this process may run on, which mpirun restricts to the
  // rank's own: re-read them now that the binding is in place.
  if (w.size > 1) set_num_threads(0);
#endif
}

int rank() {
  init();
  return world().rank;
}

int size() {
  init();
  return world().size;
}

bool is_primary() { return rank() == 0; }

void barrier() {
#ifdef MYELIN_HAVE_MPI
  if (size() > 1) MPI_Barrier(MPI_COMM_WORLD);
#endif
}

void abort_all(const std::string& message) {
  std::fprintf(stderr, "myelin: rank %d of %d: %s\n", rank(), size(), message.c_str());
  std::fflush(stderr);
#ifdef MYELIN_HAVE_MPI
  if (size() > 1) MPI_Abort(MPI_COMM_WORLD, 1);
#endif
  std::exit(1);
}

void allreduce_sum(float* data, int64_t n) {
#ifdef MYELIN_HAVE_MPI
  if (size() == 1) return;
  for (int64_t i = 0; i < n; i += kMaxCount)
    MPI_Allreduce(MPI_IN_PLACE, data + i, int(std::min(kMaxCount, n - i)), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
#else
  (void)data, (void)n;
#endif
}

void allreduce_sum(double* data, int64_t n) {
#ifdef MYELIN_HAVE_MPI
  if (size() == 1) return;
  for (int64_t i = 0; i < n; i += kMaxCount)
    MPI_Allreduce(MPI_IN_PLACE, data + i, int(std::min(kMaxCount, n - i)), MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
#else
  (void)data, (void)n;
#endif
}

void broadcast(float* data, int64_t n) {
#ifdef MYELIN_HAVE_MPI
  if (size() == 1) return;
  for (int64_t i = 0; i < n; i += kMaxCount)
    MPI_Bcast(data + i, int(std::min(kMaxCount, n - i)), MPI_FLOAT, 0, MPI_COMM_WORLD);
#else
  (void)data, (void)n;
#endif
}

void broadcast(uint64_t& value) {
#ifdef MYELIN_HAVE_MPI
  if (size() == 1) return;
  MPI_Bcast(&value, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD);
#else
  (void)value;
#endif
}

std::vector<std::vector<double>> allgather(const std::vector<double>& mine) {
  std::vector<std::vector<double>> all;
#ifdef MYELIN_HAVE_MPI
  if (size() > 1) {
    const int n = size();
    if (mine.size() > size_t(kMaxCount)) abort_all("allgather: a metric state of more than 2^31 values");
    int count = int(mine.size());
    std::vector<int> counts(n), offsets(n);
    MPI_Allgather(&count, 1, MPI_INT, counts.data(), 1, MPI_INT, MPI_COMM_WORLD);
    int64_t total = 0;
    for (int r = 0; r < n; ++r) offsets[r] = int(total), total += counts[r];
    if (total > kMaxCount) abort_all("allgather: metric states of more than 2^31 values in all");
    std::vector<double> flat(static_cast<size_t>(total));
    MPI_Allgatherv(mine.data(), count, MPI_DOUBLE, flat.data(), counts.data(), offsets.data(), MPI_DOUBLE,
                   MPI_COMM_WORLD);
    for (int r = 0; r < n; ++r) all.emplace_back(flat.begin() + offsets[r], flat.begin() + offsets[r] + counts[r]);
    return all;
  }
#endif
  all.push_back(mine);
  return all;
}

OverlappedAllreduce::~OverlappedAllreduce() {
  // Requests still in flight would write into freed gradients: complete them first.
  if (!requests_.empty()) wait();
}

void OverlappedAllreduce::start(float* data, int64_t n) {
#ifdef MYELIN_HAVE_MPI
  if (size() == 1) return;
  for (int64_t i = 0; i < n; i += kMaxCount) {
    auto* request = new MPI_Request;
    MPI_Iallreduce(MPI_IN_PLACE, data + i, int(std::min(kMaxCount, n - i)), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD,
                   request);
    requests_.push_back(request);
  }
#else
  (void)data, (void)n;
#endif
}

void OverlappedAllreduce::wait() {
#ifdef MYELIN_HAVE_MPI
  for (void* r : requests_) {
    auto* request = static_cast<MPI_Request*>(r);
    MPI_Wait(request, MPI_STATUS_IGNORE);
    delete request;
  }
#endif
  requests_.clear();
}

}  // namespace myelin::distributed
