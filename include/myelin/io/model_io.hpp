// Model files: one safetensors file holding the weights as named tensors ("dense/kernel", ...) and,
// in its __metadata__, the architecture as Keras-shaped JSON, the compile settings, the optimizer's
// state and the myelin version. Any safetensors reader (PyTorch, numpy) finds the weights.
#pragma once
#include <map>
#include <string>

#include "myelin/model.hpp"

namespace myelin {

/// The architecture alone, as Keras's model.to_json().
std::string model_to_json(Model& model);
/// A new, uncompiled model from model_to_json()'s output or Keras's equivalent; accepts a config
/// holding just {"layers": [...]} too. It is built when the JSON gives the input shape (a first
/// layer's batch_input_shape, or build_input_shape), else on first use with data.
/// Throws ValueError naming unknown layer classes.
Model model_from_json(const std::string& json);

/// Saves the whole model (see Sequential::save). Written atomically: the old file stays whole on failure.
/// A path ending in .keras writes Keras 3's format (which keras.models.load_model opens; the
/// optimizer's state is left out); .h5 is refused (myelin reads Keras 2's .h5, never writes it).
/// `extra_metadata` entries join the file's __metadata__ (checkpoints record their epoch so).
void save_model(Model& model, const std::string& path, const std::map<std::string, std::string>& extra_metadata = {});
/// Loads a model saved by save_model(): it predicts exactly what the saved one did and, when it was
/// compiled, comes back compiled with its optimizer's state, ready to train further. Throws IOError
/// for damaged files and ValueError for contents myelin does not know, naming the file.
/// By extension it also reads Keras 3's .keras files and Keras 2's whole-model .h5 (or .hdf5):
/// architecture, weights, and the compile settings when present (the optimizer starts afresh).
Model load_model(const std::string& path);

/// Weights only. load_weights checks every name and shape against the model before changing anything.
void save_weights(Model& model, const std::string& path);
void load_weights(Model& model, const std::string& path);

/// The version written into files.
const char* version();

}  // namespace myelin
