// How Keras stores each layer class's variables: the order of layer.weights (Keras 3's
// layers/<layer>/vars/0, 1, ...; Keras 2's weight_names), named by myelin's parameter names.
// A new layer with weights adds one line to the table in keras_weight_layout.cpp.
#pragma once
#include <string>
#include <vector>

#include "myelin/layers/layer.hpp"

namespace myelin::io {

/// One of a layer's Keras variables: the myelin parameter it holds, the object inside the layer that
/// owns it in Keras (an RNN's "cell", a Bidirectional's "forward_layer/cell"; empty for the layer
/// itself), or, where myelin keeps no such value (Normalization's sample count), a Keras-only scalar
/// skipped on reading and written as 0.
struct KerasVariable {
  std::string name;
  std::string owner = "";
  bool keras_only = false;
};

/// The layer's weights in Keras's order (Keras 2's weight_names order), each with its myelin tensor
/// (null for a Keras-only one) and its place under the layer's group in Keras 3's weights file
/// ("vars/0", "cell/vars/2"). Parameters the layer leaves out (a bias with use_bias false) are left
/// out. Throws ValueError naming the class when the layer has weights and the table does not know
/// its layout.
struct KerasSlot {
  std::string name;
  Tensor* value;      // null: a Keras-only scalar
  std::string owner;  // "" or "cell", ...: the group holding `vars`
  std::string path;   // owner + "/vars/<index within owner>"
};
std::vector<KerasSlot> keras_variables(Layer& layer);

/// Keras's snake_case of a class name ("MaxPooling2D" -> "max_pooling2d"), which Keras 3 uses to
/// name each layer's group in model.weights.h5.
std::string keras_snake_case(const std::string& class_name);

}  // namespace myelin::io
