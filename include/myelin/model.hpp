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
#include <span>
#include <string>
#include <vector>

#include "myelin/callbacks.hpp"
#include "myelin/data/dataset.hpp"
#include "myelin/history.hpp"
#include "myelin/layers/layer.hpp"
#include "myelin/layers/symbolic_tensor.hpp"
#include "myelin/losses.hpp"
#include "myelin/metrics.hpp"
#include "myelin/model_args.hpp"
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
namespace data {
class TextVectorization;  // myelin/data/text_vectorization.hpp
}

/// Seeds the generator that new models draw their seeds from (Keras's keras.utils.set_random_seed):
/// after set_random_seed(s), the same program builds, shuffles and drops out identically.
/// Without a call the seed is 0, so runs are reproducible by default.
void set_random_seed(uint64_t seed);

/// Held-out data for validation during fit (Keras's (x_val, y_val[, val_sample_weight])): arrays as
/// fit takes them, one per input and output, as a list or a map by name.
struct ValidationData {
  DataArg x, y;
  DataArg sample_weight;
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
  /// Per-sample weights (fit(x, y) only): a {rows} array for every output, or one per output as a
  /// list or a map by output name. Each sample's loss is multiplied by its weight and a batch's loss
  /// is the weighted sum over the batch size, as Keras's "sum_over_batch_size"; weighted_metrics use
  /// them too. Weights must be finite and >= 0. validation_split holds out their last rows as well.
  DataArg sample_weight;
  /// Class index -> weight, turned into sample weights from the targets (class indices, or the
  /// arg-max of one-hot rows); classes left out weigh 1. Multiplies sample_weight where both are
  /// given. With several outputs it applies to those whose loss is a cross-entropy. Training only:
  /// validation is not weighted by it.
  std::map<int, double> class_weight;
};

struct EvaluateOptions {
  int batch_size = 32;
  /// 0 silent (the default here, unlike Keras, so scripts print only what they ask for), 1 a bar.
  int verbose = 0;
  /// Per-sample weights, as FitOptions::sample_weight (arrays only).
  DataArg sample_weight;
};

/// What Model::gradients differentiates, and what it returns besides d(score)/d(x).
struct GradientOptions {
  /// Differentiate the output layer's pre-activation (logits) where its activation is softmax or
  /// sigmoid, rather than the probabilities predict() returns.
  bool logits = false;
  /// Which model output the score is taken from.
  size_t output = 0;
  /// Also return this layer's output and the score's gradient with respect to it (Grad-CAM's
  /// feature maps); empty: none.
  std::string layer;
};

/// Model::gradients's result for one batch.
struct Gradients {
  Tensor output;        ///< the output for x (logits when asked): {rows, ...}
  Tensor input_grad;    ///< d(score)/d(x), shaped as x
  Tensor layer_output;  ///< GradientOptions::layer's output for x (empty without a layer)
  Tensor layer_grad;    ///< d(score)/d(layer_output)
};

/// A tensor of a functional graph as Keras's files name it (keras_history): the layer that made it and
/// which call of that layer.
struct TensorRef {
  std::string layer;
  int call = 0;
  int tensor = 0;  ///< which of the call's outputs (LSTM with return_state: 0 output, 1 h, 2 c)
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
  /// Several inputs or outputs: `Model({a, b}, {out1, out2})`. fit, evaluate and predict then take
  /// one array per input and output (DataArg), in these orders or by layer name.
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
  /// `compile(optimizers::Adam(1e-3), "sparse_categorical_crossentropy", {"accuracy"})`. With several
  /// outputs the metrics are computed for each and logged as "<output>_<metric>". A layer frozen or
  /// unfrozen (Layer::set_trainable) after build takes effect at the next compile(), fit() or
  /// train_on_batch(): recompiling, which Keras requires, is allowed but not needed.
  void compile(OptimizerArg optimizer, LossesArg loss, std::vector<MetricArg> metrics = {});
  /// Keras's compile with keyword arguments, for several outputs:
  /// ```
  /// model.compile(optimizers::Adam(), {{"class", "sparse_categorical_crossentropy"}, {"box", "mse"}},
  ///               {.loss_weights = {{"class", 1.0}, {"box", 0.5}}, .metrics = {{"class", {"accuracy"}}}});
  /// ```
  /// The loss is the sum of each output's loss times its weight (plus regularization); logs hold it
  /// as "loss", and with several outputs each weighted part as "<output>_loss". Throws ValueError when
  /// a list's length is not the number of outputs or a key names no output (once the model is built).
  void compile(OptimizerArg optimizer, LossesArg loss, CompileOptions options);

