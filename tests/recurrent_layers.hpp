// A recurrent layer of the class Keras names (SimpleRNN, LSTM or GRU), for tests that run the same
// case over all three.
#pragma once
#include <memory>
#include <string>

#include "myelin/layers/recurrent.hpp"

namespace myelin::test {

inline std::shared_ptr<layers::Recurrent> make_recurrent(const std::string& cls, int64_t units,
                                                         layers::RecurrentOptions o = {}) {
  if (cls == "LSTM") return std::make_shared<layers::LSTM>(units, o);
  if (cls == "GRU") return std::make_shared<layers::GRU>(units, o);
  return std::make_shared<layers::SimpleRNN>(units, o);
}

}  // namespace myelin::test
