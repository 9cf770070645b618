// expect_error<E>(call, {"part", ...}): the tests' one check that a call throws E and that its message
// holds every part (the layer, the shape, the file and line the error must name).
#pragma once
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace myelin::test {

template <class E, class F>
void expect_error(F&& what, std::vector<std::string> parts) {
  try {
    what();
    ADD_FAILURE() << "no exception thrown";
  } catch (const E& e) {
    const std::string msg = e.what();
    for (const auto& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "'" << p << "' missing from: " << msg;
  }
}

}  // namespace myelin::test
