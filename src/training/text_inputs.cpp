// A model's TextVectorization: raw strings become token ids before the model's one input, so a
// saved text model predicts from strings (declared in myelin/model.hpp).
#include "myelin/data/text_vectorization.hpp"
#include "myelin/error.hpp"
#include "myelin/model.hpp"

namespace myelin {

void Model::set_text_vectorization(const data::TextVectorization& vectorizer) {
  if (built_ && input_shapes_.size() != 1)
    throw ValueError("model '" + name_ + "': a TextVectorization feeds a model of one input, this one has " +
                     std::to_string(input_shapes_.size()));
  const auto length = vectorizer.options().output_sequence_length;
  if (built_ && length && input_shapes_[0] != Shape{*length})
    throw ValueError("model '" + name_ + "': TextVectorization '" + vectorizer.name() + "' makes rows of " +
                     std::to_string(*length) + " ids but the model's input has shape " +
                     shape_to_string(input_shapes_[0]));
  text_vectorization_ = std::make_shared<const data::TextVectorization>(vectorizer);
}

namespace {
const data::TextVectorization& vectorizer_of(const Model& model, const char* what) {
  if (!model.text_vectorization())
    throw ValueError(std::string(what) + " on strings: model '" + model.name() +
                     "' has no TextVectorization (Model::set_text_vectorization)");
  return *model.text_vectorization();
}
}  // namespace

Tensor Model::predict(const std::vector<std::string>& texts, int batch_size) {
  return predict(vectorizer_of(*this, "predict")(texts), batch_size);
}

History Model::fit(const std::vector<std::string>& texts, const DataArg& y, const FitOptions& options) {
  return fit(DataArg(vectorizer_of(*this, "fit")(texts)), y, options);
}

Logs Model::evaluate(const std::vector<std::string>& texts, const DataArg& y, const EvaluateOptions& options) {
  return evaluate(DataArg(vectorizer_of(*this, "evaluate")(texts)), y, options);
}

}  // namespace myelin