  /// Trains on x (rows = samples) and y; returns per-epoch loss and metrics (val_* too). x and y are
  /// tensors, or for several inputs/outputs lists `{xa, xb}` or maps `{{"a", xa}, {"b", xb}}` by
  /// layer name. Throws ValueError/ShapeError naming the array, key or row for a wrong number of
  /// arrays, an unknown key, different row counts or bad sample weights.
  History fit(const DataArg& x, const DataArg& y, const FitOptions& options = {});
  /// Trains on batches read from a Dataset (a memory-mapped IDX file, a streamed CSV file, a
  /// generator): the data need not fit in memory. The next batch is read on a background thread while
  /// the current one trains. validation_split is not available here (use validation_data or
  /// validation_dataset); every batch read is checked as fit(x, y) checks arrays, and an error names
  /// the epoch and batch. Sample weights come with the dataset's rows (Dataset::sample_weight_count),
  /// not from options.sample_weight; they weigh the loss exactly as that argument would.
  History fit(data::Dataset& data, const FitOptions& options = {});
  /// Loss and metrics over the data: {"loss": ..., "accuracy": ...}. Under mpirun every rank
  /// evaluates its share of the rows and the results combine all of them.
  Logs evaluate(const DataArg& x, const DataArg& y, const EvaluateOptions& options = {});
  /// Loss and metrics over every row of a Dataset, read in order (weighted by its sample weights, if any).
  Logs evaluate(data::Dataset& data, const EvaluateOptions& options = {});
  /// Model outputs for every row of x (probabilities for softmax/sigmoid heads).
  /// Rows are predicted `batch_size` at a time; a batch whose widest activation would outgrow the
  /// CPU caches (twice the L2 of the threads) runs through the layers in slices of fewer rows,
  /// which changes the outputs by float rounding at most (every predict overload does this).
  /// predict and evaluate may be called on one model from several threads at once (they take turns
  /// on the model's buffers); fit must not run at the same time as either.
  /// A model with several outputs throws ValueError here: call the overload below.
  Tensor predict(const Tensor& x, int batch_size = 32);
  /// One tensor per model output, in output order, for inputs given as a list or a map by input name
  /// (`predict(std::vector<Tensor>{x})` for a single input).
  std::vector<Tensor> predict(const DataArg& x, int batch_size = 32);
  /// Model outputs for every row of a Dataset, in order (the outputs are held in memory; the inputs
  /// are not). Its targets are read and ignored. A model with several outputs throws ValueError here:
  /// call predict_outputs.
  Tensor predict(data::Dataset& data, int batch_size = 32);
  /// predict on a Dataset for a model with any number of outputs: one tensor per output, in output
  /// order, as predict(DataArg) returns for arrays.
  std::vector<Tensor> predict_outputs(data::Dataset& data, int batch_size = 32);

