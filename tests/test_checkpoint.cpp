// Callbacks that write files: ModelCheckpoint (best only, {epoch} names), CSVLogger, and
// BackupAndRestore proven on a real process killed with SIGKILL mid-training: the restarted run ends
// with weights bit-identical to a run never interrupted (a Sequential, a functional residual model, a
// functional model with a shared layer, a recurrent model with dropout masks and an attention model).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "myelin/myelin.hpp"

using namespace myelin;
namespace fs = std::filesystem;

namespace {
struct TempDir {
  fs::path path;
  explicit TempDir(const std::string& tag) : path(fs::temp_directory_path() / ("myelin_ck_" + tag + std::to_string(::getpid()))) {
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

void make_data(Tensor& x, Tensor& y) {
  x = Tensor({200, 6});
  y = Tensor({200, 1});
  Rng r(4);
  for (int64_t i = 0; i < x.size(); ++i) x[i] = r.normal(0, 1);
  for (int64_t i = 0; i < 200; ++i) y[i] = float(x.at(i, 0) + x.at(i, 1) > 0);
}

// Token ids for the sequence models: 200 rows of 6 ids below 10; the label is whether id 3 occurs.
void make_token_data(Tensor& x, Tensor& y) {
  x = Tensor({200, 6});
  y = Tensor({200, 1});
  Rng r(4);
  for (int64_t i = 0; i < 200; ++i) {
    for (int64_t j = 0; j < 6; ++j) x.at(i, j) = float(std::min<int64_t>(9, int64_t(r.uniform(0, 10))));
    for (int64_t j = 0; j < 6; ++j) y[i] = std::max(y[i], float(x.at(i, j) == 3));
  }
}

bool is_sequence_model(const std::string& kind) { return kind == "recurrent" || kind == "attention"; }

Sequential make_model() {
  set_random_seed(21);
  Sequential m({layers::Dense(16, "relu", Shape{6}), layers::Dropout(0.2f), layers::Dense(1, "sigmoid")});
  m.compile(optimizers::Adam(1e-2), "binary_crossentropy", {"accuracy"});
  return m;
}

// The models the killed child trains, by name: "sequential" (make_model), "residual" (a skip
// connection around a block with dropout), "shared" (one Dense called twice, its gradients summed),
// "recurrent" (Embedding, an LSTM with input and recurrent dropout, whose masks come from the layer's
// own random stream) and "attention" (Embedding, self-attention with dropout, LayerNormalization).
Model make_graph_model(const std::string& kind) {
  if (kind == "sequential") return make_model();
  set_random_seed(21);
  if (kind == "recurrent") {
    Sequential m({layers::Embedding(10, 8, {.input_shape = Shape{6}}),
                  layers::LSTM(8, {.dropout = 0.2f, .recurrent_dropout = 0.2f}), layers::Dense(1, "sigmoid")});
    m.compile(optimizers::Adam(1e-2), "binary_crossentropy", {"accuracy"});
    return m;
  }
  if (kind == "attention") {
    auto ids = layers::Input({6});
    auto e = layers::Embedding(10, 8)(ids);
    auto a = layers::MultiHeadAttention(2, 4, {.dropout = 0.2f})({e, e});
    auto h = layers::LayerNormalization()(layers::Add()({e, a}));
    Model m(ids, layers::Dense(1, "sigmoid")(layers::GlobalAveragePooling1D()(h)));
    m.compile(optimizers::Adam(1e-2), "binary_crossentropy", {"accuracy"});
    return m;
  }
  auto in = layers::Input({6});
  auto h = layers::Dense(16, "relu")(in);
  auto out = [&] {
    if (kind == "residual") {
      auto block = layers::Dense(16, "relu")(layers::Dropout(0.2f)(h));
      return layers::Dense(1, "sigmoid")(layers::Add()({h, block}));
    }
    if (kind != "shared") throw std::invalid_argument("no test model named " + kind);
    auto shared = std::make_shared<layers::Dense>(16, "tanh");
    auto once = call_layer(shared, {h});
    auto twice = call_layer(shared, {layers::Dropout(0.2f)(once)});
    return layers::Dense(1, "sigmoid")(layers::Concatenate()({once, twice}));
  }();
  Model m(in, out);
  m.compile(optimizers::Adam(1e-2), "binary_crossentropy", {"accuracy"});
  return m;
}

std::string read_all(const std::string& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

constexpr int kEpochs = 8;

// Run a child copy of this test program training the model `kind` (make_graph_model) with
// BackupAndRestore in `dir`; returns its pid.
pid_t spawn_child(const std::string& dir, const std::string& kind) {
  const pid_t pid = fork();
  if (pid == 0) {
    setenv("MYELIN_BACKUP_CHILD_DIR", dir.c_str(), 1);
    setenv("MYELIN_BACKUP_CHILD_MODEL", kind.c_str(), 1);
    execl("/proc/self/exe", "test_checkpoint", "--gtest_filter=BackupChild.Train", static_cast<char*>(nullptr));
    _exit(127);
  }
  return pid;
}

int wait_exit(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
}  // namespace

// The child: trains kEpochs epochs, slowly enough to be killed in the middle, then saves its weights.
TEST(BackupChild, Train) {
  const char* dir = std::getenv("MYELIN_BACKUP_CHILD_DIR");
  if (!dir) GTEST_SKIP() << "runs only as the child of BackupAndRestore.ResumesBitIdenticallyAfterKill";
  const std::string kind = std::getenv("MYELIN_BACKUP_CHILD_MODEL") ? std::getenv("MYELIN_BACKUP_CHILD_MODEL") : "sequential";
  Tensor x, y;
  if (is_sequence_model(kind))
    make_token_data(x, y);
  else
    make_data(x, y);
  Model m = make_graph_model(kind);
  // The restarted run may use the model's random stream differently before it resumes (here: an
  // extra, empty fit); the backup's saved random state keeps the resumed epochs identical anyway.
  if (std::getenv("MYELIN_BACKUP_CHILD_EXTRA_DRAW")) m.fit(x, y, {.epochs = 0, .verbose = 0});
  callbacks::BackupAndRestore backup(std::string(dir) + "/backup");
  callbacks::LambdaCallback slow;
  slow.epoch_end = [](int, const Logs&) { std::this_thread::sleep_for(std::chrono::milliseconds(150)); };
  m.fit(x, y, {.epochs = kEpochs, .batch_size = 16, .callbacks = {backup, slow}, .verbose = 0});
  m.save_weights(std::string(dir) + "/final.safetensors");
  std::ofstream(std::string(dir) + "/restored_epoch") << backup.restored_epoch();
}

namespace {
// Kills a child training `kind` once its epoch-3 backup is on disk, restarts it, and compares its final
// weights with those of a run never interrupted.
void expect_bit_identical_resume_after_kill(const std::string& kind) {
  TempDir killed("killed_" + kind), whole("whole_" + kind);
  // Interrupted run: SIGKILL once the backup of epoch 3 (0-based 2) is on disk.
  pid_t pid = spawn_child(killed.path.string(), kind);
  const std::string backup = killed.file("backup/backup.safetensors");
  bool killed_mid_run = false;
  for (int i = 0; i < 600 && !killed_mid_run; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    if (!fs::exists(backup)) continue;
    try {
      if (std::stoi(io::read_safetensors(backup).metadata.at("backup_epoch")) >= 2) {
        kill(pid, SIGKILL);
        killed_mid_run = true;
      }
    } catch (const std::exception&) {
      // Being replaced at this instant: try again.
    }
  }
  ASSERT_TRUE(killed_mid_run) << "the child never wrote its epoch-3 backup";
  EXPECT_EQ(wait_exit(pid), 128 + SIGKILL);
  ASSERT_FALSE(fs::exists(killed.file("final.safetensors")));
  // Same command again: resumes after the last finished epoch and completes.
  setenv("MYELIN_BACKUP_CHILD_EXTRA_DRAW", "1", 1);
  const int resumed_status = wait_exit(spawn_child(killed.path.string(), kind));
  unsetenv("MYELIN_BACKUP_CHILD_EXTRA_DRAW");
  ASSERT_EQ(resumed_status, 0);
  EXPECT_GE(std::stoi(read_all(killed.file("restored_epoch"))), 3);
  EXPECT_FALSE(fs::exists(backup)) << "a finished run removes its backup";
  // A run never interrupted.
  ASSERT_EQ(wait_exit(spawn_child(whole.path.string(), kind)), 0);
  EXPECT_EQ(read_all(whole.file("restored_epoch")), "-1");

  const auto a = io::read_safetensors(killed.file("final.safetensors"));
  const auto b = io::read_safetensors(whole.file("final.safetensors"));
  ASSERT_EQ(a.tensors.size(), b.tensors.size());
  ASSERT_FALSE(a.tensors.empty());
  for (size_t i = 0; i < a.tensors.size(); ++i)
    EXPECT_EQ(a.tensors[i].second.to_vector(), b.tensors[i].second.to_vector()) << a.tensors[i].first;
}

}  // namespace

TEST(BackupAndRestore, ResumesBitIdenticallyAfterKill) { expect_bit_identical_resume_after_kill("sequential"); }

TEST(BackupAndRestore, FunctionalResidualModelResumesBitIdenticallyAfterKill) {
  expect_bit_identical_resume_after_kill("residual");
}

TEST(BackupAndRestore, ModelWithASharedLayerResumesBitIdenticallyAfterKill) {
  expect_bit_identical_resume_after_kill("shared");
}

TEST(BackupAndRestore, RecurrentModelWithDropoutResumesBitIdenticallyAfterKill) {
  expect_bit_identical_resume_after_kill("recurrent");
}

TEST(BackupAndRestore, AttentionModelResumesBitIdenticallyAfterKill) { expect_bit_identical_resume_after_kill("attention"); }

TEST(ModelCheckpoint, SavesBestOnlyAndNamesByEpoch) {
  TempDir d("best");
  Tensor x, y;
  make_data(x, y);
  Sequential m = make_model();
  callbacks::ModelCheckpoint every(d.file("every-{epoch}.safetensors"), {.monitor = "loss"});
  callbacks::ModelCheckpoint best(d.file("best.safetensors"), {.monitor = "val_loss", .save_best_only = true});
  std::vector<double> val_losses;
  callbacks::LambdaCallback record;
  record.epoch_end = [&](int, const Logs& l) { val_losses.push_back(l["val_loss"]); };
  m.fit(x, y, {.epochs = 5, .batch_size = 16, .validation_split = 0.25, .callbacks = {every, best, record}, .verbose = 0});
  for (int e = 1; e <= 5; ++e) EXPECT_TRUE(fs::exists(d.file("every-" + std::to_string(e) + ".safetensors")));
  // Written exactly at the epochs whose val_loss beat every earlier one.
  std::vector<int> expect;
  double lowest = INFINITY;
  for (int e = 0; e < 5; ++e)
    if (val_losses[size_t(e)] < lowest) lowest = val_losses[size_t(e)], expect.push_back(e);
  EXPECT_EQ(best.saved_epochs(), expect);
  Sequential loaded = load_model(d.file("best.safetensors"));
  EXPECT_NEAR(loaded.evaluate(x.rows(150, 200), y.rows(150, 200))["loss"], lowest, 1e-5);
  callbacks::ModelCheckpoint wrong(d.file("w.safetensors"), {.monitor = "val_nothing", .save_best_only = true});
  EXPECT_THROW(m.fit(x, y, {.epochs = 1, .callbacks = {wrong}, .verbose = 0}), ValueError);
}

TEST(CSVLogger, WritesOneRowPerEpoch) {
  TempDir d("csv");
  Tensor x, y;
  make_data(x, y);
  Sequential m = make_model();
  callbacks::CSVLogger log(d.file("history.csv"));
  History h = m.fit(x, y, {.epochs = 3, .batch_size = 32, .validation_split = 0.2, .callbacks = {log}, .verbose = 0});
  std::istringstream in(read_all(d.file("history.csv")));
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "epoch,accuracy,loss,val_accuracy,val_loss");
  for (int e = 0; e < 3; ++e) {
    ASSERT_TRUE(std::getline(in, line));
    std::istringstream row(line);
    std::string cell;
    std::getline(row, cell, ',');
    EXPECT_EQ(cell, std::to_string(e));
    std::getline(row, cell, ',');
    EXPECT_NEAR(std::stod(cell), h["accuracy"][size_t(e)], 1e-8);
    std::getline(row, cell, ',');
    EXPECT_NEAR(std::stod(cell), h["loss"][size_t(e)], 1e-8);
  }
  EXPECT_FALSE(std::getline(in, line));
}

namespace {
struct SimulatedCrash : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Trains 4 epochs with BackupAndRestore in `dir` and Adam on a decaying schedule; with crash_after,
// an exception leaves fit() after that epoch's backup is written (callbacks run in order), and a
// fresh model, built the same way, resumes from the backup.
std::vector<Tensor> train_with_schedule(const std::string& dir, int crash_after) {
  Tensor x, y;
  make_data(x, y);
  auto run = [&](bool crash) {
    set_random_seed(8);
    auto adam = std::make_shared<optimizers::Adam>(0.05);
    adam->set_schedule(std::make_shared<schedules::ExponentialDecay>(0.05, 10, 0.5));
    Sequential m({layers::Dense(8, "relu", Shape{6}), layers::Dense(1, "sigmoid")});
    m.compile(std::shared_ptr<Optimizer>(adam), "binary_crossentropy");
    callbacks::BackupAndRestore backup(dir);
    callbacks::LambdaCallback stop;
    stop.epoch_end = [&](int e, const Logs&) {
      if (crash && e == crash_after) throw SimulatedCrash("crash");
    };
    m.fit(x, y, {.epochs = 4, .batch_size = 20, .callbacks = {backup, stop}, .verbose = 0, .seed = 5});
    return m.get_weights();
  };
  if (crash_after >= 0) {
    EXPECT_THROW(run(true), SimulatedCrash);
  }
  return run(false);
}
}  // namespace

TEST(BackupAndRestore, KeepsTheLearningRateSchedule) {
  // The restored step count drives the schedule on; replacing it by the saved rate would make every
  // later step use a constant rate and the weights would differ from an uninterrupted run.
  TempDir a("sched_a"), b("sched_b");
  const auto whole = train_with_schedule(a.file("bk"), -1);
  const auto resumed = train_with_schedule(b.file("bk"), 1);
  ASSERT_EQ(whole.size(), resumed.size());
  for (size_t i = 0; i < whole.size(); ++i) EXPECT_EQ(whole[i].to_vector(), resumed[i].to_vector()) << "weight " << i;
}

TEST(BackupAndRestore, MalformedEpochIsAnIOErrorAndChangesNothing) {
  TempDir d("bad_epoch");
  Tensor x, y;
  make_data(x, y);
  Sequential m = make_model();
  m.build();
  fs::create_directories(d.file("bk"));
  save_model(m, d.file("bk/backup.safetensors"), {{"backup_epoch", "twelve"}});
  // Other weights in the model than in the backup: a half-done restore would show.
  for (auto& p : m.weights()) p.value->fill(0.25f);
  const auto before = m.get_weights();
  callbacks::BackupAndRestore backup(d.file("bk"));
  EXPECT_THROW(m.fit(x, y, {.epochs = 2, .callbacks = {backup}, .verbose = 0}), IOError);
  const auto after = m.get_weights();
  for (size_t i = 0; i < before.size(); ++i) EXPECT_EQ(before[i].to_vector(), after[i].to_vector());
}
