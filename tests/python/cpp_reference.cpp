// The C++ side of the Python tests' cross-checks, through the C++ API alone:
//
//   myelin_cpp_reference train SEED WEIGHTS   trains the reference model and saves its weights
//   myelin_cpp_reference save SEED MODEL      trains it and saves the whole model
//   myelin_cpp_reference predict MODEL        loads a model file, prints its predictions of the data
//
// test_interop.py builds the same data and model in Python (reference_data, reference_model there)
// and compares. The data are small integers divided by 22, exact in float32 on both sides.
#include <cstdio>
#include <cstdlib>
#include <string>

#include <myelin/myelin.hpp>
#include <myelin/io/model_io.hpp>

using namespace myelin;

namespace {

constexpr int64_t kRows = 64, kFeatures = 5;

// x[i][j] = ((7i + 13j) mod 23) / 22 - 0.5; labels y[i] = (5i + i/3) mod 3.
void reference_data(Tensor& x, Tensor& y) {
  x = Tensor({kRows, kFeatures});
  y = Tensor({kRows});
  for (int64_t i = 0; i < kRows; ++i) {
    for (int64_t j = 0; j < kFeatures; ++j) x.at(i, j) = float((7 * i + 13 * j) % 23) / 22.f - 0.5f;
    y[i] = float((5 * i + i / 3) % 3);
  }
}

Sequential reference_model() {
  Sequential model({
      layers::Dense(8, "relu", Shape{kFeatures}),
      layers::Dropout(0.25f),
      layers::Dense(3, "softmax"),
  });
  model.compile(optimizers::Adam(0.01), "sparse_categorical_crossentropy", {"accuracy"});
  return model;
}

Sequential trained(uint64_t seed) {
  set_random_seed(seed);
  Tensor x, y;
  reference_data(x, y);
  Sequential model = reference_model();
  model.fit(x, y, {.epochs = 3, .batch_size = 16, .validation_split = 0.25, .verbose = 0});
  return model;
}

[[noreturn]] void usage() {
  std::fprintf(stderr, "usage: myelin_cpp_reference train|save SEED PATH | predict PATH\n");
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) usage();
  const std::string command = argv[1];
  if ((command == "train" || command == "save") && argc == 4) {
    Sequential model = trained(std::strtoull(argv[2], nullptr, 10));
    if (command == "train") model.save_weights(argv[3]);
    else model.save(argv[3]);
    return 0;
  }
  if (command == "predict" && argc == 3) {
    Tensor x, y;
    reference_data(x, y);
    Sequential model = load_model(argv[2]);
    const Tensor p = model.predict(x);
    // %.9g prints a float exactly enough to read back the same float.
    for (int64_t i = 0; i < p.size(); ++i) std::printf("%.9g\n", p[i]);
    if (model.compiled()) std::printf("loss=%.9g\n", model.evaluate(x, y)["loss"]);
    return 0;
  }
  usage();
}
