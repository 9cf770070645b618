// Normalization over the last axis: BatchNormalization (statistics of each batch, moving averages),
// the Normalization preprocessing layer (statistics of a data set, fixed afterwards) and
// LayerNormalization (statistics of each row, across its channels).
//
// Shapes: x is a row-major [rows, C] block, rows = every position of every sample (N, or N*H*W for
// NHWC images), C = channels (features); every per-channel vector holds C values. Sums over rows run
// in double.
#pragma once
#include <cstdint>
#include <vector>

namespace myelin::kernels {

// ---- BatchNormalization ----

/// The batch's statistics of x: mean[c], variance[c] (biased, the one Keras normalises with) and
/// inv_std[c] = 1/sqrt(variance + epsilon), the last from the double variance. Rows are cut into one
/// fixed chunk per thread whose sums are added in order, so the result depends on the thread count
/// only through rounding. `scratch` is resized here and reused between calls (no allocation once it
/// has grown).
void batch_norm_statistics(const float* x, int64_t rows, int64_t C, float epsilon, float* mean, float* variance,
                           float* inv_std, std::vector<double>& scratch);
/// Keras's moving averages: moving = moving * momentum + batch * (1 - momentum), for mean and variance.
void batch_norm_update_moving(const float* mean, const float* variance, float momentum, float* moving_mean,
                              float* moving_variance, int64_t C);
/// The inference statistics: mean = moving_mean, inv_std = 1/sqrt(moving_variance + epsilon).
void batch_norm_inference_statistics(const float* moving_mean, const float* moving_variance, float epsilon,
                                     float* mean, float* inv_std, int64_t C);
/// scale[c] = gamma[c] * inv_std[c], then y = (x - mean) * scale + beta, or max of that and 0 with
/// `relu`. (Folding the mean into a shift, x * scale + shift, would cancel catastrophically for a
/// channel of large, nearly constant values.) `scale` is kept for the backward pass.
void batch_norm_forward(const float* x, const float* mean, const float* inv_std, const float* gamma,
                        const float* beta, float* scale, float* y, int64_t rows, int64_t C, bool relu = false);
/// The backward pass given the forward's x, mean, inv_std and scale. dgamma[c] = sum(dy * xhat) and
/// dbeta[c] = sum(dy), xhat = (x - mean) * inv_std, are written (not added) where not null.
/// dx = dy * scale when the forward used fixed statistics (`batch_statistics` false), else through
/// the batch statistics: dx = scale * (dy - mean(dy) - xhat * mean(dy * xhat)). `work` holds 2*C
/// floats; `scratch` as for batch_norm_statistics. With `relu_beta` (the forward's beta, given when
/// the forward applied `relu`), dy is the gradient of that relu's output and reads as 0 wherever
/// the forward's output was 0: where (x - mean) * scale + beta, computed as the forward computed it,
/// is not above 0. The output itself is not read back.
void batch_norm_backward(const float* x, const float* dy, const float* mean, const float* inv_std, const float* scale,
                         bool batch_statistics, float* dgamma, float* dbeta, float* dx, int64_t rows, int64_t C,
                         float* work, std::vector<double>& scratch, const float* relu_beta = nullptr);
/// The three passes above with x in bfloat16 (its bits as uint16_t, the same [rows, C] layout): a
/// convolution's output handed over so in a mixed_bfloat16 training pass (layers::Conv2D). Each
/// value reads as the float32 it stands for; everything else is as above.
void batch_norm_statistics(const uint16_t* x_bf16, int64_t rows, int64_t C, float epsilon, float* mean,
                           float* variance, float* inv_std, std::vector<double>& scratch);
void batch_norm_forward(const uint16_t* x_bf16, const float* mean, const float* inv_std, const float* gamma,
                        const float* beta, float* scale, float* y, int64_t rows, int64_t C, bool relu = false);
/// That forward with y written in bfloat16 (each value bf16_bits of the float32 the one above
/// writes): the output handed to a convolution after, which multiplies in bfloat16 and would round
/// it the same way (layers::Conv2D).
void batch_norm_forward(const uint16_t* x_bf16, const float* mean, const float* inv_std, const float* gamma,
                        const float* beta, float* scale, uint16_t* y_bf16, int64_t rows, int64_t C,
                        bool relu = false);
void batch_norm_backward(const uint16_t* x_bf16, const float* dy, const float* mean, const float* inv_std,
                         const float* scale, bool batch_statistics, float* dgamma, float* dbeta, float* dx,
                         int64_t rows, int64_t C, float* work, std::vector<double>& scratch,
                         const float* relu_beta = nullptr);
/// That backward with dx written in bfloat16 (each value bf16_bits of the float32 the one above
/// writes): the gradient handed to the convolution before, which multiplies in bfloat16 and would
/// round it the same way (layers::Conv2D).
void batch_norm_backward(const uint16_t* x_bf16, const float* dy, const float* mean, const float* inv_std,
                         const float* scale, bool batch_statistics, float* dgamma, float* dbeta, uint16_t* dx_bf16,
                         int64_t rows, int64_t C, float* work, std::vector<double>& scratch,
                         const float* relu_beta = nullptr);

// ---- LayerNormalization ----

/// Per row r of x: mean[r] and inv_std[r] = 1/sqrt(variance + epsilon) over its C values (the biased
/// variance, in two passes: the mean, then the squared deviations from it, summed in double), then
/// y = (x - mean) * inv_std * gamma + beta. gamma null reads as ones, beta null as zeros. Rows are
/// independent, so they are spread over the threads and each row's sums run in one fixed order.
void layer_norm_forward(const float* x, const float* gamma, const float* beta, float epsilon, float* y, float* mean,
                        float* inv_std, int64_t rows, int64_t C);
/// The backward pass given the forward's x, mean and inv_std. With xhat = (x - mean) * inv_std and
/// g = dy * gamma: dx = inv_std * (g - mean_c(g) - xhat * mean_c(g * xhat)) per row; dgamma[c] =
/// sum_rows(dy * xhat) and dbeta[c] = sum_rows(dy) are written (not added) where not null, the rows
/// summed as batch_norm_statistics does (fixed chunks, added in order, in double). dx null: not wanted.
void layer_norm_backward(const float* x, const float* dy, const float* mean, const float* inv_std, const float* gamma,
                         float* dgamma, float* dbeta, float* dx, int64_t rows, int64_t C,
                         std::vector<double>& scratch);

// ---- Normalization (the preprocessing layer) ----

/// Each feature's mean and population variance over the rows of x, in two passes (the mean, then the
/// squared deviations from it), as Keras's adapt().
void feature_statistics(const float* x, int64_t rows, int64_t C, float* mean, float* variance);
/// inv_std[c] = 1/max(sqrt(variance[c]), epsilon), Keras's guard against a constant feature.
void normalization_inverse_std(const float* variance, float epsilon, float* inv_std, int64_t C);
/// y = (x - mean) * inv_std.
void normalization_forward(const float* x, const float* mean, const float* inv_std, float* y, int64_t rows, int64_t C);

// ---- Both ----

/// dx = dy * scale[c] per channel: the gradient through fixed statistics (scale = gamma * inv_std for
/// BatchNormalization, inv_std for Normalization).
void channel_scale(const float* dy, const float* scale, float* dx, int64_t rows, int64_t C);

}  // namespace myelin::kernels
