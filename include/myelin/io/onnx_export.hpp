// ONNX export: a built model as an ONNX file that onnxruntime (or any ONNX runtime) runs for
// inference, with the same outputs as predict().
//
// The file holds one graph at opset 17 (ONNX 1.12+; the first opset with LayerNormalization), IR
// version 8, float32 throughout. Inputs and outputs are named after the model's input and output
// layers, shaped as myelin's (images NHWC) with a dynamic batch dimension "batch". Convolution and
// pooling, which ONNX defines on NCHW, are wrapped in transposes; a chain of them stays NCHW
// between its layers. Layers as at inference: Dropout, SpatialDropout2D and the augmentation
// layers pass their input through, BatchNormalization uses its moving statistics, RandomCrop
// resizes its centred window as it does in predict(). MultiHeadAttention and Attention are MatMul,
// Transpose, Reshape and Softmax, masked scores set to -1e9 by Where as in myelin's kernel;
// TimeDistributed is its layer's translation on (batch * steps, ...) between two Reshapes; Dot is
// one batched MatMul between Unsqueezes or Transposes.
// ONNX graphs carry no masks: a model with Masking or Embedding(mask_zero=True) is refused.
#pragma once
#include <cstdint>
#include <string>

#include "myelin/model.hpp"

namespace myelin {

/// The ONNX operator set exported models use.
inline constexpr int64_t kOnnxOpset = 17;

/// The model as the bytes of an ONNX ModelProto. The model must be built. Throws ValueError naming
/// the layer and its class for a layer with no ONNX translation, and for a model over protobuf's
/// 2 GiB message limit.
std::string onnx_model_bytes(Model& model);
/// Writes onnx_model_bytes(model) to `path` atomically (myelin/io/atomic_file.hpp).
void export_onnx(Model& model, const std::string& path);

}  // namespace myelin
