// Callbacks that write files during training: ModelCheckpoint, BackupAndRestore and CSVLogger.
// Every file is written atomically, so an interrupted run never leaves a half-written one.
#pragma once
#include <string>
#include <vector>

#include "myelin/callbacks.hpp"

namespace myelin::callbacks {

/// Saves the model (or its weights) at the end of epochs, as Keras's ModelCheckpoint. `filepath`
/// may contain "{epoch}" (1-based, as Keras formats it). With save_best_only, only when `monitor`
/// improves (mode as EarlyStopping).
class ModelCheckpoint : public Callback {
 public:
  struct Options {
    std::string monitor = "val_loss";
    bool save_best_only = false;
    bool save_weights_only = false;
    std::string mode = "auto";
  };
  explicit ModelCheckpoint(std::string filepath) : ModelCheckpoint(std::move(filepath), Options{}) {}
  ModelCheckpoint(std::string filepath, Options options);
  void on_train_begin(const Logs&) override;
  void on_epoch_end(int epoch, const Logs& logs) override;
  /// The file written for an epoch (0-based).
  std::string path_for(int epoch) const;
  /// Epochs (0-based) at which a file was written.
  const std::vector<int>& saved_epochs() const { return saved_; }

 private:
  std::string filepath_;
  Options o_;
  bool maximize_ = false;
  double best_ = 0;
  std::vector<int> saved_;
};

/// Makes training resumable after an interruption (a crash, kill -9), as Keras's BackupAndRestore:
/// at every epoch end it writes `backup_dir`/backup.safetensors with the weights, the optimizer's
/// state and the epoch; at the start of fit() it restores them if the file exists, and fit()
/// continues from the next epoch. The per-epoch shuffling and dropout streams depend only on the
/// seed and the epoch, so the resumed run ends with the same weights, bit for bit, as an
/// uninterrupted one (same thread count). The backup is deleted when training completes.
class BackupAndRestore : public Callback {
 public:
  explicit BackupAndRestore(std::string backup_dir);
  void on_train_begin(const Logs&) override;
  void on_epoch_end(int epoch, const Logs& logs) override;
  void on_train_end(const Logs&) override;
  /// The epoch (0-based) training resumed from, or -1 when it started afresh.
  int restored_epoch() const { return restored_; }
  std::string backup_path() const;

 private:
  std::string dir_;
  int restored_ = -1;
};

/// Writes the history as CSV, one row per epoch ("epoch,accuracy,loss,val_..."), as Keras's CSVLogger.
class CSVLogger : public Callback {
 public:
  explicit CSVLogger(std::string filename, char separator = ',', bool append = false);
  void on_train_begin(const Logs&) override;
  void on_epoch_end(int epoch, const Logs& logs) override;

 private:
  std::string filename_;
  char separator_;
  bool append_;
  std::string header_, rows_;
};

}  // namespace myelin::callbacks
