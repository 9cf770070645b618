#include "myelin/callbacks/checkpoint.hpp"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

#include "myelin/distributed.hpp"
#include "myelin/error.hpp"
#include "myelin/io/atomic_file.hpp"
#include "myelin/io/model_io.hpp"
#include "myelin/io/safetensors.hpp"
#include "myelin/model.hpp"

namespace myelin::callbacks {

ModelCheckpoint::ModelCheckpoint(std::string filepath, Options options)
    : filepath_(std::move(filepath)), o_(std::move(options)) {
  maximize_ = monitor_maximizes(o_.monitor, o_.mode);
}

void ModelCheckpoint::on_train_begin(const Logs&) {
  best_ = maximize_ ? -INFINITY : INFINITY;
  saved_.clear();
}

std::string ModelCheckpoint::path_for(int epoch) const {
  std::string p = filepath_;
  const std::string key = "{epoch}";
  for (size_t at = p.find(key); at != std::string::npos; at = p.find(key)) p.replace(at, key.size(), std::to_string(epoch + 1));
  return p;
}

void ModelCheckpoint::on_epoch_end(int epoch, const Logs& logs) {
  if (o_.save_best_only) {
    if (!logs.contains(o_.monitor))
      throw ValueError("ModelCheckpoint: monitored quantity '" + o_.monitor + "' is not in the logs (available: " +
                       logs.keys() + ")");
    const double v = logs[o_.monitor];
    if (!(maximize_ ? v > best_ : v < best_)) return;
    best_ = v;
  }
  if (o_.save_weights_only) model().save_weights(path_for(epoch));
  else model().save(path_for(epoch));
  saved_.push_back(epoch);
}

BackupAndRestore::BackupAndRestore(std::string backup_dir) : dir_(std::move(backup_dir)) {}

std::string BackupAndRestore::backup_path() const { return (std::filesystem::path(dir_) / "backup.safetensors").string(); }

void BackupAndRestore::on_train_begin(const Logs&) {
  restored_ = -1;
  std::filesystem::create_directories(dir_);
  const std::string path = backup_path();
  if (!std::filesystem::exists(path)) return;
  // The backup is a full model file: weights, optimizer state (with its step count) and the epoch.
  const auto meta = io::read_safetensors(path).metadata;
  auto it = meta.find("backup_epoch");
  if (it == meta.end()) throw IOError("'" + path + "' is not a backup: it has no epoch");
  int epoch = -1;
  try {
    size_t used = 0;
    epoch = std::stoi(it->second, &used);
    if (used != it->second.size()) epoch = -1;
  } catch (const std::exception&) {
  }
  if (epoch < 0 || epoch >= std::numeric_limits<int>::max() - 1)
    throw IOError("'" + path + "': backup_epoch '" + it->second + "' is not an epoch number");
  Model& m = model();
  Model saved = load_model(path);
  m.set_weights(saved.get_weights());
  if (m.compiled() && saved.compiled()) {
    Optimizer& to = m.optimizer();
    Optimizer& from = saved.optimizer();
    to.ensure_built(m.parameters());
    auto dst = to.slots();
    auto src = from.slots();
    if (dst.size() != src.size()) throw IOError("'" + path + "': the optimizer state does not fit this model's optimizer");
    for (size_t i = 0; i < dst.size(); ++i) {
      if (dst[i].second->shape() != src[i].second->shape())
        throw IOError("'" + path + "': optimizer state " + src[i].first + " has shape " +
                      shape_to_string(src[i].second->shape()) + ", this model's is " + shape_to_string(dst[i].second->shape()));
      dst[i].second->copy_from(*src[i].second);
    }
    to.set_iterations(from.iterations());
    // A rate changed during training (ReduceLROnPlateau) comes back; a schedule is kept, since it
    // computes the rate from the restored step count (setting a rate would remove it).
    if (!to.has_schedule()) to.set_learning_rate(from.learning_rate());
  }
  // The random state: the seed the interrupted fit derived its per-epoch shuffling and dropout
  // streams from, so the resumed epochs draw the same numbers whatever the new process did before.
  auto seed = meta.find("fit_seed");
  if (seed != meta.end()) {
    try {
      m.resume_fit_seed = std::stoull(seed->second);
    } catch (const std::exception&) {
      throw IOError("'" + path + "': fit_seed '" + seed->second + "' is not a number");
    }
  }
  restored_ = epoch + 1;
  m.resume_epoch = restored_;
}

void BackupAndRestore::on_epoch_end(int epoch, const Logs&) {
  // A full model file (weights and optimizer state) with the epoch beside them in the metadata.
  save_model(model(), backup_path(),
             {{"backup_epoch", std::to_string(epoch)}, {"fit_seed", std::to_string(model().fit_seed())}});
}

void BackupAndRestore::on_train_end(const Logs&) {
  // Training finished (or stopped on purpose): the next fit starts afresh, as Keras does.
  if (distributed::is_primary()) std::filesystem::remove(backup_path());
}

CSVLogger::CSVLogger(std::string filename, char separator, bool append)
    : filename_(std::move(filename)), separator_(separator), append_(append) {}

void CSVLogger::on_train_begin(const Logs&) {
  header_.clear();
  rows_.clear();
  if (append_ && std::filesystem::exists(filename_)) {
    std::ifstream in(filename_);
    std::getline(in, header_);
    std::stringstream rest;
    rest << in.rdbuf();
    rows_ = rest.str();
  }
}

void CSVLogger::on_epoch_end(int epoch, const Logs& logs) {
  std::string header = "epoch";
  std::ostringstream row;
  row.precision(17);  // enough digits for a double to read back exactly
  row << epoch;
  for (const auto& [k, v] : logs) {
    header += separator_ + k;
    row << separator_ << v;
  }
  if (header_.empty()) header_ = header;
  rows_ += row.str() + "\n";
  // The whole file is rewritten atomically each epoch: a crash leaves the previous epoch's file.
  // Under mpirun every rank has the same logs; rank 0 writes them.
  if (distributed::is_primary()) io::write_file_atomically(filename_, header_ + "\n" + rows_);
}

}  // namespace myelin::callbacks