  /// A text model: Keras's TextVectorization at the front, turning raw strings into the
  /// {batch, length} token ids this model's one input takes, as
  /// `keras.Sequential([keras.Input(shape=(1,), dtype="string"), vectorizer, Embedding(...), ...])`.
  /// The vectorizer (a copy) travels with the model: save() stores its settings and vocabulary
  /// (.safetensors in __metadata__; .keras as Keras 3 does, a TextVectorization layer after a string
  /// InputLayer in config.json and the vocabulary in assets/layers/text_vectorization/vocabulary.txt,
  /// for a Sequential model only) and load_model() restores it. Throws ValueError for a model of
  /// several inputs, or when the vectorizer's output_sequence_length disagrees with a built model's input.
  void set_text_vectorization(const data::TextVectorization& vectorizer);
  /// The vectorizer set_text_vectorization gave or load_model restored; null when there is none.
  const data::TextVectorization* text_vectorization() const { return text_vectorization_.get(); }
  /// predict, fit and evaluate on raw strings, one per sample: the vectorizer's ids, then exactly as
  /// for a Tensor of those ids. Throws ValueError naming the model when it has no vectorizer.
  Tensor predict(const std::vector<std::string>& texts, int batch_size = 32);
  History fit(const std::vector<std::string>& texts, const DataArg& y, const FitOptions& options = {});
  Logs evaluate(const std::vector<std::string>& texts, const DataArg& y, const EvaluateOptions& options = {});
  /// Differentiates a score of one output with respect to the input, for explanations
  /// (myelin/explain/attributions.hpp) and anything else that needs input gradients. The model runs
  /// x in inference mode (dropout off, batch normalization's moving statistics, augmentation
  /// passing through), frozen layers included, as predict() would; `seed` then receives that output
  /// and writes d(score)/d(output) into its second argument (sized as the output, zeros), and the
  /// gradient flows back to x. One batch: all of x's rows at once. Weights and optimizer state are
  /// left unchanged. Throws ValueError for a model with several inputs, an output index out of
  /// range, or a layer that is not in the model, was called more than once, or does not lead to the
  /// output; ShapeError when x does not fit the model.
  /// ```
  /// // d(probability of class 3)/d(x) for row 0:
  /// auto g = model.gradients(x, [](const Tensor&, Tensor& d) { d.at(0, 3) = 1; });
  /// ```
  Gradients gradients(const Tensor& x, const std::function<void(const Tensor& output, Tensor& d_output)>& seed,
                      const GradientOptions& options = {});
  /// One optimizer step on one batch; returns the batch loss (regularization included). x and y as
  /// fit takes them; a batch given as tensors (or a DataArg built once) allocates nothing in steady state.
  double train_on_batch(const DataArg& x, const DataArg& y, const DataArg& sample_weight = {});
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
  /// The model's outputs as the tensors of its graph (layer, call and output index).
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
  /// Per-sample input and output shapes (the model must be built): of the first input and output,
  /// and of each.
  const Shape& input_shape() const;
  const Shape& output_shape() const;
  const std::vector<Shape>& input_shapes() const;
  std::vector<Shape> output_shapes() const;
  Optimizer& optimizer();
  /// The loss of the first output, and of each (once built).
  const Loss& loss() const;
  std::vector<std::shared_ptr<Loss>> losses() const;

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
  /// Keras's model.export(path, format): writes the model for inference elsewhere. The one format
  /// is "onnx" (myelin/io/onnx_export.hpp: opset 17, a dynamic batch dimension); any other is a
  /// ValueError, as is a layer with no ONNX translation. The model must be built.
  void export_model(const std::string& path, const std::string& format = "onnx");

  /// Whether compile() was called, and what it was given (for saving).
  bool compiled() const { return optimizer_ != nullptr; }
  /// The metrics compile() was given as a list (empty when they were given per output).
  const std::vector<MetricArg>& compiled_metrics() const { return compile_options_.metrics.list(); }
  /// compile()'s loss weights and metrics as given (for saving).
  const CompileOptions& compile_options() const { return compile_options_; }

 protected:
  /// An empty model that Sequential fills with add().
  explicit Model(std::string name, bool sequential);
  /// Appends a layer to the chain (Sequential::add).
  void add_to_chain(std::shared_ptr<Layer> layer);
  std::string kind() const;  // "Sequential 'name'" or "Model 'name'", for messages

