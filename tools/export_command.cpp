// myelin export: a saved model written for inference elsewhere (ONNX).
#include <iostream>

#include "cli.hpp"

namespace cli {

void register_export(CLI::App& app) {
  auto model_path = std::make_shared<std::string>();
  auto out_path = std::make_shared<std::string>();
  auto format = std::make_shared<std::string>("onnx");
  auto* cmd = app.add_subcommand("export", "write a saved model as an ONNX file (opset 17, dynamic batch dimension)");
  cmd->add_option("model", *model_path, "saved model (.safetensors)")->required()->check(CLI::ExistingFile);
  cmd->add_option("output", *out_path, "file to write (.onnx)")->required();
  cmd->add_option("--format", *format, "export format")->check(CLI::IsMember({"onnx"}));
  cmd->callback([model_path, out_path, format] {
    myelin::Model model = myelin::load_model(*model_path);
    if (!model.built())
      throw UserError(*model_path + ": the model's input shape is not recorded, so it cannot be exported");
    model.export_model(*out_path, *format);
    std::cout << "wrote " << *out_path << " (ONNX opset " << myelin::kOnnxOpset << ")\n";
  });
}

}  // namespace cli
