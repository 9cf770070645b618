// Model: a graph of layers with Keras's workflow — compile, fit, evaluate, predict — built with the
// functional API (`Model(inputs, outputs)`), and Sequential, the model whose graph is a chain.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <initializer_list>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "myelin/callbacks.hpp"
#include "myelin/data/dataset.hpp"
#include "myelin/history.hpp"
#include "myelin/layers/layer.hpp"
#include "myelin/layers/symbolic_tensor.hpp"
#include "myelin/losses.hpp"
#include "myelin/metrics.hpp"
#include "myelin/optimizers.hpp"
#include "myelin/random.hpp"
#include "myelin/tensor.hpp"

namespace myelin {

class BatchStream;  // src/batch_stream.hpp
class ProgressBar;  // src/progress_bar.hpp
namespace graph {
class Graph;  // src/graph/graph.hpp
}
struct ModelMemory;  // src/model_memory.hpp

/// Seeds the generator that new models draw their seeds from (Keras's keras.utils.set_random_seed):
/// after set_random_seed(s), the same program builds, shuffles and drops out identically.
/// Without a call the seed is 0, so runs are reproducible by default.
void set_random_seed(uint64_t seed);

/// Held-out data for validation during fit.
struct ValidationData {
  Tensor x, y;
};

/// Keras's fit() keyword arguments, with its defaults.
struct FitOptions {
  int epochs = 1;
  int batch_size = 32;
  bool shuffle = true;
  /// Fraction of the data, taken from the end before shuffling (as Keras), held out for validation.
  double validation_split = 0.0;
  std::optional<ValidationData> validation_data;
  /// Held-out data read from a Dataset after each epoch (fit(Dataset&) only; not owned: it must
  /// outlive the call).
  data::Dataset* validation_dataset = nullptr;
  std::vector<CallbackArg> callbacks;
  /// 0 silent, 1 live progress bar, 2 one line per epoch.
  int verbose = 1;
  /// Seeds shuffling and dropout for this call; by default they continue the model's own stream.
  std::optional<uint64_t> seed;
  /// Epoch to start counting from (for resumed training).
  int initial_epoch = 0;
};

struct EvaluateOptions {
  int batch_size = 32;
  /// 0 silent (the default here, unlike Keras, so scripts print only what they ask for), 1 a bar.
  int verbose = 0;
};

/// A tensor of a functional graph as Keras's files name it (keras_history): the layer that made it and
/// which call of that layer.
struct TensorRef {
  std::string layer;
  int call = 0;
  bool operator==(const TensorRef&) const = default;
};

class Model {
 public:
  /// Keras's functional model: the graph of layer calls that leads from `inputs` to `outputs`.
  /// ```
  /// auto inputs = layers::Input({28, 28, 1});
  /// auto x = layers::Conv2D(32, {3, 3}, "relu", {.padding = "same"})(inputs);
  /// auto y = layers::Conv2D(32, {3, 3}, "linear", {.padding = "same"})(x);
  /// x = layers::Activation("relu")(layers::Add()({x, y}));
  /// Model model(inputs, layers::Dense(10, "softmax")(layers::GlobalAveragePooling2D()(x)));
  /// ```
  /// A layer called several times is shared: one set of weights, which receives the sum of the
  /// gradients of every call. Throws ValueError when an output cannot be reached from the inputs,
  /// when an input reaches no output or when two layers share a name; ShapeError (at the first
  /// build) when shapes do not fit a layer.
  Model(const SymbolicTensor& inputs, const SymbolicTensor& outputs, std::string name = "functional");
  /// Several inputs or outputs: not supported yet (ValueError) unless each list holds one tensor.
  Model(const std::vector<SymbolicTensor>& inputs, const std::vector<SymbolicTensor>& outputs,
        std::string name = "functional");
  virtual ~Model();

  // A model owns its layers: copying would share them, so models move but do not copy.
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;
  Model(Model&&) noexcept;
  Model& operator=(Model&&) noexcept;

  /// Creates every layer's parameters for a per-sample input shape (default: the first layer's
  /// input_shape). Throws ShapeError naming the layer, its index and both shapes on a mismatch.
  /// fit/evaluate/predict build the model from their data when it was not built before.
  void build(std::optional<Shape> input_shape = std::nullopt);
  bool built() const { return built_; }

  /// Sets the optimizer, loss and metrics: `compile("adam", "mse", {"mae"})` or
  /// `compile(optimizers::Adam(1e-3), "sparse_categorical_crossentropy", {"accuracy"})`.
  /// A layer frozen or unfrozen (Layer::set_trainable) after build takes effect at the next
  /// compile(), fit() or train_on_batch(): recompiling, which Keras requires, is allowed but not needed.
  void compile(OptimizerArg optimizer, LossArg loss, std::vector<MetricArg> metrics = {});