 private:
  /// The tensor graph node `node` holds: its layer and call, and which output (a tap's).
  TensorRef tensor_ref(int node) const;
  /// One model output and what compile gave it.
  struct Output {
    std::string name;
    int node = -1;
    std::shared_ptr<Loss> loss;       // as compiled
    std::shared_ptr<Loss> step_loss;  // what the step computes (the logits version when fused)
    double loss_weight = 1.0;
    std::optional<ActivationKind> head_activation;  // applied by the model when fused with the loss
    bool class_weighted = false;                    // fit's class_weight applies to it
    std::string loss_key;                           // "<name>_loss" in logs
    Tensor loss_grad, probs, weights;               // buffers reused from batch to batch
    int64_t weights_capacity = 0;
  };
  /// A metric of one output, and its key in logs ("accuracy", or "class_accuracy" with several outputs).
  struct TrackedMetric {
    std::shared_ptr<Metric> metric;
    std::string key;
    size_t output = 0;
    bool weighted = false;
  };
  /// fit/evaluate's arrays in model order: one per input, one per output, and none or one sample
  /// weight array per output.
  struct Arrays {
    std::vector<Tensor> x, y, w;
    int64_t rows() const { return x.empty() ? 0 : x[0].rows(); }
    Arrays slice(int64_t begin, int64_t end) const;
  };

  void name_layer(Layer& layer) const;
  void make_chain_graph();
  void collect_weights();
  /// Collects the weights and re-plans backward when a layer's trainable() changed since the last
  /// call (and does nothing, allocating nothing, otherwise).
  void update_trainable();
  int64_t forward_flops_per_sample() const;
  void check_compiled(const char* what) const;
  std::vector<std::string> input_names_for_data() const;
  void order_arrays(const DataArg& a, bool inputs, const char* what, const char* arg, std::vector<Tensor>& out);
  void resolve_arrays(const DataArg& x, const DataArg& y, const DataArg& w, const char* what, Arrays& out);
  void ensure_built(std::span<const Tensor> x, const char* what);
  void build_for_data(const std::vector<Shape>& sample_shapes);
  void build_inputs(const std::vector<Shape>& input_shapes);
  void check_input_shapes(std::span<const Tensor> x, const char* what) const;
  void check_inputs(std::span<const Tensor> x, const char* what) const;  // shapes, and every value finite
  void check_targets(std::span<const Tensor> y) const;
  void check_arrays(const Arrays& a, const char* what);
  /// fit's validation_data as checked arrays (nullopt when none was given).
  std::optional<Arrays> validation_arrays(const FitOptions& options);
  /// The dataset's x shapes against the model's inputs and, with `targets`, its y and sample-weight
  /// array counts against the outputs.
  void check_dataset(const data::Dataset& data, const char* what, bool targets = true);
  void check_batch(std::span<const Tensor> x, std::span<const Tensor> y, std::span<const Tensor> w, int epoch,
                   int64_t step) const;
  /// Sample weights (one {rows} or {rows, 1} array per output): shape, rows, finite and >= 0.
  void check_sample_weights(std::span<const Tensor> w, int64_t rows, const char* what) const;
  void check_fit_options(const FitOptions& options) const;
  void check_same_rows_on_every_rank(int64_t rows, const char* what) const;
  bool light_model() const;
  void prepare_outputs();
  void resolve_metrics(const std::vector<int64_t>& target_widths);
  double train_on_arrays(const char* what);  // train_on_batch once batch_ holds the arrays
  void reset_metrics();
  /// Marks the outputs fit's class_weight applies to (on) or clears the marks.
  void mark_class_weighted(bool on);
  const Tensor& forward(std::span<const Tensor> x, bool training);
  const Tensor& output_value(size_t k) const;
  const Tensor& head_output(Output& o, const Tensor& out);
  /// Output o's loss against targets y for its output `out` (sample weights sw may be null), with
  /// its gradient into grad when set; a fused head's predictions go to o.probs on the way.
  double output_loss(Output& o, const Tensor& y, const Tensor& out, const Tensor* sw, Tensor* grad);
  /// Output o's predictions once output_loss() has run: o.probs for a fused head, else `out`.
  const Tensor& prediction(const Output& o, const Tensor& out) const;
  /// The weights output k's loss takes this batch: sample weights times class weights (null: none).
  const Tensor* step_weights(size_t k, std::span<const Tensor> y, std::span<const Tensor> w, bool class_weights);
  /// One step on this rank's rows of a step of `global_rows` rows over all ranks; returns the step's
  /// loss, and leaves each output's weighted part in output_losses_.
  double train_step(std::span<const Tensor> x, std::span<const Tensor> y, std::span<const Tensor> w,
                    int64_t global_rows);
  History fit_loop(BatchStream& batches, const FitOptions& options, const std::function<void(Logs&)>& validate);
  History fit_arrays(const Arrays& data, const Arrays* validation, const FitOptions& options);
  double regularization_penalty();
  Logs metric_results() const;
  /// Metrics combined over all ranks (rows: this rank's rows since the metrics were reset).
  Logs reduced_metric_results(int64_t rows);
  void reduce_metrics(int64_t rows);
  void evaluate_batch(std::span<const Tensor> x, std::span<const Tensor> y, std::span<const Tensor> w);
  Logs finish_evaluation(int64_t local_rows, ProgressBar& bar, int64_t steps);
  Logs evaluate_arrays(const Arrays& a, const EvaluateOptions& options);
  Logs evaluate_dataset_locked(data::Dataset& data, const EvaluateOptions& options);
  std::vector<Tensor> predict_arrays(const std::vector<Tensor>& x, int batch_size);
  /// Adds each output's loss to `log` under its key ("class_loss"; nothing for a single output).
  void log_output_losses(Logs& logs, const std::vector<double>& sums, double rows) const;

