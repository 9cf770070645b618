// Keras's own model files: Keras 3's .keras (a zip of config.json, metadata.json and
// model.weights.h5) both ways, and Keras 2's whole-model .h5 (tf.keras 2.x) read-only.
// load_model() and Model::save() reach these by the file's extension.
#pragma once
#include <string>

#include "myelin/model.hpp"

namespace myelin::io {

/// Limits on what a .keras file may declare, checked before anything is read or allocated.
inline constexpr uint64_t kMaxKerasConfigBytes = uint64_t(64) << 20;
inline constexpr uint64_t kMaxKerasMetadataBytes = uint64_t(1) << 20;
inline constexpr uint64_t kMaxKerasWeightsBytes = uint64_t(16) << 30;

/// Reads a .keras file: the architecture (every layer class myelin has; another class is a
/// ValueError naming it and the file), the weights from layers/<snake_case class>[_n]/vars/<i>
/// in Keras's variable order, and the compile settings when present (the optimizer starts afresh:
/// its state is not read). Damaged or hostile files are IOErrors naming the file.
Model load_keras(const std::string& path);
/// Writes a .keras file that Keras 3's keras.models.load_model opens; atomically.
void save_keras(Model& model, const std::string& path);
/// Reads a Keras 2 whole-model .h5 file (attribute model_config, group model_weights with
/// layer_names and weight_names), with its training_config's compile settings when present.
Model load_keras2_h5(const std::string& path);

}  // namespace myelin::io