  /// Trains on x (rows = samples) and y; returns per-epoch loss and metrics (val_* too).
  History fit(const Tensor& x, const Tensor& y, const FitOptions& options = {});
  /// Trains on batches read from a Dataset (a memory-mapped IDX file, a streamed CSV file, a
  /// generator): the data need not fit in memory. The next batch is read on a background thread while
  /// the current one trains. validation_split is not available here (use validation_data or
  /// validation_dataset); every batch read is checked as fit(x, y) checks arrays, and an error names
  /// the epoch and batch.
  History fit(data::Dataset& data, const FitOptions& options = {});
  /// Loss and metrics over the data: {"loss": ..., "accuracy": ...}. Under mpirun every rank
  /// evaluates its share of the rows and the results combine all of them.
  Logs evaluate(const Tensor& x, const Tensor& y, const EvaluateOptions& options = {});
  /// Loss and metrics over every row of a Dataset, read in order.
  Logs evaluate(data::Dataset& data, const EvaluateOptions& options = {});
  /// Model outputs for every row of x (probabilities for softmax/sigmoid heads).
  /// predict and evaluate may be called on one model from several threads at once (they take turns
  /// on the model's buffers); fit must not run at the same time as either.
  Tensor predict(const Tensor& x, int batch_size = 32);
  /// Model outputs for every row of a Dataset, in order (the outputs are held in memory; the inputs
  /// are not). Its targets are read and ignored.
  Tensor predict(data::Dataset& data, int batch_size = 32);
  /// One optimizer step on one batch; returns the batch loss (regularization included).
  double train_on_batch(const Tensor& x, const Tensor& y);

  /// Prints Keras's table of layers, output shapes and parameter counts.
  void summary(std::ostream& out = std::cout);
  std::string summary_string();

  /// The layers in the order they run (a functional model's InputLayers first).
  const std::vector<std::shared_ptr<Layer>>& layers() const { return layers_; }
  /// Whether the graph is a chain saved as Keras's Sequential (false for a functional model).
  bool is_sequential() const { return sequential_; }
  /// For each of layers(), for each of its calls in order (a shared layer has several): the tensors
  /// that call reads (none for an input, and none for a Sequential's first layer when the model has
  /// no InputLayer). A Sequential must be built.
  std::vector<std::vector<std::vector<TensorRef>>> layer_calls() const;
  /// The names of the layers whose outputs are the model's inputs and outputs.
  std::vector<std::string> input_names() const;
  std::vector<std::string> output_names() const;
  /// The model's outputs as the tensors of its graph (layer and call).
  std::vector<TensorRef> output_refs() const;

  /// Keras's model.input / model.output (one each) and model.inputs / model.outputs: the symbolic
  /// tensors of the graph, to build other models from it:
  /// `Model features(base.input(), base.get_layer("conv2d_1")->output());` shares base's layers and
  /// weights. A Sequential has them once built.
  SymbolicTensor input() const;
  SymbolicTensor output() const;
  const std::vector<SymbolicTensor>& inputs() const;
  const std::vector<SymbolicTensor>& outputs() const;
  /// The model used as a layer: its layers applied to `x` inside another graph (the same layers and
  /// weights, so freezing them freezes them in both), `auto y = base(inputs);`. The outer model
  /// lists the inner model's layers as its own.
  SymbolicTensor operator()(const SymbolicTensor& x);
  /// The layer with this name; throws ValueError when there is none.
  std::shared_ptr<Layer> get_layer(const std::string& name) const;
  /// Every trainable parameter, named "layer/param" ("dense/kernel"); a frozen layer's are not among them.
  std::vector<Param> parameters();
  /// Every weight, trainable or not (BatchNormalization's moving statistics), named as parameters().
  std::vector<Param> weights();
  /// Copies of every weight, in weights() order (as Keras's get_weights); set_weights puts such a list back.
  std::vector<Tensor> get_weights();
  void set_weights(const std::vector<Tensor>& weights);
  int64_t count_params();

  const std::string& name() const { return name_; }
  /// Per-sample input and output shapes (the model must be built).
  const Shape& input_shape() const;
  const Shape& output_shape() const;
  Optimizer& optimizer();
  const Loss& loss() const;

  /// Set by a callback (EarlyStopping) to end fit() after the current epoch.
  bool stop_training = false;
  /// Set by a callback in on_train_begin (BackupAndRestore) to resume at that epoch (0-based).
  int resume_epoch = -1;
  /// Set with resume_epoch to the interrupted run's fit_seed(), so resumed epochs shuffle alike.
  std::optional<uint64_t> resume_fit_seed;
  /// The seed the current (or last) fit() derives each epoch's shuffling and dropout streams from.
  uint64_t fit_seed() const { return fit_seed_; }

  // Files (implemented in src/io/model_io.cpp; see myelin/io/model_io.hpp).
  /// Saves architecture, weights, compile settings and optimizer state to one safetensors file.
  /// Under mpirun only rank 0 writes (every rank holds the same weights); the others return at once.
  void save(const std::string& path);
  /// Saves the weights alone (safetensors), named "layer/param".
  void save_weights(const std::string& path);
  /// Loads weights saved by save() or save_weights() into this (same-architecture) model.
  void load_weights(const std::string& path);
  /// The architecture as Keras's model.to_json(): {"class_name": "Sequential", "config": {...}}.
  std::string to_json();