  std::string name_;
  bool sequential_ = false;
  std::vector<std::shared_ptr<Layer>> layers_;
  std::unique_ptr<graph::Graph> graph_;  // a Sequential's is made at build()
  std::shared_ptr<const ModelMemory> memory_;  // what the built model needs, for the batch-size checks
  std::vector<SymbolicTensor> symbolic_inputs_, symbolic_outputs_;  // keep the user's graph alive
  bool built_ = false;
  std::vector<Shape> input_shapes_;
  Rng rng_;
  std::shared_ptr<const data::TextVectorization> text_vectorization_;  // strings -> ids, before the input

  std::shared_ptr<Optimizer> optimizer_;
  LossesArg loss_arg_ = LossesArg(std::shared_ptr<Loss>());  // as compiled (braces would make a list)
  CompileOptions compile_options_;
  std::vector<Output> outputs_;  // once built and compiled
  std::vector<TrackedMetric> metrics_;
  bool metrics_resolved_ = false;
  std::vector<Param> params_;   // trainable, in layer order: what the optimizer updates
  std::vector<Param> weights_;  // every weight, non-trainable state included: what is saved
  std::vector<std::vector<Tensor*>> node_grads_;  // per graph node: its layer's trainable gradients
  std::map<std::string, double> metric_overrides_;  // results of stateless metrics over all ranks
  bool has_regularizers_ = false;
  std::vector<bool> layer_trainable_;  // each layer's trainable() when the weights were collected
  uint64_t fit_seed_ = 0;
  // fit's class_weight while that fit runs: class indices ascending, and their weights.
  std::vector<int> class_weight_classes_;
  std::vector<float> class_weight_values_;

  // Serialises predict/evaluate calls from several threads: they share the layers' buffers.
  std::unique_ptr<std::mutex> inference_mutex_ = std::make_unique<std::mutex>();

  // Buffers reused from batch to batch.
  std::vector<const Tensor*> step_inputs_, step_output_grads_, step_preds_;
  std::vector<double> output_losses_;  // the last step's weighted loss of each output
  std::vector<double> loss_sums_;      // per output, then the rows: sums over rows (evaluate, reductions)
  Arrays batch_;                       // train_on_batch's arrays in model order
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
