// `myelin convert IN OUT`: a model from one file format to another, chosen by the extensions:
// .keras (Keras 3) and .safetensors both ways, Keras 2's .h5 as input only.
#include "cli.hpp"

namespace cli {

void register_convert(CLI::App& app) {
  auto in = std::make_shared<std::string>();
  auto out = std::make_shared<std::string>();
  auto* cmd = app.add_subcommand("convert", "convert a saved model between .keras, .safetensors and (read only) Keras 2 .h5");
  cmd->add_option("input", *in, "model to read (.keras, .h5, .safetensors)")->required()->check(CLI::ExistingFile);
  cmd->add_option("output", *out, "model to write (.keras, .safetensors)")->required();
  cmd->callback([in, out] {
    myelin::Model model = myelin::load_model(*in);
    model.save(*out);
  });
}

}  // namespace cli