  /// Whether compile() was called, and what it was given (for saving).
  bool compiled() const { return optimizer_ && loss_; }
  const std::vector<MetricArg>& compiled_metrics() const { return metric_args_; }

 protected:
  /// An empty model that Sequential fills with add().
  explicit Model(std::string name, bool sequential);
  /// Appends a layer to the chain (Sequential::add).
  void add_to_chain(std::shared_ptr<Layer> layer);
  std::string kind() const;  // "Sequential 'name'" or "Model 'name'", for messages

 private:
  void name_layer(Layer& layer) const;
  void make_chain_graph();
  void collect_weights();
  /// Collects the weights and re-plans backward when a layer's trainable() changed since the last
  /// call (and does nothing, allocating nothing, otherwise).
  void update_trainable();
  int64_t forward_flops_per_sample() const;
  void check_compiled(const char* what) const;
  void ensure_built(const Tensor& x, const char* what);
  void build_for_data(const Shape& sample_shape);
  void check_input_shape(const Tensor& x, const char* what) const;
  void check_inputs(const Tensor& x, const char* what) const;  // shape, and every value finite
  void check_data(const Tensor& x, const Tensor& y, const char* what);
  void check_dataset(const data::Dataset& data, const char* what);
  void check_batch(const Tensor& x, const Tensor& y, int epoch, int64_t step) const;
  void check_fit_options(const FitOptions& options) const;
  void check_same_rows_on_every_rank(int64_t rows, const char* what) const;
  bool light_model() const;
  void prepare_head();
  void resolve_metrics(int64_t target_width);
  const Tensor& forward(const Tensor& x, bool training);
  const Tensor& head_output(const Tensor& out);
  /// One step on this rank's rows of a step of `global_rows` rows over all ranks; returns the step's loss.
  double train_step(const Tensor& x, const Tensor& y, int64_t global_rows);
  History fit_loop(BatchStream& batches, const FitOptions& options, const std::function<void(Logs&)>& validate);
  double regularization_penalty();
  Logs metric_results() const;
  /// Metrics combined over all ranks (rows: this rank's rows since the metrics were reset).
  Logs reduced_metric_results(int64_t rows);
  void reduce_metrics(int64_t rows);
  void evaluate_batch(const Tensor& x, const Tensor& y, double& loss_sum);
  Logs finish_evaluation(double loss_sum, int64_t local_rows, ProgressBar& bar, int64_t steps);
  Logs evaluate_dataset_locked(data::Dataset& data, const EvaluateOptions& options);

  std::string name_;
  bool sequential_ = false;
  std::vector<std::shared_ptr<Layer>> layers_;
  std::unique_ptr<graph::Graph> graph_;  // a Sequential's is made at build()
  std::shared_ptr<const ModelMemory> memory_;  // what the built model needs, for the batch-size checks
  std::vector<SymbolicTensor> symbolic_inputs_, symbolic_outputs_;  // keep the user's graph alive
  bool built_ = false;
  Shape input_shape_;
  Rng rng_;

  std::shared_ptr<Optimizer> optimizer_;
  std::shared_ptr<Loss> loss_;       // as compiled
  std::shared_ptr<Loss> step_loss_;  // what the step computes (the logits version when fused)
  std::optional<ActivationKind> head_activation_;  // applied by the model when fused with the loss
  std::vector<MetricArg> metric_args_;
  std::vector<std::shared_ptr<Metric>> metrics_;
  bool metrics_resolved_ = false;
  std::vector<Param> params_;   // trainable, in layer order: what the optimizer updates
  std::vector<Param> weights_;  // every weight, non-trainable state included: what is saved
  std::vector<std::vector<Tensor*>> node_grads_;  // per graph node: its layer's trainable gradients
  std::map<std::string, double> metric_overrides_;  // results of stateless metrics over all ranks
  bool has_regularizers_ = false;
  std::vector<bool> layer_trainable_;  // each layer's trainable() when the weights were collected
  uint64_t fit_seed_ = 0;

  // Serialises predict/evaluate calls from several threads: they share the layers' buffers.
  std::unique_ptr<std::mutex> inference_mutex_ = std::make_unique<std::mutex>();
  Logs evaluate_locked(const Tensor& x, const Tensor& y, const EvaluateOptions& options);

  // Buffers reused from batch to batch.
  Tensor loss_grad_, probs_;
  std::vector<const Tensor*> step_inputs_, step_output_grads_;
};

/// Keras's Sequential: a model whose layers run one after the other.
class Sequential : public Model {
 public:
  /// An empty model; add layers with add().
  explicit Sequential(std::string name = "sequential");
  /// `Sequential model({layers::Dense(32, "relu", Shape{784}), layers::Dense(10, "softmax")});`
  Sequential(std::initializer_list<LayerHandle> layers, std::string name = "sequential");
  /// A model that load_model() read as a Sequential; throws ValueError for a functional one.
  Sequential(Model&& model);

  /// Appends a layer; names it ("dense_1") when it has no name. Not allowed once built.
  void add(LayerHandle layer);
};

}  // namespace myelin
